import { getRequest } from "../../src/approvals/request-store.js";
import { recordAuditEvent } from "../../src/audit/audit-log.js";
import {
  BotDatabaseUnavailableError,
  resilientDb,
  retryOnConnectionLoss,
} from "../../src/db/pool.js";
import type { JsonValue } from "../../src/kinds/kind.js";
import type { Logger } from "../../src/logging/logger.js";
import type { Metrics } from "../../src/observability/metrics.js";
import { SYSTEM_ACTOR, transition } from "../../src/requests/lifecycle.js";
import {
  beginPhase,
  cancelRequestedBy,
  type Db,
  endPhase,
  isCancelRequested,
  listPhaseRuns,
  savePhaseFacts,
  savePhaseProgress,
} from "../../src/runbook/run-store.js";
import {
  buildStatuses,
  cardNoteOf,
  FORWARD_BASE_INDEX,
  ROLLBACK_BASE_INDEX,
} from "../../src/runbook/statuses.js";
import {
  BACKUP_POINT_FACT,
  type BackupPointFact,
  type Facts,
  type HaltAccount,
  type Narrate,
  type PhaseContext,
  type PhaseRunRecord,
  type PhaseStatus,
  type Runbook,
  type RunbookPhase,
  type RunControl,
  type RunEvent,
  type RunRequest,
  type RunStatus,
  rolledBackLines,
} from "../../src/runbook/types.js";
import { formatDuration } from "../../src/text/format.js";
import { acquireTargetLock, type TargetLock } from "./target-lock.js";

/** Checkpoint index of the first phase of each list; rollback steps sit apart from phases. */

/** Kept here too: the runner's tests and benches read the indexes from it. */
export { buildStatuses, FORWARD_BASE_INDEX, ROLLBACK_BASE_INDEX };

export type RunOutcome =
  /** Every phase done; the request is `succeeded`. */
  | "succeeded"
  /** Roll back done; the request is `rolled_back`. */
  | "rolled_back"
  /** Stopped at a phase (error, timeout or cancel); the request is `halted` and offers buttons. */
  | "halted"
  /** Cancelled before anything was changed; the request is `cancelled`. */
  | "cancelled"
  /** The request is not in a state a worker runs (already finished, halted, unknown). */
  | "not-runnable"
  /** The worker is stopping or lost the target lock; another worker resumes from the checkpoints. */
  | "suspended";

export interface RunOptions {
  db: Db;
  requestId: string;
  /** Builds the runbook (with its clients) once the request's target and kind are known. */
  runbookFor(request: RunRequest): Runbook | Promise<Runbook>;
  narrate: Narrate;
  /** Aborted when the worker shuts down: the run stops and is resumed elsewhere. */
  signal: AbortSignal;
  logger: Logger;
  metrics?: Pick<Metrics, "restoresTotal" | "phaseDurationSeconds">;
  clock?: () => Date;
  /** Progress is narrated at most this often (default 5 s); the latest text always gets out. */
  progressIntervalMs?: number;
  /** The card's elapsed times are refreshed this often while a phase runs (default 5 s). */
  statusTickMs?: number;
  /** How often a worker retries a target lock held by another (default 1 s). */
  lockRetryMs?: number;
}

export interface RunResult {
  outcome: RunOutcome;
  request?: RunRequest;
}

const RUNNABLE_STATES = new Set(["approved", "running"]);

/**
 * Runs (or resumes) one restore request: takes the per-target lock, then executes the
 * runbook's phases (or its rollback steps) from the first one not yet succeeded, checkpointing
 * each start and outcome. Never throws for a phase's failure: that halts the request with an
 * account of the target's state. Throws only when restorebot's own database is unreachable, so
 * the job is retried later.
 */
export async function runRestore(given: RunOptions): Promise<RunResult> {
  // Every checkpoint read and write goes through a lost connection (a failover, a restart of
  // restorebot's database) by retrying; only the target's own answers decide a phase.
  const options = { ...given, db: resilientDb(given.db) };
  const { db, requestId, logger } = options;
  const initial = await getRequest(db, requestId);
  if (!initial || !RUNNABLE_STATES.has(initial.state)) {
    logger.info(
      { requestId, state: initial?.state },
      "restore request is not runnable; nothing to do",
    );
    return { outcome: "not-runnable", request: initial };
  }
  const lock = await acquireTargetLock(db, initial.target, {
    signal: options.signal,
    retryMs: options.lockRetryMs,
    onWaiting: () =>
      logger.warn(
        { requestId, target: initial.target },
        "another worker holds this target's lock; waiting for it",
      ),
  });
  if (!lock) return { outcome: "suspended", request: initial };
  try {
    return await new Run(options, lock).execute();
  } finally {
    await lock.release();
  }
}

class Run {
  private readonly clock: () => Date;
  private request!: RunRequest;
  private runbook!: Runbook;
  private statuses: PhaseStatus[] = [];
  private controls: RunControl[] = [];

  constructor(
    private readonly options: RunOptions,
    private readonly lock: TargetLock,
  ) {
    this.clock = options.clock ?? (() => new Date());
  }

  private get db(): Db {
    return this.options.db;
  }

  private get stopping(): boolean {
    return this.options.signal.aborted || this.lock.lost.aborted;
  }

  async execute(): Promise<RunResult> {
    const { requestId, logger } = this.options;
    // Read again under the lock: another worker may have finished the run while we waited.
    const current = await getRequest(this.db, requestId);
    if (!current || !RUNNABLE_STATES.has(current.state))
      return { outcome: "not-runnable", request: current };
    let resumed = true;
    if (current.state === "approved") {
      const started = await transition(this.db, requestId, "start", {
        actor: SYSTEM_ACTOR,
        patch: { startedAt: this.clock() },
      });
      if (started.outcome === "refused")
        return { outcome: "not-runnable", request: started.request ?? current };
      this.request = started.request;
      resumed = false;
    } else {
      this.request = current;
      await this.audit("resumed", { mode: current.runMode });
    }

    try {
      this.runbook = await this.options.runbookFor(this.request);
    } catch (err) {
      logger.error({ requestId, err: errorText(err) }, "cannot prepare the runbook");
      return this.halt(undefined, `restorebot could not prepare this run: ${errorText(err)}`, {
        state: ["Nothing was changed by this attempt: the runbook could not be prepared."],
        rollback: "Roll back only undoes what earlier attempts changed (nothing, if none ran).",
      });
    }

    const mode = this.request.runMode;
    const list = mode === "forward" ? this.runbook.phases : this.runbook.rollback;
    const base = mode === "forward" ? FORWARD_BASE_INDEX : ROLLBACK_BASE_INDEX;
    let runs = await listPhaseRuns(this.db, requestId);
    this.statuses = buildStatuses(list, base, runs);
    this.emit({ type: "run-started", request: this.request, resumed, status: this.status() });

    const ticker = setInterval(() => {
      if (this.statuses.some((s) => s.state === "running" || s.state === "waiting"))
        this.emit({ type: "status-tick", request: this.request, status: this.status() });
    }, this.options.statusTickMs ?? 5_000);
    ticker.unref();
    try {
      for (let i = 0; i < list.length; i++) {
        const phase = list[i] as RunbookPhase;
        const index = base + i;
        const done = runs.find((r) => r.phaseIndex === index);
        if (done?.state === "succeeded" || done?.state === "skipped") continue;
        // A phase boundary: the only place a cancel or a shutdown takes effect.
        if (this.stopping) return this.suspend();
        // A roll back honours it too: /restore cancel promised a stop at the next boundary.
        if (await isCancelRequested(this.db, requestId)) {
          return this.cancelAtBoundary(runs, list, i);
        }
        const result = await this.runPhase(phase, index, i + 1, list.length, runs);
        if (result) return result;
        runs = await listPhaseRuns(this.db, requestId);
      }
    } finally {
      clearInterval(ticker);
    }
    return this.finish(runs);
  }

  /** Runs one phase; returns a result when the run must stop there. */
  private async runPhase(
    phase: RunbookPhase,
    index: number,
    position: number,
    total: number,
    runs: PhaseRunRecord[],
  ): Promise<RunResult | undefined> {
    const { logger, requestId } = this.options;
    const record = await beginPhase(this.db, this.request, index, phase.name);
    // Facts saved by an interrupted attempt are kept: a phase reads them to stay idempotent.
    const facts: Facts = { ...record.facts };
    const startedAt = this.clock();
    const status = this.statusOf(index);
    Object.assign(status, {
      state: "running",
      startedAt,
      finishedAt: undefined,
      detail: undefined,
    });
    this.controls = [];
    this.emit({
      type: "phase-started",
      request: this.request,
      phase: { ...status },
      position,
      total,
      attempt: record.attempt,
      status: this.status(),
    });

    const timeout =
      phase.timeoutMs !== undefined ? AbortSignal.timeout(phase.timeoutMs) : undefined;
    const signal = AbortSignal.any(
      [this.options.signal, this.lock.lost, timeout].filter((s): s is AbortSignal => !!s),
    );
    const progress = this.progressNarrator(status, (text) =>
      // For `/restore status`; best effort: a lost write is replaced by the next one, and the
      // bot's database never decides a phase's outcome.
      savePhaseProgress(this.db, requestId, index, text).catch((err: unknown) =>
        logger.warn({ requestId, err: errorText(err) }, "could not save phase progress"),
      ),
    );
    let factWrites: Promise<void> = Promise.resolve();
    const ctx: PhaseContext = {
      request: this.request,
      position,
      total,
      facts,
      name: phase.name,
      title: phase.title,
      attempt: record.attempt,
      signal,
      earlierFacts: (name) => runs.find((r) => r.phase === name && r.state === "succeeded")?.facts,
      fact: (key, value) => {
        facts[key] = value;
        const snapshot = structuredClone(facts);
        // Written through at once and in order, so a crash loses nothing a phase relied on.
        factWrites = factWrites
          .catch(() => undefined)
          .then(() =>
            retryOnConnectionLoss(() => savePhaseFacts(this.db, requestId, index, snapshot), {
              signal: this.options.signal,
            }),
          );
        return factWrites;
      },
      progress: (text) => progress.push(text),
      note: (text) =>
        this.emit({ type: "phase-note", request: this.request, phase: { ...status }, text }),
      now: this.clock,
    };

    const started = performance.now();
    try {
      await phase.run(ctx);
      await factWrites.catch(() => undefined);
    } catch (err) {
      progress.stop();
      await factWrites.catch(() => undefined);
      const durationMs = performance.now() - started;
      if (this.stopping) {
        logger.info(
          { requestId, phase: phase.name, err: errorText(err) },
          "phase interrupted by shutdown; another worker resumes it",
        );
        return this.suspend();
      }
      if (err instanceof BotDatabaseUnavailableError) {
        // restorebot's own database, not the target, failed the phase: it is not failed; the
        // job is retried later and the phase runs again from its checkpoint.
        logger.warn(
          { requestId, phase: phase.name, err: errorText(err) },
          "restorebot's database unreachable during a phase; the run resumes later",
        );
        throw err;
      }
      const reason =
        timeout?.aborted && !isCodedTimeout(err)
          ? `${phase.title} did not finish within ${formatDuration(phase.timeoutMs ?? 0)}.`
          : errorText(err);
      await endPhase(this.db, this.request, index, {
        state: "failed",
        facts,
        error: reason,
        durationMs,
      });
      this.options.metrics?.phaseDurationSeconds.observe(
        { target: this.request.target, phase: phase.name, outcome: "failed" },
        durationMs / 1000,
      );
      Object.assign(status, { state: "failed", finishedAt: this.clock(), detail: reason });
      logger.warn({ requestId, phase: phase.name, err: reason }, "phase failed; run halted");
      const after = await listPhaseRuns(this.db, requestId);
      const account = await this.describeHalt(after);
      return this.halt(status, reason, account);
    }
    progress.stop();
    const durationMs = performance.now() - started;
    await endPhase(this.db, this.request, index, { state: "succeeded", facts, durationMs });
    this.options.metrics?.phaseDurationSeconds.observe(
      { target: this.request.target, phase: phase.name, outcome: "succeeded" },
      durationMs / 1000,
    );
    Object.assign(status, {
      state: "succeeded",
      finishedAt: this.clock(),
      detail: undefined,
      cardNote: cardNoteOf(facts),
    });
    let summary: string | undefined;
    try {
      summary = phase.summarize?.(facts);
    } catch {
      summary = undefined;
    }
    this.emit({
      type: "phase-succeeded",
      request: this.request,
      phase: { ...status },
      position,
      total,
      durationMs,
      summary,
      status: this.status(),
    });
    return undefined;
  }

  /** Throttles a phase's progress to one narration per interval, always sending the latest. */
  private progressNarrator(status: PhaseStatus, save: (text: string) => void) {
    const interval = this.options.progressIntervalMs ?? 5_000;
    let last = 0;
    let pending: string | undefined;
    let timer: NodeJS.Timeout | undefined;
    const send = (text: string) => {
      last = Date.now();
      pending = undefined;
      status.detail = text;
      save(text);
      if (status.state === "running") status.state = "waiting";
      this.emit({
        type: "phase-progress",
        request: this.request,
        phase: { ...status },
        text,
        status: this.status(),
      });
    };
    return {
      push(text: string) {
        const wait = last + interval - Date.now();
        if (wait <= 0 && !timer) {
          send(text);
          return;
        }
        pending = text;
        timer ??= setTimeout(
          () => {
            timer = undefined;
            if (pending !== undefined) send(pending);
          },
          Math.max(wait, 0),
        );
        timer.unref();
      },
      stop() {
        if (timer) clearTimeout(timer);
        timer = undefined;
        pending = undefined;
      },
    };
  }

  private async cancelAtBoundary(
    runs: PhaseRunRecord[],
    list: readonly RunbookPhase[],
    nextPosition: number,
  ): Promise<RunResult> {
    const by = await cancelRequestedBy(this.db, this.options.requestId);
    const mutatingNames = new Set(this.runbook.phases.filter((p) => p.mutates).map((p) => p.name));
    const touched = runs.some(
      (r) => r.phaseIndex < ROLLBACK_BASE_INDEX && mutatingNames.has(r.phase),
    );
    if (!touched) {
      const cancelled = await transition(this.db, this.options.requestId, "stop", {
        actor: by ?? SYSTEM_ACTOR,
        details: { atPhase: nextPosition + 1 },
        patch: { finishedAt: this.clock(), cancelRequested: false },
      });
      if (cancelled.outcome === "changed") this.request = cancelled.request;
      this.options.metrics?.restoresTotal.inc({
        target: this.request.target,
        outcome: "cancelled",
      });
      this.emit({
        type: "run-finished",
        request: this.request,
        lines: [
          `Cancelled${by ? ` by <@${by}>` : ""} before anything on ${this.request.target} was changed.`,
        ],
        status: this.status("cancelled"),
      });
      return { outcome: "cancelled", request: this.request };
    }
    const next = list[nextPosition];
    const step = this.request.runMode === "rollback" ? "roll back step" : "phase";
    const reason = `Cancelled${by ? ` by <@${by}>` : ""} at the phase boundary before ${step} ${nextPosition + 1}${
      next ? ` (${next.title})` : ""
    }.`;
    const account = await this.describeHalt(runs);
    return this.halt(undefined, reason, account, by);
  }

  private async describeHalt(runs: readonly PhaseRunRecord[]): Promise<HaltAccount> {
    try {
      return await this.runbook.describeHalt(this.request, runs);
    } catch (err) {
      return {
        state: [`The target's state could not be read: ${errorText(err)}`],
        rollback:
          "Roll back scales every component back up to its recorded count and unpauses the operator.",
      };
    }
  }

  private async halt(
    phase: PhaseStatus | undefined,
    reason: string,
    account: HaltAccount,
    cancelledBy?: string,
  ): Promise<RunResult> {
    const mode = this.request.runMode;
    const position = phase ? this.statuses.findIndex((s) => s.index === phase.index) + 1 : 0;
    // What people read on the card ("Halted at phase 5 — Scale down …"); the checkpoints,
    // not this column, decide where a retry resumes.
    const where = phase
      ? `${mode === "rollback" ? "roll back step" : "phase"} ${position} — ${phase.title}`
      : null;
    const halted = await transition(this.db, this.options.requestId, "halt", {
      actor: SYSTEM_ACTOR,
      details: {
        phase: phase?.name ?? null,
        reason,
        mode,
        ...(cancelledBy ? { cancelledBy } : {}),
      },
      patch: {
        haltedPhase: where,
        haltedReason: reason.slice(0, 2_000),
        cancelRequested: false,
      },
    });
    if (halted.outcome === "changed") this.request = halted.request;
    this.controls = mode === "forward" ? ["retry", "rollback", "abandon"] : ["rollback", "abandon"];
    this.options.metrics?.restoresTotal.inc({ target: this.request.target, outcome: "halted" });
    this.emit({
      type: "run-halted",
      request: this.request,
      phase: phase ? { ...phase } : undefined,
      reason,
      cancelledBy,
      account,
      status: this.status("halted"),
    });
    return { outcome: "halted", request: this.request };
  }

  private async finish(runs: PhaseRunRecord[]): Promise<RunResult> {
    const mode = this.request.runMode;
    const finishedAt = this.clock();
    const to = mode === "forward" ? "succeeded" : "rolled_back";
    const written = mode === "forward" ? backupPointOf(this.request, runs) : undefined;
    const done = await transition(
      this.db,
      this.options.requestId,
      mode === "forward" ? "finish" : "finish_rollback",
      {
        actor: SYSTEM_ACTOR,
        details: {
          totalMs: finishedAt.getTime() - (this.request.startedAt ?? finishedAt).getTime(),
          ...(written ? { point: written.asOf } : {}),
        },
        patch: {
          finishedAt,
          ...(written ? { point: written.point, pointTime: written.time } : {}),
        },
      },
    );
    if (done.outcome === "changed") this.request = done.request;
    let lines: string[];
    try {
      lines =
        mode === "forward"
          ? this.runbook.describeFinish(this.request, runs, finishedAt)
          : this.runbook.describeRollbackFinish
            ? this.runbook.describeRollbackFinish(this.request, runs, finishedAt)
            : rolledBackLines(this.request, runs);
    } catch (err) {
      lines = [`Done (the summary could not be written: ${errorText(err)}).`];
    }
    this.options.metrics?.restoresTotal.inc({ target: this.request.target, outcome: to });
    this.emit({ type: "run-finished", request: this.request, lines, status: this.status(to) });
    return { outcome: to, request: this.request };
  }

  private suspend(): RunResult {
    return { outcome: "suspended", request: this.request };
  }

  private async audit(event: "resumed", details: Facts): Promise<void> {
    await recordAuditEvent(this.db, {
      requestId: this.options.requestId,
      target: this.request.target,
      actor: SYSTEM_ACTOR,
      event,
      details,
    });
  }

  private statusOf(index: number): PhaseStatus {
    const found = this.statuses.find((s) => s.index === index);
    if (!found) throw new Error(`no status for phase index ${index}`);
    return found;
  }

  private status(state?: RunStatus["state"]): RunStatus {
    return {
      requestId: this.options.requestId,
      mode: this.request.runMode,
      state: state ?? "running",
      startedAt: this.request.startedAt,
      phases: this.statuses.map((s) => ({ ...s })),
      controls: [...this.controls],
    };
  }

  private emit(event: RunEvent): void {
    try {
      this.options.narrate(event);
    } catch (err) {
      // Narration must never fail a restore.
      this.options.logger.warn({ err: errorText(err), event: event.type }, "narration failed");
    }
  }
}

/**
 * The point a backup wrote (its `backupPoint` fact), which becomes the request's point when the
 * backup finishes; undefined for restores and for a backup that reported none.
 */
function backupPointOf(
  request: RunRequest,
  runs: readonly PhaseRunRecord[],
): { asOf: string; time: Date; point: JsonValue } | undefined {
  if (request.operation !== "backup") return undefined;
  for (const run of [...runs].reverse()) {
    const fact = run.facts[BACKUP_POINT_FACT] as Partial<BackupPointFact> | undefined;
    if (!fact || typeof fact.asOf !== "string") continue;
    const time = new Date(fact.asOf);
    if (Number.isNaN(time.getTime())) continue;
    return { asOf: fact.asOf, time, point: (fact.point ?? null) as JsonValue };
  }
  return undefined;
}

function isCodedTimeout(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === "timeout";
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
