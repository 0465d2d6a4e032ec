import { gunzipSync } from "node:zlib";
import type { S3StandIn } from "../../../../stand-ins/s3/server.js";
import {
  fakeParquetBody,
  formatAsOf,
  parseFileList,
  SNAPSHOT_PREFIX,
  seedSnapshotHistory,
  writeSnapshot,
} from "./snapshot-writer.js";

const HOUR_MS = 3_600_000;

export interface DemoHistoryOptions {
  s3: S3StandIn;
  bucket: string;
  /** The catalog as it was when the snapshots were taken. */
  catalogUrl: string;
  now: Date;
  /** Hourly points, newest at the current hour. Default 72 (three days). */
  hours?: number;
  /** Daily points (00:00 UTC). Default 14. */
  days?: number;
}

export interface DemoHistory {
  /** Snapshots written from the real catalog (newest first): these restore to it exactly. */
  realPoints: string[];
  /** As-of times of the snapshots left without bloom.bin.gz. */
  incompletePoints: string[];
  totalPoints: number;
  /** The newest complete point: the one `latest` resolves to. */
  newestComplete: string;
}

/**
 * A realistic snapshot history: the current hour's snapshot is still being written
 * (incomplete), the two before it are real snapshots of the catalog, and everything older is
 * seeded directly in the store with the same dump, one more incomplete point among them.
 * With the demo's retention (3 days hourly, 14 days daily) the oldest points expire within a day.
 */
export async function seedDemoHistory(options: DemoHistoryOptions): Promise<DemoHistory> {
  const { s3, bucket, catalogUrl } = options;
  const hours = options.hours ?? 72;
  const days = options.days ?? 14;
  const newest = Math.floor(options.now.getTime() / HOUR_MS) * HOUR_MS;
  const at = (hoursAgo: number) => new Date(newest - hoursAgo * HOUR_MS);

  // Real snapshots, oldest first, so the newest carries the latest Last-Modified.
  const first = await writeSnapshot(s3, { bucket, asOf: at(2), catalogUrl });
  const second = await writeSnapshot(s3, {
    bucket,
    asOf: at(1),
    catalogUrl,
    dumpGzip: first.dumpGzip,
  });
  // The snapshot of this hour: its dump and file lists are there, the bloom not yet.
  const current = await writeSnapshot(s3, {
    bucket,
    asOf: at(0),
    catalogUrl,
    dumpGzip: first.dumpGzip,
    complete: false,
  });

  // Older points share the real dump, so any complete one restores to a working catalog.
  const incompleteOlder = at(9);
  const seeded = seedSnapshotHistory({
    store: s3,
    bucket,
    now: at(3),
    hourly: Math.max(0, hours - 3),
    daily: days,
    tableFilesPerSnapshot: 12,
    incomplete: [incompleteOlder],
    dumpGzip: first.dumpGzip,
  });
  // The seeded file lists name a few Parquet paths of their own; make them exist, so that
  // verifying an older point finds every file.
  const anyList = s3
    .listKeys(bucket, `${SNAPSHOT_PREFIX}${formatAsOf(at(3))}/`)
    .find((key) => key.endsWith(".txt.gz"));
  const listBody = anyList ? s3.getObjectDirect(bucket, anyList) : undefined;
  if (listBody) {
    for (const path of parseFileList(listBody)) {
      s3.putObjectDirect(bucket, path, fakeParquetBody(path));
    }
  }
  // A sanity check worth failing loudly on: the shared dump must be a real pg_dump.
  if (!gunzipSync(first.dumpGzip).toString("utf8", 0, 200).includes("PostgreSQL database dump")) {
    throw new Error("the catalog snapshot is not a pg_dump");
  }

  const incomplete = [
    current.asOf,
    ...seeded.snapshots.filter((s) => !s.complete).map((s) => s.asOf),
  ];
  return {
    realPoints: [second.asOf, first.asOf],
    incompletePoints: incomplete,
    totalPoints: 3 + seeded.snapshots.length,
    newestComplete: second.asOf,
  };
}
