import { userInfo } from "node:os";
import pg from "pg";
import { connectionConfig } from "../db/pool.js";
import { CodedError } from "../errors.js";

/** The local PostgreSQL the sandbox uses when nothing else is said (as `npm start` sets it up). */
export const DEFAULT_DEMO_POSTGRES_URL = "postgres://127.0.0.1:5432/postgres";

/**
 * The same server, another database. The user is always spelled out: the stand-ins and
 * pg_dump get these URLs too, and node-pg, unlike libpq, has no OS-user fallback.
 */
export function databaseUrlFor(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  if (!url.username) {
    url.username = encodeURIComponent(
      process.env.PGUSER ?? process.env.USER ?? userInfo().username,
    );
  }
  return url.toString();
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Claims the sandbox's databases for as long as it runs (a session advisory lock, released
 * when the connection ends, even on a crash): a second sandbox would otherwise drop them from
 * under the first.
 */
export async function claimSandboxDatabases(
  serverUrl: string,
  database: string,
): Promise<{ release(): Promise<void> }> {
  const client = new pg.Client(connectionConfig(databaseUrlFor(serverUrl, "postgres")));
  client.on("error", () => undefined);
  await client.connect();
  const { rows } = await client.query<{ claimed: boolean }>(
    "SELECT pg_try_advisory_lock(hashtext($1)) AS claimed",
    [`restorebot-demo:${database}`],
  );
  if (!rows[0]?.claimed) {
    await client.end();
    throw new CodedError(
      "conflict",
      `another restorebot demo is running on the database ${database}; stop it (Ctrl-C in its terminal) before starting this one`,
    );
  }
  return { release: () => client.end() };
}

/**
 * Drops and creates a database. The sandbox rebuilds its databases at every start: requests
 * left by an earlier session would point at a simulated cluster that no longer exists.
 */
export async function recreateDatabase(serverUrl: string, database: string): Promise<string> {
  if (!/^[a-z][a-z0-9_]{0,62}$/.test(database)) {
    throw new Error(`"${database}" is not a plain database name (a-z, 0-9, _)`);
  }
  const admin = new pg.Client(connectionConfig(databaseUrlFor(serverUrl, "postgres")));
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${quoteIdent(database)}`);
  } finally {
    await admin.end();
  }
  return databaseUrlFor(serverUrl, database);
}

export async function dropDatabase(serverUrl: string, database: string): Promise<void> {
  const admin = new pg.Client(connectionConfig(databaseUrlFor(serverUrl, "postgres")));
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}
