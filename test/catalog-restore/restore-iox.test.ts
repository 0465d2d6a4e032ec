import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { restoreCatalog } from "../../src/catalog-restore/restore-engine.js";
import {
  buildIoxCatalog,
  type IoxCatalogSize,
  pgDump,
  pgDumpGzip,
} from "../../src/kinds/influxdb-clustered/sandbox/catalog-builder.js";
import { createTestDatabase, type TestDatabase } from "../support/postgres.js";
import { bufferSource, comparableDump, loadWithPsql } from "./support.js";

const PAGILA_GZ = readFileSync(
  new URL("../../../shared/fixtures/pagila.pg_dump.gz", import.meta.url),
);

const SIZE: IoxCatalogSize = {
  namespaces: 2,
  tablesPerNamespace: 4,
  columnsPerTable: 12,
  partitionsPerTable: 3,
  filesPerPartition: 40,
};

describe("restoreCatalog with an IOx-like catalog", () => {
  const dbs: TestDatabase[] = [];
  let snapshot: Buffer;
  let expected: string;

  const database = async (label: string) => {
    const db = await createTestDatabase(label);
    dbs.push(db);
    return db;
  };

  beforeAll(async () => {
    const source = await database("iox_src");
    await buildIoxCatalog(source.url, SIZE, { seed: 1 });
    snapshot = (await pgDumpGzip(source.url)).gzip;
    expected = comparableDump(await pgDump(source.url));
  });

  afterAll(async () => {
    for (const db of dbs) await db.drop();
  });

  it("restores into an empty database", async () => {
    const db = await database("iox_empty");
    const result = await restoreCatalog({ source: bufferSource(snapshot), connection: db.url });
    expect(result.rowsCopied).toBeGreaterThan(SIZE.namespaces * 4 * 3 * 40);
    // parquet_file and most other tables go in binary; partition (text[]) and the sqlx
    // ledger (timestamptz) stay on text.
    expect(result.binaryCopyBlocks).toBe(result.copyBlocks - 2);
    expect(comparableDump(await pgDump(db.url))).toBe(expected);
  });

  it("restores the same with text COPY only", async () => {
    const db = await database("iox_text");
    await buildIoxCatalog(db.url, SIZE, { seed: 1, variant: "drifted" });
    const result = await restoreCatalog({
      source: bufferSource(snapshot),
      connection: db.url,
      binaryCopy: false,
    });
    expect(result.binaryCopyBlocks).toBe(0);
    expect(comparableDump(await pgDump(db.url))).toBe(expected);
  });

  it("restores over the same schema with different rows", async () => {
    const db = await database("iox_rows");
    await buildIoxCatalog(db.url, SIZE, { seed: 2 });
    expect(comparableDump(await pgDump(db.url))).not.toBe(expected);
    await restoreCatalog({ source: bufferSource(snapshot), connection: db.url });
    expect(comparableDump(await pgDump(db.url))).toBe(expected);
  });

  it("restores over a drifted catalog: extra table, function and rows, missing index, advanced sequences", async () => {
    const db = await database("iox_drift");
    await buildIoxCatalog(db.url, SIZE, { seed: 1, variant: "drifted" });
    const progress: string[] = [];
    await restoreCatalog({
      source: bufferSource(snapshot),
      connection: db.url,
      progressIntervalMs: 0,
      onProgress: (p) => progress.push(p.phase),
    });
    expect(comparableDump(await pgDump(db.url))).toBe(expected);
    expect(progress[0]).toBe("connecting");
    expect(progress).toContain("clearing");
    expect(progress.at(-1)).toBe("committed");
  });

  it("restores over a database holding an unrelated schema (pagila)", async () => {
    const db = await database("iox_pagila");
    await loadWithPsql(db.url, PAGILA_GZ);
    await restoreCatalog({ source: bufferSource(snapshot), connection: db.url });
    expect(comparableDump(await pgDump(db.url))).toBe(expected);
  });
});
