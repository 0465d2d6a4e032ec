import { Readable } from "node:stream";
import { gunzipSync } from "node:zlib";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ObjectStore } from "../../../src/adapters/s3/object-store.js";
import {
  applyRetention,
  type BackupLocation,
  listBackupPoints,
  openCheckedPointFile,
  poolEntry,
  poolKey,
} from "../../../src/backups/index.js";
import { CodedError } from "../../../src/errors.js";
import {
  checkPgDumpCanDump,
  type DatabaseToRestore,
  dumpDatabaseToPoint,
  pgDumpConnection,
  readCommitMode,
  readObjectManifest,
  readPoolIndex,
  restoreDatabases,
  verifyPachydermPoint,
  writePachydermPoint,
} from "../../../src/kinds/pachyderm/index.js";
import type { S3StandIn } from "../../../stand-ins/s3/server.js";
import { until } from "../../jobs/support/until.js";
import {
  BACKUP_BUCKET,
  LIVE_BUCKET,
  PREPARED_ADMIN_URL,
  pachydermDatabases,
  type ScratchDatabase,
  SEQUENTIAL_ADMIN_URL,
  startPachydermBuckets,
} from "./support.js";

let s3: S3StandIn;
let store: ObjectStore;
let scratch: ScratchDatabase[] = [];
let n = 0;

beforeAll(async () => {
  ({ s3, store } = await startPachydermBuckets());
});

afterAll(async () => {
  await s3.close();
});

afterEach(async () => {
  await Promise.all(scratch.map((d) => d.drop()));
  scratch = [];
});

async function pair(adminUrl: string): Promise<{ pach: ScratchDatabase; dex: ScratchDatabase }> {
  const made = await pachydermDatabases(adminUrl, "db");
  scratch.push(made.pach, made.dex);
  return made;
}

function location(): { live: { bucket: string; prefix: string }; backups: BackupLocation } {
  n++;
  const live = { bucket: LIVE_BUCKET, prefix: `db${n}/` };
  for (let i = 0; i < 20; i++)
    s3.putObjectDirect(live.bucket, `${live.prefix}chunk-${i}`, `data ${i}`);
  return { live, backups: { bucket: BACKUP_BUCKET, prefix: `db${n}/restorebot/` } };
}

async function takePoint(
  pach: ScratchDatabase,
  dex: ScratchDatabase,
  asOf = "2026-01-01T00:00:00Z",
  where = location(),
) {
  const manifest = await writePachydermPoint({
    store,
    ...where,
    pool: await readPoolIndex(store, where.backups),
    asOf,
    target: "pach-prod",
    databases: [
      { name: "pachyderm", dsn: pach.url },
      { name: "dex", dsn: dex.url },
    ],
    restorebotVersion: "test",
  });
  return { manifest, ...where };
}

function toRestore(
  where: { backups: BackupLocation },
  asOf: string,
  files: Array<{ name: string; size: number; sha256: string }>,
  dbs: Record<string, string>,
): DatabaseToRestore[] {
  return Object.entries(dbs).map(([name, dsn]) => ({
    name,
    dsn,
    openDump: async () => {
      const file = files.find((f) => f.name === `${name}.sql.gz`);
      if (file === undefined) throw new Error(`no ${name} dump`);
      return openCheckedPointFile(store, where.backups, asOf, file);
    },
  }));
}

describe("pg_dump into the point", () => {
  it("checks the client version against the server and keeps the password out of argv", async () => {
    const { pach } = await pair(SEQUENTIAL_ADMIN_URL);
    const versions = await checkPgDumpCanDump(pach.url, "pachyderm");
    expect(versions.client).toBeGreaterThanOrEqual(versions.server);
    expect(pgDumpConnection("postgres://u:s3cr%40t@db:5432/pachyderm?sslmode=require")).toEqual({
      dbname: "postgres://u@db:5432/pachyderm?sslmode=require",
      env: { PGPASSWORD: "s3cr@t" },
    });
    expect(pgDumpConnection("host=db dbname=dex password='a b' user=u")).toEqual({
      dbname: "host=db dbname=dex user=u",
      env: { PGPASSWORD: "a b" },
    });
  });

  it("writes both plain dumps, the manifest and complete.json last; verify reads them to the end", async () => {
    const { pach, dex } = await pair(SEQUENTIAL_ADMIN_URL);
    const { manifest, backups } = await takePoint(pach, dex);
    expect(manifest).toMatchObject({ objectCount: 20, databases: ["pachyderm", "dex"] });
    expect(manifest.files.map((f) => f.name)).toEqual([
      "pachyderm.sql.gz",
      "dex.sql.gz",
      "objects.ndjson.gz",
    ]);
    const folder = `${backups.prefix}points/2026-01-01T00:00:00Z/`;
    const writes = s3.writeLog().filter((w) => w.key.startsWith(folder));
    expect(writes.at(-1)?.key).toBe(`${folder}complete.json`);
    const sql = gunzipSync(
      s3.getObjectDirect("pachyderm-backups", `${folder}pachyderm.sql.gz`) ?? Buffer.alloc(0),
    ).toString();
    expect(sql).toContain("CREATE TABLE pfs.commits");
    expect(sql).not.toMatch(/CREATE DATABASE|DROP TABLE|\\connect/);
    const verified = await verifyPachydermPoint(store, backups, manifest);
    expect(verified).toMatchObject({ ok: true, problems: [], objects: 20 });
    expect(verified.dumps.map((d) => d.name)).toEqual(["pachyderm.sql.gz", "dex.sql.gz"]);

    // Damage: a pool object gone and a dump rewritten.
    const listed = await readPoolIndex(store, backups);
    const [first] = [...listed.keys()];
    s3.deleteObjectDirect("pachyderm-backups", `${backups.prefix}objects/${first}`);
    s3.putObjectDirect(
      "pachyderm-backups",
      `${folder}dex.sql.gz`,
      Buffer.alloc(manifest.files[1]?.size ?? 0),
    );
    s3.resetCounts();
    const damaged = await verifyPachydermPoint(store, backups, manifest);
    expect(damaged.ok).toBe(false);
    expect(damaged.problems.join("\n")).toMatch(/dex.sql.gz: .*different sha256/);
    expect(damaged.problems.join("\n")).toMatch(/1 object\(s\) missing from the pool/);
    expect(s3.requestCounts().HeadObject ?? 0).toBe(0);
  });

  it("a pg_dump that fails halfway leaves no dump object, no parts and no complete.json", async () => {
    const { pach, dex } = await pair(SEQUENTIAL_ADMIN_URL);
    // Enough rows that pg_dump is still streaming when its session is terminated.
    await dex.query(
      "CREATE TABLE big AS SELECT i, repeat(md5(i::text), 8) AS pad FROM generate_series(1, 400000) i",
    );
    const where = location();
    const killer = (async () => {
      const admin = new pg.Client({ connectionString: SEQUENTIAL_ADMIN_URL });
      await admin.connect();
      try {
        await until(async () => {
          const r = await admin.query(
            "SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity WHERE datname = $1 AND application_name = 'pg_dump' AND query ILIKE 'COPY%big%'",
            [dex.name],
          );
          return (r.rowCount ?? 0) > 0 ? true : undefined;
        }, "pg_dump to copy table big");
      } finally {
        await admin.end();
      }
    })();
    const err = await takePoint(pach, dex, "2026-01-02T00:00:00Z", where).catch((e: unknown) => e);
    await killer;
    expect(err).toBeInstanceOf(CodedError);
    expect((err as CodedError).message).toMatch(/pg_dump of database "dex" exited with status 1/);
    expect((err as CodedError).message).toContain("no complete.json");
    const folder = `${where.backups.prefix}points/2026-01-02T00:00:00Z/`;
    expect(s3.listKeys("pachyderm-backups", folder)).toEqual([`${folder}pachyderm.sql.gz`]);
    expect(s3.pendingUploads()).toEqual([]);
    const points = await listBackupPoints(store, where.backups);
    expect(points.map((p) => [p.asOf, p.complete])).toEqual([["2026-01-02T00:00:00Z", false]]);
  });

  it("a pg_dump that cannot connect says which database and leaves the point incomplete", async () => {
    const { pach } = await pair(SEQUENTIAL_ADMIN_URL);
    const where = location();
    const bad = new URL(pach.url);
    bad.pathname = "/no_such_database_here";
    bad.password = "hunter2";
    const err = await dumpDatabaseToPoint({
      store,
      backups: where.backups,
      asOf: "2026-01-03T00:00:00Z",
      fileName: "dex.sql.gz",
      database: "dex",
      dsn: bad.toString(),
    }).catch((e: unknown) => e);
    expect((err as CodedError).message).toMatch(
      /pg_dump of database "dex" exited with status 1: .*no_such_database_here/,
    );
    expect((err as CodedError).message).not.toContain("hunter2");
    expect(s3.listKeys("pachyderm-backups", where.backups.prefix)).toEqual([]);
  });
});

describe("restoring both databases", () => {
  it("reads the commit mode from each server", async () => {
    const seq = await pair(SEQUENTIAL_ADMIN_URL);
    const prep = await pair(PREPARED_ADMIN_URL);
    expect(
      (
        await readCommitMode([
          { name: "pachyderm", dsn: seq.pach.url },
          { name: "dex", dsn: seq.dex.url },
        ])
      ).mode,
    ).toBe("sequential");
    expect(
      (
        await readCommitMode([
          { name: "pachyderm", dsn: prep.pach.url },
          { name: "dex", dsn: prep.dex.url },
        ])
      ).mode,
    ).toBe("prepared");
    expect(
      (
        await readCommitMode([
          { name: "pachyderm", dsn: prep.pach.url },
          { name: "dex", dsn: seq.dex.url },
        ])
      ).mode,
    ).toBe("sequential");
  });

  it("prepared path: both restored exactly; a failure in the second leaves both as they were", async () => {
    const { pach, dex } = await pair(PREPARED_ADMIN_URL);
    const { manifest, backups } = await takePoint(pach, dex);
    const dbs = { pachyderm: pach.url, dex: dex.url };
    // Drift after the point.
    await pach.query("DELETE FROM pfs.commits WHERE id > 100; CREATE TABLE pfs.extra (x int)");
    await dex.query("UPDATE client SET secret = '\\xdead'");

    // The second database's dump fails halfway through reading.
    const failing = toRestore({ backups }, manifest.asOf, manifest.files, dbs);
    const dexEntry = failing[1] as DatabaseToRestore;
    dexEntry.openDump = async () => {
      const file = manifest.files.find((f) => f.name === "dex.sql.gz");
      const whole = s3.getObjectDirect(
        "pachyderm-backups",
        `${backups.prefix}points/${manifest.asOf}/dex.sql.gz`,
      );
      return {
        body: Readable.from([whole?.subarray(0, Math.floor((file?.size ?? 0) / 2))]),
        size: file?.size ?? 0,
      };
    };
    const err = await restoreDatabases({
      databases: failing,
      runId: "run-1",
      mode: "prepared",
    }).catch((e: unknown) => e);
    expect((err as CodedError).message).toMatch(
      /^Restoring database "dex" failed: .*The prepared restore of "pachyderm" was rolled back, so every database is as it was\./s,
    );
    expect(await pach.query("SELECT count(*)::int AS n FROM pfs.commits")).toEqual([{ n: 100 }]);
    expect(await pach.query("SELECT to_regclass('pfs.extra') IS NOT NULL AS there")).toEqual([
      { there: true },
    ]);
    expect(await pach.query("SELECT count(*)::int AS n FROM pg_prepared_xacts")).toEqual([
      { n: 0 },
    ]);

    const ok = await restoreDatabases({
      databases: toRestore({ backups }, manifest.asOf, manifest.files, dbs),
      runId: "run-2",
      mode: "prepared",
    });
    expect(ok.committed).toEqual(["pachyderm", "dex"]);
    expect(await pach.query("SELECT count(*)::int AS n FROM pfs.commits")).toEqual([{ n: 500 }]);
    expect(await pach.query("SELECT to_regclass('pfs.extra') IS NULL AS gone")).toEqual([
      { gone: true },
    ]);
    expect(await dex.query("SELECT encode(secret, 'hex') AS s FROM client ORDER BY id")).toEqual([
      { s: "0102" },
      { s: "00ff" },
    ]);
    expect(await dex.query("SELECT count(*)::int AS n FROM pg_prepared_xacts")).toEqual([{ n: 0 }]);
  });

  it("sequential path: a failure in the second says exactly which committed", async () => {
    const { pach, dex } = await pair(SEQUENTIAL_ADMIN_URL);
    const { manifest, backups } = await takePoint(pach, dex);
    await pach.query("DELETE FROM pfs.commits WHERE id > 100");
    await dex.query("UPDATE client SET secret = '\\xdead'");
    const dbs = toRestore({ backups }, manifest.asOf, manifest.files, {
      pachyderm: pach.url,
      dex: dex.url,
    });
    // The dex dump in the bucket changes after complete.json was written.
    s3.putObjectDirect(
      "pachyderm-backups",
      `${backups.prefix}points/${manifest.asOf}/dex.sql.gz`,
      "tampered",
    );
    const err = (await restoreDatabases({
      databases: dbs,
      runId: "run-3",
      mode: "sequential",
    }).catch((e: unknown) => e)) as CodedError;
    expect(err.message).toMatch(
      /^Restoring database "dex" failed: .*"pachyderm" was restored and committed; "dex" is unchanged\./s,
    );
    expect(err.details).toMatchObject({
      committed: ["pachyderm"],
      failed: "dex",
      mode: "sequential",
    });
    expect(await pach.query("SELECT count(*)::int AS n FROM pfs.commits")).toEqual([{ n: 500 }]);
    expect(await dex.query("SELECT encode(secret, 'hex') AS s FROM client ORDER BY id")).toEqual([
      { s: "dead" },
      { s: "dead" },
    ]);
  });
});

describe("retention with real manifests", () => {
  it("never prunes the pool objects of a frozen point", async () => {
    const { pach, dex } = await pair(SEQUENTIAL_ADMIN_URL);
    const where = location();
    const older = await takePoint(pach, dex, "2026-01-01T00:00:00Z", where);
    s3.putObjectDirect(where.live.bucket, `${where.live.prefix}chunk-0`, "rewritten");
    s3.deleteObjectDirect(where.live.bucket, `${where.live.prefix}chunk-1`);
    await takePoint(pach, dex, "2026-01-02T00:00:00Z", where);
    await takePoint(pach, dex, "2026-01-03T00:00:00Z", where);
    const oldOnly: string[] = [];
    const file = older.manifest.files.find((f) => f.name === "objects.ndjson.gz");
    for await (const o of readObjectManifest(
      store,
      where.backups,
      older.manifest.asOf,
      file as never,
    ))
      if (o.key === "chunk-0" || o.key === "chunk-1")
        oldOnly.push(poolKey(where.backups.prefix, o.key, o.etag));
    expect(oldOnly).toHaveLength(2);

    const poolEntriesOf = async function* (p: {
      asOf: string;
      manifest?: { files: Array<{ name: string; size: number; sha256: string }> } | undefined;
    }) {
      const f = p.manifest?.files.find((x) => x.name === "objects.ndjson.gz");
      if (f === undefined) return;
      for await (const o of readObjectManifest(store, where.backups, p.asOf, f))
        yield poolEntry(o.key, o.etag);
    };
    const now = new Date("2026-03-01T00:00:00Z");
    const frozen = await applyRetention(
      store,
      where.backups,
      await listBackupPoints(store, where.backups, { retentionMs: 3_600_000 }),
      {
        now,
        frozen: new Set(["2026-01-01T00:00:00Z"]),
        poolEntriesOf,
      },
    );
    expect(frozen.pruned).toEqual(["2026-01-02T00:00:00Z"]);
    expect(frozen.pool?.deleted).toBe(0);
    for (const key of oldOnly) expect(s3.getObjectDirect("pachyderm-backups", key)).toBeDefined();

    // Once nothing freezes it, the old point and the versions only it listed go.
    const thawed = await applyRetention(
      store,
      where.backups,
      await listBackupPoints(store, where.backups, { retentionMs: 3_600_000 }),
      {
        now,
        frozen: new Set(),
        poolEntriesOf,
      },
    );
    expect(thawed.pruned).toEqual(["2026-01-01T00:00:00Z"]);
    expect(thawed.pool?.deleted).toBe(2);
    for (const key of oldOnly) expect(s3.getObjectDirect("pachyderm-backups", key)).toBeUndefined();
  });
});
