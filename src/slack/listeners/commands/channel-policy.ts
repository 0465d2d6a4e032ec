import type { AppDeps } from "../../../app-deps.js";

/** Commands are accepted only in the configured channels (empty list = any channel). */
export function channelRefusal(channelId: string, deps: AppDeps): string | undefined {
  const allowed = deps.config.slack.channels;
  if (allowed.length === 0 || allowed.includes(channelId)) return undefined;
  return `restorebot is not enabled in this channel. Use it in ${allowed.map((c) => `<#${c}>`).join(", ")}.`;
}
