import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../src/db/migrate.js";
import { createTestDatabase, type TestDatabase } from "../support/postgres.js";

describe("migrate (real PostgreSQL)", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase("migrate");
  });
  afterAll(async () => {
    await db.drop();
  });

  it("applies every migration once even when four processes start at the same moment", async () => {
    const pools = Array.from(
      { length: 4 },
      () => new pg.Pool({ connectionString: db.url, max: 2 }),
    );
    try {
      const results = await Promise.all(pools.map((pool) => migrate(pool)));
      const appliedCounts = results.map((r) => r.applied.length);
      expect(appliedCounts.filter((n) => n > 0)).toHaveLength(1);
      const versions = await pools[0]?.query("SELECT version FROM schema_migrations");
      expect(versions?.rowCount).toBe(Math.max(...appliedCounts));
      // A later start is a no-op.
      expect((await migrate(pools[0] as pg.Pool)).applied).toEqual([]);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it("enforces at most one active restore per target in the database itself", async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const insert = (id: string, state: string) =>
        client.query(
          `INSERT INTO restore_requests (id, target, kind, point_time, point_prefix, dump_key, requester, reason, channel_id, state, required_approvals, expires_at)
           VALUES ($1, 'prod', 'influxdb-clustered', now(), 'p/', 'p/pg_dump.gz', 'U1', 'a good reason', 'C1', $2, 1, now() + interval '30 minutes')`,
          [id, state],
        );
      await insert("rb-aaaaaaa1", "succeeded");
      await insert("rb-aaaaaaa2", "pending");
      await expect(insert("rb-aaaaaaa3", "running")).rejects.toThrow(
        /restore_requests_one_active_per_target/,
      );
      await insert("rb-aaaaaaa4", "rejected");
    } finally {
      await client.end();
    }
  });
});
