import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { restoreCatalog } from "../../src/catalog-restore/restore-engine.js";
import type { CodedError } from "../../src/errors.js";
import {
  buildIoxCatalog,
  type IoxCatalogSize,
  pgDump,
  pgDumpGzip,
} from "../../src/kinds/influxdb-clustered/sandbox/catalog-builder.js";
import { createTestDatabase, type TestDatabase } from "../support/postgres.js";
import { bufferSource, comparableDump, gzip, pausingSource, queryRows, until } from "./support.js";

const SIZE: IoxCatalogSize = {
  namespaces: 2,
  tablesPerNamespace: 4,
  columnsPerTable: 12,
  partitionsPerTable: 3,
  filesPerPartition: 40,
};

const UNCHANGED = /catalog (was left unchanged|is unchanged)/;

/**
 * Every failure leaves the live catalog exactly as it was: the same pg_dump, the same rows.
 * The live catalog is a drifted IOx catalog; the snapshot is the base one, broken in
 * various ways.
 */
describe("restoreCatalog is atomic", () => {
  const dbs: TestDatabase[] = [];
  let target: TestDatabase;
  let snapshot: Buffer;
  let snapshotSql: string;
  let before: string;
  let dir: string;

  beforeAll(async () => {
    const source = await createTestDatabase("atom_src");
    target = await createTestDatabase("atom_dst");
    dbs.push(source, target);
    await buildIoxCatalog(source.url, SIZE, { seed: 1 });
    await buildIoxCatalog(target.url, SIZE, { seed: 1, variant: "drifted" });
    snapshot = (await pgDumpGzip(source.url)).gzip;
    snapshotSql = gunzipSync(snapshot).toString("utf8");
    before = comparableDump(await pgDump(target.url));
    dir = await mkdtemp(join(tmpdir(), "rb-atomicity-"));
  });

  afterAll(async () => {
    for (const db of dbs) await db.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function expectUnchanged(): Promise<void> {
    expect(comparableDump(await pgDump(target.url))).toBe(before);
    const sessions = await queryRows<{ n: string }>(
      target.url,
      "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'restorebot%'",
    );
    expect(sessions[0]?.n).toBe("0");
  }

  async function failure(run: Promise<unknown>): Promise<CodedError> {
    const err = await run.then(
      () => {
        throw new Error("the restore should have failed");
      },
      (e: unknown) => e as CodedError,
    );
    expect(err.name).toBe("CodedError");
    return err;
  }

  const restore = (
    data: Buffer | AsyncIterable<Buffer>,
    extra: Partial<Parameters<typeof restoreCatalog>[0]> = {},
  ) =>
    restoreCatalog({
      source: Buffer.isBuffer(data) ? bufferSource(data) : data,
      connection: target.url,
      ...extra,
    });

  it("a truncated gzip: everything was applied, the missing end is found, nothing is committed", async () => {
    const err = await failure(restore(snapshot.subarray(0, snapshot.length - 200)));
    expect(err.code).toBe("dump_invalid");
    expect(err.message).toMatch(/ends early.*truncated/);
    expect(err.message).toMatch(UNCHANGED);
    await expectUnchanged();
  });

  it("a corrupt gzip (a flipped byte near the end)", async () => {
    const corrupt = Buffer.from(snapshot);
    const at = corrupt.length - 300;
    corrupt[at] = (corrupt[at] ?? 0) ^ 0xff;
    const err = await failure(restore(corrupt));
    expect(err.code).toBe("dump_invalid");
    expect(err.message).toMatch(/gzip data cannot be read/);
    await expectUnchanged();
  });

  it("an SQL error late in the dump: a duplicate row breaks the primary key built after the data", async () => {
    const duplicated = snapshotSql.replace(
      /(COPY iox_catalog\.topic [^\n]*\n)([^\n]*\n)/,
      (_m, copy: string, row: string) => `${copy}${row}${row}`,
    );
    expect(duplicated).not.toBe(snapshotSql);
    const err = await failure(restore(gzip(duplicated)));
    expect(err.code).toBe("restore_failed");
    expect(err.message).toMatch(
      /PostgreSQL rejected the statement at line \d+ of the dump \(CONSTRAINT iox_catalog\.topic topic_name_unique\): could not create unique index "topic_name_unique"\. Detail: Key \(name\)=\(iox-shared\) is duplicated\. Statement: ALTER TABLE ONLY/,
    );
    expect(err.message).toMatch(UNCHANGED);
    await expectUnchanged();
  });

  it("a dump cut at a statement boundary: valid gzip, but pg_dump's closing line is missing", async () => {
    const cut = snapshotSql.slice(0, snapshotSql.indexOf("-- PostgreSQL database dump complete"));
    const err = await failure(restore(gzip(cut)));
    expect(err.message).toMatch(/closing "dump complete" line/);
    await expectUnchanged();
  });

  it("a \\connect met half-way through the dump", async () => {
    const at = snapshotSql.indexOf("-- Name: parquet_file parquet_file_partition_id_fkey");
    const err = await failure(
      restore(gzip(`${snapshotSql.slice(0, at)}\\connect other\n${snapshotSql.slice(at)}`)),
    );
    expect(err.message).toMatch(/switches to another database/);
    await expectUnchanged();
  });

  it("a pg_dump --create dump is refused before the database is even contacted", async () => {
    const withCreate = snapshotSql.replace(
      "SET statement_timeout = 0;",
      "CREATE DATABASE catalog WITH TEMPLATE = template0 ENCODING = 'UTF8';\n\\connect catalog\n\nSET statement_timeout = 0;",
    );
    // A port nobody listens on: reaching it would fail differently.
    const err = await failure(
      restoreCatalog({
        source: bufferSource(gzip(withCreate)),
        connection: "postgres://127.0.0.1:1/none",
      }),
    );
    expect(err.code).toBe("dump_invalid");
    expect(err.message).toMatch(/CREATE DATABASE changes the server outside this database/);
    expect(err.message).toMatch(/the catalog database was not contacted/);
  });

  it("the connection killed in the middle of the parquet_file COPY", async () => {
    const { source, paused, resume } = pausingSource(snapshot, Math.floor(snapshot.length * 0.6));
    let current = "";
    const run = restore(source, {
      progressIntervalMs: 0,
      onProgress: (p) => (current = p.currentObject ?? ""),
    });
    await paused;
    await until(() => current === "TABLE DATA iox_catalog.parquet_file");
    await new Promise((r) => setTimeout(r, 100));
    const killed = await queryRows<{ ok: boolean }>(
      target.url,
      "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'restorebot restore-catalog'",
    );
    expect(killed).toEqual([{ ok: true }]);
    resume();
    const err = await failure(run);
    expect(err.message).toMatch(/terminat|connection/i);
    expect(err.message).toMatch(UNCHANGED);
    await expectUnchanged();
  });

  it("cancelled (AbortSignal) in the middle of the COPY", async () => {
    const { source, paused } = pausingSource(snapshot, Math.floor(snapshot.length * 0.6));
    const controller = new AbortController();
    let current = "";
    let rows = 0;
    const run = restore(source, {
      signal: controller.signal,
      progressIntervalMs: 0,
      onProgress: (p) => {
        current = p.currentObject ?? "";
        rows = p.rowsCopied;
      },
    });
    await paused;
    await until(() => current === "TABLE DATA iox_catalog.parquet_file" && rows > 0);
    controller.abort();
    const err = await failure(run);
    expect(err.code).toBe("cancelled");
    expect(err.message).toMatch(UNCHANGED);
    await expectUnchanged();
  });

  it("cancelled during a long statement: the server interrupts it", async () => {
    const slow = snapshotSql.replace(
      "--\n-- PostgreSQL database dump complete",
      "SELECT pg_sleep(60);\n\n--\n-- PostgreSQL database dump complete",
    );
    const controller = new AbortController();
    const started = Date.now();
    const run = restore(gzip(slow), { signal: controller.signal });
    for (let i = 0; i < 100; i++) {
      const sleeping = await queryRows(
        target.url,
        "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'SELECT pg_sleep(60)%'",
      );
      if (sleeping.length > 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    controller.abort();
    const err = await failure(run);
    expect(err.code).toBe("cancelled");
    expect(Date.now() - started).toBeLessThan(20_000);
    await expectUnchanged();
  });

  it("another session holding a lock: gives up after the lock timeout and names the session", async () => {
    const holder = new pg.Client({ connectionString: target.url, application_name: "catalog-pod" });
    await holder.connect();
    try {
      await holder.query("BEGIN; LOCK TABLE iox_catalog.parquet_file IN ACCESS SHARE MODE");
      const warnings: string[] = [];
      const err = await failure(
        restore(snapshot, { lockTimeoutMs: 300, onWarning: (m) => warnings.push(m) }),
      );
      expect(err.code).toBe("restore_failed");
      expect(err.message).toMatch(/Another session holds a lock.*catalog-pod/);
      expect(warnings.join(" ")).toMatch(/1 other session\(s\) are connected.*catalog-pod/);
      expect(warnings.join(" ")).toMatch(/the restore waits up to 300 ms and then stops/);
    } finally {
      await holder.end();
    }
    await expectUnchanged();
  });

  it("the restoring process killed (SIGKILL) in the middle of the COPY", async () => {
    const file = join(dir, "pg_dump.gz");
    await writeFile(file, snapshot);
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        new URL("./restore-child.ts", import.meta.url).pathname,
        file,
        target.url,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let output = "";
    child.stdout.setEncoding("utf8");
    const paused = new Promise<void>((resolve) => {
      child.stdout.on("data", (chunk: string) => {
        output += chunk;
        if (output.includes("\n")) resolve();
      });
    });
    await paused;
    expect(output).toMatch(/^PAUSED TABLE DATA iox_catalog\.parquet_file/);
    child.kill("SIGKILL");
    await once(child, "close");
    // PostgreSQL notices the dropped connection and rolls back on its own.
    for (let i = 0; i < 100; i++) {
      const left = await queryRows(
        target.url,
        "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'restorebot%'",
      );
      if (left.length === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await expectUnchanged();
  });

  it("and after all that, a good snapshot still restores", async () => {
    await restore(snapshot);
    expect(comparableDump(await pgDump(target.url))).toBe(comparableDump(snapshotSql));
  });
});
