import { tmpdir } from "node:os";
import { join } from "node:path";
import { LogLevel, WebClient } from "@slack/web-api";
import type pg from "pg";
import type { ObjectStore } from "../src/adapters/s3/object-store.js";
import type { AppDeps } from "../src/app-deps.js";
import { pruneExpiredPoints } from "../src/backups/prune-expired.js";
import { runScheduledBackups } from "../src/backups/scheduler.js";
import type { Env } from "../src/config/env.js";
import { type Config, findTarget, type Target } from "../src/config/file.js";
import { resilientDb } from "../src/db/pool.js";
import { CodedError } from "../src/errors.js";
import type { Logger } from "../src/logging/logger.js";
import { approvalCardRenderer } from "../src/narration/approval-card.js";
import { redrawRecentCards } from "../src/narration/card-redraw.js";
import { controlsPostedHandler } from "../src/narration/control-messages.js";
import type { CardRenderer } from "../src/narration/run-narrator.js";
import { createRunNarrator } from "../src/narration/run-narrator.js";
import { createRunNotifier } from "../src/narration/run-notices.js";
import {
  SlackOutbox,
  type SlackWriter,
  slackWriterFromWebClient,
} from "../src/narration/slack-outbox.js";
import type { Metrics } from "../src/observability/metrics.js";
import type { RestoreQueue } from "../src/queue/restore-queue.js";
import { startReconciler } from "../src/requests/lifecycle.js";
import type { Narrate, Runbook, RunRequest } from "../src/runbook/types.js";
import { type RestoreProcessor, RunSuspendedError } from "./restore-worker.js";
import { runRestore } from "./runner/runner.js";
import { tryAcquireTargetLock } from "./runner/target-lock.js";

/** What the processor needs from a process's runtime (a `Runtime` satisfies it). */
export interface ProcessorRuntime {
  env: Pick<Env, "SLACK_BOT_TOKEN" | "SLACK_API_URL"> & Partial<Pick<Env, "variables">>;
  config: Config;
  pool: pg.Pool;
  queue: RestoreQueue;
  logger: Logger;
  metrics: Pick<Metrics, "restoresTotal" | "phaseDurationSeconds">;
  deps: Pick<AppDeps, "objectStoreFor" | "clusterFor" | "kinds">;
}

export interface RestoreProcessorOptions {
  /** Where the variables a target names (its DSNs) are read from; default the runtime's `env.variables`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Per-target object stores; default the runtime's. */
  objectStoreFor?: (target: Target) => ObjectStore;
  /** Where narration goes; default a WebClient on SLACK_BOT_TOKEN / SLACK_API_URL. */
  slack?: SlackWriter;
  /** Spacing of Slack calls per channel; default a little over 1 s (Slack's limit). */
  slackIntervalMs?: number;
  /** Longest wait between attempts while Slack fails; default 3 s. */
  slackMaxBackoffMs?: number;
  renderCard?: CardRenderer;
  /** Scratch space of runs (downloaded snapshots); default `<tmp>/restorebot-snapshots`. */
  workDir?: string;
  progressIntervalMs?: number;
  statusTickMs?: number;
  /** Cards of runs changed this recently are redrawn when the worker starts; default 24 h, 0 = none. */
  redrawCardsWithinMs?: number;
  /** How often runs whose job went missing are handed back to the queue; default 15 s, 0 = never. */
  reconcileIntervalMs?: number;
  /**
   * How often scheduled backups (`backup.schedule`) are checked and expired points pruned;
   * default 30 s, 0 = never (tests call `tickBackups` themselves).
   */
  backupTickMs?: number;
  clock?: () => Date;
}

export type RestoreProcessorWithClose = RestoreProcessor & {
  /** One pass of the backup scheduler and of retention over every target (also run by a timer). */
  tickBackups(): Promise<void>;
  /** Stops the reconciler and waits (briefly) for queued narration to reach Slack. */
  close(timeoutMs?: number): Promise<void>;
};

/**
 * Builds the processor that runs a restore job: per-target clients (Kubernetes, S3, the catalog
 * DSN from the env var the target names), a Slack narrator shared by every run of the process,
 * and the generic runner over the target kind's runbook.
 */
export function createRestoreProcessor(
  runtime: ProcessorRuntime,
  options: RestoreProcessorOptions = {},
): RestoreProcessorWithClose {
  const { logger } = runtime;
  const env = options.env ?? runtime.env.variables ?? {};
  const workDir = options.workDir ?? join(tmpdir(), "restorebot-snapshots");
  const writer =
    options.slack ??
    slackWriterFromWebClient(
      new WebClient(runtime.env.SLACK_BOT_TOKEN, {
        slackApiUrl: runtime.env.SLACK_API_URL,
        // The outbox paces, retries and honours Retry-After itself, so a 429 never blocks a
        // call inside the client (and never the restore).
        rejectRateLimitedCalls: true,
        retryConfig: { retries: 0 },
        timeout: 10_000,
        logLevel: LogLevel.ERROR,
      }),
    );
  const outbox = new SlackOutbox({
    writer,
    logger,
    ...(options.slackIntervalMs !== undefined ? { minIntervalMs: options.slackIntervalMs } : {}),
    ...(options.slackMaxBackoffMs !== undefined ? { maxBackoffMs: options.slackMaxBackoffMs } : {}),
  });
  const controlsPosted = controlsPostedHandler(runtime.pool, outbox, logger);
  const { kinds } = runtime.deps;
  const narrateInChannel = createRunNarrator({
    outbox,
    kinds,
    onControlsPosted: (request, message) =>
      controlsPosted(request.id, { ...message, blocks: message.blocks ?? [] }),
    renderCard: options.renderCard ?? approvalCardRenderer(runtime.pool, kinds),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const notifyPeople = createRunNotifier({ db: runtime.pool, kinds, outbox, logger });
  const narrate: Narrate = (event) => {
    narrateInChannel(event);
    notifyPeople(event);
  };
  // The last edit of a card may have been lost with the previous process (Slack unreachable
  // when it stopped): draw the cards of recent runs again from the database.
  if (options.redrawCardsWithinMs !== 0)
    void redrawRecentCards({
      db: runtime.pool,
      kinds,
      outbox,
      logger,
      ...(options.redrawCardsWithinMs ? { withinMs: options.redrawCardsWithinMs } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
    }).catch((err: unknown) =>
      logger.warn(
        { err: err instanceof Error ? err.message : String(err) },
        "could not list recent runs to redraw their cards",
      ),
    );
  const clusterFor = runtime.deps.clusterFor;
  const objectStoreFor = options.objectStoreFor ?? runtime.deps.objectStoreFor;

  const runbookFor = (request: RunRequest): Runbook => {
    const target = findTarget(runtime.config, request.target);
    if (!target) {
      throw new CodedError(
        "config_invalid",
        `target ${request.target} is no longer in restorebot's configuration; restore it there and retry`,
      );
    }
    const kind = kinds.of(target);
    if (request.operation === "backup" && !kind.runbooks.backup)
      throw new CodedError(
        "config_invalid",
        `restorebot does not take backups of ${kind.id} targets, so backup ${request.id} cannot run`,
      );
    const build =
      request.operation === "backup" && kind.runbooks.backup
        ? kind.runbooks.backup.bind(kind.runbooks)
        : kind.runbooks.restore.bind(kind.runbooks);
    return build({
      target,
      // A phase's own reads and writes there go through a lost connection by retrying.
      db: resilientDb(runtime.pool),
      cluster: clusterFor(target),
      objectStore: () => objectStoreFor(target),
      env,
      workDir,
      logger: logger.child({ requestId: request.id, target: target.name }),
    });
  };

  for (const kind of kinds.all) void kind.runbooks.prepareWorker?.(workDir).catch(() => undefined);

  const reconciler =
    options.reconcileIntervalMs === 0
      ? undefined
      : // Runs whose job went missing (Retry/Roll back pressed while the halted job was still
        // finishing, or Redis lost its data); the bot's sweeper reconciles approved ones.
        startReconciler(
          {
            db: runtime.pool,
            queue: runtime.queue,
            logger,
            clock: options.clock ?? (() => new Date()),
          },
          { intervalMs: options.reconcileIntervalMs ?? 15_000, states: ["running"] },
        );

  const clock = options.clock ?? (() => new Date());
  const pruneDeps = {
    db: runtime.pool,
    kinds,
    objectStoreFor,
    logger,
    clock,
    tryLock: (target: string) => tryAcquireTargetLock(runtime.pool, target),
  };
  const prune = async (target: Target): Promise<void> => {
    try {
      await pruneExpiredPoints(pruneDeps, target);
    } catch (err) {
      logger.warn(
        { target: target.name, err: err instanceof Error ? err.message : String(err) },
        "could not prune expired backup points; the next tick tries again",
      );
    }
  };
  const schedulerDeps = {
    config: runtime.config,
    kinds,
    db: runtime.pool,
    queue: runtime.queue,
    logger,
    clock,
    postCard: async (channel: string, card: { text: string; blocks: unknown[] }) =>
      (await writer.postMessage({ channel, text: card.text, blocks: card.blocks })).ts,
  };
  let ticking = false;
  const tickBackups = async (): Promise<void> => {
    if (ticking) return;
    ticking = true;
    try {
      await runScheduledBackups(schedulerDeps);
      for (const target of runtime.config.targets)
        if (target.backup?.retention !== undefined) await prune(target);
    } finally {
      ticking = false;
    }
  };
  const backupTimer =
    options.backupTickMs === 0
      ? undefined
      : setInterval(
          () => void tickBackups().catch(() => undefined),
          options.backupTickMs ?? 30_000,
        );
  backupTimer?.unref();

  const processor: RestoreProcessor = async (job, signal) => {
    const { requestId } = job.data;
    const result = await runRestore({
      db: runtime.pool,
      requestId,
      runbookFor,
      narrate,
      signal,
      logger: logger.child({ requestId }),
      metrics: runtime.metrics,
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.progressIntervalMs !== undefined
        ? { progressIntervalMs: options.progressIntervalMs }
        : {}),
      ...(options.statusTickMs !== undefined ? { statusTickMs: options.statusTickMs } : {}),
    });
    switch (result.outcome) {
      case "suspended":
        throw new RunSuspendedError();
      case "halted":
        // Retry phase and Roll back enqueue the request again under the same job id (one job
        // per request); a halted run's job must not linger and block that.
        job.opts.removeOnComplete = true;
        return;
      case "succeeded":
      case "rolled_back":
      case "cancelled": {
        // A backup that wrote its point: prune what has expired now, under the target's lock.
        const target = findTarget(runtime.config, result.request?.target ?? "");
        if (
          result.outcome === "succeeded" &&
          result.request?.operation === "backup" &&
          target?.backup?.retention !== undefined
        )
          await prune(target);
        await kinds
          .find(result.request?.kind ?? "")
          ?.runbooks.cleanUpRun?.(workDir, requestId)
          .catch(() => undefined);
        return;
      }
      case "not-runnable":
        if (result.request?.state === "halted") job.opts.removeOnComplete = true;
        return;
    }
  };

  return Object.assign(processor, {
    tickBackups,
    async close(timeoutMs = 5_000) {
      reconciler?.stop();
      if (backupTimer) clearInterval(backupTimer);
      await outbox.flush(timeoutMs);
      outbox.close();
    },
  });
}
