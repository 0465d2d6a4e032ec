/**
 * restorebot's side of bench:influxdb-oss, in its own process (compiled, run with plain node,
 * as in production) so that its memory is its own: the Kubernetes adapter's exec over the
 * WebSocket channel protocol into a helper pod of the simulator, and the S3 adapter's multipart
 * upload into the S3 stand-in — the runbook's archive and extract work, nothing else.
 *
 *   influxdb-oss-child <kubeconfig> <namespace> <s3-endpoint> <bucket> <pvc> <dataDir>
 *
 * Starts one helper pod, then reads one JSON command a line on stdin and answers one JSON line
 * on stdout, the process living on across commands as a worker does:
 *   { "op": "backup", "asOf": "…" }               archive of dataDir → s3://bucket/<asOf>/influxdb.tar
 *   { "op": "delete", "asOf": "…" }                deletes that archive (after a backup-only run)
 *   { "op": "restore", "asOf": "…", "size": n, "sha256": "…", "id": "…" }
 *                                                  prepare, stream in, confirm (then put the old
 *                                                  directories back and delete the object, untimed)
 * Each answer has the seconds taken and the process's memory: the peak of rss, arrayBuffers
 * and external sampled every 10 ms during the command, and the same right after it.
 */
import { PerformanceObserver } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { createKubernetesCluster } from "../src/adapters/kubernetes/kubernetes-cluster.js";
import { partSizeFor } from "../src/adapters/s3/part-writer.js";
import { createS3Client, createS3ObjectStore } from "../src/adapters/s3/s3-object-store.js";
import { openSizedPointFile } from "../src/backups/index.js";
import {
  ARCHIVE_NAME,
  archiveKeyOf,
  archiveLocation,
} from "../src/kinds/influxdb-oss/archive-point.js";
import {
  confirmArchiveLanded,
  estimateArchive,
  prepareRestore,
  putOldDirectoriesBack,
  streamArchiveIn,
  streamBackupToStore,
} from "../src/kinds/influxdb-oss/archive-stream.js";
import { completeInfluxdbOssTarget } from "../src/kinds/influxdb-oss/config.js";
import { helperExec, helperPodName, startHelperPod } from "../src/kinds/influxdb-oss/helper-pod.js";
import type { RunRequest } from "../src/runbook/types.js";
import { type Memory, memory } from "./support.js";

const args = process.argv.slice(2);
if (args.length !== 6 || args.some((a) => a === ""))
  throw new Error(
    "usage: influxdb-oss-child <kubeconfig> <namespace> <s3-endpoint> <bucket> <pvc> <dataDir>",
  );
const [kubeconfig, namespace, endpoint, bucket, pvc, dataDir] = args as [
  string,
  string,
  string,
  string,
  string,
  string,
];

const cluster = createKubernetesCluster({ namespace, kubeconfigPath: kubeconfig });
const client = createS3Client({
  endpoint,
  region: "us-east-1",
  forcePathStyle: true,
  maxAttempts: 1,
  credentials: { accessKeyId: "AKIDBENCH", secretAccessKey: "bench-secret-not-used" },
});
const store = createS3ObjectStore(client, { endpoint, region: "us-east-1" });
const target = completeInfluxdbOssTarget({
  name: "bench",
  kind: "influxdb-oss",
  namespace,
  statefulset: "influxdb",
  dataDir,
  pvc,
  helperImage: "busybox:1.36",
  service: "influxdb:8086",
  timeouts: { podsGone: 60_000, podsReady: 60_000 },
  retention: { hourly: 1, daily: 1 },
  policy: {
    requesters: ["*"],
    approvers: [],
    requiredApprovals: 1,
    requestTtl: 1,
    backupApprovals: 0,
  },
  backups: { bucket, prefix: "archives/", region: "us-east-1", forcePathStyle: true },
});
const location = archiveLocation(target.backups);
const pod = helperPodName("bench", "backup");
const signal = new AbortController().signal;
await startHelperPod(
  { signal, progress: () => undefined, request: { id: "bench" } as RunRequest },
  cluster,
  target,
  pod,
  60_000,
);

/** Garbage collections during the current command: count and pause time, minor and major. */
const gc = { minor: 0, minorMs: 0, major: 0, majorMs: 0 };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    // perf_hooks.constants: 1 scavenge and 2 minor mark-sweep (minor), 4 mark-compact (major), 8 incremental, 16 weak callbacks.
    const kind = (entry as { detail?: { kind?: number } }).detail?.kind ?? 0;
    if (kind === 1 || kind === 2) {
      gc.minor += 1;
      gc.minorMs += entry.duration;
    } else {
      gc.major += 1;
      gc.majorMs += entry.duration;
    }
  }
}).observe({ entryTypes: ["gc"] });

/**
 * Runs `work`, sampling RSS every 10 ms and the whole of process.memoryUsage() (which costs
 * more) every 100 ms; reports the peaks, the memory right after, and the CPU time it took.
 */
async function measured<T>(work: () => Promise<T>): Promise<{
  result: T;
  seconds: number;
  cpuSeconds: number;
  gc: typeof gc;
  peak: Memory;
  after: Memory;
}> {
  const peak = memory();
  let ticks = 0;
  const sample = () => {
    peak.rss = Math.max(peak.rss, process.memoryUsage.rss());
    if (ticks++ % 10 !== 0) return;
    const m = memory();
    for (const k of Object.keys(peak) as (keyof Memory)[]) peak[k] = Math.max(peak[k], m[k]);
  };
  const sampler = setInterval(sample, 10);
  Object.assign(gc, { minor: 0, minorMs: 0, major: 0, majorMs: 0 });
  const start = performance.now();
  const cpu = process.cpuUsage();
  try {
    const result = await work();
    const used = process.cpuUsage(cpu);
    return {
      result,
      seconds: (performance.now() - start) / 1000,
      cpuSeconds: (used.user + used.system) / 1e6,
      gc: { ...gc },
      peak,
      after: memory(),
    };
  } finally {
    clearInterval(sampler);
    ticks = 0;
    sample();
  }
}

interface Command {
  op: "backup" | "restore" | "delete";
  asOf: string;
  size?: number;
  sha256?: string;
  id?: string;
}

async function handle(command: Command): Promise<Record<string, unknown>> {
  const key = archiveKeyOf(location, command.asOf);
  if (command.op === "backup") {
    let estimated = 0;
    const run = await measured(async () => {
      // As the archive phase does: the directory is measured while the tar runs, and the
      // parts grow if the measure says so.
      const started = performance.now();
      const expectedSize = estimateArchive({
        exec: helperExec(cluster, pod),
        dataDir,
        signal,
      }).then((estimate) => {
        estimated = (performance.now() - started) / 1000;
        partSizeFor(estimate.maxBytes);
        return estimate.maxBytes;
      });
      const digest = await streamBackupToStore({
        exec: helperExec(cluster, pod),
        dataDir,
        key,
        signal,
        expectedSize,
        open: (k) => store.openUploadWriter(bucket, k, { contentType: "application/x-tar" }),
      });
      await expectedSize;
      return digest;
    });
    return { ...run, ...run.result, result: undefined, estimateSeconds: estimated };
  }
  if (command.op === "delete") {
    await store.deleteObjects(bucket, [key]);
    return { deleted: key };
  }
  const expected = { size: command.size ?? 0, sha256: command.sha256 ?? "" };
  const ids = { dataDir, restoreId: command.id ?? "bench", signal };
  const run = await measured(async () => {
    await prepareRestore({ ...ids, exec: helperExec(cluster, pod), archiveSize: expected.size });
    const file = await openSizedPointFile(store, location, command.asOf, {
      name: ARCHIVE_NAME,
      ...expected,
    });
    await streamArchiveIn({
      ...ids,
      exec: helperExec(cluster, pod, { stdinBytes: expected.size }),
      source: file.body,
      expected,
    });
    return confirmArchiveLanded({ ...ids, exec: helperExec(cluster, pod), expected });
  });
  await putOldDirectoriesBack({ ...ids, exec: helperExec(cluster, pod) });
  await store.deleteObjects(bucket, [key]);
  return { ...run, result: undefined, landed: run.result.size };
}

console.log(JSON.stringify({ ready: true, ...memory() }));
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === "") continue;
  try {
    console.log(JSON.stringify(await handle(JSON.parse(line) as Command)));
  } catch (err) {
    console.log(JSON.stringify({ error: err instanceof Error ? err.message : String(err) }));
  }
}
console.log(JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS, ...memory() }));
