import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { Logger } from "../logging/logger.js";

export const RESTORE_QUEUE_NAME = "restores";

export interface RestoreJobData {
  requestId: string;
  target: string;
}

export interface RestoreQueue {
  /**
   * Enqueues the run of an approved request. The job id is the request id, so a second call
   * (a retried click, a reconciler) never creates a second job.
   */
  enqueueRestore(data: RestoreJobData): Promise<{ created: boolean }>;
  depth(): Promise<{ waiting: number; active: number; delayed: number; failed: number }>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export function createRestoreQueue(
  connection: Redis,
  prefix: string,
  logger?: Logger,
): RestoreQueue {
  const queue = new Queue<RestoreJobData>(RESTORE_QUEUE_NAME, {
    connection,
    prefix,
    defaultJobOptions: {
      // Runs are retried by people (Retry phase), never silently by the queue: a restore phase
      // that failed must stop and explain itself.
      attempts: 1,
      removeOnComplete: { age: 7 * 86_400, count: 1_000 },
      removeOnFail: { age: 30 * 86_400 },
    },
  });
  // The connection logs outages itself; without a listener BullMQ would print each error.
  queue.on("error", (err) => logger?.debug({ err: err.message }, "restore queue error"));
  return {
    async enqueueRestore(data) {
      const existing = await queue.getJob(data.requestId);
      if (existing) return { created: false };
      await queue.add("restore", data, { jobId: data.requestId });
      return { created: true };
    },
    async depth() {
      const counts = await queue.getJobCounts("waiting", "active", "delayed", "failed");
      return {
        waiting: counts.waiting ?? 0,
        active: counts.active ?? 0,
        delayed: counts.delayed ?? 0,
        failed: counts.failed ?? 0,
      };
    },
    async ping() {
      await connection.ping();
    },
    async close() {
      await queue.close();
    },
  };
}
