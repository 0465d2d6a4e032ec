import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  parseRestoreCatalogArgs,
  runRestoreCatalogCommand,
} from "../../src/catalog-restore/cli.js";
import { CodedError } from "../../src/errors.js";
import {
  buildIoxCatalog,
  type IoxCatalogSize,
  pgDump,
  pgDumpGzip,
} from "../../src/kinds/influxdb-clustered/sandbox/catalog-builder.js";
import { writeSnapshot } from "../../src/kinds/influxdb-clustered/sandbox/snapshot-writer.js";
import { type S3StandIn, startS3StandIn } from "../../stand-ins/s3/server.js";
import { createTestDatabase, type TestDatabase } from "../support/postgres.js";
import { comparableDump } from "./support.js";

const SIZE: IoxCatalogSize = {
  namespaces: 2,
  tablesPerNamespace: 3,
  columnsPerTable: 12,
  partitionsPerTable: 2,
  filesPerPartition: 30,
};
const KEY = "catalog_backup_file_lists/2024-08-12T14:00:00+00:00/pg_dump.gz";

function capture(isTTY = false) {
  let text = "";
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString("utf8");
      done();
    },
  }) as Writable & { isTTY?: boolean };
  stream.isTTY = isTTY;
  return { stream, text: () => text };
}

async function run(argv: string[], env: NodeJS.ProcessEnv, isTTY = false) {
  const out = capture();
  const err = capture(isTTY);
  const code = await runRestoreCatalogCommand(argv, {
    env,
    stdout: out.stream,
    stderr: err.stream,
    signal: new AbortController().signal,
  });
  return { code, stdout: out.text(), stderr: err.text() };
}

describe("parseRestoreCatalogArgs", () => {
  it("reads both spellings of options", () => {
    expect(parseRestoreCatalogArgs(["--snapshot", "a.gz", "--dsn-env=CAT", "--dry-run"])).toEqual({
      snapshot: "a.gz",
      dsnEnv: "CAT",
      dryRun: true,
      s3Endpoint: undefined,
      s3Region: undefined,
    });
    expect(parseRestoreCatalogArgs(["--help"])).toBe("help");
  });

  const bad: Array<[string[], RegExp]> = [
    [[], /--snapshot and --dsn-env are required/],
    [["--snapshot", "a.gz"], /--dsn-env is required/],
    [["--snapshot", "--dsn-env", "X"], /--snapshot needs a value/],
    [["--snapshot", "a.gz", "--dsn-env", "X", "--force"], /unknown option "--force"/],
    [
      ["--snapshot", "a.gz", "--dsn-env", "postgres://u:secret@h/db"],
      /NAME of an environment variable.*not "a DSN"/,
    ],
  ];
  for (const [argv, message] of bad) {
    it(`refuses ${JSON.stringify(argv)}`, () => {
      let caught: unknown;
      try {
        parseRestoreCatalogArgs(argv);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(CodedError);
      expect((caught as CodedError).code).toBe("usage");
      expect((caught as CodedError).message).toMatch(message);
      expect((caught as CodedError).message).not.toContain("secret");
    });
  }
});

describe("restorebot restore-catalog", () => {
  const dbs: TestDatabase[] = [];
  let s3: S3StandIn;
  let dir: string;
  let snapshotFile: string;
  let expected: string;
  let target: TestDatabase;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    const source = await createTestDatabase("cli_src");
    target = await createTestDatabase("cli_dst");
    dbs.push(source, target);
    await buildIoxCatalog(source.url, SIZE, { seed: 3 });
    await buildIoxCatalog(target.url, SIZE, { seed: 3, variant: "drifted" });
    const { gzip } = await pgDumpGzip(source.url);
    expected = comparableDump(await pgDump(source.url));
    dir = await mkdtemp(join(tmpdir(), "rb-cli-"));
    snapshotFile = join(dir, "pg_dump.gz");
    await writeFile(snapshotFile, gzip);
    s3 = await startS3StandIn({ buckets: ["influxdb-prod"] });
    // The snapshot as InfluxDB's garbage collector lays it out (pg_dump.gz, file lists, bloom).
    const written = await writeSnapshot(s3, {
      bucket: "influxdb-prod",
      asOf: new Date(Date.UTC(2024, 7, 12, 14)),
      catalogUrl: source.url,
      dumpGzip: gzip,
      writeParquet: false,
    });
    expect(written.dumpKey).toBe(KEY);
    env = {
      CATALOG_DSN: target.url,
      AWS_ACCESS_KEY_ID: "AKIDTEST",
      AWS_SECRET_ACCESS_KEY: "test-secret-key",
      AWS_REGION: "us-east-1",
      AWS_ENDPOINT_URL_S3: s3.endpoint,
    };
  });

  afterAll(async () => {
    await s3?.close();
    for (const db of dbs) await db.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("says which environment variable is missing, exit 2", async () => {
    const result = await run(["--snapshot", snapshotFile, "--dsn-env", "NOPE_DSN"], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/NOPE_DSN \(from --dsn-env\) is not set/);
  });

  it("says when the snapshot file is not there, exit 2", async () => {
    const result = await run(
      ["--snapshot", join(dir, "missing.gz"), "--dsn-env", "CATALOG_DSN"],
      env,
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/cannot read that file \(ENOENT\)/);
  });

  it("refuses a file that is not a gzipped dump without contacting the database, exit 1", async () => {
    const before = comparableDump(await pgDump(target.url));
    const bad = join(dir, "notes.gz");
    await writeFile(bad, "this is not a dump\n");
    const result = await run(["--snapshot", bad, "--dsn-env", "CATALOG_DSN"], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/FAILED — The snapshot is not a gzip file/);
    expect(result.stderr).toMatch(/(not contacted|the catalog was left unchanged)\./);
    expect(comparableDump(await pgDump(target.url))).toBe(before);
  });

  it("--dry-run from S3 lists what would be dropped and created, and changes nothing", async () => {
    const before = comparableDump(await pgDump(target.url));
    const result = await run(
      ["--snapshot", `s3://influxdb-prod/${KEY}`, "--dsn-env", "CATALOG_DSN", "--dry-run"],
      env,
    );
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Snapshot OK: pg_dump 15\.\d+ output/);
    expect(result.stdout).toMatch(
      /Would drop \(in the catalog, not in the snapshot\): \d+\n( {2}.*\n)* {2}FUNCTION iox_catalog\.namespace_file_count\(bigint\)\n( {2}.*\n)* {2}TABLE iox_catalog\.parquet_file_annotation\n/,
    );
    expect(result.stdout).toMatch(
      /Would create \(in the snapshot, missing from the catalog\): 1\n {2}INDEX iox_catalog\.parquet_file_to_delete_idx\n/,
    );
    expect(result.stdout).toMatch(/iox_catalog\.parquet_file: 385 → 360/);
    expect(result.stdout).toContain("The DSN's user has the privileges the restore needs.");
    expect(result.stdout).not.toContain(target.url);
    expect(comparableDump(await pgDump(target.url))).toBe(before);
  });

  it("restores from S3, with progress lines when not on a terminal, exit 0", async () => {
    const result = await run(
      ["--snapshot", `s3://influxdb-prod/${KEY}`, "--dsn-env", "CATALOG_DSN"],
      env,
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Downloading and checking s3:\/\/influxdb-prod\/.*pg_dump\.gz/);
    expect(result.stdout).not.toMatch(/^Checking the snapshot/m);
    expect(result.stdout).toMatch(
      /Done: 127\.0\.0\.1:5432\/rb_cli_dst_\w+ now equals the snapshot/,
    );
    expect(result.stderr).toMatch(/^restore-catalog: connecting, \d+% /m);
    expect(result.stderr).toMatch(/^restore-catalog: committed, 100% .* (\d+) of \1 rows copied/m);
    expect(comparableDump(await pgDump(target.url))).toBe(expected);
  });

  it("refuses a truncated S3 snapshot while downloading it, before touching the database", async () => {
    const whole = s3.getObjectDirect("influxdb-prod", KEY) ?? Buffer.alloc(0);
    s3.putObjectDirect(
      "influxdb-prod",
      "truncated/pg_dump.gz",
      whole.subarray(0, whole.length - 100),
    );
    const before = comparableDump(await pgDump(target.url));
    const result = await run(
      ["--snapshot", "s3://influxdb-prod/truncated/pg_dump.gz", "--dsn-env", "CATALOG_DSN"],
      env,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/FAILED — The snapshot's gzip data ends early .* truncated/);
    expect(result.stderr).toMatch(/The catalog database was not touched/);
    expect(comparableDump(await pgDump(target.url))).toBe(before);
  });

  it("stops and rolls back when the check finds a local snapshot truncated, exit 1", async () => {
    const before = comparableDump(await pgDump(target.url));
    const whole = s3.getObjectDirect("influxdb-prod", KEY) ?? Buffer.alloc(0);
    const cut = join(dir, "cut.gz");
    await writeFile(cut, whole.subarray(0, whole.length - 100));
    const result = await run(["--snapshot", cut, "--dsn-env", "CATALOG_DSN"], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/FAILED — The snapshot's gzip data ends early .* truncated/);
    expect(result.stderr).toMatch(/the catalog was left unchanged/);
    expect(result.stdout).not.toMatch(/^Done/m);
    expect(comparableDump(await pgDump(target.url))).toBe(before);
  });

  it("draws a progress bar on a terminal", async () => {
    const result = await run(["--snapshot", snapshotFile, "--dsn-env", "CATALOG_DSN"], env, true);
    expect(result.code).toBe(0);
    // A terminal progress bar redraws its line: carriage return, ESC [2K (erase line), the bar.
    const ESC = String.fromCharCode(27);
    expect(result.stderr).toMatch(new RegExp(`\\r${ESC}\\[2K\\[#+-*\\] +\\d+%`));
    expect(comparableDump(await pgDump(target.url))).toBe(expected);
  });

  it("reports a failed restore with the catalog unchanged, exit 1", async () => {
    const before = comparableDump(await pgDump(target.url));
    const result = await run(["--snapshot", snapshotFile, "--dsn-env", "CATALOG_DSN"], {
      ...env,
      CATALOG_DSN: `${target.url.replace(/\/[^/]*$/, "")}/rb_no_such_database`,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /FAILED — Cannot connect to the catalog database: .*rb_no_such_database.*Nothing was changed/,
    );
    expect(comparableDump(await pgDump(target.url))).toBe(before);
  });
});
