import { tmpdir } from "node:os";
import { join } from "node:path";
import { LogLevel, WebClient } from "@slack/web-api";
import type pg from "pg";
import type { ObjectStore } from "../src/adapters/s3/object-store.js";
import type { AppDeps } from "../src/app-deps.js";
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
import type { Narrate, Runbook, RunRequest } from "../src/runbook/types.js";
import { type RestoreProcessor, RunSuspendedError } from "./restore-worker.js";
import { startRunReconciler } from "./run-reconciler.js";
import { runRestore } from "./runner/runner.js";

/** What the processor needs from a process's runtime (a `Runtime` satisfies it). */
export interface ProcessorRuntime {
  env: Pick<Env, "SLACK_BOT_TOKEN" | "SLACK_API_URL">;
  config: Config;
  pool: pg.Pool;
  queue: RestoreQueue;
  logger: Logger;
  metrics: Pick<Metrics, "restoresTotal" | "phaseDurationSeconds">;
  deps: Pick<AppDeps, "objectStoreFor" | "clusterFor" | "kinds">;
}

export interface RestoreProcessorOptions {
  /** Where the variables a target names (its DSNs) are read from; default `process.env`. */
  env?: NodeJS.ProcessEnv;
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
  clock?: () => Date;
}

export type RestoreProcessorWithClose = RestoreProcessor & {
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
  const env = options.env ?? process.env;
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
    return kinds.of(target).runbooks.restore({
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
      : startRunReconciler({
          db: runtime.pool,
          queue: runtime.queue,
          logger,
          intervalMs: options.reconcileIntervalMs ?? 15_000,
        });

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
      case "cancelled":
        await kinds
          .find(result.request?.kind ?? "")
          ?.runbooks.cleanUpRun?.(workDir, requestId)
          .catch(() => undefined);
        return;
      case "not-runnable":
        if (result.request?.state === "halted") job.opts.removeOnComplete = true;
        return;
    }
  };

  return Object.assign(processor, {
    async close(timeoutMs = 5_000) {
      reconciler?.stop();
      await outbox.flush(timeoutMs);
      outbox.close();
    },
  });
}
