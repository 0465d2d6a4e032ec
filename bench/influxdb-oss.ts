/**
 * InfluxDB OSS archive streaming benchmark.
 *
 *   npm run bench:influxdb-oss [-- --mb 1024 --runs 2 --small-kb 16]
 *
 * Builds a data directory of `--mb` MB of random (incompressible, not sparse) files in two
 * shapes — a few large TSM-like files, and many small files — and, alternating in one run:
 *   - backup: `tar cf - meta data wal | cat > /dev/null` versus restorebot's backup path (the
 *     helper script run by a local exec, its stdout hashed in-stream and handed to an upload
 *     that consumes it as a multipart uploader would, in 8 MiB parts, then drops them);
 *   - restore: `tar xf - < archive` versus restorebot's restore path (archive file as the
 *     object-store download, hashed in-stream into the extract script, then the confirm exec).
 * Prints MB/s, the ratio restorebot / tar (target ≥ 0.8 for the backup stream) and the peak
 * RSS of this process while restorebot's paths run (sampled every 10 ms), which is restorebot's
 * side (target ≤ 150 MB whatever the size).
 * Needs only sh, tar and coreutils; not part of the test suite.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  confirmArchiveLanded,
  prepareRestore,
  putOldDirectoriesBack,
  streamArchiveIn,
  streamBackupToStore,
} from "../src/kinds/influxdb-oss/archive-stream.js";
import type { UploadStream } from "../src/kinds/influxdb-oss/helper-exec.js";
import { localExec } from "../test/kinds/influxdb-oss/support/local-exec.js";

interface Options {
  mb: number;
  runs: number;
  smallKb: number;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { mb: 1024, runs: 2, smallKb: 16 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--mb") options.mb = Number(argv[++i]);
    else if (arg === "--runs") options.runs = Number(argv[++i]);
    else if (arg === "--small-kb") options.smallKb = Number(argv[++i]);
    else throw new Error(`unknown option ${arg}; use --mb 1024 --runs 2 --small-kb 16`);
  }
  if (!(options.mb > 0) || !(options.runs >= 1) || !(options.smallKb > 0))
    throw new Error("--mb, --runs and --small-kb take positive numbers");
  return options;
}

const MiB = 1024 * 1024;

/**
 * meta/, four 1 MiB WAL segments, and `mb` MB of random shard files of `fileBytes` each under
 * data/, written by head and split (not this process, whose memory is what is measured).
 */
async function buildDataDir(dir: string, mb: number, fileBytes: number): Promise<number> {
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
  return mb * MiB + 65536 + 4 * MiB;
}

async function sh(script: string, cwd: string): Promise<void> {
  const child = spawn("sh", ["-c", script], { cwd, stdio: ["ignore", "ignore", "inherit"] });
  const [code] = (await once(child, "close")) as [number | null];
  if (code !== 0) throw new Error(`sh -c ${script} exited with ${code}`);
}

/** Consumes the body as a multipart uploader does: 8 MiB parts, each dropped once complete. */
const partDroppingUpload: UploadStream = async (_key, body) => {
  let part = 0;
  for await (const chunk of body) {
    part += (chunk as Buffer).length;
    if (part >= 8 * MiB) part = 0;
  }
};

/** Peak RSS seen while restorebot's paths run (sampled; building the files is not counted). */
let peakRss = 0;
/** The same, per path and shape ("large-files backup"), to tell which one peaks. */
const peakByPath = new Map<string, number>();

async function timed(
  fn: () => Promise<unknown>,
  sampleRss = false,
  path = "restorebot",
): Promise<number> {
  const sample = () => {
    const rss = process.memoryUsage.rss();
    peakRss = Math.max(peakRss, rss);
    peakByPath.set(path, Math.max(peakByPath.get(path) ?? 0, rss));
  };
  const sampler = sampleRss ? setInterval(sample, 10) : undefined;
  const start = process.hrtime.bigint();
  try {
    await fn();
  } finally {
    clearInterval(sampler);
  }
  if (sampleRss) sample();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function mbps(bytes: number, seconds: number): string {
  return `${(bytes / MiB / seconds).toFixed(0)} MB/s`;
}

async function benchShape(
  label: string,
  scratch: string,
  options: Options,
  fileBytes: number,
): Promise<{ backupRatio: number; restoreRatio: number }> {
  const dataDir = join(scratch, label, "influxdb");
  const started = Date.now();
  const bytes = await buildDataDir(dataDir, options.mb, fileBytes);
  console.log(
    `\n${label}: ${(bytes / MiB).toFixed(0)} MB in files of ${(fileBytes / 1024).toFixed(0)} KiB (built in ${((Date.now() - started) / 1000).toFixed(0)} s)`,
  );
  const exec = localExec();
  const archive = join(scratch, label, "influxdb.tar");
  await sh(`tar cf ${JSON.stringify(archive)} meta data wal`, dataDir);
  const archiveSize = (await stat(archive)).size;
  const sha256 = await new Promise<string>((resolve, reject) => {
    const child = spawn("sha256sum", [archive], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.once("error", reject);
    child.once("close", () => resolve(out.split(" ")[0] ?? ""));
  });
  const expected = { size: archiveSize, sha256 };
  const restoreDir = join(scratch, label, "restore-into");

  const backup = { tar: [] as number[], restorebot: [] as number[] };
  const restore = { tar: [] as number[], restorebot: [] as number[] };
  for (let run = 1; run <= options.runs; run++) {
    backup.tar.push(await timed(() => sh("tar cf - meta data wal | cat > /dev/null", dataDir)));
    backup.restorebot.push(
      await timed(
        () => streamBackupToStore({ exec, dataDir, upload: partDroppingUpload, key: "bench" }),
        true,
        `${label} backup`,
      ),
    );
    await rm(restoreDir, { recursive: true, force: true });
    await mkdir(restoreDir);
    restore.tar.push(await timed(() => sh(`tar xf - < ${JSON.stringify(archive)}`, restoreDir)));
    await rm(restoreDir, { recursive: true, force: true });
    await mkdir(restoreDir);
    await writeFile(join(restoreDir, "placeholder"), "");
    const ids = { exec, dataDir: restoreDir, restoreId: `bench${run}` };
    restore.restorebot.push(
      await timed(
        async () => {
          await prepareRestore({ ...ids, archiveSize });
          await streamArchiveIn({ ...ids, source: createReadStream(archive), expected });
          await confirmArchiveLanded({ ...ids, expected });
        },
        true,
        `${label} restore`,
      ),
    );
    await putOldDirectoriesBack(ids);
    console.log(
      `  run ${run}: backup tar ${mbps(archiveSize, backup.tar.at(-1) ?? 1)}, restorebot ${mbps(archiveSize, backup.restorebot.at(-1) ?? 1)}; restore tar ${mbps(archiveSize, restore.tar.at(-1) ?? 1)}, restorebot ${mbps(archiveSize, restore.restorebot.at(-1) ?? 1)}`,
    );
  }
  const best = (xs: number[]) => Math.min(...xs);
  const backupRatio = best(backup.tar) / best(backup.restorebot);
  const restoreRatio = best(restore.tar) / best(restore.restorebot);
  console.log(
    `  best: backup ${mbps(archiveSize, best(backup.restorebot))} vs tar ${mbps(archiveSize, best(backup.tar))} → ratio ${backupRatio.toFixed(2)} (target ≥ 0.8)`,
  );
  console.log(
    `        restore ${mbps(archiveSize, best(restore.restorebot))} vs tar ${mbps(archiveSize, best(restore.tar))} → ratio ${restoreRatio.toFixed(2)} (includes the confirm exec)`,
  );
  await rm(join(scratch, label), { recursive: true, force: true });
  return { backupRatio, restoreRatio };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const scratch = await mkdtemp(join(tmpdir(), "bench-influxdb-oss-"));
  try {
    const large = await benchShape("large-files", scratch, options, 64 * MiB);
    const small = await benchShape("small-files", scratch, options, options.smallKb * 1024);
    const peakMb = peakRss / MiB;
    console.log(
      `\npeak RSS of the restorebot side: ${peakMb.toFixed(0)} MB (target ≤ 150 MB); backup ratios ${large.backupRatio.toFixed(2)} (large files), ${small.backupRatio.toFixed(2)} (small files)`,
    );
    for (const [path, peak] of peakByPath)
      console.log(`  peak RSS during ${path}: ${(peak / MiB).toFixed(0)} MB`);
    if (large.backupRatio < 0.8 || small.backupRatio < 0.8 || peakMb > 150) process.exitCode = 1;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

await main();
