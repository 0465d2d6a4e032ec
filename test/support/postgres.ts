import { randomBytes } from "node:crypto";
import { userInfo } from "node:os";
import pg from "pg";

/**
 * The server the tests use; PG_TEST_URL points elsewhere when needed. The user is named
 * explicitly because test workers may run without USER in their environment.
 */
export const ADMIN_URL =
  process.env.PG_TEST_URL ??
  `postgres://${encodeURIComponent(process.env.PGUSER ?? process.env.USER ?? userInfo().username)}@127.0.0.1:5432/postgres`;

export function databaseUrl(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/**
 * Creates a fresh, uniquely named database on the real PostgreSQL; `drop()` removes it
 * (terminating any connections still open). Each test file uses its own, so files can run
 * in parallel.
 */
export async function createTestDatabase(label = "t"): Promise<TestDatabase> {
  const name = `rb_${label.replace(/[^a-z0-9_]/gi, "_").toLowerCase()}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: databaseUrl(name),
    async drop() {
      const client = new pg.Client({ connectionString: ADMIN_URL });
      await client.connect();
      try {
        // pool.end() resolves before its sockets have closed. Terminating those connections
        // (FORCE) makes their idle clients emit 57P01 errors that nothing listens for, which
        // the test runner reports as unhandled: wait for connections that are closing anyway
        // to go, and force only what is still open after that.
        for (let waited = 0; waited < 3_000; waited += 50) {
          const open = await client.query(
            "SELECT 1 FROM pg_stat_activity WHERE datname = $1 LIMIT 1",
            [name],
          );
          if (open.rowCount === 0) break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
