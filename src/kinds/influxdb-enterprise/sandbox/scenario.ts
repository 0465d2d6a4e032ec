import { Readable } from "node:stream";
import type { InfluxdCtlStandIn } from "../../../../stand-ins/influxd-ctl/influxd-ctl.js";
import { createInfluxdCtlStandIn } from "../../../../stand-ins/influxd-ctl/influxd-ctl.js";
import { hostMetaPod, type MetaPodHost } from "../../../../stand-ins/influxd-ctl/meta-pod.js";
import type { KubernetesSimulator } from "../../../../stand-ins/kubernetes/simulator.js";
import { standInObjectStore } from "../../../../stand-ins/s3/sdk-store.js";
import type { S3StandIn } from "../../../../stand-ins/s3/server.js";
import type { ObjectStore } from "../../../adapters/s3/object-store.js";
import {
  type BackupLocation,
  formatAsOf,
  uploadPointFile,
  writeCompleteManifest,
} from "../../../backups/index.js";
import type { SandboxSetup } from "../../../demo/scenario.js";
import {
  type BackupOutput,
  buildEnterpriseComplete,
  mergeBackupOutputs,
  parseBackupOutput,
} from "../backup-set.js";

/**
 * The sandbox's InfluxDB Enterprise 1.7 cluster: StatefulSets `influxdb-meta` (one replica,
 * hosting the `influxd-ctl` stand-in and the commands restorebot runs there) and
 * `influxdb-data` (two replicas, anti-entropy on in their ConfigMap) in their own simulator,
 * and a history of backup sets in the S3 stand-in — full sets and an incremental one, taken
 * by the stand-in's own `influxd-ctl backup` as restorebot takes them — so /recovery-points,
 * /backup and /restore (with --db/--newdb/--rp) all have something to show.
 */
export const ENT_TARGET = "ent";
export const ENT_NAMESPACE = "influxdb-enterprise";
export const ENT_BUCKET = "influxdb-enterprise-backups";
export const ENT_PREFIX = "sets/";
export const ENT_CONFIG =
  '[meta]\n  dir = "/var/lib/influxdb/meta"\n\n[data]\n  dir = "/var/lib/influxdb/data"\n\n[anti-entropy]\n  enabled = true\n';

export function entTargetYaml(options: { s3Endpoint: string; kubeContext: string }): string {
  return `  - name: ${ENT_TARGET}
    kind: influxdb-enterprise
    namespace: ${ENT_NAMESPACE}
    kubeContext: ${options.kubeContext}
    meta: { statefulset: influxdb-meta, container: influxdb-meta }
    data: { statefulset: influxdb-data, configMap: influxdb-data, configKey: influxdb.conf }
    backups:
      bucket: ${ENT_BUCKET}
      prefix: ${ENT_PREFIX}
      endpoint: ${options.s3Endpoint}
      region: us-east-1
      forcePathStyle: true
    timeouts: { podsGone: 5m, podsReady: 5m }
`;
}

export const ENT_SIMULATOR = {
  namespace: ENT_NAMESPACE,
  components: [
    { name: "influxdb-meta", kind: "StatefulSet" as const, replicas: 1 },
    { name: "influxdb-data", kind: "StatefulSet" as const, replicas: 2 },
  ],
};

/** Runs `influxd-ctl backup` in the stand-in and uploads the directory as restorebot does. */
export async function uploadStandInSet(options: {
  ctl: InfluxdCtlStandIn;
  store: ObjectStore;
  location: BackupLocation;
  target: string;
  asOf: string;
  full: boolean;
  /** The directory in the stand-in; a fresh one per full set, one kept for incrementals. */
  dir: string;
  /** The outputs of earlier runs into the same (incremental) directory, oldest first. */
  earlier?: BackupOutput[];
}): Promise<BackupOutput> {
  const { ctl, store, location, asOf, dir } = options;
  ctl.mkdir(dir);
  const r = ctl.run(["backup", ...(options.full ? ["-full"] : []), dir]);
  if (r.exitCode !== 0) throw new Error(`influxd-ctl backup failed: ${r.stderr}`);
  const output = parseBackupOutput(r.stdout);
  const files = [];
  for (const [path, body] of [...ctl.files].sort(([a], [b]) => a.localeCompare(b)))
    if (path.startsWith(`${dir}/`))
      files.push(
        await uploadPointFile(
          store,
          location,
          asOf,
          path.slice(dir.length + 1),
          Readable.from([body]),
        ),
      );
  await writeCompleteManifest(
    store,
    location,
    buildEnterpriseComplete({
      target: options.target,
      asOf,
      full: options.full,
      files,
      output: mergeBackupOutputs([...(options.earlier ?? []), output]),
      restorebotVersion: "0.1.0",
    }),
  );
  return output;
}

export interface EnterpriseSandbox {
  ctl: InfluxdCtlStandIn;
  metaPod: MetaPodHost;
  /** The sets seeded, oldest first. */
  sets: Array<{ asOf: string; full: boolean }>;
  close(): Promise<void>;
}

/** Seeds the simulator (ConfigMap, meta pod host) and the bucket (a history of sets). */
export async function seedEnterpriseSandbox(options: {
  simulator: KubernetesSimulator;
  s3: S3StandIn;
  now: Date;
}): Promise<EnterpriseSandbox> {
  const { simulator, s3, now } = options;
  s3.createBucket(ENT_BUCKET);
  simulator.resources.putObject(
    { apiGroup: "", plural: "configmaps" },
    { metadata: { name: "influxdb-data" }, data: { "influxdb.conf": ENT_CONFIG } },
  );
  // The tool's clock is the history's while it is seeded, then the wall clock.
  let clock: number | undefined = now.getTime() - 80 * 3_600_000;
  const ctl = createInfluxdCtlStandIn({
    dataNodes: ["influxdb-data-0:8088", "influxdb-data-1:8088"],
    databases: { telegraf: { autogen: [307_712, 95_232] }, _internal: { monitor: [53_760] } },
    now: () => new Date(clock ?? Date.now()),
  });
  const store = standInObjectStore(s3);
  const location: BackupLocation = { bucket: ENT_BUCKET, prefix: ENT_PREFIX, pointsFolder: "" };
  // Oldest first: two full sets a day apart, a database added, then an incremental set.
  const history: Array<{ hoursAgo: number; full: boolean; before?: () => void }> = [
    { hoursAgo: 72, full: true },
    {
      hoursAgo: 48,
      full: true,
      before: () => ctl.write("metrics", "autogen", 120_000),
    },
    { hoursAgo: 24, full: false, before: () => ctl.write("telegraf", "autogen", 40_000) },
    { hoursAgo: 3, full: false, before: () => ctl.write("metrics", "autogen", 9_000) },
  ];
  const sets: EnterpriseSandbox["sets"] = [];
  const incrementalRuns: BackupOutput[] = [];
  for (const [i, step] of history.entries()) {
    step.before?.();
    clock = now.getTime() - step.hoursAgo * 3_600_000;
    const asOf = formatAsOf(new Date(clock));
    const output = await uploadStandInSet({
      ctl,
      store,
      location,
      target: ENT_TARGET,
      asOf,
      full: step.full,
      dir: step.full ? `/backups/full-${i}` : "/backups/incremental",
      ...(step.full ? {} : { earlier: [...incrementalRuns] }),
    });
    if (!step.full) incrementalRuns.push(output);
    sets.push({ asOf, full: step.full });
  }
  // The live cluster has moved on: more points, and a scratch database since the newest set.
  ctl.write("telegraf", "autogen", 12_000);
  ctl.write("scratch", "autogen", 4_096);
  clock = undefined;
  for (const path of [...ctl.files.keys()]) if (path.startsWith("/backups/")) ctl.remove(path);
  const metaPod = hostMetaPod(simulator, ctl);
  return {
    ctl,
    metaPod,
    sets,
    async close() {
      metaPod.close();
    },
  };
}

export const influxdbEnterpriseSandbox: SandboxSetup = {
  targetName: ENT_TARGET,
  cluster: { namespace: ENT_NAMESPACE, simulator: ENT_SIMULATOR },
  buckets: [ENT_BUCKET],
  databases: [],
  async seed({ simulator, s3, now }) {
    const ent = await seedEnterpriseSandbox({ simulator, s3, now });
    const newest = ent.sets.at(-1)?.asOf ?? "latest";
    return {
      targetYaml: entTargetYaml,
      env: {},
      ready: [
        `/recovery-points ${ENT_TARGET} — four influxd-ctl backup sets of the InfluxDB Enterprise cluster (full and incremental)`,
        `/restore ${ENT_TARGET} ${newest} --db telegraf --newdb telegraf_restored INC-104 check yesterday's points, or /backup ${ENT_TARGET} --incremental INC-105 before the upgrade`,
      ],
      details: { sets: ent.sets },
      close: () => ent.close(),
    };
  },
};
