import { DelayedError, type Job, WaitingError, Worker } from "bullmq";
import type { Redis } from "ioredis";
import type { Logger } from "../src/logging/logger.js";
import { RESTORE_QUEUE_NAME, type RestoreJobData } from "../src/queue/restore-queue.js";

export type RestoreProcessor = (job: Job<RestoreJobData>, signal: AbortSignal) => Promise<void>;

/**
 * Thrown by a processor whose run stopped without finishing because this worker is going away
 * (or lost the target lock): the job goes back to the queue at once and another worker resumes
 * it from the checkpoints, instead of being completed or failed.
 */
export class RunSuspendedError extends Error {
  constructor(message = "run suspended; another worker resumes it") {
    super(message);
    this.name = "RunSuspendedError";
  }
}

/**
 * BullMQ's lock on a running restore. It is renewed by a timer (every lockDuration/4 to /2) for
 * as long as the process lives, whatever the phase is doing, so a phase lasting an hour keeps
 * it. A killed worker stops renewing: its job is found stalled within lockDuration +
 * stalledInterval (about 4 s) and resumed by another worker, while the cluster may be scaled
 * down — so the lock is short. Short is safe because this lock only decides who *picks up* a
 * job: the per-target lock in PostgreSQL (jobs/runner/target-lock.ts), held on a connection
 * that lives as long as the process does, decides who may *act*. A worker whose event loop is
 * blocked (a long GC, a stalled VM) past the lock keeps its PostgreSQL session and so the
 * target lock; the worker that picks the job up waits for that lock and only proceeds once
 * the first has finished or died.
 */
export const DEFAULT_LOCK_DURATION_MS = 3_000;
export const DEFAULT_STALLED_INTERVAL_MS = 1_000;

export interface RestoreWorkerOptions {
  connection: Redis;
  prefix: string;
  /** With a `close`, it is called after the worker stops (to flush narration, stop timers). */
  processor: RestoreProcessor & { close?: () => Promise<void> };
  logger: Logger;
  /** Restores are long and exclusive; one at a time per worker process is plenty. */
  concurrency?: number;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
}

export interface RestoreWorker {
  worker: Worker<RestoreJobData>;
  /** Stops the running phase where it can stop safely, hands its job back, then closes. */
  close(): Promise<void>;
}

/** Retries after an infrastructure error (restorebot's database down): 2 s, 4 s … 60 s. */
function retryDelayMs(failures: number): number {
  return Math.min(60_000, 2_000 * 2 ** Math.min(failures, 5));
}

export function startRestoreWorker(options: RestoreWorkerOptions): RestoreWorker {
  const { logger } = options;
  const controllers = new Map<string, AbortController>();
  const failures = new Map<string, number>();
  const worker = new Worker<RestoreJobData>(
    RESTORE_QUEUE_NAME,
    async (job, token) => {
      const id = job.id ?? "";
      const controller = new AbortController();
      controllers.set(id, controller);
      try {
        await options.processor(job, controller.signal);
        failures.delete(id);
      } catch (err) {
        if (err instanceof RunSuspendedError) {
          // Back to the wait list: another worker (or this one, restarted) resumes the run.
          await job.moveToWait(token);
          throw new WaitingError();
        }
        // The runner turns every phase failure into a halted run, so an error here means
        // restorebot's own database or Redis was unreachable: try again later, never give up
        // on a restore silently.
        const n = (failures.get(id) ?? 0) + 1;
        failures.set(id, n);
        logger.error(
          {
            requestId: job.data.requestId,
            err: (err as Error).message,
            retryInMs: retryDelayMs(n),
          },
          "restore run could not proceed; retrying later",
        );
        await job.moveToDelayed(Date.now() + retryDelayMs(n), token);
        throw new DelayedError();
      } finally {
        controllers.delete(id);
      }
    },
    {
      connection: options.connection,
      prefix: options.prefix,
      concurrency: options.concurrency ?? 1,
      lockDuration: options.lockDurationMs ?? DEFAULT_LOCK_DURATION_MS,
      stalledInterval: options.stalledIntervalMs ?? DEFAULT_STALLED_INTERVAL_MS,
      // A stalled restore is resumed from its checkpoints, never failed for having stalled:
      // the phases are idempotent and the per-target lock in PostgreSQL guards against overlap.
      maxStalledCount: 1_000,
      autorun: true,
    },
  );
  worker.on("error", (err) =>
    logger.warn({ err: err.message }, "restore worker error (will retry)"),
  );
  worker.on("failed", (job, err) =>
    logger.warn({ requestId: job?.id, err: err.message }, "restore job ended with an error"),
  );
  return {
    worker,
    async close() {
      // Waits stop at once (a phase is idempotent and is run again by the next worker); the
      // catalog restore rolls back its transaction, so nothing is left half done.
      for (const controller of controllers.values())
        controller.abort(new Error("worker shutting down"));
      await worker.close();
      await options.processor.close?.();
    },
  };
}
