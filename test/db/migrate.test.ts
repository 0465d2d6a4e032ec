import { copyFileSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getRequest } from "../../src/approvals/request-store.js";
import { migrate } from "../../src/db/migrate.js";
import { influxPointOf } from "../../src/kinds/influxdb-clustered/points.js";
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
          `INSERT INTO restore_requests (id, target, kind, point_time, point, requester, reason, channel_id, state, required_approvals, expires_at)
           VALUES ($1, 'prod', 'influxdb-clustered', now(), '{}', 'U1', 'a good reason', 'C1', $2, 1, now() + interval '30 minutes')`,
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

describe("060: the frozen point becomes one JSON value (real PostgreSQL)", () => {
  let db: TestDatabase;
  let oldSchema: string;
  beforeAll(async () => {
    db = await createTestDatabase("migrate_point");
    // The migrations as they were before 060, applied first: rows written by that schema.
    oldSchema = mkdtempSync(join(tmpdir(), "restorebot-migrations-"));
    const dir = fileURLToPath(new URL("../../src/db/migrations/", import.meta.url));
    for (const file of readdirSync(dir).filter((f) => f < "060_"))
      copyFileSync(join(dir, file), join(oldSchema, file));
  });
  afterAll(async () => {
    await db.drop();
    rmSync(oldSchema, { recursive: true, force: true });
  });

  it("converts rows of the old columns into `point` and drops the columns", async () => {
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    try {
      await migrate(pool, oldSchema);
      const insert = (id: string, etag: string | null, size: number | null, state: string) =>
        pool.query(
          `INSERT INTO restore_requests (id, target, kind, point_time, point_prefix, dump_key,
             dump_etag, dump_size, requester, reason, channel_id, state, required_approvals, expires_at)
           VALUES ($1, 'prod', 'influxdb-clustered', '2024-08-12T14:00:00Z',
             'catalog_backup_file_lists/2024-08-12T14:00:00+00:00/',
             'catalog_backup_file_lists/2024-08-12T14:00:00+00:00/pg_dump.gz', $2, $3, 'U1',
             'a good reason', 'C1', $4, 1, now() + interval '30 minutes')`,
          [id, etag, size, state],
        );
      await insert("rb-old00001", '"0123456789abcdef"', 5_000_000_000, "succeeded");
      await insert("rb-old00002", null, null, "pending");

      const { applied } = await migrate(pool);
      expect(applied).toContain("060_frozen_point_json.sql");

      const { rows } = await pool.query<{ id: string; point: unknown }>(
        "SELECT id, point FROM restore_requests ORDER BY id",
      );
      expect(rows).toEqual([
        {
          id: "rb-old00001",
          point: {
            prefix: "catalog_backup_file_lists/2024-08-12T14:00:00+00:00/",
            dumpKey: "catalog_backup_file_lists/2024-08-12T14:00:00+00:00/pg_dump.gz",
            dumpEtag: '"0123456789abcdef"',
            dumpSize: 5_000_000_000,
          },
        },
        {
          id: "rb-old00002",
          point: {
            prefix: "catalog_backup_file_lists/2024-08-12T14:00:00+00:00/",
            dumpKey: "catalog_backup_file_lists/2024-08-12T14:00:00+00:00/pg_dump.gz",
            dumpEtag: null,
            dumpSize: null,
          },
        },
      ]);
      // The request store reads the converted row as the kind froze it.
      const request = await getRequest(pool, "rb-old00001");
      expect(influxPointOf(request?.point ?? null)).toMatchObject({ dumpSize: 5_000_000_000 });
      const { rows: columns } = await pool.query(
        `SELECT column_name FROM information_schema.columns
          WHERE table_name = 'restore_requests'
            AND column_name IN ('point_prefix', 'dump_key', 'dump_etag', 'dump_size', 'point')`,
      );
      expect(columns.map((c) => c.column_name)).toEqual(["point"]);
    } finally {
      await pool.end();
    }
  });
});
