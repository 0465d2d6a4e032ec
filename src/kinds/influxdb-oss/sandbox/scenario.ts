import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { seedInfluxDataDirectory } from "../../../../stand-ins/influxdb-oss/data-directory.js";
import { startInfluxNodeStandIn } from "../../../../stand-ins/influxdb-oss/node-http.js";
import type { KubernetesSimulator } from "../../../../stand-ins/kubernetes/simulator.js";
import type { S3StandIn } from "../../../../stand-ins/s3/server.js";
import { formatAsOf } from "../../../backups/index.js";
import type { SandboxSetup } from "../../../demo/scenario.js";
import { ARCHIVE_NAME, buildOssComplete } from "../archive-point.js";

/**
 * The sandbox's InfluxDB OSS 1.x node: StatefulSet `influxdb` (one replica) in its own
 * simulator (namespace `influxdb-oss`, exec'd commands run for real), its PVC holding a small
 * meta/data/wal tree, a Service answering /ping and SHOW DATABASES from that tree, and three
 * archives restorebot took earlier (each holding a different set of databases), so /backup,
 * /recovery-points and /restore all have something to show.
 */
export const OSS_TARGET = "influx1";
export const OSS_NAMESPACE = "influxdb-oss";
export const OSS_BUCKET = "influxdb-oss-backups";
export const OSS_PVC = "influxdb-data-influxdb-0";

export function ossTargetYaml(options: { s3Endpoint: string; kubeContext: string }): string {
  return `  - name: ${OSS_TARGET}
    kind: influxdb-oss
    namespace: ${OSS_NAMESPACE}
    kubeContext: ${options.kubeContext}
    statefulset: influxdb
    dataDir: /var/lib/influxdb
    helperImage: busybox:1.36
    service: influxdb:8086
    backups:
      bucket: ${OSS_BUCKET}
      prefix: archives/
      endpoint: ${options.s3Endpoint}
      region: us-east-1
      forcePathStyle: true
    timeouts: { podsGone: 5m, podsReady: 5m }
`;
}

/** The node's own simulated cluster: exec'd commands (the helper pod's scripts) run for real. */
export const OSS_SIMULATOR = {
  namespace: OSS_NAMESPACE,
  components: [{ name: "influxdb", kind: "StatefulSet" as const, replicas: 1 }],
  localExec: true,
};

export const influxdbOssSandbox: SandboxSetup = {
  targetName: OSS_TARGET,
  cluster: { namespace: OSS_NAMESPACE, simulator: OSS_SIMULATOR },
  buckets: [OSS_BUCKET],
  databases: [],
  async seed({ simulator, s3, now }) {
    const node = await seedOssSandbox({ simulator, s3, now });
    return {
      targetYaml: ossTargetYaml,
      env: {},
      ready: [
        `/recovery-points ${OSS_TARGET} — three archives of the InfluxDB OSS node, each with a different set of databases`,
        `/backup ${OSS_TARGET} INC-102 before the upgrade, then /restore ${OSS_TARGET} latest INC-103 bad retention change`,
      ],
      close: () => node.close(),
    };
  },
};

export async function seedOssSandbox(options: {
  simulator: KubernetesSimulator;
  s3: S3StandIn;
  now: Date;
}): Promise<{ close(): Promise<void> }> {
  const { simulator, s3, now } = options;
  s3.createBucket(OSS_BUCKET);
  simulator.createPvc(OSS_PVC);
  const dataDir = simulator.pvcDirectory(OSS_PVC) as string;
  // Three archives, oldest first; the live node has moved on since the newest.
  const history: Array<{ hoursAgo: number; databases: string[] }> = [
    { hoursAgo: 50, databases: ["telegraf"] },
    { hoursAgo: 26, databases: ["telegraf", "metrics"] },
    { hoursAgo: 2, databases: ["telegraf", "metrics", "sensors"] },
  ];
  const scratch = await mkdtemp(join(tmpdir(), "restorebot-demo-oss-"));
  try {
    for (const [i, point] of history.entries()) {
      const dir = join(scratch, String(i));
      seedInfluxDataDirectory(dir, point.databases, `archive ${i}`);
      const tar = await tarOf(dir);
      const asOf = formatAsOf(new Date(now.getTime() - point.hoursAgo * 3_600_000));
      putArchive(s3, OSS_BUCKET, OSS_TARGET, asOf, tar);
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  seedInfluxDataDirectory(dataDir, ["telegraf", "metrics", "sensors", "scratch"], "live");
  const node = await startInfluxNodeStandIn(dataDir);
  simulator.resources.registerService({ name: "influxdb", port: 8086, localPort: node.port });
  return { close: () => node.close() };
}

/**
 * Stores `tar` as the point `asOf` of `target` under the default `archives/` prefix: the archive,
 * then its complete.json, as a backup writes them.
 */
export function putArchive(
  s3: Pick<S3StandIn, "putObjectDirect">,
  bucket: string,
  target: string,
  asOf: string,
  tar: Buffer,
): void {
  s3.putObjectDirect(bucket, `archives/${asOf}/${ARCHIVE_NAME}`, tar);
  const complete = buildOssComplete({
    target,
    asOf,
    archive: { size: tar.length, sha256: createHash("sha256").update(tar).digest("hex") },
    restorebotVersion: "0.1.0",
  });
  s3.putObjectDirect(
    bucket,
    `archives/${asOf}/complete.json`,
    `${JSON.stringify(complete, null, 2)}\n`,
  );
}

/** An uncompressed tar of `meta/`, `data/` and `wal/` under `dir`, as the helper pod writes it. */
export function tarOf(dir: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn("tar", ["-cf", "-", "meta", "data", "wal"], {
      cwd: dir,
      stdio: ["ignore", "pipe", "inherit"],
    });
    const chunks: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => chunks.push(c));
    child.once("error", reject);
    child.once("close", (code) =>
      code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`tar exited with ${code}`)),
    );
  });
}
