import { userInfo } from "node:os";
import pg from "pg";
import { redactSecrets } from "../errors.js";
import type { Logger } from "../logging/logger.js";

/** restorebot's own database. Idle-client errors (a restarted server) are logged, never fatal. */
export function createPool(
  databaseUrl: string,
  logger: Logger,
  max = 10,
  env: DefaultUserEnv = {},
): pg.Pool {
  const pool = new pg.Pool({
    ...connectionConfig(databaseUrl, env),
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
  // A connection dropped between statements (a failover) is reported by the query that meets
  // it; the client's own error event must not also surface as an uncaught error.
  const ignore = () => undefined;
  client.on("error", ignore);
  let broken: Error | undefined;
  try {
    await client.query("BEGIN");
    const result = await work(client);
    await client.query("COMMIT");
    return result;
  } catch (err) {
    if (isConnectionLoss(err)) broken = err as Error;
    else await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.off("error", ignore);
    // A broken connection is discarded, never handed to the next caller.
    client.release(broken);
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

/** The variables (read once at start, see config/env.ts) that name a DSN's default user. */
export interface DefaultUserEnv {
  PGUSER?: string | undefined;
  USER?: string | undefined;
}

/**
 * Connection settings for a DSN. Like libpq, a DSN without a user means the OS user; node-pg
 * only looks at $USER, which containers and service managers often leave unset.
 */
export function connectionConfig(databaseUrl: string, env: DefaultUserEnv = {}): pg.ClientConfig {
  try {
    const url = new URL(databaseUrl);
    if (!url.username && !env.PGUSER && !env.USER) {
      url.username = encodeURIComponent(userInfo().username);
      return { connectionString: url.toString() };
    }
  } catch {
    // An unparseable DSN is reported by the connection attempt itself.
  }
  return { connectionString: databaseUrl };
}

/** SQLSTATEs and socket errors meaning the connection, not the statement, failed. */
const CONNECTION_LOSS_CODES = new Set([
  "57P01", // admin_shutdown: pg_terminate_backend, a fast shutdown, a failover
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now: starting up or shutting down
  "08000",
  "08001",
  "08003",
  "08004",
  "08006",
  "55000", // object_not_in_prerequisite_state: the database does not allow connections now
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
]);

/** Whether `err` is restorebot's database being unreachable rather than a statement failing. */
export function isConnectionLoss(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && CONNECTION_LOSS_CODES.has(code)) return true;
  const message = err instanceof Error ? err.message : "";
  return /Connection terminated|connection error|terminating connection|timeout exceeded when trying to connect|Client was closed|not queryable/i.test(
    message,
  );
}

/**
 * restorebot's own database could not be reached for longer than the retries allow. Never the
 * target's answer: a run that meets it stops and is resumed later, and no phase is failed.
 */
export class BotDatabaseUnavailableError extends Error {
  constructor(cause: unknown) {
    super(
      `restorebot's database is unreachable: ${redactSecrets(cause instanceof Error ? cause.message : String(cause))}`,
    );
    this.name = "BotDatabaseUnavailableError";
  }
}

/**
 * Runs `work` again while it fails because the connection was lost (a failover, a restart,
 * pg_terminate_backend), backing off from 100 ms to 2 s, for up to `retryForMs` (60 s). Other
 * errors are rethrown at once; running out of time throws a BotDatabaseUnavailableError.
 * `work` must be safe to repeat: a statement whose connection died may or may not have run.
 */
export async function retryOnConnectionLoss<T>(
  work: () => Promise<T>,
  options: { signal?: AbortSignal; retryForMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (options.retryForMs ?? 60_000);
  for (let attempt = 0; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      if (!isConnectionLoss(err)) throw err;
      if (Date.now() >= deadline || options.signal?.aborted)
        throw new BotDatabaseUnavailableError(err);
      const delay = Math.min(2_000, 100 * 2 ** attempt);
      await new Promise((resolve) => setTimeout(resolve, delay).unref?.());
    }
  }
}

/**
 * restorebot's database as the worker uses it: every single statement is retried through a
 * lost connection (see retryOnConnectionLoss); transactions are retried whole by their callers.
 */
export function resilientDb<P extends Pick<pg.Pool, "query" | "connect">>(
  pool: P,
  options: { retryForMs?: number } = {},
): Pick<pg.Pool, "query" | "connect"> {
  const query = ((...args: unknown[]) =>
    retryOnConnectionLoss(
      () => (pool.query as (...a: unknown[]) => Promise<unknown>)(...args),
      options,
    )) as pg.Pool["query"];
  return { query, connect: () => retryOnConnectionLoss(() => pool.connect(), options) } as Pick<
    pg.Pool,
    "query" | "connect"
  >;
}
