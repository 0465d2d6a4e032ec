/**
 * InfluxDB OSS archive streaming benchmark.
 *
 *   npm run bench:influxdb-oss [-- --mb 1024 --runs 2 --small-kb 16 --shapes large,small]
 *
 * `--mb` may list several sizes (`--mb 1024,3072`). For each size, builds a data directory of
 * random (incompressible, not sparse) files in two shapes — a few 64 MiB TSM-like files, and
 * many small ones — on the PVC of a helper pod, and alternates, in one run:
 *   - backup: `tar cf - meta data wal | cat > /dev/null` versus restorebot's archive path;
 *   - restore: `tar xf - < archive` versus restorebot's extract path (prepare, stream in,
 *     confirm).
 *
 * restorebot's path is the product's, end to end: the Kubernetes adapter's exec over the
 * WebSocket channel protocol into a helper pod of the Kubernetes simulator (whose exec runs
 * the helper's script for real, here), the sha256 in-stream, and the S3 adapter's multipart
 * upload (and download) against the S3 stand-in. Three processes, so that each one's memory
 * and event loop are its own: restorebot's side (bundled and started with the image's node
 * flags, as in production — `--as tsc` runs tsc's output instead — living on across every run
 * like a worker), the simulator and the S3 stand-in.
 * They share the machine's cores with the tar, as a pod, an API server and an object store
 * on one machine would; on a real cluster those run elsewhere.
 *
 * A third command runs in the same alternation as a floor: `tar cf - … | openssl dgst -sha256`
 * (`sha256sum` where openssl is absent), the sha256 of the same stream with no network and no
 * copy — the least any backup that records the archive's sha256, as complete.json does, has to
 * do. When the floor itself is under 0.8 of `tar | cat`, the target cannot be met on this
 * machine by any such tool, and the output says so.
 *
 * Prints MB/s, the ratio restorebot / tar (target ≥ 0.8 for the backup stream) and the peak
 * RSS of restorebot's process (target ≤ 150 MB whatever the size), with its ArrayBuffers and
 * external memory, during and after each run. Needs only sh, tar and coreutils.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface, type Interface } from "node:readline";
import { bundleForBench, IMAGE_NODE_FLAGS } from "./bundle.js";
import { compileForBench, type Memory, ROOT } from "./support.js";

interface Options {
  mb: number[];
  runs: number;
  smallKb: number;
  shapes: ("large" | "small")[];
  /** Measure the restore too (`--ops backup` leaves it out). */
  restore: boolean;
  /** Extra node flags for restorebot's process (e.g. "--max-semi-space-size=2"). */
  nodeArgs: string[];
  /** Extra environment for restorebot's process (e.g. "MALLOC_ARENA_MAX=2"). */
  env: Record<string, string>;
  /**
   * How restorebot's side is built and started: "image" bundles it with esbuild and runs it
   * with the image's node flags, as the Dockerfile does; "tsc" runs tsc's output, one file per
   * module, with no flags (how earlier figures were taken).
   */
  as: "image" | "tsc";
}

function parseOptions(argv: string[]): Options {
  const options: Options = {
    mb: [1024],
    runs: 2,
    smallKb: 16,
    shapes: ["large", "small"],
    restore: true,
    nodeArgs: [],
    env: {},
    as: "image",
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[++i] ?? "";
    if (arg === "--mb") options.mb = value.split(",").map(Number);
    else if (arg === "--runs") options.runs = Number(value);
    else if (arg === "--small-kb") options.smallKb = Number(value);
    else if (arg === "--ops") options.restore = value.split(",").includes("restore");
    else if (arg === "--as" && (value === "image" || value === "tsc")) options.as = value;
    else if (arg === "--node-args") options.nodeArgs = value.split(" ").filter((a) => a !== "");
    else if (arg === "--env")
      for (const pair of value.split(",").filter((p) => p.includes("="))) {
        const at = pair.indexOf("=");
        options.env[pair.slice(0, at)] = pair.slice(at + 1);
      }
    else if (arg === "--shapes")
      options.shapes = value.split(",").filter((s) => s === "large" || s === "small");
    else
      throw new Error(
        `unknown option ${arg}; use --mb 1024[,3072] --runs 2 --small-kb 16 --shapes large,small --ops backup,restore --node-args "--max-semi-space-size=2" --env MALLOC_ARENA_MAX=2 --as image|tsc`,
      );
  }
  if (
    !options.mb.every((mb) => mb > 0) ||
    !(options.runs >= 1) ||
    !(options.smallKb > 0) ||
    options.shapes.length === 0
  )
    throw new Error("--mb, --runs and --small-kb take positive numbers; --shapes large,small");
  return options;
}

const MiB = 1024 * 1024;
/** The sha256 floor's hasher: openssl (hardware SHA where the CPU has it), else coreutils. */
const HASHER =
  spawnSync("sh", ["-c", "command -v openssl"]).status === 0 ? "openssl dgst -sha256" : "sha256sum";
const BUILD = `${ROOT}bench/out/build-influxdb-oss`;
const BUCKET = "influxdb-oss-bench";
const PVC = "influxdb-data-influxdb-0";
const DATA_DIR = "/var/lib/influxdb";

/**
 * meta/, four 1 MiB WAL segments, and `mb` MB of random shard files of `fileBytes` each under
 * data/, written by head and split (not a Node process).
 */
async function buildDataDir(dir: string, mb: number, fileBytes: number): Promise<void> {
  await sh("rm -rf meta data wal .restorebot-*", dir);
  const shard = join(dir, "data", "telegraf", "autogen", "1");
  const wal = join(dir, "wal", "telegraf", "autogen", "1");
  await mkdir(join(dir, "meta"), { recursive: true });
  await mkdir(shard, { recursive: true });
  await mkdir(wal, { recursive: true });
  await sh(
    `head -c 65536 /dev/urandom > meta/meta.db
head -c ${4 * MiB} /dev/urandom | split -b ${MiB} -a 2 - ${JSON.stringify(`${wal}/_000`)}
head -c ${mb * MiB} /dev/urandom | split -b ${fileBytes} -a 6 --additional-suffix=.tsm - ${JSON.stringify(`${shard}/`)}`,
    dir,
  );
}

async function sh(script: string, cwd: string): Promise<void> {
  const child = spawn("sh", ["-c", script], { cwd, stdio: ["ignore", "ignore", "inherit"] });
  const [code] = (await once(child, "close")) as [number | null];
  if (code !== 0) throw new Error(`sh -c ${script} exited with ${code}`);
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return (performance.now() - start) / 1000;
}

/** A child speaking one JSON line per answer. */
interface LineChild {
  child: ChildProcess;
  next(): Promise<Record<string, unknown>>;
  ask(command: Record<string, unknown>): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** `BENCH_CPU_PROF=<dir>` writes a V8 CPU profile of each of the three processes there. */
const PROFILE = process.env.BENCH_CPU_PROF
  ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_CPU_PROF]
  : [];

function lineChild(command: string, args: string[], env: Record<string, string> = {}): LineChild {
  const child = spawn(command, [...PROFILE, ...args], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, ...env },
  });
  const lines: Interface = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const iterator = lines[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    const line = await iterator.next();
    if (line.done) throw new Error(`${args.join(" ")} ended`);
    // Not an answer (e.g. node's --trace-gc output): shown, and the next line is read.
    if (!line.value.startsWith("{")) {
      console.error(`  | ${line.value}`);
      return next();
    }
    const answer = JSON.parse(line.value) as Record<string, unknown>;
    if (typeof answer.error === "string") throw new Error(answer.error);
    return answer;
  };
  return {
    child,
    next,
    ask: async (cmd) => {
      child.stdin?.write(`${JSON.stringify(cmd)}\n`);
      return next();
    },
    stop: async () => {
      child.stdin?.end();
      if (child.exitCode === null) await once(child, "close");
    },
  };
}

const mbps = (bytes: number, seconds: number) => `${(bytes / MiB / seconds).toFixed(0)} MB/s`;
const mb = (bytes: unknown) => `${(Number(bytes) / MiB).toFixed(0)}`;

function memoryLine(answer: Record<string, unknown>): string {
  const peak = answer.peak as Memory;
  const after = answer.after as Memory;
  const gc = answer.gc as { minor: number; minorMs: number; major: number; majorMs: number };
  return `cpu ${Number(answer.cpuSeconds).toFixed(1)} s (gc: ${gc.minor} minor ${gc.minorMs.toFixed(0)} ms, ${gc.major} major ${gc.majorMs.toFixed(0)} ms); peak rss ${mb(peak.rss)} MB (arrayBuffers ${mb(peak.arrayBuffers)}, external ${mb(peak.external)}, heap ${mb(peak.heapUsed)} of ${mb(peak.heapTotal)}), after ${mb(after.rss)} MB`;
}

interface ShapeResult {
  label: string;
  backupRatio: number;
  /** The sha256 floor against `tar | cat`. */
  floorRatio: number;
  restoreRatio: number;
  peakRss: number;
}

async function benchShape(
  label: string,
  pvcDir: string,
  scratch: string,
  restorebot: LineChild,
  options: Options,
  sizeMb: number,
  fileBytes: number,
): Promise<ShapeResult> {
  const started = Date.now();
  await buildDataDir(pvcDir, sizeMb, fileBytes);
  const archive = join(scratch, "influxdb.tar");
  await sh(`tar cf ${JSON.stringify(archive)} meta data wal`, pvcDir);
  const archiveSize = (await stat(archive)).size;
  console.log(
    `\n${label}: ${mb(archiveSize)} MB archive, files of ${(fileBytes / 1024).toFixed(0)} KiB (built in ${((Date.now() - started) / 1000).toFixed(0)} s)`,
  );
  const restoreDir = join(scratch, "restore-into");
  const backup = { tar: [] as number[], floor: [] as number[], restorebot: [] as number[] };
  const restore = { tar: [] as number[], restorebot: [] as number[] };
  let peakRss = 0;
  for (let run = 1; run <= options.runs; run++) {
    backup.tar.push(await timed(() => sh("tar cf - meta data wal | cat > /dev/null", pvcDir)));
    backup.floor.push(
      await timed(() => sh(`tar cf - meta data wal | ${HASHER} > /dev/null`, pvcDir)),
    );
    const asOf = `${label.replace(/[^a-z0-9]+/gi, "-")}-${run}`;
    const stored = await restorebot.ask({ op: "backup", asOf });
    if (stored.size !== archiveSize)
      throw new Error(`restorebot archived ${String(stored.size)} bytes, tar ${archiveSize}`);
    backup.restorebot.push(Number(stored.seconds));
    console.log(
      `  run ${run} backup:  tar ${mbps(archiveSize, backup.tar.at(-1) ?? 1)}, tar | ${HASHER} ${mbps(archiveSize, backup.floor.at(-1) ?? 1)}, restorebot ${mbps(archiveSize, Number(stored.seconds))} (the directory measured alongside in ${Number(stored.estimateSeconds).toFixed(2)} s); ${memoryLine(stored)}`,
    );
    if (!options.restore) {
      peakRss = Math.max(peakRss, (stored.peak as Memory).rss, (stored.after as Memory).rss);
      await restorebot.ask({ op: "delete", asOf });
      continue;
    }
    await rm(restoreDir, { recursive: true, force: true });
    await mkdir(restoreDir);
    restore.tar.push(await timed(() => sh(`tar xf - < ${JSON.stringify(archive)}`, restoreDir)));
    await rm(restoreDir, { recursive: true, force: true });
    const restored = await restorebot.ask({
      op: "restore",
      asOf,
      size: stored.size,
      sha256: stored.sha256,
      id: `${asOf}x`,
    });
    restore.restorebot.push(Number(restored.seconds));
    console.log(
      `  run ${run} restore: tar ${mbps(archiveSize, restore.tar.at(-1) ?? 1)}, restorebot ${mbps(archiveSize, Number(restored.seconds))}; ${memoryLine(restored)}`,
    );
    peakRss = Math.max(
      peakRss,
      (stored.peak as Memory).rss,
      (restored.peak as Memory).rss,
      (stored.after as Memory).rss,
      (restored.after as Memory).rss,
    );
  }
  const best = (xs: number[]) => Math.min(...xs);
  const backupRatio = best(backup.tar) / best(backup.restorebot);
  const floorRatio = best(backup.tar) / best(backup.floor);
  const restoreRatio = options.restore ? best(restore.tar) / best(restore.restorebot) : Number.NaN;
  console.log(
    `  best: backup ${mbps(archiveSize, best(backup.restorebot))} vs tar ${mbps(archiveSize, best(backup.tar))} → ratio ${backupRatio.toFixed(2)} (target ≥ 0.8)`,
  );
  console.log(
    `        floor: tar | ${HASHER} ${mbps(archiveSize, best(backup.floor))} → ratio ${floorRatio.toFixed(2)}${floorRatio < 0.8 ? " — hashing the stream alone is under 0.8 of tar | cat here" : ""}; restorebot / floor ${(best(backup.floor) / best(backup.restorebot)).toFixed(2)}`,
  );
  if (options.restore)
    console.log(
      `        restore ${mbps(archiveSize, best(restore.restorebot))} vs tar ${mbps(archiveSize, best(restore.tar))} → ratio ${restoreRatio.toFixed(2)} (includes prepare and the confirm exec)`,
    );
  await rm(archive, { force: true });
  return { label, backupRatio, floorRatio, restoreRatio, peakRss };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  let child: string[];
  if (options.as === "image")
    child = [...IMAGE_NODE_FLAGS, await bundleForBench("bench/influxdb-oss-child.ts", BUILD)];
  else {
    await compileForBench("bench/influxdb-oss-child.ts", BUILD);
    child = [`${BUILD}/bench/influxdb-oss-child.js`];
  }
  const nodeArgs = [...options.nodeArgs, ...child.slice(0, -1)];
  const scratch = await mkdtemp(join(tmpdir(), "bench-influxdb-oss-"));
  const tsx = ["--import", "tsx", `${ROOT}bench/influxdb-oss-stand-in.ts`];
  const kubernetes = lineChild(process.execPath, [...tsx, "kubernetes", PVC]);
  const s3 = lineChild(process.execPath, [...tsx, "s3", BUCKET]);
  let restorebot: LineChild | undefined;
  try {
    const sim = await kubernetes.next();
    const { endpoint } = await s3.next();
    const pvcDir = String(sim.pvcDir);
    restorebot = lineChild(
      process.execPath,
      [
        ...nodeArgs,
        ...child.slice(-1),
        String(sim.kubeconfig),
        String(sim.namespace),
        String(endpoint),
        BUCKET,
        PVC,
        DATA_DIR,
      ],
      options.env,
    );
    const ready = await restorebot.next();
    console.log(
      `restorebot's process (${options.as === "image" ? "bundled as in the image" : "tsc's output"}${nodeArgs.length ? `, node ${nodeArgs.join(" ")}` : ""})${
        Object.keys(options.env).length
          ? ` (${Object.entries(options.env)
              .map(([k, v]) => `${k}=${v}`)
              .join(" ")})`
          : ""
      } started at ${mb(ready.rss)} MB RSS (helper pod ready); load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(" ")}`,
    );
    const results: ShapeResult[] = [];
    for (const sizeMb of options.mb) {
      for (const shape of options.shapes) {
        const fileBytes = shape === "large" ? 64 * MiB : options.smallKb * 1024;
        const label = `${sizeMb} MB ${shape === "large" ? "large files" : "small files"}`;
        results.push(
          await benchShape(label, pvcDir, scratch, restorebot, options, sizeMb, fileBytes),
        );
      }
    }
    await sh("rm -rf meta data wal", pvcDir);
    const last = restorebot;
    restorebot = undefined;
    last.child.stdin?.end();
    const final = await last.next();
    await last.stop();
    const maxRssMb = Number(final.maxRssKb) / 1024;
    console.log("\nsummary (restorebot's process lived through every run):");
    for (const r of results)
      console.log(
        `  ${r.label}: backup ratio ${r.backupRatio.toFixed(2)} (sha256 floor ${r.floorRatio.toFixed(2)}), restore ratio ${r.restoreRatio.toFixed(2)}, peak RSS ${mb(r.peakRss)} MB`,
      );
    console.log(
      `  process peak RSS (getrusage): ${maxRssMb.toFixed(0)} MB (target ≤ 150 MB); after the last run ${mb(final.rss)} MB`,
    );
    if (results.some((r) => r.backupRatio < 0.8) || maxRssMb > 150) process.exitCode = 1;
  } finally {
    await restorebot?.stop();
    await kubernetes.stop();
    await s3.stop();
    await rm(scratch, { recursive: true, force: true });
  }
}

await main();
