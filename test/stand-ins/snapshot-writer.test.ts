import { spawnSync } from "node:child_process";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildIoxCatalog,
  type IoxCatalog,
  pgDump,
} from "../../src/kinds/influxdb-clustered/sandbox/catalog-builder.js";
import {
  fileListName,
  formatAsOf,
  parseFileList,
  seedSnapshotHistory,
  standInObjectStore,
  writeSnapshot,
} from "../../src/kinds/influxdb-clustered/sandbox/snapshot-writer.js";
import { type S3StandIn, startS3StandIn } from "../../stand-ins/s3/server.js";
import { createTestDatabase, type TestDatabase } from "../support/postgres.js";

const BUCKET = "influxdb-prod";
const AS_OF = new Date("2024-08-12T14:00:00Z");
const FOLDER = "catalog_backup_file_lists/2024-08-12T14:00:00+00:00/";

let s3: S3StandIn;
const dbs: TestDatabase[] = [];
let catalogDb: TestDatabase;
let catalog: IoxCatalog;

beforeAll(async () => {
  s3 = await startS3StandIn({ buckets: [BUCKET] });
  catalogDb = await createTestDatabase("snapwriter");
  dbs.push(catalogDb);
  catalog = await buildIoxCatalog(catalogDb.url, {
    namespaces: 2,
    tablesPerNamespace: 2,
    columnsPerTable: 5,
    partitionsPerTable: 2,
    filesPerPartition: 3,
  });
});

afterAll(async () => {
  await s3.close();
  for (const db of dbs) await db.drop();
});

function dumpBody(gzip: Buffer | undefined): string {
  if (gzip === undefined) throw new Error("no dump");
  return gunzipSync(gzip).toString("utf8");
}

describe("writeSnapshot", () => {
  it("writes the folder exactly as DESIGN.md lays it out, bloom.bin.gz last", async () => {
    s3.clearWriteLog();
    const written = await writeSnapshot(s3, {
      bucket: BUCKET,
      asOf: AS_OF,
      catalogUrl: catalogDb.url,
    });

    const expectedLists = catalog.tables.map(
      (t) => `${FOLDER}${t.namespaceName}-ID${t.namespaceId}/${t.tableName}-ID${t.tableId}.txt.gz`,
    );
    expect(s3.listKeys(BUCKET, FOLDER)).toEqual(
      [`${FOLDER}bloom.bin.gz`, ...expectedLists.sort(), `${FOLDER}pg_dump.gz`].sort(),
    );
    expect(written.folder).toBe(FOLDER);
    expect(written.fileListKeys).toEqual(expectedLists.sort());

    const httpWrites = s3.writeLog().filter((w) => w.via === "http");
    expect(httpWrites).toHaveLength(expectedLists.length + 2);
    expect(httpWrites[0]?.key).toBe(`${FOLDER}pg_dump.gz`);
    expect(httpWrites.at(-1)?.key).toBe(`${FOLDER}bloom.bin.gz`);
    // The Parquet files were there before any of the snapshot folder.
    const firstHttp = httpWrites[0]?.seq ?? 0;
    expect(
      s3
        .writeLog()
        .filter((w) => w.via === "direct")
        .every((w) => w.seq < firstHttp),
    ).toBe(true);
  });

  it("lists parse back to the catalog's Parquet paths, and each path is an object", async () => {
    for (const table of catalog.tables) {
      const body = s3.getObjectDirect(BUCKET, `${FOLDER}${fileListName(table)}`);
      expect(body).toBeDefined();
      const paths = parseFileList(body as Buffer);
      expect(paths).toEqual(table.parquetPaths);
      expect(paths).toHaveLength(6);
      for (const path of paths) {
        expect(path.startsWith(`${table.namespaceId}/${table.tableId}/`)).toBe(true);
        expect(s3.getObjectDirect(BUCKET, path)).toBeDefined();
      }
    }
  });

  it("uploads the real pg_dump of the catalog, readable through the product adapter", async () => {
    const store = standInObjectStore(s3);
    const got = await store.getStream(BUCKET, `${FOLDER}pg_dump.gz`);
    const chunks: Buffer[] = [];
    for await (const chunk of got.body) chunks.push(chunk as Buffer);
    const sql = dumpBody(Buffer.concat(chunks));
    expect(sql).toContain("PostgreSQL database dump");
    expect(sql).toContain("COPY iox_catalog.parquet_file");
    const live = await pgDump(catalogDb.url);
    const strip = (d: string) =>
      d
        .split("\n")
        .filter(
          (l) =>
            !l.startsWith("--") && !l.startsWith("\\restrict") && !l.startsWith("\\unrestrict"),
        );
    expect(strip(sql)).toEqual(strip(live));
    const page = await store.listPrefixes(BUCKET, "catalog_backup_file_lists/", "/");
    expect(page.prefixes).toContain(FOLDER);
  });

  it("can leave the bloom out, lose Parquet files, and damage the dump", async () => {
    const incomplete = await writeSnapshot(s3, {
      bucket: BUCKET,
      asOf: new Date("2024-08-12T15:00:00Z"),
      catalogUrl: catalogDb.url,
      complete: false,
      missingParquet: 3,
    });
    expect(incomplete.bloomKey).toBeUndefined();
    expect(s3.getObjectDirect(BUCKET, `${incomplete.folder}bloom.bin.gz`)).toBeUndefined();
    expect(s3.getObjectDirect(BUCKET, `${incomplete.folder}pg_dump.gz`)).toBeDefined();
    expect(new Set(incomplete.missingParquetPaths).size).toBe(3);
    for (const path of incomplete.missingParquetPaths)
      expect(s3.getObjectDirect(BUCKET, path)).toBeUndefined();

    const corrupt = await writeSnapshot(s3, {
      bucket: BUCKET,
      asOf: "2024-08-12T16:00:00+00:00",
      catalogUrl: catalogDb.url,
      corruptDump: true,
    });
    expect(() => gunzipSync(corrupt.dumpGzip)).toThrow();

    const truncated = await writeSnapshot(s3, {
      bucket: BUCKET,
      asOf: new Date("2024-08-12T17:00:00Z"),
      catalogUrl: catalogDb.url,
      truncatedDump: true,
    });
    expect(() => gunzipSync(truncated.dumpGzip)).toThrow(/unexpected end of file/);

    const badSql = await writeSnapshot(s3, {
      bucket: BUCKET,
      asOf: new Date("2024-08-12T18:00:00Z"),
      catalogUrl: catalogDb.url,
      corruptDump: "sql",
    });
    const sql = dumpBody(badSql.dumpGzip);
    expect(sql).toContain("not-a-row");
    const target = await createTestDatabase("snapwriter_badsql");
    dbs.push(target);
    const psql = spawnSync("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "--dbname", target.url], {
      input: sql,
      encoding: "utf8",
    });
    expect(psql.status).not.toBe(0);
    expect(psql.stderr).toContain("parquet_file");
  });

  it("refuses a time off the hour", () => {
    expect(() => formatAsOf(new Date("2024-08-12T14:30:00Z"))).toThrow(/on the hour/);
    expect(formatAsOf(new Date("2024-08-12T00:00:00Z"))).toBe("2024-08-12T00:00:00+00:00");
  });
});

describe("seedSnapshotHistory", () => {
  it("writes 30 days of hourlies and 90 dailies, listable in one request", async () => {
    const history = seedSnapshotHistory({
      store: s3,
      bucket: "history",
      prefix: "catalog_backup_file_lists/",
      now: new Date("2024-08-12T14:37:00Z"),
      hourly: 720,
      daily: 90,
      tableFilesPerSnapshot: 200,
      incomplete: [new Date("2024-08-12T14:00:00Z"), "2024-08-01T00:00:00+00:00"],
    });

    // 720 hourlies span 30 midnights; the other 60 dailies are older.
    expect(history.snapshots).toHaveLength(780);
    expect(history.objects).toBe(780 * 202 - 2);
    expect(history.snapshots[0]).toMatchObject({
      asOf: "2024-08-12T14:00:00+00:00",
      complete: false,
      daily: false,
    });
    expect(history.snapshots.at(-1)).toMatchObject({
      asOf: "2024-05-15T00:00:00+00:00",
      complete: true,
      daily: true,
    });
    expect(history.snapshots.filter((s) => s.daily)).toHaveLength(90);
    expect(
      s3.listKeys("history", "catalog_backup_file_lists/2024-08-01T00:00:00+00:00/"),
    ).toHaveLength(201);
    expect(
      s3.listKeys("history", "catalog_backup_file_lists/2024-08-01T01:00:00+00:00/"),
    ).toHaveLength(202);

    s3.resetCounts();
    const page = await standInObjectStore(s3).listPrefixes(
      "history",
      "catalog_backup_file_lists/",
      "/",
    );
    expect(page.prefixes).toHaveLength(780);
    expect(page.nextToken).toBeUndefined();
    expect(s3.totalRequests()).toBe(1);
  });
});
