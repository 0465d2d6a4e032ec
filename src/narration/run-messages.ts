import type { KindRegistry } from "../kinds/registry.js";
import type {
  HaltAccount,
  PhaseStatus,
  RunControl,
  RunRequest,
  RunStatus,
} from "../runbook/types.js";
import { formatDuration, formatUtc } from "../text/format.js";

/**
 * The words and Block Kit of a run's narration, as pure functions of the runner's events:
 * thread messages, the halt account with its buttons, and the live status shown on the card.
 */

/** action_ids of the buttons a halted run offers; the value of each is the request id. */
export const RUN_CONTROL_ACTIONS: Record<RunControl, string> = {
  retry: "run_control_retry",
  rollback: "run_control_rollback",
  abandon: "run_control_abandon",
};

export function phaseLabel(position: number, total: number, title: string): string {
  return `*${position}/${total} ${title}*`;
}

export function runStartedText(request: RunRequest, status: RunStatus, resumed: boolean): string {
  const total = status.phases.length;
  const next = status.phases.find((p) => p.state !== "succeeded");
  const position = next ? status.phases.indexOf(next) + 1 : total;
  if (status.mode === "rollback") {
    return resumed && position > 1
      ? `:leftwards_arrow_with_hook: Roll back of *${request.target}* resumed at step ${position}/${total} (${next?.title ?? "done"}).`
      : `:leftwards_arrow_with_hook: Rolling back *${request.target}*: ${total} steps.`;
  }
  if (request.operation === "backup")
    return resumed
      ? `:repeat: Backup of *${request.target}* resumed at phase ${position}/${total} (${next?.title ?? "done"}), from the checkpoints in restorebot's database.`
      : `:arrow_forward: Backup of *${request.target}* started: ${total} phases, narrated here.`;
  if (!resumed)
    return `:arrow_forward: Restore of *${request.target}* to *${formatUtc(request.pointTime)}* started: ${total} phases, narrated here.`;
  return `:repeat: Restore of *${request.target}* resumed at phase ${position}/${total} (${next?.title ?? "done"}), from the checkpoints in restorebot's database.`;
}

export function phaseStartedText(
  position: number,
  total: number,
  title: string,
  attempt: number,
): string {
  return `:hourglass_flowing_sand: ${phaseLabel(position, total, title)} started${attempt > 1 ? ` (attempt ${attempt})` : ""}`;
}

export function phaseProgressText(
  position: number,
  total: number,
  phase: PhaseStatus,
  text: string,
  now: Date,
): string {
  const elapsed = phase.startedAt
    ? ` · ${formatDuration(now.getTime() - phase.startedAt.getTime())}`
    : "";
  return `:hourglass: ${phaseLabel(position, total, phase.title)}: ${text}${elapsed}`;
}

export function phaseSucceededText(
  position: number,
  total: number,
  title: string,
  durationMs: number,
  summary: string | undefined,
): string {
  return `:white_check_mark: ${phaseLabel(position, total, title)} done in ${formatDuration(durationMs)}${summary ? `: ${summary}` : ""}`;
}

/** Label, style and confirmation dialog of each button (Slack: title ≤ 100, text ≤ 300 chars). */
export const RUN_CONTROL_SPECS: Record<
  RunControl,
  {
    text: string;
    style?: "primary" | "danger";
    confirm: { title: string; text: string; confirm: string };
  }
> = {
  retry: {
    text: "Retry phase",
    style: "primary",
    confirm: {
      title: "Retry this phase?",
      text: "The run continues from the phase that stopped, with the replica counts recorded earlier.",
      confirm: "Retry phase",
    },
  },
  rollback: {
    text: "Roll back",
    style: "danger",
    confirm: {
      title: "Roll back?",
      // The same for every kind: what a roll back undoes is the kind's, said in the halt
      // message ("Roll back: …"), not here.
      text: "restorebot runs this run's roll back steps, as the halt message in the thread describes them: what goes back to how it was, and what is not undone.",
      confirm: "Roll back",
    },
  },
  abandon: {
    text: "Abandon",
    confirm: {
      title: "Abandon this run?",
      text: "restorebot stops here and changes nothing more: the cluster stays exactly as described in the thread, for people to finish by hand.",
      confirm: "Abandon",
    },
  },
};

/** The buttons of a halted run, each with a confirmation dialog. */
export function runControlButtons(requestId: string, controls: readonly RunControl[]): unknown {
  return {
    type: "actions",
    block_id: `run_controls:${requestId}`,
    elements: controls.map((control) => {
      const spec = RUN_CONTROL_SPECS[control];
      return {
        type: "button",
        action_id: RUN_CONTROL_ACTIONS[control],
        text: { type: "plain_text", text: spec.text },
        value: requestId,
        ...(spec.style ? { style: spec.style } : {}),
        confirm: {
          title: { type: "plain_text", text: spec.confirm.title },
          text: { type: "mrkdwn", text: spec.confirm.text },
          confirm: { type: "plain_text", text: spec.confirm.confirm },
          deny: { type: "plain_text", text: "Back" },
          ...(spec.style ? { style: spec.style } : {}),
        },
      };
    }),
  };
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * Said up front on a halt once the target has been taken down (its take-down phase started):
 * nothing brings it back by itself.
 */
export function staysDown(
  kinds: KindRegistry,
  request: RunRequest,
  status: RunStatus,
): string | undefined {
  if (status.mode !== "forward") return undefined;
  const phase = kinds.takingDownPhase(request.kind);
  const down = status.phases.find((p) => p.name === phase);
  if (!down || down.state === "pending") return undefined;
  const up = status.phases.find((p) => p.name === kinds.bringingUpPhase(request.kind));
  if (up?.state === "succeeded") return undefined;
  return `:warning: *${request.target} stays down until someone presses Roll back* (or Retry phase to finish the ${request.operation === "backup" ? "backup" : "restore"}).`;
}

/**
 * A message's notification text (`text` beside blocks): Slack shows it as it is in push
 * notifications, where a `<@U…>` mention stays a raw ID. People are left out of it ("Cancelled
 * by <@U…> at …" reads "Cancelled at …"); the blocks keep the mentions, rendered as names.
 */
export function withoutMentions(text: string): string {
  return text.replace(/ by <@[UW][A-Z0-9]+>/g, "").replace(/<@[UW][A-Z0-9]+>/g, "someone");
}

export function haltedMessage(input: {
  kinds: KindRegistry;
  request: RunRequest;
  status: RunStatus;
  phase: PhaseStatus | undefined;
  reason: string;
  account: HaltAccount;
}): { text: string; blocks: unknown[] } {
  const { request, status, phase, reason, account } = input;
  const total = status.phases.length;
  const position = phase ? status.phases.findIndex((p) => p.index === phase.index) + 1 : 0;
  const noun =
    status.mode === "rollback"
      ? "Roll back stopped"
      : request.operation === "backup"
        ? "Backup stopped"
        : "Restore stopped";
  const where = phase
    ? ` at ${status.mode === "rollback" ? "step" : "phase"} ${position}/${total} (${phase.title})`
    : "";
  const headline = `:octagonal_sign: *${noun}${where}.*`;
  const stateText = account.state.map((line) => `• ${line}`).join("\n");
  const buttonsSay = [
    status.controls.includes("retry") ? "*Retry phase* runs the stopped phase again." : undefined,
    status.controls.includes("rollback") ? `*Roll back*: ${account.rollback}` : undefined,
    status.controls.includes("abandon")
      ? "*Abandon* stops here and leaves the cluster as it is, for people to finish by hand."
      : undefined,
  ]
    .filter(Boolean)
    .join("\n");
  const down = staysDown(input.kinds, request, status);
  const reasonText = down ? `${reason}\n${down}` : reason;
  const text = `${headline}\n${reasonText}\n\nThe cluster now:\n${stateText}\n\n${buttonsSay}`;
  const blocks: unknown[] = [
    {
      type: "section",
      text: { type: "mrkdwn", text: truncate(`${headline}\n${reasonText}`, 2_900) },
    },
    {
      type: "section",
      text: { type: "mrkdwn", text: truncate(`*The cluster now*\n${stateText}`, 2_900) },
    },
    { type: "section", text: { type: "mrkdwn", text: truncate(buttonsSay, 2_900) } },
    runControlButtons(request.id, status.controls),
    {
      type: "context",
      elements: [
        {
          type: "mrkdwn",
          text: `Only <@${request.requester}> (who asked) and the approvers of *${request.target}* can press these; every press is recorded.`,
        },
      ],
    },
  ];
  return { text: truncate(withoutMentions(text), 3_900), blocks };
}

export function finishedText(status: RunStatus, lines: readonly string[]): string {
  const icon =
    status.state === "succeeded"
      ? ":tada:"
      : status.state === "rolled_back"
        ? ":leftwards_arrow_with_hook:"
        : ":heavy_multiplication_x:";
  return lines.map((line, i) => (i === 0 ? `${icon} ${line}` : line)).join("\n");
}

const PHASE_ICONS: Record<PhaseStatus["state"], string> = {
  pending: ":white_circle:",
  running: ":arrows_counterclockwise:",
  waiting: ":hourglass:",
  succeeded: ":white_check_mark:",
  failed: ":x:",
};

/** One line per phase for the card: done / running / waiting, with elapsed times. */
export function phaseStatusLines(status: RunStatus, now: Date): string[] {
  return status.phases.map((phase, i) => {
    const icon = PHASE_ICONS[phase.state];
    let timing = "";
    if (phase.startedAt && phase.finishedAt && phase.state !== "pending")
      timing = ` — ${formatDuration(phase.finishedAt.getTime() - phase.startedAt.getTime())}`;
    else if (phase.startedAt && (phase.state === "running" || phase.state === "waiting"))
      timing = ` — ${phase.state} ${formatDuration(now.getTime() - phase.startedAt.getTime())}`;
    const detail =
      phase.detail && phase.state !== "succeeded" ? ` · ${truncate(phase.detail, 150)}` : "";
    return `${icon} ${i + 1}. ${phase.title}${timing}${detail}`;
  });
}

const RUN_STATE_WORDS: Record<RunStatus["state"], string> = {
  running: "Running",
  halted: "Stopped: waiting for a decision",
  succeeded: "Restored",
  rolled_back: "Rolled back",
  cancelled: "Cancelled",
};

/**
 * The card as a live status, used when no card builder is given: what was asked, the state,
 * each phase and, when halted, the buttons.
 */
export function statusCard(
  request: RunRequest,
  status: RunStatus,
  now: Date,
): {
  text: string;
  blocks: unknown[];
} {
  const elapsed = status.startedAt
    ? ` · ${formatDuration(now.getTime() - status.startedAt.getTime())}`
    : "";
  const heading = `*Restore ${request.id}*: *${request.target}* to *${formatUtc(request.pointTime)}*`;
  const stateLine = `${status.mode === "rollback" ? "Roll back — " : ""}${RUN_STATE_WORDS[status.state]}${elapsed}`;
  const lines = phaseStatusLines(status, now);
  const blocks: unknown[] = [
    { type: "section", text: { type: "mrkdwn", text: `${heading}\n${stateLine}` } },
    {
      type: "context",
      elements: [
        {
          type: "mrkdwn",
          text: truncate(`Requested by <@${request.requester}>: ${request.reason}`, 2_900),
        },
      ],
    },
    { type: "section", text: { type: "mrkdwn", text: truncate(lines.join("\n"), 2_900) } },
  ];
  if (status.state === "halted" && status.controls.length)
    blocks.push(runControlButtons(request.id, status.controls));
  return { text: `Restore ${request.id} of ${request.target}: ${stateLine}`, blocks };
}
