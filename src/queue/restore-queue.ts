import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { Logger } from "../logging/logger.js";

export const RESTORE_QUEUE_NAME = "restores";

/** How long one caller may hold a request id's enqueue lock (a crashed holder frees it then). */
const ENQUEUE_LOCK_MS = 10_000;
const ENQUEUE_LOCK_POLL_MS = 20;
/** Deletes the lock only if it is still the caller's (it may have expired and been retaken). */
const RELEASE_LOCK = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`;

export interface RestoreJobData {
  requestId: string;
  target: string;
}

export interface RestoreQueue {
  /**
   * Enqueues the run of an approved request. The job id is the request id, so a second call
   * (a retried click, a reconciler) never creates a second job. `created` is true for exactly
   * one of any number of concurrent calls, and only when that call added the job.
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
      // BullMQ ignores the add of a job id that exists, without saying so: two callers that
      // both find no job would both think they created it. A short lock per request id makes
      // the look and the add one step, across every process sharing the queue.
      const lockKey = `${prefix}:${RESTORE_QUEUE_NAME}-enqueue-lock:${data.requestId}`;
      const token = randomUUID();
      while ((await connection.set(lockKey, token, "PX", ENQUEUE_LOCK_MS, "NX")) !== "OK")
        await sleep(ENQUEUE_LOCK_POLL_MS);
      try {
        const existing = await queue.getJob(data.requestId);
        if (existing) return { created: false };
        await queue.add("restore", data, { jobId: data.requestId });
        return { created: true };
      } finally {
        await connection.eval(RELEASE_LOCK, 1, lockKey, token).catch(() => undefined);
      }
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
