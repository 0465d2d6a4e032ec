import type { ListenerRegistration } from "./app.js";
import { registerRecoveryPointsPaging } from "./listeners/actions/recovery-points-paging.js";
import { registerRequestActions } from "./listeners/actions/request-actions.js";
import { registerRunControls } from "./listeners/actions/run-controls.js";
import { registerRequestViews } from "./listeners/views/request-views.js";

/** Feature listeners (buttons, modals) registered beside the slash commands. */
export const slackRegistrations: ListenerRegistration[] = [
  registerRequestActions,
  registerRequestViews,
  registerRecoveryPointsPaging,
  registerRunControls,
];
