import type { AuditRecord } from "../audit/audit-log.js";
import type { Target } from "../config/file.js";
import type { KindRegistry } from "../kinds/registry.js";
import type { PhaseRunRecord } from "../runbook/types.js";
import { formatPointTime } from "../slack/commands/recovery-point-time.js";
import { formatDuration, formatUtc } from "../text/format.js";
import { describeDataLoss, escapeKeepingMentions, optionLines, restoreWords } from "./card.js";
import { escapeMrkdwn, truncate } from "./format.js";
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

/** Checkpoint index of the first roll back step (the runner's ROLLBACK_BASE_INDEX). */
const ROLLBACK_BASE = 101;

/** "phase 5/10 (Scale down the catalog)" or "roll back step 1/2 (…)" for a checkpoint index. */
function phaseName(
  kinds: KindRegistry,
  request: RestoreRequest,
  phaseIndex: number,
  name: string,
): string {
  const rollback = phaseIndex >= ROLLBACK_BASE;
  const outline = kinds.outline(request.kind, rollback ? "rollback" : "forward");
  const position = phaseIndex - (rollback ? ROLLBACK_BASE : 1);
  const title = outline[position]?.name === name ? outline[position]?.title : undefined;
  const what = rollback ? "roll back step" : "phase";
  return `${what} ${position + 1}/${outline.length || "?"} (${escapeMrkdwn(title ?? name)})`;
}

/** Where a running restore is: the phase, how far along, for how long. */
function runProgress(
  kinds: KindRegistry,
  request: RestoreRequest,
  runs: readonly PhaseRunRecord[],
  now: Date,
): string {
  const rollback = request.runMode === "rollback";
  const outline = kinds.outline(request.kind, rollback ? "rollback" : "forward");
  const base = rollback ? ROLLBACK_BASE : 1;
  const mine = runs.filter((r) =>
    rollback ? r.phaseIndex >= ROLLBACK_BASE : r.phaseIndex < ROLLBACK_BASE,
  );
  const done = mine.filter((r) => r.state === "succeeded" || r.state === "skipped").length;
  const total = outline.length;
  const current = mine.find((r) => r.state === "running");
  const elapsed = request.startedAt
    ? ` Running for ${formatDuration(now.getTime() - request.startedAt.getTime())} since ${formatUtc(request.startedAt, now)}.`
    : "";
  const doing = rollback ? "Rolling back" : "Restoring";
  if (current) {
    // The phase's latest progress line as narrated in the thread (pods left, bytes restored).
    const progress =
      current.progress && current.progressAt
        ? ` Progress (${formatDuration(Math.max(0, now.getTime() - current.progressAt.getTime()))} ago): ${escapeKeepingMentions(truncate(current.progress, 300)).replace(/\.$/, "")}.`
        : "";
    return `${doing}: ${phaseName(kinds, request, current.phaseIndex, current.phase)} for ${formatDuration(now.getTime() - current.startedAt.getTime())}${current.attempt > 1 ? ` (attempt ${current.attempt})` : ""}; ${done} of ${total} done.${progress}${elapsed}`;
  }
  const next = outline.findIndex(
    (_, i) => !mine.some((r) => r.phaseIndex === base + i && r.state === "succeeded"),
  );
  return `${doing}: ${done} of ${total} done${next >= 0 ? `, next ${phaseName(kinds, request, base + next, outline[next]?.name ?? "")}` : ""} (waiting for a worker to take it).${elapsed}`;
}

/** One request in detail; `runs` (its checkpoints) show where a running restore is. */
export function formatRequestStatus(
  kinds: KindRegistry,
  request: RestoreRequest,
  approvals: readonly ApprovalRecord[],
  now: Date,
  runs: readonly PhaseRunRecord[] = [],
): string {
  const count = countApprovals(approvals, request.requester);
  const lines = [
    `*${request.id}* — ${whatItDoes(request, true)}: *${describeRequestState(request)}*`,
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
        `Expires at ${formatUtc(request.expiresAt, now)} (in ${formatDuration(request.expiresAt.getTime() - now.getTime())}) unless approved.${request.operation === "backup" ? "" : ` Data loss if run now: ${describeDataLoss(request, now, restoreWords(kinds, request))}.`}`,
      );
      break;
    case "rejected":
    case "cancelled":
      lines.push(
        `${request.state === "rejected" ? "Rejected" : "Cancelled"} by ${actorText(request.closedBy ?? (request.state === "cancelled" ? request.cancelRequestedBy : null))}${request.closeReason ? `: “${escapeMrkdwn(truncate(request.closeReason, 300))}”` : ""}.`,
      );
      break;
    case "expired":
      lines.push(`Expired at ${formatUtc(request.expiresAt, now)}; nothing ran.`);
      break;
    case "running":
      lines.push(
        `${runProgress(kinds, request, runs, now)}${request.cancelRequested ? ` A stop was requested by ${actorText(request.cancelRequestedBy)}; it stops at the next phase boundary.` : ` To stop it at the next phase boundary: \`/restore cancel ${request.id}\`.`}`,
      );
      break;
    case "halted":
      lines.push(
        `Halted${request.haltedPhase ? ` at ${escapeMrkdwn(request.haltedPhase)}` : ""}${request.haltedReason ? `: ${escapeKeepingMentions(truncate(request.haltedReason, 300))}` : ""}. Use the buttons on its card to retry, roll back or abandon.`,
      );
      break;
    default:
      if (request.finishedAt)
        lines.push(
          `Finished at ${formatUtc(request.finishedAt, now)}.${rtoText(request) ? ` ${rtoText(request)}` : ""}`,
        );
  }
  lines.push(
    request.operation === "backup" && request.point === null
      ? "Point: written when the backup finishes."
      : `${request.operation === "backup" ? "Point written" : restoreWords(kinds, request).point(request.point, request.pointTime).label}: ${escapeMrkdwn(kinds.get(request.kind).points.reportLine(request.point))}.`,
  );
  const options = optionLines(kinds, request);
  if (options.length) lines.push(`Options: ${options.join(" ")}`);
  return lines.join("\n");
}

/** "restore `prod` to `…`" / "`prod` to `…`", or "backup of `prod`" for a backup. */
function whatItDoes(request: RestoreRequest, verb: boolean): string {
  if (request.operation === "backup")
    return `backup of \`${request.target}\`${request.point === null ? "" : ` as of \`${formatPointTime(request.pointTime)}\``}`;
  return `${verb ? "restore " : ""}\`${request.target}\` to \`${formatPointTime(request.pointTime)}\``;
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
      `• \`${r.id}\` — ${whatItDoes(r, false)}: *${describeRequestState(r)}* (requested by <@${r.requester}> at ${formatUtc(r.createdAt, now)})`,
  );
  return truncate(
    `*Active restore requests*\n${lines.join("\n")}\nDetails: \`/restore status &lt;request-id&gt;\`.`,
    MAX_TEXT,
  );
}

function quoted(value: unknown): string {
  return typeof value === "string" && value ? `: “${escapeMrkdwn(truncate(value, 200))}”` : "";
}

/** Why a press or a command was refused, in plain words (the audit keeps the code). */
const REFUSAL_WORDS: Record<string, string> = {
  self_approval: "people cannot approve their own request",
  self_rejection: "people cannot reject their own request",
  not_an_approver: "not an approver of this target",
  not_a_requester: "not allowed to request restores of this target",
  not_allowed_to_cancel: "only the requester or an approver can cancel",
  not_allowed: "only the requester or an approver can press it",
  group_lookup_failed: "group membership could not be checked with Slack",
  not_halted: "the run was not halted any more",
  rolling_back: "Retry phase is not possible while rolling back",
};

const ACTION_WORDS: Record<string, string> = {
  approve: "approve",
  reject: "reject",
  cancel: "cancel",
  request: "request a restore",
  retry: "press Retry phase",
  rollback: "press Roll back",
  abandon: "press Abandon",
};

/** "the time from approval to done (RTO): 4 min 10 s", when the request says. */
function rtoText(request: RestoreRequest): string | undefined {
  if (request.state !== "succeeded" || !request.approvedAt || !request.finishedAt) return undefined;
  return `Approval to done (the RTO achieved): ${formatDuration(request.finishedAt.getTime() - request.approvedAt.getTime())}.`;
}

function index(d: Record<string, unknown>): number | undefined {
  return typeof d.phaseIndex === "number" ? d.phaseIndex : undefined;
}

/** One audit event as a line of history; `of` (the request and the kinds) names its phases. */
export function formatAuditEvent(
  event: AuditRecord,
  now: Date,
  of?: { request: RestoreRequest; kinds: KindRegistry },
): string {
  const at = `\`${formatUtc(event.at, now)}\``;
  const by = actorText(event.actor);
  const d = event.details ?? {};
  const phase = (): string => {
    const i = index(d);
    const name = typeof d.phase === "string" ? d.phase : "";
    if (of && i !== undefined) return phaseName(of.kinds, of.request, i, name);
    return name ? `phase ${escapeMrkdwn(name)}` : "a phase";
  };
  const took = typeof d.durationMs === "number" ? formatDuration(d.durationMs) : undefined;
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
      return `${at} queued for a worker${d.again ? " again (its job was missing)" : ""}`;
    case "started":
      return `${at} run started`;
    case "resumed":
      return `${at} run resumed by a worker${d.mode === "rollback" ? " (rolling back)" : ""}`;
    case "phase_started":
      return `${at} ${phase()} started${typeof d.attempt === "number" && d.attempt > 1 ? ` (attempt ${d.attempt})` : ""}`;
    case "phase_succeeded":
      return `${at} ${phase()} done${took ? ` in ${took}` : ""}`;
    case "phase_failed":
      return `${at} ${phase()} failed${took ? ` after ${took}` : ""}${quoted(d.error)}`;
    case "halted":
      return `${at} halted${typeof d.reason === "string" ? `: ${escapeKeepingMentions(truncate(d.reason, 200))}` : ""}`;
    case "retry_requested":
      return `${at} Retry phase pressed by ${by}`;
    case "rollback_requested":
      return `${at} Roll back pressed by ${by}`;
    case "abandoned":
      return `${at} abandoned by ${by}`;
    case "rolled_back":
      return `${at} rolled back${typeof d.totalMs === "number" ? ` (run took ${formatDuration(d.totalMs)})` : ""}`;
    case "refused": {
      const action = ACTION_WORDS[String(d.action)] ?? String(d.action ?? "act");
      const why = REFUSAL_WORDS[String(d.code)] ?? "not allowed";
      return `${at} refused: ${by} tried to ${action} (${why})`;
    }
    case "finished":
      return `${at} finished${typeof d.totalMs === "number" ? `: the run took ${formatDuration(d.totalMs)}` : ""}${typeof d.outcome === "string" ? ` (${escapeMrkdwn(d.outcome)})` : ""}`;
    default:
      // An event this version does not know yet (written by a newer one): its name in words.
      return `${at} ${String(event.event).replace(/_/g, " ")}${event.actor && event.actor !== "restorebot" ? ` by ${by}` : ""}${quoted(d.reason ?? d.error)}`;
  }
}

/**
 * The audit trail as people read it: a phase that ended is one line (with its duration), its
 * start line only shown while it has no end (running now, or cut short by a crash).
 */
function historyLines(
  kinds: KindRegistry,
  request: RestoreRequest,
  events: readonly AuditRecord[],
  now: Date,
): string[] {
  const sorted = [...events].sort((a, b) => a.at.getTime() - b.at.getTime() || a.id - b.id);
  const ended = new Set(
    sorted
      .filter((e) => e.event === "phase_succeeded" || e.event === "phase_failed")
      .map((e) => `${String(e.details?.phaseIndex)}:${String(e.details?.attempt)}`),
  );
  return sorted
    .filter(
      (e) =>
        e.event !== "phase_started" ||
        !ended.has(`${String(e.details?.phaseIndex)}:${String(e.details?.attempt)}`),
    )
    .map((e) => formatAuditEvent(e, now, { request, kinds }));
}

/** `/restore history [target]`: recent requests, each with its audit trail, oldest event first. */
export function formatHistory(
  kinds: KindRegistry,
  target: string | undefined,
  requests: ReadonlyArray<{ request: RestoreRequest; events: readonly AuditRecord[] }>,
  now: Date,
): string {
  const scope = target ? ` of \`${target}\`` : "";
  if (requests.length === 0) return `No restore requests${scope} yet.`;
  const parts = requests.map(({ request, events }) => {
    const rto = rtoText(request);
    const head = `*${request.id}* — ${whatItDoes(request, false)}: *${describeRequestState(request)}*${rto ? `. ${rto}` : ""}`;
    const trail = historyLines(kinds, request, events, now).map((line) => `    ${line}`);
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
  kinds: KindRegistry,
  targets: readonly Target[],
  active: ReadonlyMap<string, RestoreRequest>,
): string {
  const lines = targets.map((t) => {
    const p = t.policy;
    const busy = active.get(t.name);
    return [
      `*\`${t.name}\`* — ${t.kind}, namespace \`${t.namespace}\`, ${kinds.of(t).config.describe(t)}`,
      `    ${p.requiredApprovals} approval(s) from ${describePrincipals(p.approvers)}; requesters: ${describePrincipals(p.requesters)}; requests expire after ${formatDuration(p.requestTtl)}`,
      `    ${busy ? `busy: \`${busy.id}\` is ${describeRequestState(busy)}` : "idle"}`,
    ].join("\n");
  });
  return truncate(
    `*Restore targets*\n${lines.join("\n")}\nRequest a restore with \`/restore &lt;target&gt; &lt;point|latest&gt; &lt;reason…&gt;\`; list points with \`/recovery-points &lt;target&gt;\`.`,
    MAX_TEXT,
  );
}
