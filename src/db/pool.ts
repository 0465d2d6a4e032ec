import { userInfo } from "node:os";
import pg from "pg";
import { redactSecrets } from "../errors.js";
import type { Logger } from "../logging/logger.js";

/** restorebot's own database. Idle-client errors (a restarted server) are logged, never fatal. */
export function createPool(databaseUrl: string, logger: Logger, max = 10): pg.Pool {
  const pool = new pg.Pool({
    ...connectionConfig(databaseUrl),
    max,
    connectionTimeoutMillis: 5_000,
  });
  pool.on("error", (err) =>
    logger.warn(
      { err: redactSecrets(err.message) },
      "PostgreSQL connection lost; it will be reopened",
    ),
  );
  return pool;
}

/**
 * Runs `work` in a transaction on one client of the pool: committed when it returns, rolled
 * back when it throws (the error is rethrown; a failed ROLLBACK is not allowed to hide it).
 */
export async function withTransaction<T>(
  pool: Pick<pg.Pool, "connect">,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const result = await work(client);
    await client.query("COMMIT");
    return result;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** A DSN safe to show: host, port and database only. */
export function describeDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || "5432"}${u.pathname}`;
  } catch {
    return "(unparseable DSN)";
  }
}

/**
 * Connection settings for a DSN. Like libpq, a DSN without a user means the OS user; node-pg
 * only looks at $USER, which containers and service managers often leave unset.
 */
export function connectionConfig(databaseUrl: string): pg.ClientConfig {
  try {
    const url = new URL(databaseUrl);
    if (!url.username && !process.env.PGUSER && !process.env.USER) {
      url.username = encodeURIComponent(userInfo().username);
      return { connectionString: url.toString() };
    }
  } catch {
    // An unparseable DSN is reported by the connection attempt itself.
  }
  return { connectionString: databaseUrl };
}
