import { Redis } from "ioredis";
import type { Logger } from "../logging/logger.js";

/**
 * An ioredis connection for BullMQ. `maxRetriesPerRequest: null` lets blocking commands wait
 * through a Redis outage instead of failing; reconnects back off to 5 s. Errors are logged at
 * most once per 30 s so an outage does not flood the logs, and never crash the process.
 */
export function createRedisConnection(url: string, logger: Logger, name: string): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    connectionName: `restorebot-${name}`,
    retryStrategy: (times) => Math.min(200 * 2 ** Math.min(times, 5), 5_000),
  });
  let lastLogged = 0;
  redis.on("error", (err: Error) => {
    const now = Date.now();
    if (now - lastLogged > 30_000) {
      lastLogged = now;
      logger.warn({ connection: name, err: err.message }, "Redis unreachable; retrying");
    }
  });
  redis.on("ready", () => {
    if (lastLogged) logger.info({ connection: name }, "Redis reachable again");
    lastLogged = 0;
  });
  return redis;
}
