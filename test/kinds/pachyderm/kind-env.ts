import { runRestore } from "../../../jobs/runner/runner.js";
import { createKubernetesCluster } from "../../../src/adapters/kubernetes/kubernetes-cluster.js";
import type { ObjectStore } from "../../../src/adapters/s3/object-store.js";
import { parseConfig } from "../../../src/config/file.js";
import type { PachydermTarget } from "../../../src/kinds/pachyderm/config.js";
import { pachyderm } from "../../../src/kinds/pachyderm/index.js";
import { silentLogger } from "../../../src/logging/logger.js";
import type { Narrate, Runbook, RunEvent } from "../../../src/runbook/types.js";
import {
  type KubernetesSimulator,
  kubeconfigFor,
  startKubernetesSimulator,
} from "../../../stand-ins/kubernetes/index.js";
import type { ComponentConfig } from "../../../stand-ins/kubernetes/types.js";
import type { S3StandIn } from "../../../stand-ins/s3/server.js";
import {
  createRunnerDatabase,
  insertApprovedRequest,
  type RunnerDatabase,
} from "../../jobs/support/run-fixtures.js";
import {
  BACKUP_BUCKET,
  LIVE_BUCKET,
  pachydermDatabases,
  type ScratchDatabase,
  seedChunks,
  startPachydermBuckets,
} from "./support.js";

export const PACHYDERM_COMPONENTS: ComponentConfig[] = [
  { name: "pachd", kind: "Deployment", replicas: 2 },
  {
    name: "pipeline-edges-v1",
    kind: "ReplicationController",
    replicas: 1,
    labels: { suite: "pachyderm", component: "worker" },
  },
  {
    name: "pipeline-montage-v1",
    kind: "ReplicationController",
    replicas: 2,
    labels: { suite: "pachyderm", component: "worker" },
  },
];

/**
 * The parts of a Pachyderm install: its workloads in the simulator (pachd and two worker
 * RCs), the live bucket with `objects` chunks and the backup bucket, its two databases.
 */
export interface PachydermInstall {
  sim: KubernetesSimulator;
  s3: S3StandIn;
  store: ObjectStore;
  pach: ScratchDatabase;
  dex: ScratchDatabase;
  close(): Promise<void>;
}

export async function startPachydermInstall(
  adminUrl: string,
  label: string,
  objects = 30,
): Promise<PachydermInstall> {
  const sim = await startKubernetesSimulator({
    components: PACHYDERM_COMPONENTS,
    timing: { startDelayMs: 10, readyDelayMs: 20, terminationDelayMs: 30 },
  });
  const { s3, store } = await startPachydermBuckets();
  const { pach, dex } = await pachydermDatabases(adminUrl, label);
  seedChunks(s3, "", objects, (i) => `chunk ${i} `.repeat(50));
  return {
    sim,
    s3,
    store,
    pach,
    dex,
    async close() {
      await sim.close();
      await s3.close();
      await pach.drop();
      await dex.drop();
    },
  };
}

/** A simulated Pachyderm install with a runner database, run through the real runner. */
export interface PachydermEnv extends Omit<PachydermInstall, "close"> {
  runner: RunnerDatabase;
  target: PachydermTarget;
  env: Record<string, string>;
  events: RunEvent[];
  /** A new approved request of this target (a backup: its point is a placeholder). */
  request(point?: unknown): Promise<string>;
  /** Runs (or resumes) a request through the real runner with the kind's backup or restore runbook. */
  run(
    requestId: string,
    which: "backup" | "restore",
    options?: { signal?: AbortSignal; onEvent?: (e: RunEvent) => void },
  ): ReturnType<typeof runRestore>;
  close(): Promise<void>;
}

let counter = 0;

export async function startPachydermEnv(
  label: string,
  opts: { adminUrl: string; objects?: number },
): Promise<PachydermEnv> {
  const n = ++counter;
  const install = await startPachydermInstall(opts.adminUrl, label, opts.objects);
  const { sim, s3, store, pach, dex } = install;
  const runner = await createRunnerDatabase(`pach_${label}`);
  const config = parseConfig(`
policy: { approvers: [U0A1] }
slack: { channels: [C0123] }
targets:
  - name: pach-${n}
    kind: pachyderm
    namespace: ${sim.namespace}
    pachd: pachd
    workerSelector: suite=pachyderm,component=worker
    databases:
      pachyderm: { dsnEnv: PACH_DB_DSN }
      dex: { dsnEnv: PACH_DEX_DSN }
    objectStore: { bucket: ${LIVE_BUCKET}, prefix: "", endpoint: "${s3.endpoint}", region: us-east-1, forcePathStyle: true }
    backups: { bucket: ${BACKUP_BUCKET}, prefix: restorebot/ }
    timeouts: { podsGone: 1m, podsReady: 1m }
`);
  const target = config.targets[0] as PachydermTarget;
  const env = { PACH_DB_DSN: pach.url, PACH_DEX_DSN: dex.url };
  const cluster = createKubernetesCluster({
    namespace: sim.namespace,
    kubeConfig: kubeconfigFor(sim),
    retry: { attempts: 2, initialDelayMs: 10, maxDelayMs: 20 },
  });
  const events: RunEvent[] = [];
  const runbookFor = (which: "backup" | "restore"): Runbook => {
    const deps = {
      target,
      db: runner.pool,
      cluster,
      objectStore: () => store,
      env,
      workDir: "/nonexistent",
      logger: silentLogger,
    };
    return which === "backup"
      ? (pachyderm.runbooks.backup?.(deps) as Runbook)
      : pachyderm.runbooks.restore(deps);
  };
  return {
    sim,
    s3,
    store,
    runner,
    pach,
    dex,
    target,
    env,
    events,
    request: (point) =>
      insertApprovedRequest(runner.pool, {
        target: target.name,
        kind: "pachyderm",
        point: (point ?? { backup: true }) as never,
      }),
    run(requestId, which, options = {}) {
      const narrate: Narrate = (e) => {
        events.push(e);
        options.onEvent?.(e);
      };
      return runRestore({
        db: runner.pool,
        requestId,
        runbookFor: () => runbookFor(which),
        narrate,
        signal: options.signal ?? new AbortController().signal,
        logger: silentLogger,
        progressIntervalMs: 0,
        statusTickMs: 60_000,
        lockRetryMs: 20,
      });
    },
    async close() {
      await runner.close();
      await install.close();
    },
  };
}
