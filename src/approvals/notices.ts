import type { WebClient } from "@slack/web-api";
import type { Logger } from "../logging/logger.js";
import { escapeMrkdwn, formatUtc } from "./format.js";
import type { RestoreRequest } from "./request-store.js";

/**
 * Direct messages to the requester when their request is decided: approved, rejected,
 * expired, or cancelled by someone else. A failed DM is logged and never undoes the decision.
 */

export type NoticeKind = "approved" | "rejected" | "expired" | "cancelled";

export interface NoticeContext {
  /** Who decided (approver, rejecter, canceller); absent for expiry. */
  actor?: string;
  reason?: string;
  approvals?: { count: number; required: number };
  now: Date;
}

/** The text of a notice, pure so it can be tested. */
export function requesterNotice(
  request: RestoreRequest,
  kind: NoticeKind,
  ctx: NoticeContext,
): string {
  const what = `Your restore request \`${request.id}\` (\`${request.target}\` to ${formatUtc(request.pointTime)}, in <#${request.channelId}>)`;
  const again = `If the restore is still needed, make a new request: \`/restore ${request.target} &lt;point|latest&gt; &lt;reason…&gt;\`.`;
  switch (kind) {
    case "approved":
      return `:white_check_mark: ${what} was approved${ctx.actor ? ` by <@${ctx.actor}>` : ""}. It is queued to run; the card in the channel narrates each phase. To stop it before it starts: \`/restore cancel ${request.id}\`.`;
    case "rejected":
      return `:x: ${what} was rejected${ctx.actor ? ` by <@${ctx.actor}>` : ""}${ctx.reason ? `: “${escapeMrkdwn(ctx.reason)}”` : ""}. Nothing will run. ${again}`;
    case "expired":
      return `:alarm_clock: ${what} expired at ${formatUtc(request.expiresAt, ctx.now)}${ctx.approvals ? ` with ${ctx.approvals.count} of ${ctx.approvals.required} approvals` : ""}. Nothing will run. ${again}`;
    case "cancelled":
      return `:no_entry_sign: ${what} was cancelled${ctx.actor ? ` by <@${ctx.actor}>` : ""}. Nothing will run. ${again}`;
  }
}

export async function notifyRequester(
  client: Pick<WebClient, "chat">,
  logger: Logger,
  request: RestoreRequest,
  kind: NoticeKind,
  ctx: NoticeContext,
): Promise<void> {
  try {
    // Posting to a user ID delivers to the bot's DM with that person.
    await client.chat.postMessage({
      channel: request.requester,
      text: requesterNotice(request, kind, ctx),
    });
  } catch (err) {
    logger.warn(
      {
        requestId: request.id,
        notice: kind,
        err: err instanceof Error ? err.message : String(err),
      },
      "could not send the requester a direct message",
    );
  }
}
