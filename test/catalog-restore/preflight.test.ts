import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { preflightDump } from "../../src/catalog-restore/preflight.js";
import { CodedError } from "../../src/errors.js";
import { bufferSource, gzip } from "./support.js";

const PAGILA_GZ = readFileSync(
  new URL("../../../shared/fixtures/pagila.pg_dump.gz", import.meta.url),
);
const PAGILA_SQL = gunzipSync(PAGILA_GZ).toString("utf8");

async function refusal(data: Buffer): Promise<CodedError> {
  try {
    await preflightDump(bufferSource(data));
  } catch (err) {
    expect(err).toBeInstanceOf(CodedError);
    return err as CodedError;
  }
  throw new Error("expected the dump to be refused");
}

describe("preflightDump", () => {
  it("summarises pagila: statements, tables, rows, objects, owners, versions", async () => {
    const ticks: number[] = [];
    const result = await preflightDump(bufferSource(PAGILA_GZ, 4096), {
      compressedBytesTotal: PAGILA_GZ.length,
      progressIntervalMs: 0,
      onProgress: (p) => ticks.push(p.compressedBytesRead),
    });
    expect(result).toMatchObject({
      compressedBytes: PAGILA_GZ.length,
      sqlBytes: Buffer.byteLength(PAGILA_SQL),
      statements: 282,
      copyBlocks: 21,
      rows: 49_636,
      owners: ["postgres"],
      objectsTruncated: false,
    });
    expect(result.pgDumpVersion).toMatch(/^15\./);
    expect(result.tableRows).toContainEqual({ schema: "public", name: "rental", rows: 16_044 });
    const functions = result.objects.filter((o) => o.type === "FUNCTION").map((o) => o.name);
    expect(functions).toContain("_group_concat(text, text)");
    expect(result.objects.filter((o) => o.type === "TABLE")).toHaveLength(22);
    expect(ticks.at(-1)).toBe(PAGILA_GZ.length);
  });

  it("refuses a file that is not gzipped, saying what it looks like", async () => {
    const err = await refusal(Buffer.from(PAGILA_SQL));
    expect(err.code).toBe("dump_invalid");
    expect(err.message).toMatch(/not a gzip file.*uncompressed SQL/);
  });

  it("refuses a truncated gzip", async () => {
    const err = await refusal(PAGILA_GZ.subarray(0, PAGILA_GZ.length - 5000));
    expect(err.message).toMatch(/ends early.*truncated/);
  });

  it("refuses a corrupt gzip (one flipped byte)", async () => {
    const corrupt = Buffer.from(PAGILA_GZ);
    const middle = Math.floor(corrupt.length / 2);
    corrupt[middle] = (corrupt[middle] ?? 0) ^ 0x55;
    const err = await refusal(corrupt);
    expect(err.code).toBe("dump_invalid");
    expect(err.message).toMatch(/gzip data cannot be read/);
  });

  it("refuses bytes appended after the gzip data", async () => {
    const err = await refusal(Buffer.concat([PAGILA_GZ, Buffer.from("trailing junk")]));
    expect(err.message).toMatch(/not gzip data/);
  });

  it("refuses a gzipped file that is not a pg_dump", async () => {
    const err = await refusal(gzip("CREATE TABLE t (a int);\n"));
    expect(err.message).toMatch(/not a plain pg_dump/);
  });

  it("refuses a dump cut at a statement boundary (no closing line) even though the gzip is fine", async () => {
    const cut = PAGILA_SQL.slice(0, PAGILA_SQL.indexOf("-- Name: actor actor_pkey"));
    const err = await refusal(gzip(cut));
    expect(err.message).toMatch(/without pg_dump's closing "dump complete" line/);
  });

  it("refuses a pg_dump --create dump at its \\connect", async () => {
    const withConnect = PAGILA_SQL.replace(
      "SET statement_timeout = 0;",
      "CREATE DATABASE pagila;\n\\connect pagila\n\nSET statement_timeout = 0;",
    );
    const err = await refusal(gzip(withConnect));
    expect(err.message).toMatch(/CREATE DATABASE changes the server outside this database/);
  });

  it("refuses a \\connect on its own", async () => {
    const withConnect = PAGILA_SQL.replace(
      "SET statement_timeout = 0;",
      "\\connect other\nSET statement_timeout = 0;",
    );
    const err = await refusal(gzip(withConnect));
    expect(err.message).toMatch(
      /^Line \d+: the dump switches to another database \(\\connect other\)/,
    );
  });

  it("stops when cancelled", async () => {
    const controller = new AbortController();
    const done = preflightDump(bufferSource(PAGILA_GZ, 1024), {
      signal: controller.signal,
      progressIntervalMs: 0,
      onProgress: () => controller.abort(),
    });
    await expect(done).rejects.toMatchObject({ code: "cancelled" });
  });
});
