/**
 * Writes InfluxDB-Clustered-style catalog snapshots into the S3 stand-in, laid out as
 * DESIGN.md fixes it:
 *
 *   <prefix><as-of>/pg_dump.gz                       gzipped plain pg_dump of the catalog
 *   <prefix><as-of>/<namespace>-ID<n>/<table>-ID<n>.txt.gz   one Parquet path per line
 *   <prefix><as-of>/bloom.bin.gz                     written last: marks the snapshot complete
 *
 * plus the referenced Parquet objects at the bucket root (`<ns-id>/<table-id>/<partition>/<uuid>.parquet`).
 * `writeSnapshot` uploads the folder through real PutObject calls, in that order, so the
 * stand-in's write log shows the bloom arriving last; `seedSnapshotHistory` writes a long
 * history straight into memory.
 */
import { createHash } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import { standInObjectStore } from "../../../../stand-ins/s3/sdk-store.js";
import type { S3StandIn } from "../../../../stand-ins/s3/server.js";
import { pgDumpGzip, streamParquetPaths } from "./catalog-builder.js";

export { standInObjectStore };

export const SNAPSHOT_PREFIX = "catalog_backup_file_lists/";
export const DUMP_FILE = "pg_dump.gz";
export const BLOOM_FILE = "bloom.bin.gz";

const HOUR_MS = 3_600_000;

/** `2024-08-12T14:00:00+00:00`, the folder name of the snapshot taken at that hour. */
export function formatAsOf(time: Date): string {
  if (time.getTime() % HOUR_MS !== 0) {
    throw new Error(`snapshots are taken on the hour; ${time.toISOString()} is not`);
  }
  return `${time.toISOString().slice(0, 19)}+00:00`;
}

/** `<namespace>-ID<n>/<table>-ID<n>.txt.gz`, relative to the snapshot folder. */
export function fileListName(t: {
  namespaceName: string;
  namespaceId: number;
  tableName: string;
  tableId: number;
}): string {
  return `${t.namespaceName}-ID${t.namespaceId}/${t.tableName}-ID${t.tableId}.txt.gz`;
}

/** Reads a file list back: one path per line, blank lines ignored. */
export function parseFileList(gzipped: Buffer): string[] {
  return gunzipSync(gzipped)
    .toString("utf8")
    .split("\n")
    .filter((line) => line !== "");
}

/** A small body that looks like a Parquet file (magic bytes at both ends). */
export function fakeParquetBody(path: string): Buffer {
  return Buffer.concat([Buffer.from("PAR1"), Buffer.from(path, "utf8"), Buffer.from("PAR1")]);
}

/** A bloom filter over the paths (3 hashes, 64 Ki bits): content never matters, presence does. */
export function bloomFilter(paths: Iterable<string>): Buffer {
  const bits = Buffer.alloc(8192);
  for (const path of paths) {
    const digest = createHash("md5").update(path).digest();
    for (let i = 0; i < 3; i++) {
      const bit = digest.readUInt32BE(i * 4) % (bits.length * 8);
      bits[bit >>> 3] = (bits[bit >>> 3] ?? 0) | (1 << (bit & 7));
    }
  }
  return gzipSync(bits);
}

export interface WriteSnapshotOptions {
  bucket: string;
  /** Defaults to `catalog_backup_file_lists/`. */
  prefix?: string;
  /** A Date on the hour, or a folder name used verbatim (to write odd folders on purpose). */
  asOf: Date | string;
  /** The catalog to snapshot (built with `buildIoxCatalog`). */
  catalogUrl: string;
  /** false: leave out bloom.bin.gz, so the snapshot is incomplete. Default true. */
  complete?: boolean;
  /** Delete this many referenced Parquet objects after writing them (spread over the lists). */
  missingParquet?: number;
  /**
   * Damage pg_dump.gz: true or "gzip" flips bytes inside the compressed stream (gunzip
   * fails midway); "sql" keeps valid gzip but breaks a COPY row in the middle of the data
   * (PostgreSQL fails midway).
   */
  corruptDump?: boolean | "gzip" | "sql";
  /** Cut pg_dump.gz off at 60 % of its bytes, as an interrupted upload would. */
  truncatedDump?: boolean;
  /** Write the Parquet objects too (default true); large benchmarks may skip them. */
  writeParquet?: boolean;
  /** Reuse an already gzipped dump (e.g. for many snapshots of one catalog). */
  dumpGzip?: Buffer;
}

export interface WrittenSnapshot {
  asOf: string;
  /** `<prefix><as-of>/` */
  folder: string;
  dumpKey: string;
  bloomKey: string | undefined;
  fileListKeys: string[];
  parquetPaths: number;
  /** Referenced Parquet objects deleted on purpose (`missingParquet`). */
  missingParquetPaths: string[];
  /** What was uploaded as pg_dump.gz (after any damage). */
  dumpGzip: Buffer;
}

function damageGzip(gzip: Buffer): Buffer {
  const out = Buffer.from(gzip);
  // Past the 10-byte header, inside the deflate data: gunzip fails on the block or the CRC.
  const from = Math.max(10, Math.floor(out.length / 2) - 16);
  for (let i = from; i < Math.min(out.length - 8, from + 32); i++) out[i] = (out[i] ?? 0) ^ 0x5a;
  return out;
}

function breakSql(gzip: Buffer): Buffer {
  const sql = gunzipSync(gzip).toString("utf8");
  const copyAt = sql.indexOf("COPY iox_catalog.parquet_file");
  const lineAt = copyAt < 0 ? -1 : sql.indexOf("\n", sql.indexOf("\n", copyAt) + 1);
  if (lineAt < 0) throw new Error('corruptDump: "sql" needs a catalog with parquet_file rows');
  // A row with too few columns: COPY rejects it after earlier statements have run.
  return gzipSync(`${sql.slice(0, lineAt + 1)}not-a-row\n${sql.slice(lineAt + 1)}`);
}

/** Writes one snapshot folder of the catalog at `catalogUrl`; bloom.bin.gz goes last. */
export async function writeSnapshot(
  s3: S3StandIn,
  opts: WriteSnapshotOptions,
): Promise<WrittenSnapshot> {
  const prefix = opts.prefix ?? SNAPSHOT_PREFIX;
  const asOf = typeof opts.asOf === "string" ? opts.asOf : formatAsOf(opts.asOf);
  const folder = `${prefix}${asOf}/`;
  const store = standInObjectStore(s3);
  if (!s3.store.hasBucket(opts.bucket)) s3.createBucket(opts.bucket);

  // Lists are grouped by table; the stream is ordered by table id, so one list at a time.
  const lists: Array<{ name: string; paths: string[] }> = [];
  const allPaths: string[] = [];
  let current: { tableId: number; name: string; paths: string[] } | undefined;
  for await (const row of streamParquetPaths(opts.catalogUrl)) {
    if (current?.tableId !== row.tableId) {
      current = { tableId: row.tableId, name: fileListName(row), paths: [] };
      lists.push(current);
    }
    current.paths.push(row.path);
    allPaths.push(row.path);
  }

  // Parquet files exist long before the snapshot that lists them.
  if (opts.writeParquet !== false) {
    for (const path of allPaths) s3.putObjectDirect(opts.bucket, path, fakeParquetBody(path));
  }
  const missing: string[] = [];
  const nMissing = Math.min(opts.missingParquet ?? 0, allPaths.length);
  for (let i = 0; i < nMissing; i++) {
    const path = allPaths[Math.floor(((i + 0.5) * allPaths.length) / nMissing)] as string;
    s3.deleteObjectDirect(opts.bucket, path);
    missing.push(path);
  }

  let dumpGzip = opts.dumpGzip ?? (await pgDumpGzip(opts.catalogUrl)).gzip;
  if (opts.corruptDump === "sql") dumpGzip = breakSql(dumpGzip);
  else if (opts.corruptDump === true || opts.corruptDump === "gzip")
    dumpGzip = damageGzip(dumpGzip);
  if (opts.truncatedDump === true)
    dumpGzip = dumpGzip.subarray(0, Math.floor(dumpGzip.length * 0.6));

  const dumpKey = `${folder}${DUMP_FILE}`;
  await store.put(opts.bucket, dumpKey, dumpGzip);
  const fileListKeys: string[] = [];
  const queue = [...lists];
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let list = queue.shift(); list !== undefined; list = queue.shift()) {
        const key = `${folder}${list.name}`;
        const body = gzipSync(list.paths.length === 0 ? "" : `${list.paths.join("\n")}\n`);
        await store.put(opts.bucket, key, body);
        fileListKeys.push(key);
      }
    }),
  );
  fileListKeys.sort();

  let bloomKey: string | undefined;
  if (opts.complete !== false) {
    bloomKey = `${folder}${BLOOM_FILE}`;
    await store.put(opts.bucket, bloomKey, bloomFilter(allPaths));
  }
  return {
    asOf,
    folder,
    dumpKey,
    bloomKey,
    fileListKeys,
    parquetPaths: allPaths.length,
    missingParquetPaths: missing,
    dumpGzip,
  };
}

export interface SeedHistoryOptions {
  store: Pick<S3StandIn, "putObjectDirect">;
  bucket: string;
  prefix?: string;
  /** Snapshots are taken at or before this time (it is floored to the hour). */
  now: Date;
  /** Number of hourly snapshots, newest at the hour of `now`. Default 720 (30 days). */
  hourly?: number;
  /** Number of daily (00:00 UTC) snapshots, newest at or before `now`. Default 90. */
  daily?: number;
  /** File lists per snapshot. Default 200. */
  tableFilesPerSnapshot?: number;
  /** Snapshots written without bloom.bin.gz (Dates on the hour or as-of strings). */
  incomplete?: Array<Date | string>;
  /** The pg_dump.gz body shared by every snapshot; a tiny valid dump when omitted. */
  dumpGzip?: Buffer;
}

export interface SeededSnapshot {
  asOf: string;
  folder: string;
  time: Date;
  complete: boolean;
  /** Taken at 00:00 UTC (it then counts as the daily too). */
  daily: boolean;
}

export interface SeededHistory {
  /** Newest first. */
  snapshots: SeededSnapshot[];
  objects: number;
}

const TINY_DUMP = `--
-- PostgreSQL database dump
--

SET statement_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;

CREATE SCHEMA iox_catalog;

CREATE TABLE iox_catalog.namespace (
    id bigint NOT NULL,
    name character varying NOT NULL
);

COPY iox_catalog.namespace (id, name) FROM stdin;
1\tseeded_namespace
\\.

--
-- PostgreSQL database dump complete
--
`;

/**
 * Writes a long snapshot history straight into the stand-in's memory: every hourly folder
 * of the last `hourly` hours plus every 00:00 folder of the last `daily` days, each with
 * pg_dump.gz, `tableFilesPerSnapshot` file lists and (unless listed in `incomplete`)
 * bloom.bin.gz. Bodies are shared, so 800 snapshots × 200 lists take about a second.
 */
export function seedSnapshotHistory(opts: SeedHistoryOptions): SeededHistory {
  const prefix = opts.prefix ?? SNAPSHOT_PREFIX;
  const hourly = opts.hourly ?? 720;
  const daily = opts.daily ?? 90;
  const lists = opts.tableFilesPerSnapshot ?? 200;
  const newest = Math.floor(opts.now.getTime() / HOUR_MS) * HOUR_MS;
  const incomplete = new Set(
    (opts.incomplete ?? []).map((t) => (typeof t === "string" ? t : formatAsOf(t))),
  );

  const times = new Set<number>();
  for (let i = 0; i < hourly; i++) times.add(newest - i * HOUR_MS);
  const newestMidnight = Math.floor(newest / (24 * HOUR_MS)) * 24 * HOUR_MS;
  for (let d = 0; d < daily; d++) times.add(newestMidnight - d * 24 * HOUR_MS);

  const dump = opts.dumpGzip ?? gzipSync(TINY_DUMP);
  const bloom = bloomFilter(["seeded"]);
  const tablesPerNamespace = 20;
  const listNames = Array.from({ length: lists }, (_, i) => {
    const ns = Math.floor(i / tablesPerNamespace) + 1;
    return fileListName({
      namespaceName: `seeded_ns_${ns}`,
      namespaceId: ns,
      tableName: `table_${i + 1}`,
      tableId: i + 1,
    });
  });
  const listBody = gzipSync(
    `${Array.from({ length: 5 }, (_, i) => `1/1/${"ab".repeat(32)}/00000000-0000-4000-8000-00000000000${i}.parquet`).join("\n")}\n`,
  );

  const snapshots: SeededSnapshot[] = [];
  let objects = 0;
  for (const t of [...times].sort((a, b) => b - a)) {
    const time = new Date(t);
    const asOf = formatAsOf(time);
    const folder = `${prefix}${asOf}/`;
    const complete = !incomplete.has(asOf);
    // Real snapshots take a few minutes to write; Last-Modified follows that.
    opts.store.putObjectDirect(opts.bucket, `${folder}${DUMP_FILE}`, dump, {
      lastModified: new Date(t + 60_000),
    });
    const listsWritten = { lastModified: new Date(t + 120_000) };
    for (const name of listNames) {
      opts.store.putObjectDirect(opts.bucket, `${folder}${name}`, listBody, listsWritten);
    }
    objects += 1 + listNames.length;
    if (complete) {
      opts.store.putObjectDirect(opts.bucket, `${folder}${BLOOM_FILE}`, bloom, {
        lastModified: new Date(t + 180_000),
      });
      objects += 1;
    }
    snapshots.push({ asOf, folder, time, complete, daily: t % (24 * HOUR_MS) === 0 });
  }
  return { snapshots, objects };
}
