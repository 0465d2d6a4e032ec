import type { AuditRecord } from "../audit/audit-log.js";
import type { Target } from "../config/file.js";
import { formatPointTime } from "../slack/commands/recovery-point-time.js";
import { describeDataLoss } from "./card.js";
import { escapeMrkdwn, formatDuration, formatUtc, truncate } from "./format.js";
import { countApprovals, describePrincipals } from "./policy.js";
import type { ApprovalRecord, RestoreRequest } from "./request-store.js";

/**
 * The text of `/restore status`, `/restore history` and `/restore targets`: pure functions of
 * rows already read, so the wording is tested without Slack or a database.
 */

/** Slack shows up to 40 000 characters of a message; stay well below. */
const MAX_TEXT = 12_000;

const STATE_WORDS: Record<RestoreRequest["state"], string> = {
  pending: "waiting for approval",
  approved: "approved, queued to run",
  running: "running",
  halted: "halted",
  succeeded: "succeeded",
  rolled_back: "rolled back",
  abandoned: "abandoned",
  rejected: "rejected",
  expired: "expired",
  cancelled: "cancelled",
};

export function describeRequestState(request: RestoreRequest): string {
  return STATE_WORDS[request.state];
}

function actorText(actor: string | null): string {
  if (!actor) return "someone";
  return actor === "restorebot" ? "restorebot" : `<@${actor}>`;
}

/** One request in detail. */
export function formatRequestStatus(
  request: RestoreRequest,
  approvals: readonly ApprovalRecord[],
  now: Date,
): string {
  const count = countApprovals(approvals, request.requester);
  const lines = [
    `*${request.id}* — restore \`${request.target}\` to \`${formatPointTime(request.pointTime)}\`: *${describeRequestState(request)}*`,
    `Requested by <@${request.requester}> at ${formatUtc(request.createdAt, now)} in <#${request.channelId}>: “${escapeMrkdwn(truncate(request.reason, 300))}”`,
    `Approvals: ${count} of ${request.requiredApprovals}${
      count
        ? ` (${approvals
            .filter((a) => a.decision === "approve" && a.approver !== request.requester)
            .map((a) => `<@${a.approver}>`)
            .join(", ")})`
        : ""
    }`,
  ];
  switch (request.state) {
    case "pending":
      lines.push(
        `Expires at ${formatUtc(request.expiresAt, now)} (in ${formatDuration(request.expiresAt.getTime() - now.getTime())}) unless approved. Data loss if run now: ${describeDataLoss(request, now)}.`,
      );
      break;
    case "rejected":
    case "cancelled":
      lines.push(
        `${request.state === "rejected" ? "Rejected" : "Cancelled"} by ${actorText(request.closedBy)}${request.closeReason ? `: “${escapeMrkdwn(truncate(request.closeReason, 300))}”` : ""}.`,
      );
      break;
    case "expired":
      lines.push(`Expired at ${formatUtc(request.expiresAt, now)}; nothing ran.`);
      break;
    case "running":
      lines.push(
        `Started at ${request.startedAt ? formatUtc(request.startedAt, now) : "?"}.${request.cancelRequested ? ` A stop was requested by ${actorText(request.cancelRequestedBy)}; it stops at the next phase boundary.` : ` To stop it at the next phase boundary: \`/restore cancel ${request.id}\`.`}`,
      );
      break;
    case "halted":
      lines.push(
        `Halted${request.haltedPhase ? ` at ${escapeMrkdwn(request.haltedPhase)}` : ""}${request.haltedReason ? `: ${escapeMrkdwn(truncate(request.haltedReason, 300))}` : ""}. Use the buttons on its card to retry, roll back or abandon.`,
      );
      break;
    default:
      if (request.finishedAt) lines.push(`Finished at ${formatUtc(request.finishedAt, now)}.`);
  }
  lines.push(
    `Snapshot: \`${escapeMrkdwn(request.dumpKey)}\`${request.dumpEtag ? ` (ETag \`${escapeMrkdwn(request.dumpEtag.replace(/"/g, ""))}\`)` : ""}.`,
  );
  return lines.join("\n");
}

/** `/restore status` without an id: what is active now, else the latest request. */
export function formatStatusOverview(
  active: readonly RestoreRequest[],
  latest: RestoreRequest | undefined,
  now: Date,
): string {
  if (active.length === 0) {
    return latest
      ? `No restore is requested or running. The latest request was \`${latest.id}\` (\`${latest.target}\`, ${describeRequestState(latest)}, ${formatUtc(latest.createdAt, now)}). Details: \`/restore status ${latest.id}\`.`
      : "No restore has been requested yet. Request one with `/restore &lt;target&gt; &lt;point|latest&gt; &lt;reason…&gt;`.";
  }
  const lines = active.map(
    (r) =>
      `• \`${r.id}\` — \`${r.target}\` to \`${formatPointTime(r.pointTime)}\`: *${describeRequestState(r)}* (requested by <@${r.requester}> at ${formatUtc(r.createdAt, now)})`,
  );
  return truncate(
    `*Active restore requests*\n${lines.join("\n")}\nDetails: \`/restore status &lt;request-id&gt;\`.`,
    MAX_TEXT,
  );
}

function quoted(value: unknown): string {
  return typeof value === "string" && value ? `: “${escapeMrkdwn(truncate(value, 200))}”` : "";
}

/** One audit event as a line of history. */
export function formatAuditEvent(event: AuditRecord, now: Date): string {
  const at = `\`${formatUtc(event.at, now)}\``;
  const by = actorText(event.actor);
  const d = event.details ?? {};
  switch (event.event) {
    case "requested":
      return `${at} requested by ${by}${typeof d.point === "string" ? ` (point \`${d.point}\`)` : ""}${quoted(d.reason)}`;
    case "approved":
      return `${at} approved by ${by}${typeof d.count === "number" ? ` (${d.count} of ${String(d.required)})` : ""}`;
    case "approval_revoked":
      return `${at} approval of ${actorText(typeof d.approver === "string" ? d.approver : null)} withdrawn: no longer an approver`;
    case "rejected":
      return `${at} rejected by ${by}${quoted(d.reason)}`;
    case "expired":
      return `${at} expired${typeof d.approvals === "number" ? ` with ${d.approvals} of ${String(d.required)} approvals` : ""}`;
    case "cancelled":
      return `${at} cancelled by ${by}${quoted(d.reason)}`;
    case "cancel_requested":
      return `${at} stop requested by ${by}`;
    case "enqueued":
      return `${at} enqueued${d.again ? " again (its job was missing)" : ""}`;
    case "refused":
      return `${at} refused: ${by} tried to ${String(d.action ?? "act")} (${String(d.code ?? "not allowed")})`;
    case "finished":
      return `${at} finished${typeof d.outcome === "string" ? `: ${d.outcome}` : ""}`;
    default:
      return `${at} ${event.event.replace(/_/g, " ")}${event.actor && event.actor !== "restorebot" ? ` by ${by}` : ""}${typeof d.phase === "string" ? ` (${escapeMrkdwn(d.phase)})` : ""}${quoted(d.reason ?? d.error)}`;
  }
}

/** `/restore history [target]`: recent requests, each with its audit trail, oldest event first. */
export function formatHistory(
  target: string | undefined,
  requests: ReadonlyArray<{ request: RestoreRequest; events: readonly AuditRecord[] }>,
  now: Date,
): string {
  const scope = target ? ` of \`${target}\`` : "";
  if (requests.length === 0) return `No restore requests${scope} yet.`;
  const parts = requests.map(({ request, events }) => {
    const head = `*${request.id}* — \`${request.target}\` to \`${formatPointTime(request.pointTime)}\`: *${describeRequestState(request)}*`;
    const trail = [...events]
      .sort((a, b) => a.at.getTime() - b.at.getTime() || a.id - b.id)
      .map((e) => `    ${formatAuditEvent(e, now)}`);
    return [head, ...trail].join("\n");
  });
  let text = `*Restore history${scope}* (newest first)\n`;
  for (const part of parts) {
    if (text.length + part.length > MAX_TEXT) {
      text += "\n…older requests left out; name a target to see more of its history.";
      break;
    }
    text += `\n${part}\n`;
  }
  return text.trimEnd();
}

/** `/restore targets`: what can be restored, under which policy, and whether it is busy. */
export function formatTargets(
  targets: readonly Target[],
  active: ReadonlyMap<string, RestoreRequest>,
): string {
  const lines = targets.map((t) => {
    const p = t.policy;
    const busy = active.get(t.name);
    return [
      `*\`${t.name}\`* — ${t.kind}, namespace \`${t.namespace}\`, snapshots in \`s3://${t.snapshots.bucket}/${t.snapshots.prefix}\``,
      `    ${p.requiredApprovals} approval(s) from ${describePrincipals(p.approvers)}; requesters: ${describePrincipals(p.requesters)}; requests expire after ${formatDuration(p.requestTtl)}`,
      `    ${busy ? `busy: \`${busy.id}\` is ${describeRequestState(busy)}` : "idle"}`,
    ].join("\n");
  });
  return truncate(
    `*Restore targets*\n${lines.join("\n")}\nRequest a restore with \`/restore &lt;target&gt; &lt;point|latest&gt; &lt;reason…&gt;\`; list points with \`/recovery-points &lt;target&gt;\`.`,
    MAX_TEXT,
  );
}
