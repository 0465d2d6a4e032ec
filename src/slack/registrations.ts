import type { ListenerRegistration } from "./app.js";

/** Feature listeners (buttons, modals) registered beside the slash commands. */
export const slackRegistrations: ListenerRegistration[] = [];
