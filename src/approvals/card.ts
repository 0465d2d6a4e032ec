import type { RestoreWords } from "../kinds/kind.js";
import type { KindRegistry } from "../kinds/registry.js";
import { formatPointTime } from "../slack/commands/recovery-point-time.js";
import type { types } from "../slack/slack-api.js";
import { formatDuration, formatUtc } from "../text/format.js";
import { escapeMrkdwn, quote, truncate } from "./format.js";
import { countApprovals } from "./policy.js";
import type { ApprovalRecord, RestoreRequest } from "./request-store.js";

/**
 * The approval card: one channel message per request, posted when the request is made and
 * updated (`chat.update`) on every change of state, so the channel always shows where the
 * restore stands. A pure function of the request, its approvals and the time; the runner
 * calls it with `phases` (live progress) and `runControls` (Retry / Roll back / Abandon).
 */

export type SlackBlock = types.KnownBlock;

export const APPROVE_ACTION_ID = "request_approve";
export const REJECT_ACTION_ID = "request_reject";

export type PhaseState = "pending" | "running" | "succeeded" | "failed" | "skipped";

export interface PhaseView {
  name: string;
  title: string;
  state: PhaseState;
  elapsedMs?: number;
  /** One line: what the phase found or why it failed. */
  detail?: string;
}

/** A confirmation dialog in plain words; the builder makes the Block Kit object. */
export interface ConfirmView {
  title: string;
  text: string;
  confirm: string;
  deny: string;
  style?: "primary" | "danger";
}

export interface RunControl {
  action_id: string;
  text: string;
  style?: "primary" | "danger";
  /** Defaults to the request id. */
  value?: string;
  /** Plain words (built into a dialog) or a ready Block Kit confirmation object. */
  confirm?: ConfirmView | types.ConfirmationDialog;
}

export interface RequestCardView {
  request: RestoreRequest;
  approvals: readonly ApprovalRecord[];
  now: Date;
  /** Live phase states (from the runner); without them the card lists the phases that will run. */
  phases?: readonly PhaseView[];
  /** Buttons for a halted run; shown instead of Approve/Reject. */
  runControls?: readonly RunControl[];
  /** Titles of the phases that will run; defaults to the runbook of the request's kind. */
  plannedPhases?: readonly string[];
  /** The kinds: the card shows the request's phases and its frozen point in the kind's words. */
  kinds: KindRegistry;
  /**
   * True only when checked: the run's checkpoints show the phase that replaces the catalog
   * never started. A finished card then drops the data-loss warning. Unknown means touched.
   */
  catalogUntouched?: boolean;
  /** A backup's pause window, once its runbook reported it (the `pauseWindowMs` fact). */
  pauseWindowMs?: number;
}

export interface RequestCard {
  /** Notification and fallback text. */
  text: string;
  blocks: SlackBlock[];
}

/** Titles of the phases a request of this kind will run, from the kind's runbook outline. */
export function plannedPhaseTitles(
  kinds: KindRegistry,
  kind: string,
  operation: RestoreRequest["operation"] = "restore",
): readonly string[] {
  if (operation === "backup")
    return (kinds.find(kind)?.backups?.outline.phases ?? []).map((p) => p.title);
  return kinds.outline(kind).map((p) => p.title);
}

const SECTION_MAX = 3000;

function plain(text: string): types.PlainTextElement {
  return { type: "plain_text", text, emoji: true };
}

function mrkdwn(text: string): types.MrkdwnElement {
  return { type: "mrkdwn", text };
}

function section(text: string, blockId?: string): types.SectionBlock {
  return {
    type: "section",
    ...(blockId ? { block_id: blockId } : {}),
    text: mrkdwn(truncate(text, SECTION_MAX)),
  };
}

function isConfirmView(view: ConfirmView | types.ConfirmationDialog): view is ConfirmView {
  return typeof view.title === "string";
}

function confirmDialog(view: ConfirmView | types.ConfirmationDialog): types.ConfirmationDialog {
  if (!isConfirmView(view)) return view;
  // Slack limits: title 100, text 300, button labels 30 characters.
  return {
    title: plain(truncate(view.title, 100)),
    // Slack renders the dialog's text as plain text.
    text: plain(truncate(view.text, 300)),
    confirm: plain(truncate(view.confirm, 30)),
    deny: plain(truncate(view.deny, 30)),
    ...(view.style ? { style: view.style } : {}),
  };
}

/** Until when catalog changes are lost: the run's start once it started, else now. */
function lossUntil(request: RestoreRequest, now: Date): Date {
  return request.startedAt ?? now;
}

/**
 * Words for a kind that gives none: they name no system's files, so a kind is never described
 * in another's terms (each shipped kind has its own `wording.restore`).
 */
const NEUTRAL_WORDS: RestoreWords = {
  lost: "changes",
  replaces: (_point, time) => `its data with the point of ${time}`,
  untouched: "its data was never touched",
  replacing: "the restore",
  point: (_point, pointTime) => ({ label: "Point", name: formatPointTime(pointTime) }),
};

/** The request's kind's words for what its restore replaces and loses. */
export function restoreWords(
  kinds: Pick<KindRegistry, "find">,
  request: Pick<RestoreRequest, "kind">,
): RestoreWords {
  return kinds.find(request.kind)?.wording.restore ?? NEUTRAL_WORDS;
}

/** What this request loses, in the kind's words; undefined when it overwrites nothing live. */
function lostBy(
  words: RestoreWords,
  request: Pick<RestoreRequest, "point" | "options">,
): string | undefined {
  return typeof words.lost === "string" ? words.lost : words.lost(request.point, request.options);
}

/**
 * "catalog changes after 14:00 UTC — about 3 h 12 min — will be lost", or, for a restore that
 * overwrites nothing live (InfluxDB Enterprise's `--newdb`), that nothing is lost.
 */
export function describeDataLoss(
  request: RestoreRequest,
  now: Date,
  words: RestoreWords = NEUTRAL_WORDS,
): string {
  const lost = lostBy(words, request);
  if (lost === undefined)
    return "none: it restores beside the live data and overwrites nothing live";
  const until = lossUntil(request, now);
  const window = formatDuration(until.getTime() - request.pointTime.getTime());
  const after = formatUtc(request.pointTime, until);
  const tense = request.startedAt ? "are lost" : "will be lost";
  return `${lost} after ${after} — about ${window} — ${tense}`;
}

const STATE_HEADLINE: Record<RestoreRequest["state"], string> = {
  pending: ":hourglass_flowing_sand: *Waiting for approval*",
  approved: ":white_check_mark: *Approved* — queued to run",
  running: ":arrows_counterclockwise: *Running*",
  halted: ":warning: *Halted*",
  succeeded: ":white_check_mark: *Restore succeeded*",
  rolled_back: ":leftwards_arrow_with_hook: *Rolled back*",
  abandoned: ":heavy_multiplication_x: *Abandoned*",
  rejected: ":x: *Rejected*",
  expired: ":alarm_clock: *Expired*",
  cancelled: ":no_entry_sign: *Cancelled*",
};

function who(userId: string | null): string {
  if (!userId) return "someone";
  return userId === "restorebot" ? "restorebot" : `<@${userId}>`;
}

/**
 * Escapes text restorebot wrote (a halt reason, which may quote an error) but keeps the user
 * mentions it put there ("Cancelled by <@U…>"): Slack renders those as the person's name,
 * while an escaped one shows the raw ID.
 */
export function escapeKeepingMentions(text: string): string {
  return escapeMrkdwn(text).replace(/&lt;@([UW][A-Z0-9]+)&gt;/g, "<@$1>");
}

/** Who cancelled: the person who closed it, else who asked a running restore to stop. */
function canceller(request: RestoreRequest): string | null {
  return request.closedBy ?? request.cancelRequestedBy;
}

function headlineOf(request: RestoreRequest): string {
  if (request.operation === "backup") {
    if (request.state === "succeeded") return ":white_check_mark: *Backup succeeded*";
    if (request.state === "approved")
      return request.requiredApprovals === 0
        ? ":white_check_mark: *Started* — queued to run"
        : STATE_HEADLINE.approved;
  }
  return STATE_HEADLINE[request.state];
}

/** The requester as the card shows it: a person, or the target's backup schedule. */
function requesterText(requester: string): string {
  return requester === "schedule" ? "the schedule (`backup.schedule`)" : `<@${requester}>`;
}

function statusLine(view: RequestCardView, count: number): string {
  const { request, now } = view;
  const tally = `approved ${count} of ${request.requiredApprovals}`;
  const headline = headlineOf(request);
  switch (request.state) {
    case "pending":
      return `${headline} — ${tally}`;
    case "approved":
      return `${headline} (${tally})`;
    case "running":
      return request.cancelRequested
        ? `${headline} — stop requested by ${who(request.cancelRequestedBy)}; it stops at the next phase boundary`
        : headline;
    case "halted":
      return `${headline}${request.haltedPhase ? ` at *${escapeMrkdwn(request.haltedPhase)}*` : ""}${request.haltedReason ? `: ${escapeKeepingMentions(request.haltedReason)}` : ""}`;
    case "rejected":
      return `${headline} by ${who(request.closedBy)}${request.closeReason ? `:\n${quote(request.closeReason)}` : ""}`;
    case "expired":
      return `${headline} at ${formatUtc(request.expiresAt, now)} with ${tally}; nothing will run. Make a new request if the restore is still needed.`;
    case "cancelled":
      return `${headline} by ${who(canceller(request))}${request.closeReason ? ` — ${escapeMrkdwn(request.closeReason)}` : ""}; ${request.startedAt ? `it stopped before anything on \`${request.target}\` was changed.` : "nothing will run."}`;
    default:
      return request.finishedAt ? `${headline} at ${formatUtc(request.finishedAt, now)}` : headline;
  }
}

const PHASE_ICON: Record<PhaseState, string> = {
  pending: ":white_circle:",
  running: ":arrows_counterclockwise:",
  succeeded: ":white_check_mark:",
  failed: ":x:",
  skipped: ":fast_forward:",
};

function phaseLines(view: RequestCardView): string {
  if (view.phases?.length) {
    const lines = view.phases.map((p, i) => {
      const took = p.elapsedMs === undefined ? "" : ` (${formatDuration(p.elapsedMs)})`;
      const detail = p.detail ? ` — ${escapeMrkdwn(truncate(p.detail, 200))}` : "";
      return `${PHASE_ICON[p.state]} ${i + 1}. ${escapeMrkdwn(p.title)}${took}${detail}`;
    });
    return `*Phases*\n${lines.join("\n")}`;
  }
  const planned =
    view.plannedPhases ?? plannedPhaseTitles(view.kinds, view.request.kind, view.request.operation);
  if (!planned.length) return "";
  const heading =
    view.request.state === "pending" || view.request.state === "approved"
      ? "*Phases that will run*"
      : "*Phases*";
  return `${heading}\n${planned.map((t, i) => `${i + 1}. ${escapeMrkdwn(t)}`).join("\n")}`;
}

function decisionsLine(view: RequestCardView, count: number): string {
  const { request, approvals, now } = view;
  const approved = approvals.filter(
    (a) => a.decision === "approve" && a.approver !== request.requester,
  );
  const lines = [
    `*Approvals:* ${count} of ${request.requiredApprovals}${
      approved.length
        ? ` — ${approved.map((a) => `<@${a.approver}> (${formatUtc(a.decidedAt, now)})`).join(", ")}`
        : ""
    }`,
  ];
  return lines.join("\n");
}

function approveRejectButtons(
  request: RestoreRequest,
  now: Date,
  words: RestoreWords = NEUTRAL_WORDS,
): types.ActionsBlock {
  const time = formatUtc(request.pointTime);
  const effect =
    words.effect?.(request.target, request.point, time, request.options) ??
    `takes ${request.target} down and replaces ${words.replaces(request.point, time, request.options)}`;
  const loss = describeDataLoss(request, now, words);
  const approveText =
    request.operation === "backup"
      ? `This takes a backup of ${request.target} now, as its kind's backup runbook says (it may pause ${request.target} briefly).`
      : lostBy(words, request) === undefined
        ? `This ${effect}; it overwrites nothing live, so no data is lost.`
        : `This ${effect}: ${loss}.`;
  return {
    type: "actions",
    block_id: "request_decision",
    elements: [
      {
        type: "button",
        action_id: APPROVE_ACTION_ID,
        text: plain("Approve"),
        style: "primary",
        value: request.id,
        confirm: confirmDialog({
          title: `Approve ${request.operation} of ${request.target}?`,
          text: approveText,
          confirm: "Approve",
          deny: "Back",
          style: "primary",
        }),
      },
      {
        type: "button",
        action_id: REJECT_ACTION_ID,
        text: plain("Reject"),
        style: "danger",
        value: request.id,
        confirm: confirmDialog({
          title: "Reject this request?",
          text: `Nothing will run and ${request.id} will be closed. You will be asked for a reason, which the requester sees.`,
          confirm: "Reject…",
          deny: "Back",
          style: "danger",
        }),
      },
    ],
  };
}

function runControlButtons(
  request: RestoreRequest,
  controls: readonly RunControl[],
): types.ActionsBlock {
  return {
    type: "actions",
    block_id: "run_controls",
    elements: controls.slice(0, 25).map((c) => ({
      type: "button" as const,
      action_id: c.action_id,
      text: plain(truncate(c.text, 75)),
      value: c.value ?? request.id,
      ...(c.style ? { style: c.style } : {}),
      ...(c.confirm ? { confirm: confirmDialog(c.confirm) } : {}),
    })),
  };
}

function footer(view: RequestCardView): string {
  const { request, now } = view;
  const parts = [`Request \`${request.id}\``, `requested ${formatUtc(request.createdAt, now)}`];
  if (request.state === "pending") {
    parts.push(
      `expires at ${formatUtc(request.expiresAt, now)} (in ${formatDuration(request.expiresAt.getTime() - now.getTime())}) unless approved`,
    );
  }
  parts.push(`\`/restore status ${request.id}\``);
  return parts.join(" · ");
}

/** Requests that will not run (any more): their card tells whether any data was lost. */
const FINAL_STATES: readonly RestoreRequest["state"][] = [
  "rejected",
  "expired",
  "cancelled",
  "rolled_back",
  "abandoned",
];

/**
 * The data-loss warning, kept unless the catalog was certainly never touched: a request that
 * never started a run, or a run whose checkpoints show the catalog restore never started.
 */
function dataLossLine(view: RequestCardView, words: RestoreWords): string {
  const { request, now } = view;
  const untouched = request.startedAt === null || view.catalogUntouched === true;
  if (FINAL_STATES.includes(request.state) && untouched)
    return request.startedAt === null
      ? `:information_source: *No data lost:* nothing ran, so ${words.untouched}.`
      : `:information_source: *No data lost:* ${words.replacing} never started, so ${words.untouched}.`;
  if (lostBy(words, request) === undefined)
    return `:information_source: *No data loss:* ${describeDataLoss(request, now, words).replace(/^none: /, "")}.`;
  return `:warning: *Data loss:* ${describeDataLoss(request, now, words)}.`;
}

/**
 * What the restore replaces, what it stops and for how long, for kinds that say what they stop
 * (`wording.restore.downtime`): the kind's words, never another system's.
 */
function downtimeBlocks(request: RestoreRequest, words: RestoreWords): SlackBlock[] {
  if (words.downtime === undefined) return [];
  const replaces = words.replaces(request.point, formatUtc(request.pointTime), request.options);
  return [
    section(
      [
        `:arrows_counterclockwise: *Replaces:* ${escapeMrkdwn(replaces)}`,
        `:octagonal_sign: *Downtime:* ${escapeMrkdwn(words.downtime(request.point, request.options))}`,
      ].join("\n"),
      "downtime",
    ),
  ];
}

/**
 * The request's options as its kind words them (mrkdwn, e.g. a bold warning): its restore
 * options for a restore, its backup options for a backup.
 */
export function optionLines(
  kinds: Pick<KindRegistry, "find">,
  request: Pick<RestoreRequest, "kind" | "operation" | "options" | "point">,
): string[] {
  if (request.options === null) return [];
  const kind = kinds.find(request.kind);
  return request.operation === "backup"
    ? (kind?.backupOptions?.cardLines(request.options) ?? [])
    : (kind?.restoreOptions?.cardLines(request.options, request.point) ?? []);
}

function optionsBlocks(view: RequestCardView): SlackBlock[] {
  const lines = optionLines(view.kinds, view.request);
  if (!lines.length) return [];
  return [section(truncate(`*Options*\n${lines.join("\n")}`, 2900), "options")];
}

/** The card of a backup: no point to show before it is written, no data lost, its pause. */
function buildBackupCard(view: RequestCardView, count: number): RequestCard {
  const { request, now } = view;
  const written =
    request.point === null
      ? "written when the backup finishes"
      : `\`${escapeMrkdwn(formatPointTime(request.pointTime))}\``;
  const blocks: SlackBlock[] = [
    { type: "header", text: plain(truncate(`Backup ${request.target} — ${request.id}`, 150)) },
    section(statusLine(view, count), "status"),
    {
      type: "section",
      block_id: "facts",
      fields: [
        mrkdwn(`*Requester*\n${requesterText(request.requester)}`),
        mrkdwn(`*Target*\n\`${request.target}\` (${escapeMrkdwn(request.kind)})`),
        mrkdwn(`*Point*\n${written}`),
        mrkdwn(
          `*Approvals needed*\n${request.requiredApprovals === 0 ? "none (starts at once)" : request.requiredApprovals}`,
        ),
      ],
    },
  ];
  if (view.pauseWindowMs !== undefined)
    blocks.push(
      section(
        `:pause_button: *Pause window:* ${request.target} was paused for ${formatDuration(view.pauseWindowMs)}.`,
        "pause_window",
      ),
    );
  blocks.push(...optionsBlocks(view));
  blocks.push(section(`*Reason*\n${quote(truncate(request.reason, 2000))}`, "reason"));
  if (request.requiredApprovals > 0) blocks.push(section(decisionsLine(view, count), "approvals"));
  const phases = phaseLines(view);
  if (phases) blocks.push(section(phases, "phases"));
  blocks.push({ type: "context", block_id: "footer", elements: [mrkdwn(footer(view))] });
  if (request.state === "pending") blocks.push(approveRejectButtons(request, now));
  else if (view.runControls?.length && (request.state === "halted" || request.state === "running"))
    blocks.push(runControlButtons(request, view.runControls));
  const plainState = headlineOf(request)
    .replace(/:[a-z_]+: /, "")
    .replace(/\*/g, "");
  return { text: `Backup ${request.id} of ${request.target}: ${plainState}`, blocks };
}

export function buildRequestCard(view: RequestCardView): RequestCard {
  const { request, now } = view;
  if (request.operation === "backup")
    return buildBackupCard(view, countApprovals(view.approvals, request.requester));
  const count = countApprovals(view.approvals, request.requester);
  const words = restoreWords(view.kinds, request);
  const named = words.point(request.point, request.pointTime);
  const point = `${formatUtc(request.pointTime)} (${formatDuration(now.getTime() - request.pointTime.getTime())} ago)`;
  const blocks: SlackBlock[] = [
    { type: "header", text: plain(truncate(`Restore ${request.target} — ${request.id}`, 150)) },
    section(statusLine(view, count), "status"),
    {
      type: "section",
      block_id: "facts",
      fields: [
        mrkdwn(`*Requester*\n<@${request.requester}>`),
        mrkdwn(`*Target*\n\`${request.target}\` (${escapeMrkdwn(request.kind)})`),
        mrkdwn(`*Recovery point*\n${point}`),
        mrkdwn(
          [
            `*${named.label}*\n\`${escapeMrkdwn(named.name)}\``,
            ...(view.kinds.find(request.kind)?.points.cardLines(request.point) ?? []).map(
              escapeMrkdwn,
            ),
          ].join("\n"),
        ),
      ],
    },
    ...optionsBlocks(view),
    ...downtimeBlocks(request, words),
    section(dataLossLine(view, words), "data_loss"),
    section(`*Reason*\n${quote(truncate(request.reason, 2000))}`, "reason"),
    section(decisionsLine(view, count), "approvals"),
  ];
  const phases = phaseLines(view);
  if (phases) blocks.push(section(phases, "phases"));
  blocks.push({ type: "context", block_id: "footer", elements: [mrkdwn(footer(view))] });
  if (request.state === "pending") blocks.push(approveRejectButtons(request, now, words));
  else if (view.runControls?.length && (request.state === "halted" || request.state === "running"))
    blocks.push(runControlButtons(request, view.runControls));

  const plainState = STATE_HEADLINE[request.state].replace(/:[a-z_]+: /, "").replace(/\*/g, "");
  // Mobile notifications show this text as it is, without mrkdwn: no <@U…> IDs in it.
  const text = `Restore request ${request.id} for ${request.target}: ${plainState} (approved ${count} of ${request.requiredApprovals})`;
  return { text, blocks };
}
