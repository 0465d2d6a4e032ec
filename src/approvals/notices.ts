import type { KindRegistry } from "../kinds/registry.js";
import type { Logger } from "../logging/logger.js";
import type { PhaseRunRecord } from "../runbook/types.js";
import type { WebClient } from "../slack/slack-api.js";
import { formatUtc } from "../text/format.js";
import { escapeMrkdwn } from "./format.js";
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

/**
 * What a stop asked of a running restore will leave, said before it happens (from the run's
 * checkpoints): once the target is being taken down, it stays down until someone presses
 * Roll back.
 */
export function describeStopEffect(
  kinds: KindRegistry,
  request: Pick<RestoreRequest, "kind" | "target">,
  runs: readonly PhaseRunRecord[],
): string {
  const forward = runs.filter((r) => r.phaseIndex < 101);
  const outline = kinds.outline(request.kind, "forward");
  const downPhase = kinds.takingDownPhase(request.kind);
  const down = forward.find((r) => r.phase === downPhase);
  const target = `\`${request.target}\``;
  const up = forward.find((r) => r.phase === kinds.bringingUpPhase(request.kind));
  if (up?.state === "succeeded")
    return `${target} has been brought back up already; the run halts at the next phase boundary, and what is left of it waits until someone presses *Retry phase* (or *Roll back*) on the card.`;
  if (down) {
    const i = outline.findIndex((p) => p.name === down.phase);
    return `${target} is already being taken down (phase ${i + 1}/${outline.length}, ${outline[i]?.title ?? down.phase}, has started), so it stays *down* until someone presses *Roll back* on the card (which brings it back up as it was) or *Retry phase* (which finishes the restore).`;
  }
  const changed = forward.some((r) => outline.find((p) => p.name === r.phase)?.mutates);
  return `${changed ? `restorebot has changed ${target} already, but has not taken it down yet` : `Nothing on ${target} has been changed yet`}; if it reaches the boundary before scaling ${target} down, ${changed ? "the run halts there with Roll back to undo its changes" : "the run simply ends"}. If it has begun scaling it down by then, ${target} stays *down* until someone presses *Roll back* on the card.`;
}

/** How a run ended or stopped, for the direct messages the worker sends. */
export type RunNotice =
  | { kind: "halted"; where: string | undefined; reason: string; staysDown: boolean }
  | { kind: "succeeded" | "rolled_back"; summary: string }
  | { kind: "cancelled"; by: string | undefined };

/**
 * A direct message to the requester and the approvers when a run halts or ends: they may not
 * be watching the channel, and a halted run waits for one of them to press a button.
 */
export function runNoticeText(request: RestoreRequest, notice: RunNotice): string {
  const what =
    request.operation === "backup"
      ? `Backup \`${request.id}\` (of \`${request.target}\`, in <#${request.channelId}>)`
      : `Restore \`${request.id}\` (\`${request.target}\` to ${formatUtc(request.pointTime)}, in <#${request.channelId}>)`;
  switch (notice.kind) {
    case "halted":
      return `:octagonal_sign: ${what} stopped${notice.where ? ` at ${notice.where}` : ""}: ${notice.reason}${notice.staysDown ? ` \`${request.target}\` stays down until someone presses *Roll back*.` : ""} It waits for the requester or an approver to press *Retry phase*, *Roll back* or *Abandon* on its card; the thread says what state the cluster is in.`;
    case "succeeded":
      return `:tada: ${what} succeeded. ${notice.summary}`;
    case "rolled_back":
      return `:leftwards_arrow_with_hook: ${what} was rolled back. ${notice.summary}`;
    case "cancelled":
      return `:no_entry_sign: ${what} was cancelled${notice.by ? ` by <@${notice.by}>` : ""} before anything on \`${request.target}\` was changed.`;
  }
}
