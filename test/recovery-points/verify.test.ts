import { gunzipSync, gzipSync } from "node:zlib";
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ObjectStore } from "../../src/adapters/s3/object-store.js";
import { migrate } from "../../src/db/migrate.js";
import { createInfluxDbS3Source } from "../../src/kinds/influxdb-clustered/s3-source.js";
import {
  buildIoxCatalog,
  type IoxCatalog,
} from "../../src/kinds/influxdb-clustered/sandbox/catalog-builder.js";
import {
  SNAPSHOT_PREFIX,
  standInObjectStore,
  type WrittenSnapshot,
  writeSnapshot,
} from "../../src/kinds/influxdb-clustered/sandbox/snapshot-writer.js";
import type { RecoveryPointSource } from "../../src/recovery-points/recovery-point.js";
import {
  loadVerifications,
  saveVerification,
} from "../../src/recovery-points/verification-store.js";
import { type S3StandIn, startS3StandIn } from "../../stand-ins/s3/server.js";
import { createTestDatabase, type TestDatabase } from "../support/postgres.js";

const BUCKET = "influxdb-prod";
// 2 namespaces × 4 tables × 3 partitions × 40 files = 960 Parquet files in 8 file lists.
const SIZE = {
  namespaces: 2,
  tablesPerNamespace: 4,
  columnsPerTable: 10,
  partitionsPerTable: 3,
  filesPerPartition: 40,
};

function at(hour: number): Date {
  return new Date(Date.UTC(2024, 7, 12, hour));
}

describe("verify: is a recovery point restorable?", () => {
  let s3: S3StandIn;
  let catalogDb: TestDatabase;
  let stateDb: TestDatabase;
  let pool: pg.Pool;
  let catalog: IoxCatalog;
  let store: ObjectStore;
  let source: RecoveryPointSource;
  const written = new Map<string, WrittenSnapshot>();

  beforeAll(async () => {
    s3 = await startS3StandIn({ buckets: [BUCKET] });
    catalogDb = await createTestDatabase("rp_catalog");
    stateDb = await createTestDatabase("rp_state");
    pool = new pg.Pool({ connectionString: stateDb.url });
    await migrate(pool);
    catalog = await buildIoxCatalog(catalogDb.url, SIZE);
    const good = await writeSnapshot(s3, {
      bucket: BUCKET,
      asOf: at(10),
      catalogUrl: catalogDb.url,
    });
    written.set("good", good);
    // One catalog, so every snapshot references the same Parquet files: write them once.
    const shared = {
      bucket: BUCKET,
      catalogUrl: catalogDb.url,
      dumpGzip: good.dumpGzip,
      writeParquet: false,
    };
    written.set(
      "incomplete",
      await writeSnapshot(s3, { ...shared, asOf: at(12), complete: false }),
    );
    written.set(
      "corrupt",
      await writeSnapshot(s3, { ...shared, asOf: at(13), corruptDump: "gzip" }),
    );
    written.set(
      "truncated",
      await writeSnapshot(s3, { ...shared, asOf: at(14), truncatedDump: true }),
    );
    // Last: it deletes three of the shared Parquet files, so only points 11 and 10 differ
    // in what they were written with, not in what they reference.
    written.set("missing", await writeSnapshot(s3, { ...shared, asOf: at(11), missingParquet: 3 }));
    store = standInObjectStore(s3);
    source = createInfluxDbS3Source(store, { bucket: BUCKET, prefix: SNAPSHOT_PREFIX });
  });
  afterAll(async () => {
    await pool?.end();
    await s3?.close();
    await catalogDb?.drop();
    await stateDb?.drop();
  });
  beforeEach(() => {
    s3.resetCounts();
    s3.clearFaults();
  });

  async function verifyAt(hour: number) {
    const index = await source.listPoints();
    const point = index.points.find((p) => p.time.getTime() === at(hour).getTime());
    if (point === undefined) throw new Error(`no point at ${hour}:00`);
    s3.resetCounts();
    return source.verifyPoint(point);
  }

  it("proves a sound snapshot restorable, counting files by listing table prefixes", async () => {
    const deleted = written.get("missing")?.missingParquetPaths ?? [];
    for (const path of deleted) s3.putObjectDirect(BUCKET, path, "PAR1");
    let report: Awaited<ReturnType<typeof verifyAt>>;
    try {
      report = await verifyAt(10);
    } finally {
      for (const path of deleted) s3.deleteObjectDirect(BUCKET, path);
    }
    expect(report.ok).toBe(true);
    expect(report.complete).toBe(true);
    expect(report.dump.problem).toBeUndefined();
    expect(report.dump.sqlBytes).toBeGreaterThan(report.dump.bytes);
    expect(report.tableLists).toBe(8);
    expect(report.referencedFiles).toBe(catalog.counts.parquetFiles);
    expect(report.referencedPrefixes).toBe(8);
    expect(report.missingFiles).toBe(0);
    // (prefixes + objects / 1000) list requests for the Parquet files, not one per file.
    const counts = s3.requestCounts();
    expect(report.requests.objectLists).toBeLessThanOrEqual(8 + 960 / 1000);
    expect(counts.ListObjectsV2).toBe(report.requests.lists + report.requests.objectLists);
    expect(counts.HeadObject ?? 0).toBe(0);
    expect(counts.GetObject).toBe(1 + 8);
  });

  it("names the Parquet files the object store lost", async () => {
    const report = await verifyAt(11);
    expect(report.ok).toBe(false);
    expect(report.missingFiles).toBe(3);
    expect(report.missingSample).toEqual(
      [...(written.get("missing")?.missingParquetPaths ?? [])].sort(),
    );
  });

  it("refuses a snapshot without bloom.bin.gz", async () => {
    const report = await verifyAt(12);
    expect(report.ok).toBe(false);
    expect(report.complete).toBe(false);
    expect(report.dump.problem).toBeUndefined();
  });

  it("catches a dump that does not decompress end to end", async () => {
    const corrupt = await verifyAt(13);
    expect(corrupt.ok).toBe(false);
    expect(corrupt.dump.problem).toMatch(/pg_dump\.gz does not decompress end to end/);
    const truncated = await verifyAt(14);
    expect(truncated.ok).toBe(false);
    expect(truncated.dump.problem).toMatch(/unexpected end of file/);
  });

  it("catches a dump cut cleanly at a line boundary, which gzip alone cannot tell", async () => {
    const folder = `${SNAPSHOT_PREFIX}2024-08-12T18:00:00+00:00/`;
    const sql = gunzipSync(written.get("good")?.dumpGzip ?? Buffer.alloc(0)).toString("utf8");
    expect(sql).toContain("-- PostgreSQL database dump complete");
    // The first two thirds of a real dump, ending on a newline, gzipped as a whole: a valid
    // gzip stream of a dump whose pg_dump never finished.
    const cut = sql.slice(0, sql.lastIndexOf("\n", Math.floor((sql.length * 2) / 3)) + 1);
    s3.putObjectDirect(BUCKET, `${folder}pg_dump.gz`, gzipSync(cut));
    s3.putObjectDirect(BUCKET, `${folder}bloom.bin.gz`, gzipSync("b"));
    const report = await verifyAt(18);
    expect(report.ok).toBe(false);
    expect(report.dump.problem).toMatch(
      /^pg_dump\.gz ends without pg_dump's closing "-- PostgreSQL database dump complete" line: the dump was cut short/,
    );
    // The untouched dump passes the same check.
    expect((await verifyAt(10)).dump.problem).toBeUndefined();
  });

  it("catches a dump that opened \\restrict and was cut before its closing \\unrestrict", async () => {
    const sql = gunzipSync(written.get("good")?.dumpGzip ?? Buffer.alloc(0)).toString("utf8");
    // pg_dump 17.6, 16.10 and later open with \restrict <key> and close with \unrestrict <key>.
    const key = /^\\restrict (\S+)$/m.exec(sql)?.[1] ?? "k3y";
    const restricted = sql.includes(`\\restrict ${key}`)
      ? sql
      : `\\restrict ${key}\n${sql}\n\\unrestrict ${key}\n`;
    const end = restricted.indexOf("-- PostgreSQL database dump complete\n--\n");
    expect(end).toBeGreaterThan(0);
    const cut = restricted.slice(0, end + "-- PostgreSQL database dump complete\n--\n".length);
    const folder = `${SNAPSHOT_PREFIX}2024-08-12T19:00:00+00:00/`;
    s3.putObjectDirect(BUCKET, `${folder}pg_dump.gz`, gzipSync(cut));
    s3.putObjectDirect(BUCKET, `${folder}bloom.bin.gz`, gzipSync("b"));
    const report = await verifyAt(19);
    expect(report.ok).toBe(false);
    expect(report.dump.problem).toMatch(
      /^pg_dump\.gz ends without the \\unrestrict that closes its opening \\restrict: the dump was cut short/,
    );
  });

  it("catches a dump that is gzip but not a PostgreSQL dump", async () => {
    const folder = `${SNAPSHOT_PREFIX}2024-08-12T15:00:00+00:00/`;
    s3.putObjectDirect(BUCKET, `${folder}pg_dump.gz`, gzipSync("PGDMP custom format, not plain"));
    s3.putObjectDirect(BUCKET, `${folder}bloom.bin.gz`, gzipSync("b"));
    const report = await verifyAt(15);
    expect(report.ok).toBe(false);
    expect(report.dump.problem).toContain('is not a PostgreSQL dump (it starts with "PGDMP');
    expect(report.tableLists).toBe(0);
  });

  it("reports file lists that are not lists of Parquet paths", async () => {
    const folder = `${SNAPSHOT_PREFIX}2024-08-12T16:00:00+00:00/`;
    s3.putObjectDirect(BUCKET, `${folder}pg_dump.gz`, written.get("good")?.dumpGzip ?? "");
    s3.putObjectDirect(BUCKET, `${folder}ns-ID1/t-ID1.txt.gz`, gzipSync("<html>oops</html>\n"));
    s3.putObjectDirect(BUCKET, `${folder}ns-ID1/t-ID2.txt.gz`, "not gzip at all");
    s3.putObjectDirect(BUCKET, `${folder}bloom.bin.gz`, gzipSync("b"));
    const report = await verifyAt(16);
    expect(report.ok).toBe(false);
    expect(report.problems).toHaveLength(2);
    expect(report.problems.join("\n")).toContain(
      "ns-ID1/t-ID1.txt.gz line 1 is not a Parquet path",
    );
    expect(report.problems.join("\n")).toContain("ns-ID1/t-ID2.txt.gz cannot be read");
  });

  it("reports progress while it runs", async () => {
    const seen = new Set<string>();
    const index = await source.listPoints();
    const point = index.points.find((p) => p.time.getTime() === at(10).getTime());
    s3.setLatency(30, "GetObject");
    try {
      await source.verifyPoint(point as never, { onProgress: (p) => seen.add(p.stage) });
    } finally {
      s3.setLatency(0, "GetObject");
    }
    expect(seen.has("objects")).toBe(true);
  });

  it("stores the result and reads it back for listings", async () => {
    const report = await verifyAt(11);
    await saveVerification(pool, {
      target: "prod",
      pointTime: at(11),
      report,
      verifiedAt: new Date("2024-08-12T16:00:00Z"),
      verifiedBy: "UVERIFIER",
    });
    // A second verify replaces the first.
    await saveVerification(pool, {
      target: "prod",
      pointTime: at(11),
      report,
      verifiedAt: new Date("2024-08-12T17:00:00Z"),
      verifiedBy: "UVERIFIER",
    });
    const stored = await loadVerifications(pool, "prod", [at(10), at(11)]);
    expect(stored.size).toBe(1);
    expect(stored.get(at(11).getTime())).toMatchObject({
      ok: false,
      dumpEtag: report.dump.etag,
      verifiedAt: new Date("2024-08-12T17:00:00Z"),
      verifiedBy: "UVERIFIER",
      summary: { missingFiles: 3, referencedFiles: 960 },
    });
  });

  it("fails clearly when the store refuses mid-way, without a stack trace", async () => {
    s3.failNext({ op: "ListObjectsV2", status: 403, count: 1 });
    const index = await source.listPoints().catch((e: unknown) => e);
    expect((index as Error).message).toContain(`s3://${BUCKET}/${SNAPSHOT_PREFIX}`);
    expect((index as Error).message).toContain("AccessDenied");
    expect((index as Error).message).not.toMatch(/\n\s+at /);
  });
});
