import type { KubeConfig } from "@kubernetes/client-node";
import type { Pool } from "pg";
import { runRestore } from "../../../../jobs/runner/runner.js";
import { createKubernetesCluster } from "../../../../src/adapters/kubernetes/kubernetes-cluster.js";
import type { ObjectStore } from "../../../../src/adapters/s3/object-store.js";
import {
  completeInfluxdbOssTarget,
  type InfluxdbOssTarget,
} from "../../../../src/kinds/influxdb-oss/config.js";
import { influxdbOss } from "../../../../src/kinds/influxdb-oss/index.js";
import { DEFAULT_KINDS } from "../../../../src/kinds/registry.js";
import { silentLogger } from "../../../../src/logging/logger.js";
import type { Runbook, RunEvent } from "../../../../src/runbook/types.js";
import { seedInfluxDataDirectory } from "../../../../stand-ins/influxdb-oss/data-directory.js";
import { startInfluxNodeStandIn } from "../../../../stand-ins/influxdb-oss/node-http.js";
import {
  type KubernetesSimulator,
  kubeconfigFor,
  startKubernetesSimulator,
} from "../../../../stand-ins/kubernetes/index.js";
import type { KubernetesSimulatorOptions } from "../../../../stand-ins/kubernetes/types.js";
import { type S3StandIn, startS3StandIn } from "../../../../stand-ins/s3/server.js";
import { createRunnerDatabase, type RunnerDatabase } from "../../../jobs/support/run-fixtures.js";
import { objectStoreFor } from "../../../support/s3.js";

export const BUCKET = "influxdb-oss-backups";
export const PVC = "influxdb-data-influxdb-0";

/**
 * One InfluxDB OSS node as the kind sees it: a StatefulSet `influxdb` in the Kubernetes
 * simulator (RBAC enforced as the kind's Role, exec'd commands run for real with the PVC
 * mounted), its PVC holding a small meta/data/wal tree, a Service answering /ping and
 * SHOW DATABASES from what the data directory holds, the S3 stand-in, restorebot's database.
 */
export interface OssEnv {
  sim: KubernetesSimulator;
  s3: S3StandIn;
  store: ObjectStore;
  db: RunnerDatabase;
  target: InfluxdbOssTarget;
  /** The directory behind the PVC (the node's dataDir). */
  dataDir: string;
  /** Whether the fake node answers (it reads the data directory only while its pod is ready). */
  events: RunEvent[];
  run(
    requestId: string,
    mode: "backup" | "restore",
    options?: {
      signal?: AbortSignal;
      wrapStore?: (store: ObjectStore) => ObjectStore;
      /** The runner's clock (the phases' `now()`); the real one when omitted. */
      clock?: () => Date;
    },
  ): ReturnType<typeof runRestore>;
  close(): Promise<void>;
}

/** A small, real-looking InfluxDB 1.x data directory (the sandbox seeds the same). */
export const seedDataDirectory = seedInfluxDataDirectory;

/** The node's target as the tests configure it, in the simulator's `namespace`. */
export function ossTarget(namespace: string): InfluxdbOssTarget {
  return completeInfluxdbOssTarget({
    name: "influx1",
    kind: "influxdb-oss",
    namespace,
    retention: { hourly: 1, daily: 1 },
    timeouts: { podsGone: 20_000, podsReady: 20_000 },
    policy: {
      requesters: ["*"],
      approvers: [],
      requiredApprovals: 1,
      requestTtl: 1,
      backupApprovals: 0,
    },
    statefulset: "influxdb",
    dataDir: "/var/lib/influxdb",
    helperImage: "busybox:1.36",
    service: "influxdb:8086",
    backups: { bucket: BUCKET, prefix: "archives/", region: "us-east-1", forcePathStyle: true },
  });
}

/**
 * The kind's backup or restore runbook for `target`, on the real adapters: the Kubernetes client
 * from `kubeConfig`, restorebot's database `pool`, the object store `store`.
 */
export function ossRunbook(
  mode: "backup" | "restore",
  deps: { target: InfluxdbOssTarget; kubeConfig: KubeConfig; pool: Pool; store: ObjectStore },
): Runbook {
  const cluster = createKubernetesCluster({
    namespace: deps.target.namespace,
    kubeConfig: deps.kubeConfig,
    retry: { attempts: 2, initialDelayMs: 10, maxDelayMs: 20 },
  });
  const kind = DEFAULT_KINDS.of(deps.target);
  const runbookDeps = {
    target: deps.target,
    db: deps.pool,
    cluster,
    objectStore: () => deps.store,
    env: {},
    workDir: "/nonexistent",
    logger: silentLogger,
  };
  const backup = kind.runbooks.backup;
  if (mode === "backup" && !backup) throw new Error("no backup runbook");
  return mode === "backup" && backup ? backup(runbookDeps) : kind.runbooks.restore(runbookDeps);
}

export async function startOssEnv(
  label: string,
  simOptions: KubernetesSimulatorOptions = {},
): Promise<OssEnv> {
  const sim = await startKubernetesSimulator({
    components: [{ name: "influxdb", kind: "StatefulSet", replicas: 1 }],
    timing: { startDelayMs: 10, readyDelayMs: 20, terminationDelayMs: 30 },
    rbacRules: influxdbOss.rbac,
    localExec: true,
    ...simOptions,
  });
  sim.createPvc(PVC);
  const dataDir = sim.pvcDirectory(PVC) as string;
  seedDataDirectory(dataDir, ["telegraf", "metrics"], "v1");
  const node = await startInfluxNodeStandIn(dataDir);
  sim.resources.registerService({ name: "influxdb", port: 8086, localPort: node.port });
  const s3 = await startS3StandIn({ buckets: [BUCKET] });
  const store = objectStoreFor(s3);
  const db = await createRunnerDatabase(label);
  const target = ossTarget(sim.namespace);
  const kubeConfig = kubeconfigFor(sim);
  const events: RunEvent[] = [];
  const runbookFor = (mode: "backup" | "restore", runStore: ObjectStore): Runbook =>
    ossRunbook(mode, { target, kubeConfig, pool: db.pool, store: runStore });
  return {
    sim,
    s3,
    store,
    db,
    target,
    dataDir,
    events,
    run: (requestId, mode, options = {}) =>
      runRestore({
        db: db.pool,
        requestId,
        runbookFor: () => runbookFor(mode, options.wrapStore ? options.wrapStore(store) : store),
        narrate: (e) => events.push(e),
        signal: options.signal ?? new AbortController().signal,
        logger: silentLogger,
        progressIntervalMs: 50,
        ...(options.clock ? { clock: options.clock } : {}),
      }),
    async close() {
      await sim.close();
      await s3.close();
      await node.close();
      await db.close();
    },
  };
}
