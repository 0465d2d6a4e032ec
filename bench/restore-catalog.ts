/**
 * Catalog restore benchmark: restorebot against the vendor-style psql pipeline.
 *
 *   npm run bench:restore [-- --shapes wide:200,iox:50,iox:100 --runs 3 --ablation]
 *
 * A size is <shape>:<n>. Shapes of IOx-like catalogs (almost all of their dump is
 * parquet_file rows: file sizes in a domain over bigint, bigint[] column sets, bytea hash ids,
 * partial and unique indexes):
 *   wide  4 namespaces × 25 tables × 30 partitions × n files, 12 columns per table
 *         (wide:200 → 600,000 rows, 164 MB of SQL)
 *   iox   10 namespaces × 20 tables × 50 partitions × n files, 4 columns per table
 *         (iox:100 → 1,000,000 rows, 271 MB of SQL; iox:50 → 500,000 rows;
 *         iox:200 → 2,000,000 rows, 542 MB of SQL, for peak RSS at a bigger dump)
 * For each size it builds the catalog, dumps it with pg_dump | gzip, builds a drifted copy
 * of the same catalog as the non-empty target, and then, alternating in one session, restores
 * the dump over a fresh copy of that target with
 *   (a) gunzip -c | awk -f bench/drop-before-create.awk | psql -v ON_ERROR_STOP=1 --single-transaction
 *   (b) the built CLI as an operator runs it, as the image starts it:
 *       node --max-semi-space-size=2 dist/bundle/restorebot.mjs restore-catalog
 *       --snapshot <file> --dsn-env <VAR> (its own process: full snapshot check and restore)
 * It prints each run, the median of the per-run time ratios b/a, b's start-up (process start
 * to its first line of output) and peak RSS (GNU time), and checks that both results equal
 * the snapshot (pg_dump compared, header and \restrict lines aside). A CHECKPOINT before
 * every run keeps one contender's dirty pages from slowing the next. --ablation adds
 * restorebot's engine alone with binary COPY off (text COPY, as psql sends it), to show what
 * binary COPY buys.
 * Not part of the test suite. Results also go to bench/out/restore-catalog.json.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { createInterface } from "node:readline";
import pg from "pg";
import {
  buildIoxCatalog,
  type IoxCatalogSize,
  pgDumpStream,
  pgDumpToGzipFile,
} from "../src/kinds/influxdb-clustered/sandbox/catalog-builder.js";
import { ADMIN_URL, databaseUrl } from "../test/support/postgres.js";
import { IMAGE_NODE_FLAGS } from "./bundle.js";
import { compileForBench, ROOT } from "./support.js";

const OUT = `${ROOT}bench/out`;
const BUILD = `${OUT}/build`;
const AWK = `${ROOT}bench/drop-before-create.awk`;
/** The image's entry point and node flags (the Dockerfile's ENTRYPOINT). */
const CLI = [...IMAGE_NODE_FLAGS, `${ROOT}dist/bundle/restorebot.mjs`];
/** GNU time, for the peak RSS of the whole CLI process. */
const TIME = "/usr/bin/time";

const SHAPES = ["wide", "iox"] as const;
type Shape = (typeof SHAPES)[number];

interface BenchSize {
  shape: Shape;
  filesPerPartition: number;
}

interface Options {
  sizes: BenchSize[];
  runs: number;
  ablation: boolean;
}

const USAGE = "use --shapes wide:200,iox:50,iox:100 --runs 3 --ablation";

function parseOptions(argv: string[]): Options {
  const options: Options = {
    sizes: [
      { shape: "wide", filesPerPartition: 200 },
      { shape: "iox", filesPerPartition: 50 },
      { shape: "iox", filesPerPartition: 100 },
    ],
    runs: 3,
    ablation: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--shapes" || arg === "--files") {
      options.sizes = (argv[++i] ?? "").split(",").map((item) => {
        const [shape, files] = item.includes(":") ? item.split(":") : ["wide", item];
        const filesPerPartition = Number(files);
        if (
          !SHAPES.includes(shape as Shape) ||
          !Number.isInteger(filesPerPartition) ||
          filesPerPartition <= 0
        )
          throw new Error(`bad size "${item}"; ${USAGE}`);
        return { shape: shape as Shape, filesPerPartition };
      });
    } else if (arg === "--runs") options.runs = Number(argv[++i]);
    else if (arg === "--ablation") options.ablation = true;
    else throw new Error(`unknown option ${arg}; ${USAGE}`);
  }
  if (!(options.runs >= 1)) throw new Error(`--runs takes a count; ${USAGE}`);
  return options;
}

function sizeFor({ shape, filesPerPartition }: BenchSize): IoxCatalogSize {
  return shape === "wide"
    ? // ≈ 0.8 MB of dump per file per partition (4 × 25 tables × 30 partitions).
      {
        namespaces: 4,
        tablesPerNamespace: 25,
        columnsPerTable: 12,
        partitionsPerTable: 30,
        filesPerPartition,
      }
    : // 10,000 partitions: 100 files each make a 1,000,000-row catalog of ≈ 270 MB of SQL.
      {
        namespaces: 10,
        tablesPerNamespace: 20,
        columnsPerTable: 10,
        partitionsPerTable: 50,
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
): Promise<{
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  firstOutputMs: number | undefined;
}> {
  const started = performance.now();
  let firstOutputMs: number | undefined;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      firstOutputMs ??= performance.now() - started;
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) =>
      resolve({ code, stdout, stderr, ms: performance.now() - started, firstOutputMs }),
    );
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

/**
 * (b): the built CLI, as an operator runs it, under GNU time for its peak RSS. Returns the
 * wall time, the time to its first line of output (start-up), the restore phase it reports
 * and its peak RSS.
 */
async function restorebotCli(
  file: string,
  url: string,
): Promise<{ wallMs: number; startupMs: number; restoreMs: number; maxRssKb: number }> {
  const result = await runProcess(
    TIME,
    [
      "-f",
      "maxrss-kb=%M",
      process.execPath,
      ...CLI,
      "restore-catalog",
      "--snapshot",
      file,
      "--dsn-env",
      "BENCH_CATALOG_DSN",
    ],
    { ...process.env, BENCH_CATALOG_DSN: url },
  );
  const rss = /maxrss-kb=(\d+)/.exec(result.stderr);
  const after = /committed after (?:(\d+):(\d+)|([\d.]+) s)/.exec(result.stdout);
  if (result.code !== 0 || rss === null || after === null || result.firstOutputMs === undefined)
    throw new Error(
      `restorebot failed (exit ${String(result.code)}): ${result.stdout}${result.stderr}`,
    );
  return {
    wallMs: result.ms,
    startupMs: result.firstOutputMs,
    restoreMs: after[3]
      ? Number(after[3]) * 1000
      : (Number(after[1]) * 60 + Number(after[2])) * 1000,
    maxRssKb: Number(rss[1]),
  };
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
  shape: Shape;
  filesPerPartition: number;
  parquetFiles: number;
  sqlBytes: number;
  gzipBytes: number;
  runs: Array<{
    a: number;
    b: number;
    bStartup: number;
    bRestore: number;
    bRssKb: number;
    c?: number;
  }>;
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
  /** Median of b's process start to first output line. */
  medianStartup: number;
  medianC?: number;
}

async function benchSize(bench: BenchSize, options: Options): Promise<SizeResult> {
  const { shape, filesPerPartition } = bench;
  const size = sizeFor(bench);
  const label = `${shape}_${filesPerPartition}`;
  const source = `rb_bench_src_${label}`;
  const template = `rb_bench_tpl_${label}`;
  const target = `rb_bench_run_${label}`;
  const file = `${OUT}/restore-catalog-${label}.pg_dump.gz`;
  try {
    process.stdout.write(
      `\nBuilding the "${shape}" catalog (${filesPerPartition} files per partition)…\n`,
    );
    const built = await buildIoxCatalog(await recreateDatabase(source), size, { seed: 1 });
    await buildIoxCatalog(await recreateDatabase(template), size, { seed: 1, variant: "drifted" });
    const dumped = await pgDumpToGzipFile(databaseUrl(source), file);
    const expected = await comparableDumpHash(databaseUrl(source));
    process.stdout.write(
      `dump: ${mb(dumped.sqlBytes)} of SQL, ${mb(dumped.gzipBytes)} gzipped, ${built.counts.parquetFiles.toLocaleString("en-US")} parquet_file rows; target: a drifted copy (extra rows, table, function; missing index; moved sequences)\n`,
    );
    process.stdout.write(
      "run  (a) psql pipeline  (b) restorebot   b/a  b start-up  b restore phase  b peak RSS\n",
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
          const b = await restorebotCli(file, url);
          row.b = b.wallMs;
          row.bStartup = b.startupMs;
          row.bRestore = b.restoreMs;
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
        `${String(run).padStart(3)}  ${s(r.a).padStart(17)}  ${s(r.b).padStart(14)}  ${(r.b / r.a).toFixed(2).padStart(4)}  ${`${(r.bStartup / 1000).toFixed(2)} s`.padStart(10)}  ${s(r.bRestore).padStart(15)}  ${`${(r.bRssKb / 1024).toFixed(0)} MB`.padStart(10)}${r.c === undefined ? "" : `   (engine with text COPY: ${s(r.c)})`}\n`,
      );
    }
    const medianA = median(runs.map((r) => r.a));
    const medianB = median(runs.map((r) => r.b));
    const medianBRestore = median(runs.map((r) => r.bRestore));
    const peakRssKb = Math.max(...runs.map((r) => r.bRssKb));
    const result: SizeResult = {
      shape,
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
      medianStartup: median(runs.map((r) => r.bStartup)),
      ...(options.ablation ? { medianC: median(runs.map((r) => r.c ?? 0)) } : {}),
    };
    process.stdout.write(
      `median: a ${s(medianA)}, b ${s(medianB)}; median of the per-run ratios b/a = ${result.ratio.toFixed(2)} (range ${Math.min(...runs.map((r) => r.b / r.a)).toFixed(2)}–${Math.max(...runs.map((r) => r.b / r.a)).toFixed(2)}; ratio of medians ${result.ratioOfMedians.toFixed(2)}; restore phase alone ${result.restoreRatio.toFixed(2)}); b start-up ${(result.medianStartup / 1000).toFixed(2)} s; b peak RSS ${(peakRssKb / 1024).toFixed(0)} MB; equal to the snapshot: a ${exact.a ? "yes" : "NO"}, b ${exact.b ? "yes" : "NO"}${result.medianC === undefined ? "" : `; engine with text COPY: median ${s(result.medianC)}, per-run ratio to a ${median(runs.map((r) => (r.c ?? 0) / r.a)).toFixed(2)}`}\n`,
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
  process.stdout.write("Building restorebot (npm run build) for the benchmark…\n");
  const build = await runProcess("npm", ["run", "--silent", "build"]);
  if (build.code !== 0) throw new Error(`npm run build failed:\n${build.stdout}${build.stderr}`);
  if (options.ablation) await compileForBench("bench/restore-catalog-child.ts", BUILD);
  const results: SizeResult[] = [];
  for (const size of options.sizes) results.push(await benchSize(size, options));
  process.stdout.write(
    `\nsummary (load average now ${loadavg()
      .map((l) => l.toFixed(1))
      .join(", ")}): medians; b/a is the median of the per-run ratios\n`,
  );
  process.stdout.write(
    "shape      rows   SQL dump   psql (a)  restorebot (b)    b/a  b start-up  b peak RSS\n",
  );
  for (const r of results) {
    process.stdout.write(
      `${r.shape.padEnd(5)} ${r.parquetFiles.toLocaleString("en-US").padStart(9)} ${mb(r.sqlBytes).padStart(10)}  ${s(r.medianA).padStart(8)}  ${s(r.medianB).padStart(14)}  ${r.ratio.toFixed(2).padStart(5)}  ${`${(r.medianStartup / 1000).toFixed(2)} s`.padStart(10)}  ${`${(r.peakRssKb / 1024).toFixed(0)} MB`.padStart(10)}\n`,
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
