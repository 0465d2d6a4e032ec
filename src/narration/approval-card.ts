import {
  buildRequestCard,
  type RunControl as CardControl,
  type PhaseView,
} from "../approvals/card.js";
import { getRequest, listApprovals } from "../approvals/request-store.js";
import type { DatabasePool } from "../db/database.js";
import type { KindRegistry } from "../kinds/registry.js";
import { listPhaseRuns } from "../runbook/run-store.js";
import { buildStatuses, FORWARD_BASE_INDEX, ROLLBACK_BASE_INDEX } from "../runbook/statuses.js";
import {
  PAUSE_WINDOW_FACT,
  type PhaseRunRecord,
  type PhaseStatus,
  type RunControl,
  type RunRequest,
  type RunStatus,
} from "../runbook/types.js";
import { RUN_CONTROL_ACTIONS, RUN_CONTROL_SPECS, statusCard } from "./run-messages.js";
import type { CardRenderer } from "./run-narrator.js";
import type { SlackContent } from "./slack-outbox.js";

/**
 * The approval card as a live status: the approvals card builder, given the runner's phases
 * and, when halted, its buttons. Rendered when the update is sent (so coalesced updates cost
 * one read of the request), from the latest committed row.
 */

export function cardControls(controls: readonly RunControl[]): CardControl[] {
  return controls.map((c) => {
    const spec = RUN_CONTROL_SPECS[c];
    return {
      action_id: RUN_CONTROL_ACTIONS[c],
      text: spec.text,
      ...(spec.style ? { style: spec.style } : {}),
      confirm: { ...spec.confirm, deny: "Back", ...(spec.style ? { style: spec.style } : {}) },
    };
  });
}

export function phaseViews(status: RunStatus, now: Date): PhaseView[] {
  return status.phases.map((p: PhaseStatus) => {
    const end = p.finishedAt ?? (p.state === "running" || p.state === "waiting" ? now : undefined);
    const elapsedMs = p.startedAt && end ? end.getTime() - p.startedAt.getTime() : undefined;
    const waiting = p.state === "waiting" && p.detail ? `waiting: ${p.detail}` : p.detail;
    return {
      name: p.name,
      title: p.title,
      state: p.state === "waiting" ? "running" : p.state,
      ...(elapsedMs !== undefined ? { elapsedMs } : {}),
      ...(waiting && p.state !== "succeeded" ? { detail: waiting } : {}),
      ...(p.state === "succeeded" && p.cardNote ? { detail: p.cardNote } : {}),
    };
  });
}

export function approvalCardRenderer(
  db: Pick<DatabasePool, "query">,
  kinds: KindRegistry,
): CardRenderer {
  return async (request: RunRequest, status: RunStatus, now: Date) => {
    const row = await getRequest(db, request.id);
    if (!row) return statusCard(request, status, now);
    const approvals = await listApprovals(db, request.id);
    const runs = await listPhaseRuns(db, request.id);
    const pause = pauseWindowOf(runs);
    const card = buildRequestCard({
      kinds,
      request: row,
      approvals,
      now,
      phases: phaseViews(status, now),
      ...(status.state === "halted" ? { runControls: cardControls(status.controls) } : {}),
      catalogUntouched: neverReplacedData(kinds, row, runs),
      ...(pause !== undefined ? { pauseWindowMs: pause } : {}),
    });
    return { text: card.text, blocks: card.blocks };
  };
}

/** The pause window a backup's phase reported (the `pauseWindowMs` fact), if any. */
export function pauseWindowOf(runs: readonly PhaseRunRecord[]): number | undefined {
  for (const run of runs) {
    const value = run.facts[PAUSE_WINDOW_FACT];
    if (typeof value === "number" && Number.isFinite(value)) return value;
  }
  return undefined;
}

/**
 * True only when the checkpoints show the phase that replaces the data never started (a
 * checkpoint row exists from the moment it starts, whatever became of it).
 */
export function neverReplacedData(
  kinds: KindRegistry,
  request: Pick<RunRequest, "kind">,
  runs: readonly PhaseRunRecord[],
): boolean {
  const phase = kinds.dataReplacingPhase(request.kind);
  return phase !== undefined && !runs.some((r) => r.phase === phase);
}

/**
 * The card as the database says it is now (for the bot, when a Retry / Roll back / Abandon
 * press changes the state before any worker narrates): the request, its approvals, its phases
 * from the checkpoints and, when halted, the buttons.
 */
export async function cardFromDatabase(
  db: Pick<DatabasePool, "query">,
  kinds: KindRegistry,
  requestId: string,
  now: Date,
): Promise<SlackContent | undefined> {
  const request = await getRequest(db, requestId);
  if (!request) return undefined;
  const runs = await listPhaseRuns(db, requestId);
  const mode = request.runMode;
  const backupOutline = kinds.find(request.kind)?.backups?.outline;
  const outline =
    request.operation === "backup"
      ? [...((mode === "forward" ? backupOutline?.phases : backupOutline?.rollback) ?? [])]
      : kinds.outline(request.kind, mode);
  const phases = buildStatuses(
    outline,
    mode === "forward" ? FORWARD_BASE_INDEX : ROLLBACK_BASE_INDEX,
    runs,
  );
  const status: RunStatus = {
    requestId,
    mode,
    state: RUN_STATE_OF[request.state] ?? "running",
    startedAt: request.startedAt,
    phases,
    controls: request.state === "halted" ? controlsFor(mode) : [],
  };
  return approvalCardRenderer(db, kinds)(request, status, now);
}

/** The run's state as the card shows it, from the request's (abandoned: no buttons, no run). */
const RUN_STATE_OF: Partial<Record<RunRequest["state"], RunStatus["state"]>> = {
  running: "running",
  halted: "halted",
  succeeded: "succeeded",
  rolled_back: "rolled_back",
  cancelled: "cancelled",
  abandoned: "cancelled",
};

/** The buttons a halted run offers: Retry phase only while going forward. */
export function controlsFor(mode: RunStatus["mode"]): RunControl[] {
  return mode === "forward" ? ["retry", "rollback", "abandon"] : ["rollback", "abandon"];
}
