import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/logging/logger.js";
import { createRestoreQueue, RESTORE_QUEUE_NAME } from "../../src/queue/restore-queue.js";
import { startReconciler } from "../../src/requests/lifecycle.js";
import { REDIS_TEST_URL, uniqueQueuePrefix } from "../support/redis.js";
import {
  createRunnerDatabase,
  insertApprovedRequest,
  type RunnerDatabase,
} from "./support/run-fixtures.js";

let db: RunnerDatabase;
let redis: Redis;
const prefix = uniqueQueuePrefix("reconcile");

beforeAll(async () => {
  db = await createRunnerDatabase("reconcile");
  redis = new Redis(REDIS_TEST_URL, { maxRetriesPerRequest: null });
});

afterAll(async () => {
  const queue = new Queue(RESTORE_QUEUE_NAME, { connection: redis, prefix });
  await queue.obliterate({ force: true });
  await queue.close();
  redis.disconnect();
  await db.close();
});

describe("run reconciler", () => {
  it("gives a running request whose job is missing a job again, and leaves the others alone", async () => {
    const running = await insertApprovedRequest(db.pool, { target: "r1", state: "running" });
    const halted = await insertApprovedRequest(db.pool, { target: "r2", state: "halted" });
    const restoreQueue = createRestoreQueue(redis, prefix);
    const reconciler = startReconciler(
      { db: db.pool, queue: restoreQueue, logger: silentLogger, clock: () => new Date() },
      { intervalMs: 60_000, states: ["running"] },
    );
    try {
      expect(await reconciler.runOnce()).toBe(1);
      const queue = new Queue(RESTORE_QUEUE_NAME, { connection: redis, prefix });
      expect((await queue.getJob(running))?.data).toEqual({ requestId: running, target: "r1" });
      expect(await queue.getJob(halted)).toBeUndefined();
      await queue.close();
      // The job id is the request id: a second pass adds nothing.
      expect(await reconciler.runOnce()).toBe(0);
    } finally {
      reconciler.stop();
      await restoreQueue.close();
    }
  });
});
