/**
 * Catalog restore benchmark: restorebot against the vendor-style psql pipeline.
 *
 *   npm run bench:restore [-- --files 200,400 --runs 3 --ablation]
 *
 * For each size it builds an IOx-like catalog (almost all of its dump is parquet_file rows),
 * dumps it with pg_dump | gzip, builds a drifted copy of the same catalog as the non-empty
 * target, and then, alternating in one session, restores the dump over a fresh copy of that
 * target with
 *   (a) gunzip -c | awk -f bench/drop-before-create.awk | psql -v ON_ERROR_STOP=1 --single-transaction
 *   (b) restorebot restore-catalog (compiled, in its own process: snapshot check, then restore)
 * It prints each run, the median time ratio b/a, b's peak RSS, and checks that both results
 * equal the snapshot (pg_dump compared, header and \restrict lines aside). A CHECKPOINT before
 * every run keeps one contender's dirty pages from slowing the next. --ablation adds
 * restorebot's engine alone with binary COPY off (text COPY, as psql sends it), to show what
 * binary COPY buys.
 * Not part of the test suite. Results also go to bench/out/restore-catalog.json.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import pg from "pg";
import {
  buildIoxCatalog,
  type IoxCatalogSize,
  pgDumpStream,
  pgDumpToGzipFile,
} from "../test/stand-ins/iox-catalog.js";
import { ADMIN_URL, databaseUrl } from "../test/support/postgres.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const OUT = `${ROOT}bench/out`;
const BUILD = `${OUT}/build`;
const AWK = `${ROOT}bench/drop-before-create.awk`;

interface Options {
  files: number[];
  runs: number;
  ablation: boolean;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { files: [200, 400], runs: 3, ablation: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--files") options.files = (argv[++i] ?? "").split(",").map(Number);
    else if (arg === "--runs") options.runs = Number(argv[++i]);
    else if (arg === "--ablation") options.ablation = true;
    else throw new Error(`unknown option ${arg}; use --files 200,400 --runs 3 --ablation`);
  }
  if (options.files.some((f) => !Number.isInteger(f) || f <= 0) || !(options.runs >= 1))
    throw new Error("--files takes positive integers, --runs a count");
  return options;
}

/** ≈ 0.8 MB of dump per file per partition at this shape (4 × 25 tables × 30 partitions). */
function sizeFor(filesPerPartition: number): IoxCatalogSize {
  return {
    namespaces: 4,
    tablesPerNamespace: 25,
    columnsPerTable: 12,
    partitionsPerTable: 30,
    filesPerPartition,
  };
}

async function admin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

async function recreateDatabase(name: string, template?: string): Promise<string> {
  await admin(async (c) => {
    await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await c.query(`CREATE DATABASE "${name}"${template ? ` TEMPLATE "${template}"` : ""}`);
  });
  return databaseUrl(name);
}

async function dropDatabase(name: string): Promise<void> {
  await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}

async function checkpoint(): Promise<void> {
  await admin((c) => c.query("CHECKPOINT"));
}

/** SHA-256 of a database's pg_dump without the lines that legitimately differ. */
async function comparableDumpHash(url: string): Promise<string> {
  const hash = createHash("sha256");
  const lines = createInterface({ input: pgDumpStream(url), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) {
    if (
      line.startsWith("-- Dumped from database version") ||
      line.startsWith("-- Dumped by pg_dump version") ||
      line.startsWith("\\restrict ") ||
      line.startsWith("\\unrestrict ")
    )
      continue;
    hash.update(line);
    hash.update("\n");
  }
  return hash.digest("hex");
}

function runProcess(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr, ms: performance.now() - started }));
  });
}

async function psqlPipeline(file: string, url: string): Promise<number> {
  const script = `set -o pipefail; gunzip -c "$1" | awk -f "$2" | psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d "$3" > /dev/null`;
  const result = await runProcess("bash", ["-c", script, "psql-pipeline", file, AWK, url]);
  if (result.code !== 0) throw new Error(`psql pipeline failed: ${result.stderr.trim()}`);
  return result.ms;
}

interface ChildResult {
  code: number;
  totalMs: number;
  restoreMs?: number;
  maxRssKb: number;
  clientCpuMs: number;
  message: string;
}

async function restorebot(
  mode: "cli" | "engine" | "engine-text",
  file: string,
  url: string,
): Promise<ChildResult & { wallMs: number }> {
  const args = [`${BUILD}/bench/restore-catalog-child.js`, mode, file, url];
  const result = await runProcess(process.execPath, args);
  const line = result.stdout.trim().split("\n").at(-1) ?? "";
  const parsed = JSON.parse(line) as ChildResult;
  if (result.code !== 0 || parsed.code !== 0)
    throw new Error(`restorebot failed: ${parsed.message} ${result.stderr.trim()}`);
  return { ...parsed, wallMs: result.ms };
}

/** restorebot runs compiled, as in production, not through a TypeScript loader. */
async function compileChild(): Promise<void> {
  const tsc = `${ROOT}node_modules/typescript/bin/tsc`;
  const result = await runProcess(process.execPath, [
    tsc,
    "--outDir",
    BUILD,
    "--rootDir",
    ROOT,
    "--module",
    "NodeNext",
    "--moduleResolution",
    "NodeNext",
    "--target",
    "ES2023",
    "--lib",
    "ES2023",
    "--types",
    "node",
    "--skipLibCheck",
    "--esModuleInterop",
    "--strict",
    "--verbatimModuleSyntax",
    `${ROOT}bench/restore-catalog-child.ts`,
  ]);
  if (result.code !== 0) throw new Error(`tsc failed:\n${result.stdout}${result.stderr}`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

interface SizeResult {
  filesPerPartition: number;
  parquetFiles: number;
  sqlBytes: number;
  gzipBytes: number;
  runs: Array<{ a: number; b: number; bRestore: number; bRssKb: number; c?: number }>;
  exact: { a: boolean; b: boolean };
  medianA: number;
  medianB: number;
  medianBRestore: number;
  /** Median of the per-run ratios b/a: pairs cancel out drifting machine load. */
  ratio: number;
  /** Median of the per-run ratios of b's restore phase to a. */
  restoreRatio: number;
  /** median(b) / median(a). */
  ratioOfMedians: number;
  peakRssKb: number;
  medianC?: number;
}

async function benchSize(filesPerPartition: number, options: Options): Promise<SizeResult> {
  const size = sizeFor(filesPerPartition);
  const source = `rb_bench_src_${filesPerPartition}`;
  const template = `rb_bench_tpl_${filesPerPartition}`;
  const target = `rb_bench_run_${filesPerPartition}`;
  const file = `${OUT}/restore-catalog-${filesPerPartition}.pg_dump.gz`;
  try {
    process.stdout.write(`\nBuilding the catalog (${filesPerPartition} files per partition)…\n`);
    const built = await buildIoxCatalog(await recreateDatabase(source), size, { seed: 1 });
    await buildIoxCatalog(await recreateDatabase(template), size, { seed: 1, variant: "drifted" });
    const dumped = await pgDumpToGzipFile(databaseUrl(source), file);
    const expected = await comparableDumpHash(databaseUrl(source));
    process.stdout.write(
      `dump: ${mb(dumped.sqlBytes)} of SQL, ${mb(dumped.gzipBytes)} gzipped, ${built.counts.parquetFiles.toLocaleString("en-US")} parquet_file rows; target: a drifted copy (extra rows, table, function; missing index; moved sequences)\n`,
    );
    process.stdout.write(
      "run  (a) psql pipeline  (b) restorebot   b/a  b restore phase  b peak RSS\n",
    );

    const runs: SizeResult["runs"] = [];
    const exact = { a: false, b: false };
    for (let run = 1; run <= options.runs; run++) {
      // Alternate who goes first, so a slow start or a warm cache favours neither.
      const order: Array<"a" | "b"> = run % 2 === 1 ? ["a", "b"] : ["b", "a"];
      const row: Partial<SizeResult["runs"][number]> = {};
      for (const who of order) {
        const url = await recreateDatabase(target, template);
        await checkpoint();
        if (who === "a") {
          row.a = await psqlPipeline(file, url);
          if (run === 1) exact.a = (await comparableDumpHash(url)) === expected;
        } else {
          const b = await restorebot("cli", file, url);
          row.b = b.wallMs;
          row.bRestore = b.restoreMs ?? b.totalMs;
          row.bRssKb = b.maxRssKb;
          if (run === 1) exact.b = (await comparableDumpHash(url)) === expected;
        }
      }
      if (options.ablation) {
        const url = await recreateDatabase(target, template);
        await checkpoint();
        row.c = (await restorebot("engine-text", file, url)).wallMs;
      }
      const r = row as SizeResult["runs"][number];
      runs.push(r);
      process.stdout.write(
        `${String(run).padStart(3)}  ${s(r.a).padStart(17)}  ${s(r.b).padStart(14)}  ${(r.b / r.a).toFixed(2).padStart(4)}  ${s(r.bRestore).padStart(15)}  ${`${(r.bRssKb / 1024).toFixed(0)} MB`.padStart(10)}${r.c === undefined ? "" : `   (engine with text COPY: ${s(r.c)})`}\n`,
      );
    }
    const medianA = median(runs.map((r) => r.a));
    const medianB = median(runs.map((r) => r.b));
    const medianBRestore = median(runs.map((r) => r.bRestore));
    const peakRssKb = Math.max(...runs.map((r) => r.bRssKb));
    const result: SizeResult = {
      filesPerPartition,
      parquetFiles: built.counts.parquetFiles,
      sqlBytes: dumped.sqlBytes,
      gzipBytes: dumped.gzipBytes,
      runs,
      exact,
      medianA,
      medianB,
      medianBRestore,
      ratio: median(runs.map((r) => r.b / r.a)),
      restoreRatio: median(runs.map((r) => r.bRestore / r.a)),
      ratioOfMedians: medianB / medianA,
      peakRssKb,
      ...(options.ablation ? { medianC: median(runs.map((r) => r.c ?? 0)) } : {}),
    };
    process.stdout.write(
      `median: a ${s(medianA)}, b ${s(medianB)}; median of the per-run ratios b/a = ${result.ratio.toFixed(2)} (range ${Math.min(...runs.map((r) => r.b / r.a)).toFixed(2)}–${Math.max(...runs.map((r) => r.b / r.a)).toFixed(2)}; ratio of medians ${result.ratioOfMedians.toFixed(2)}; restore phase alone ${result.restoreRatio.toFixed(2)}); b peak RSS ${(peakRssKb / 1024).toFixed(0)} MB; equal to the snapshot: a ${exact.a ? "yes" : "NO"}, b ${exact.b ? "yes" : "NO"}${result.medianC === undefined ? "" : `; engine with text COPY: median ${s(result.medianC)}, per-run ratio to a ${median(runs.map((r) => (r.c ?? 0) / r.a)).toFixed(2)}`}\n`,
    );
    return result;
  } finally {
    await dropDatabase(target);
    await dropDatabase(template);
    await dropDatabase(source);
    await rm(file, { force: true });
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  await mkdir(OUT, { recursive: true });
  process.stdout.write("Compiling restorebot for the benchmark…\n");
  await compileChild();
  const results: SizeResult[] = [];
  for (const files of options.files) results.push(await benchSize(files, options));
  process.stdout.write("\nsummary: medians; b/a is the median of the per-run ratios\n");
  process.stdout.write("SQL dump    psql (a)   restorebot (b)   b/a    b peak RSS\n");
  for (const r of results) {
    process.stdout.write(
      `${mb(r.sqlBytes).padStart(9)}  ${s(r.medianA).padStart(8)}  ${s(r.medianB).padStart(15)}  ${r.ratio.toFixed(2).padStart(5)}  ${`${(r.peakRssKb / 1024).toFixed(0)} MB`.padStart(11)}\n`,
    );
  }
  await writeFile(
    `${OUT}/restore-catalog.json`,
    `${JSON.stringify({ at: new Date().toISOString(), options, results }, null, 2)}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:restore failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
