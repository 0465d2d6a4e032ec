import { type Job, Worker } from "bullmq";
import type { Redis } from "ioredis";
import type { Logger } from "../src/logging/logger.js";
import { RESTORE_QUEUE_NAME, type RestoreJobData } from "../src/queue/restore-queue.js";

export type RestoreProcessor = (job: Job<RestoreJobData>, signal: AbortSignal) => Promise<void>;

export interface RestoreWorkerOptions {
  connection: Redis;
  prefix: string;
  processor: RestoreProcessor;
  logger: Logger;
  /** Restores are long and exclusive; one at a time per worker process is plenty. */
  concurrency?: number;
  /**
   * BullMQ renews a job's lock every lockDuration/2 while the process is alive. A killed worker
   * stops renewing, so after lockDuration the job is "stalled" and another worker resumes it
   * from the last checkpoint. Short enough to resume quickly, long enough that a busy event loop
   * never loses the lock (which would let two workers run the same phase).
   */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
}

export interface RestoreWorker {
  worker: Worker<RestoreJobData>;
  /** Waits for the running job to reach a phase boundary, then closes. */
  close(): Promise<void>;
}

export function startRestoreWorker(options: RestoreWorkerOptions): RestoreWorker {
  const { logger } = options;
  const controllers = new Map<string, AbortController>();
  const worker = new Worker<RestoreJobData>(
    RESTORE_QUEUE_NAME,
    async (job) => {
      const controller = new AbortController();
      controllers.set(job.id ?? "", controller);
      try {
        await options.processor(job, controller.signal);
      } finally {
        controllers.delete(job.id ?? "");
      }
    },
    {
      connection: options.connection,
      prefix: options.prefix,
      concurrency: options.concurrency ?? 1,
      lockDuration: options.lockDurationMs ?? 30_000,
      stalledInterval: options.stalledIntervalMs ?? 15_000,
      // A stalled restore is resumed from its checkpoints, never failed for having stalled:
      // the phases are idempotent and a per-target lock in PostgreSQL guards against overlap.
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
      // Tell the running phase to stop at its next boundary (the runner decides where that is).
      for (const controller of controllers.values())
        controller.abort(new Error("worker shutting down"));
      await worker.close();
    },
  };
}
