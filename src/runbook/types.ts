/**
 * The generic restore runner's vocabulary. A runbook is an ordered list of phases, each a small
 * object with a name and an idempotent `run(ctx)`; the runner, not the phase, owns checkpoints,
 * the per-target lock, timeouts, cancellation, halting and narration.
 */

import type { RestoreRequest, RunMode } from "../approvals/request-store.js";

export type { RunMode };

/** JSON-safe facts a phase records: kept in phase_runs and shown in its end message. */
export type Facts = Record<string, unknown>;

/**
 * The request as the runner sees it: a row of restore_requests, read and changed through the
 * request store (one definition of the row for the bot and the worker).
 */
export type RunRequest = RestoreRequest;

export type PhaseRunState = "running" | "succeeded" | "failed" | "skipped";

/** One checkpoint row of phase_runs. */
export interface PhaseRunRecord {
  phaseIndex: number;
  phase: string;
  state: PhaseRunState;
  attempt: number;
  startedAt: Date;
  finishedAt: Date | null;
  facts: Facts;
  error: string | null;
  /** The latest progress line of a running phase, and when it was narrated. */
  progress: string | null;
  progressAt: Date | null;
}

export interface PhaseContext {
  readonly request: RunRequest;
  /** 1-based position in its list, and the list's length (for "phase 5/10"). */
  readonly position: number;
  readonly total: number;
  readonly name: string;
  readonly title: string;
  /** 1 on the first run of this phase; more after a crash, a shutdown or Retry phase. */
  readonly attempt: number;
  /** Aborted when the worker shuts down, the target lock is lost, or the phase times out. */
  readonly signal: AbortSignal;
  /** Facts recorded by the phases already finished in this run, by phase name. */
  earlierFacts(phase: string): Facts | undefined;
  /**
   * This phase's facts so far, including those saved by an interrupted earlier attempt (so a
   * phase can tell what it already did before a crash).
   */
  readonly facts: Readonly<Facts>;
  /**
   * Records a fact of this phase, written through to its checkpoint at once (await it before a
   * side effect that relies on it surviving a crash) and shown in its end message.
   */
  fact(key: string, value: unknown): Promise<void>;
  /** What the phase is doing or waiting for now: on the card, and narrated at most every ~5 s. */
  progress(text: string): void;
  /** A message in the thread now, for something a person should know at once. */
  note(text: string): void;
  now(): Date;
}

export interface RunbookPhase {
  /** Stable id, kept in phase_runs (kebab-case). */
  name: string;
  /** What people read ("Scale down the catalog"). */
  title: string;
  /**
   * True when the phase changes the target. A cancel before the first such phase ends the run
   * with nothing to undo; a cancel after it halts and offers Roll back.
   */
  mutates: boolean;
  /** Overall limit on the phase, beyond the limits of its own waits. */
  timeoutMs?: number;
  /** Idempotent: a phase may be run again after a crash at any point inside it. */
  run(ctx: PhaseContext): Promise<void>;
  /** The facts of a finished run of this phase, as one line for its end message. */
  summarize?(facts: Facts): string | undefined;
}

/**
 * A phase as one object, before its clients exist: its name, title, whether it mutates, its
 * summary, and `run` built from the kind's deps. The outline (card, plan) and the runnable
 * phases both come from one list of these (`outlineOf`, `phasesOf`).
 */
export interface PhaseDefinition<D, N extends string = string> {
  name: N;
  title: string;
  mutates: boolean;
  timeoutMs?: number;
  run(deps: D): (ctx: PhaseContext) => Promise<void>;
  summarize?(facts: Facts): string | undefined;
}

/** Name, title and mutates of each phase, in order: what is shown without building clients. */
export function outlineOf<N extends string>(
  definitions: readonly PhaseDefinition<never, N>[],
): Array<{ name: N; title: string; mutates: boolean }> {
  return definitions.map(({ name, title, mutates }) => ({ name, title, mutates }));
}

/** The runnable phases over one target's clients. */
export function phasesOf<D>(definitions: readonly PhaseDefinition<D>[], deps: D): RunbookPhase[] {
  return definitions.map((d) => ({
    name: d.name,
    title: d.title,
    mutates: d.mutates,
    ...(d.timeoutMs !== undefined ? { timeoutMs: d.timeoutMs } : {}),
    run: d.run(deps),
    ...(d.summarize ? { summarize: d.summarize } : {}),
  }));
}

/** What a halted run says about the target, and what each button will do. */
export interface HaltAccount {
  /** One line per fact: each component's replicas, the operator, the catalog. */
  state: string[];
  /** What Roll back does and does not do (said plainly, e.g. a committed catalog stays). */
  rollback: string;
}

export interface Runbook {
  kind: string;
  phases: readonly RunbookPhase[];
  /** The steps of Roll back, run in order like phases (checkpointed from index 101). */
  rollback: readonly RunbookPhase[];
  /** The target's state now, for a halted run. Must not throw: say what could not be read. */
  describeHalt(request: RunRequest, runs: readonly PhaseRunRecord[]): Promise<HaltAccount>;
  /**
   * Closing lines of a run that finished forward (time taken, point restored, data-loss
   * window). Never used for a run that was rolled back: it would announce what was undone.
   */
  describeFinish(request: RunRequest, runs: readonly PhaseRunRecord[], finishedAt: Date): string[];
  /**
   * Closing lines of a run that was rolled back: what is back as it was, and what is not. A
   * runbook without it gets `rolledBackLines`, built from what its roll back steps recorded.
   */
  describeRollbackFinish?(
    request: RunRequest,
    runs: readonly PhaseRunRecord[],
    finishedAt: Date,
  ): string[];
}

/**
 * The closing lines of a rolled-back run, from what its steps recorded (the `undone` fact of
 * the step that undoes the run's recorded changes): only what the roll back itself says it
 * did, and a pointer to the halt message for what it does not undo.
 */
export function rolledBackLines(
  request: RunRequest,
  runs: readonly PhaseRunRecord[],
  notUndone?: string,
): string[] {
  const undone = runs
    .filter((r) => r.phaseIndex > 100 && r.state === "succeeded")
    .flatMap((r) => (Array.isArray(r.facts.undone) ? (r.facts.undone as unknown[]) : []))
    .map(String);
  const what = request.operation === "backup" ? "backup" : "restore";
  return [
    `*Rolled back ${request.target}* after the ${what} stopped: ${
      undone.length ? `undone: ${undone.join("; ")}.` : "there was no recorded change to undo."
    }`,
    "Every roll back step finished; the run's thread has each one's result, and its halt message names what Roll back does not undo.",
    ...(notUndone ? [notUndone] : []),
  ];
}

/** Whether the forward phase `name` had started (it has a record) before the run was rolled back. */
export function forwardPhaseStarted(runs: readonly PhaseRunRecord[], name: string): boolean {
  return runs.some((r) => r.phaseIndex < 100 && r.phase === name);
}

/**
 * The closing lines of a rolled-back restore whose data, once written, Roll back does not put
 * back: `rolledBackLines`, and `notUndone` when the phase that writes the data had started.
 */
export function rolledBackRestoreLines(
  request: RunRequest,
  runs: readonly PhaseRunRecord[],
  writingPhase: string,
  notUndone: string,
): string[] {
  return rolledBackLines(
    request,
    runs,
    forwardPhaseStarted(runs, writingPhase) ? notUndone : undefined,
  );
}

export type PhaseDisplayState = "pending" | "running" | "waiting" | "succeeded" | "failed";

/** One line of the live status on the approval card. */
export interface PhaseStatus {
  index: number;
  name: string;
  title: string;
  state: PhaseDisplayState;
  startedAt?: Date;
  finishedAt?: Date;
  /** What a running phase is waiting for, or why it failed. */
  detail?: string;
  /**
   * What a finished phase wants kept on the card (its `cardNote` fact): something people must
   * not miss, such as an operator left paused as it was found.
   */
  cardNote?: string;
}

/**
 * The fact a backup runbook's phase records once its point is complete:
 * `{ asOf: "<RFC 3339 UTC>", point: <the kind's record of the point>, bytes?: number }`. When
 * the backup finishes, the runner writes it into the request (`point`, `point_time`).
 */
export const BACKUP_POINT_FACT = "backupPoint";
/** How long the target was paused by a backup, in milliseconds (on the card and at the end). */
export const PAUSE_WINDOW_FACT = "pauseWindowMs";

export interface BackupPointFact {
  asOf: string;
  point: unknown;
  bytes?: number;
}

/** The fact a phase records to keep one line on the card next to it (see PhaseStatus). */
export const CARD_NOTE_FACT = "cardNote";

export type RunControl = "retry" | "rollback" | "abandon";

export interface RunStatus {
  requestId: string;
  mode: RunMode;
  state: "running" | "halted" | "succeeded" | "rolled_back" | "cancelled";
  startedAt: Date | null;
  phases: PhaseStatus[];
  /** Buttons a halted run offers. */
  controls: RunControl[];
}

/** What the runner tells the narrator; the narrator never blocks or fails the run. */
export type RunEvent =
  | { type: "run-started"; request: RunRequest; resumed: boolean; status: RunStatus }
  | {
      type: "phase-started";
      request: RunRequest;
      phase: PhaseStatus;
      position: number;
      total: number;
      attempt: number;
      status: RunStatus;
    }
  | {
      type: "phase-progress";
      request: RunRequest;
      phase: PhaseStatus;
      text: string;
      status: RunStatus;
    }
  | { type: "phase-note"; request: RunRequest; phase: PhaseStatus; text: string }
  | {
      type: "phase-succeeded";
      request: RunRequest;
      phase: PhaseStatus;
      position: number;
      total: number;
      durationMs: number;
      summary: string | undefined;
      status: RunStatus;
    }
  | {
      type: "run-halted";
      request: RunRequest;
      phase: PhaseStatus | undefined;
      reason: string;
      cancelledBy: string | undefined;
      account: HaltAccount;
      status: RunStatus;
    }
  | {
      type: "run-finished";
      request: RunRequest;
      lines: string[];
      status: RunStatus;
    }
  | { type: "status-tick"; request: RunRequest; status: RunStatus };

export type Narrate = (event: RunEvent) => void;
