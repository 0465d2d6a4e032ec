import type pg from "pg";
import type { Logger } from "../src/logging/logger.js";
import type { RestoreQueue } from "../src/queue/restore-queue.js";

/**
 * Hands runs back to the queue when their job is missing: a request that is `running` in
 * PostgreSQL (the source of truth) but has no job in Redis — Retry phase or Roll back pressed
 * while the halted run's job was still finishing, or Redis lost its data. The job id is the
 * request id, so a run whose job exists (active, waiting, stalled) is left alone. A killed
 * worker's job needs none of this: BullMQ finds it stalled and another worker takes it.
 */
export function startRunReconciler(options: {
  db: Pick<pg.Pool, "query">;
  queue: Pick<RestoreQueue, "enqueueRestore">;
  logger: Logger;
  intervalMs: number;
}): { stop(): void; runOnce(): Promise<number> } {
  let running = false;
  const runOnce = async (): Promise<number> => {
    if (running) return 0;
    running = true;
    try {
      const { rows } = await options.db.query<{ id: string; target: string }>(
        "SELECT id, target FROM restore_requests WHERE state = 'running' ORDER BY updated_at LIMIT 100",
      );
      let enqueued = 0;
      for (const row of rows) {
        const { created } = await options.queue.enqueueRestore({
          requestId: row.id,
          target: row.target,
        });
        if (created) {
          enqueued++;
          options.logger.info(
            { requestId: row.id },
            "running restore had no job; enqueued it again",
          );
        }
      }
      return enqueued;
    } catch (err) {
      options.logger.warn(
        { err: (err as Error).message },
        "run reconciler pass failed; will retry",
      );
      return 0;
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void runOnce(), options.intervalMs);
  timer.unref();
  return {
    stop: () => clearInterval(timer),
    runOnce,
  };
}
