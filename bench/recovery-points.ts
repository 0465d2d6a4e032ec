/**
 * `npm run bench:recovery-points`: the targets, measured against the S3 stand-in
 * with the real SDK and a real PostgreSQL.
 *
 * 1. 810 snapshots × 200 table file lists: the first page of `/recovery-points` (listing,
 *    details, header, stored verifications, Block Kit) within 1 s and at most 5 S3 requests.
 * 2. `verify` of a snapshot referencing 100,000 Parquet files: at most
 *    (referenced table prefixes + objects / 1000) list requests.
 */
import pg from "pg";
import { migrate } from "../src/db/migrate.js";
import { createInfluxDbS3Source } from "../src/kinds/influxdb-clustered/s3-source.js";
import { buildIoxCatalog } from "../src/kinds/influxdb-clustered/sandbox/catalog-builder.js";
import {
  SNAPSHOT_PREFIX,
  seedSnapshotHistory,
  standInObjectStore,
  writeSnapshot,
} from "../src/kinds/influxdb-clustered/sandbox/snapshot-writer.js";
import { recoveryPointsMessage } from "../src/recovery-points/blocks.js";
import { listRecoveryPoints } from "../src/recovery-points/list-recovery-points.js";
import { startS3StandIn } from "../stand-ins/s3/server.js";
import { createTestDatabase } from "../test/support/postgres.js";

const D = 86_400_000;
const NOW = new Date("2024-08-12T14:42:00Z");
const retention = { hourly: 30 * D, daily: 90 * D };
const ms = (n: number) => `${n.toFixed(0)} ms`;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

async function main(): Promise<void> {
  const stateDb = await createTestDatabase("bench_rp_state");
  const catalogDb = await createTestDatabase("bench_rp_catalog");
  const pool = new pg.Pool({ connectionString: stateDb.url });
  const s3 = await startS3StandIn({ buckets: ["listing", "verify"] });
  try {
    await migrate(pool);
    const store = standInObjectStore(s3);

    // ---- 1. the first page over 810 snapshots -------------------------------------------
    // 720 hourly folders; 120 daily ones of which 30 fall inside the hourly range: 810.
    const seeded = seedSnapshotHistory({
      store: s3,
      bucket: "listing",
      now: NOW,
      hourly: 720,
      daily: 120,
      tableFilesPerSnapshot: 200,
      incomplete: [new Date("2024-08-12T14:00:00Z")],
    });
    const hourlyOnly = seeded.snapshots.filter((s) => !s.daily).length;
    console.log(
      `seeded ${seeded.snapshots.length} snapshots (${hourlyOnly} hourly + ${seeded.snapshots.length - hourlyOnly} daily), ${seeded.objects.toLocaleString("en-US")} objects`,
    );
    // One request outside the timings: the SDK client's first use, and the stand-in's
    // one-off sort of the keys seeded in memory. Production keeps its client per target.
    await store.listPrefixes("listing", "warm-up/", "/");

    const source = createInfluxDbS3Source(store, { bucket: "listing", prefix: SNAPSHOT_PREFIX });
    const runs: Array<{ ms: number; requests: number; ops: string }> = [];
    for (let i = 0; i < 5; i++) {
      s3.resetCounts();
      const started = performance.now();
      const listing = await listRecoveryPoints({
        source,
        target: { name: "prod", retention },
        query: { cadence: "all", sinceMs: undefined, limit: 20, before: undefined },
        now: NOW,
        db: pool,
      });
      const message = recoveryPointsMessage(listing);
      const elapsed = performance.now() - started;
      if (message.blocks.length === 0 || listing.points.length !== 20) throw new Error("bad page");
      runs.push({
        ms: elapsed,
        requests: s3.totalRequests(),
        ops: JSON.stringify(s3.requestCounts()),
      });
    }
    const first = runs[0] as (typeof runs)[number];
    console.log(
      `first page of /recovery-points (810 snapshots × 200 file lists, limit 20): first run ${ms(first.ms)}, median of ${runs.length} ${ms(median(runs.map((r) => r.ms)))}; S3 requests ${first.requests} ${first.ops} (target: ≤ 1000 ms, ≤ 5 requests)`,
    );

    // ---- 2. verify of a snapshot referencing 100,000 Parquet files ---------------------
    const catalog = await buildIoxCatalog(catalogDb.url, {
      namespaces: 2,
      tablesPerNamespace: 10,
      columnsPerTable: 10,
      partitionsPerTable: 10,
      filesPerPartition: 500,
    });
    const written = await writeSnapshot(s3, {
      bucket: "verify",
      asOf: new Date("2024-08-12T14:00:00Z"),
      catalogUrl: catalogDb.url,
    });
    console.log(
      `wrote a snapshot of a catalog with ${catalog.counts.parquetFiles.toLocaleString("en-US")} Parquet files in ${written.fileListKeys.length} file lists; pg_dump.gz ${(written.dumpGzip.length / 1e6).toFixed(1)} MB`,
    );
    const verifySource = createInfluxDbS3Source(store, {
      bucket: "verify",
      prefix: SNAPSHOT_PREFIX,
    });
    const index = await verifySource.listPoints();
    const point = index.points[0];
    if (point === undefined) throw new Error("no snapshot written");
    s3.resetCounts();
    const started = performance.now();
    const report = await verifySource.verifyPoint(point);
    const elapsed = performance.now() - started;
    const objectsUnderPrefixes = s3
      .listKeys("verify")
      .filter((k) => !k.startsWith(SNAPSHOT_PREFIX)).length;
    const bound = report.referencedPrefixes + objectsUnderPrefixes / 1000;
    const lists = report.requests.lists + report.requests.objectLists;
    if (!report.ok || report.referencedFiles !== catalog.counts.parquetFiles) {
      throw new Error(`verify did not prove the snapshot: ${JSON.stringify(report)}`);
    }
    console.log(
      `verify of ${report.referencedFiles.toLocaleString("en-US")} Parquet files in ${report.referencedPrefixes} table prefixes: ${ms(elapsed)}; list requests ${lists} (${report.requests.objectLists} over the Parquet prefixes + ${report.requests.lists} for the snapshot folder), reads ${report.requests.reads}; S3 ${JSON.stringify(s3.requestCounts())}; bound ${report.referencedPrefixes} + ${objectsUnderPrefixes.toLocaleString("en-US")} / 1000 = ${bound}`,
    );
    if (first.requests > 5 || lists > bound) process.exitCode = 1;
  } finally {
    await pool.end();
    await s3.close();
    await stateDb.drop();
    await catalogDb.drop();
  }
}

await main();
