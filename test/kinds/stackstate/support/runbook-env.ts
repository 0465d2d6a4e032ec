import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createKubernetesCluster,
  type KubernetesCluster,
} from "../../../../src/adapters/kubernetes/kubernetes-cluster.js";
import type { ObjectStore } from "../../../../src/adapters/s3/object-store.js";
import { getRequest } from "../../../../src/approvals/request-store.js";
import { parseConfig } from "../../../../src/config/file.js";
import type { StackStateTarget } from "../../../../src/kinds/stackstate/config.js";
import { createStackStateRunbook } from "../../../../src/kinds/stackstate/runbook.js";
import { sandboxBackupScriptsConfigMap } from "../../../../src/kinds/stackstate/sandbox-chart.js";
import {
  beginPhase,
  endPhase,
  listPhaseRuns,
  savePhaseFacts,
} from "../../../../src/runbook/run-store.js";
import type { Facts, PhaseContext, Runbook, RunbookPhase } from "../../../../src/runbook/types.js";
import {
  type ElasticsearchStandIn,
  startElasticsearchStandIn,
} from "../../../../stand-ins/elasticsearch/server.js";
import {
  type KubernetesSimulator,
  kubeconfigFor,
  startKubernetesSimulator,
} from "../../../../stand-ins/kubernetes/index.js";
import { standInObjectStore } from "../../../../stand-ins/s3/sdk-store.js";
import { type S3StandIn, startS3StandIn } from "../../../../stand-ins/s3/server.js";
import {
  createRunnerDatabase,
  insertApprovedRequest,
  type RunnerDatabase,
  runbookDeps,
} from "../../../jobs/support/run-fixtures.js";

export const NS = "stackstate";
export const SG = "sts-stackgraph-backup";
export const VM = "sts-victoria-metrics-backup";
export const CH = "sts-clickhouse-backup";
export const ES_REPO = "sts-backup";

/** A StackState target with all four stores, as restorebot.yaml gives it. */
export function stackstateTarget(overrides = ""): StackStateTarget {
  const config = parseConfig(`
slack:
  channels: [C0RESTORE1]
policy:
  approvers: [UAPPROVER]
targets:
  - name: sts
    kind: stackstate
    namespace: ${NS}
    release: stackstate
    timeouts: { podsGone: 20s, podsReady: 20s }
    backupStore: { endpoint: http://127.0.0.1:1, region: us-east-1, forcePathStyle: true }
    stores:
      stackgraph: { bucket: ${SG} }
      metrics: { bucket: ${VM}, instances: [victoria-metrics-0, victoria-metrics-1] }
      clickhouse: { bucket: ${CH}, pod: stackstate-clickhouse-shard0-0, container: backup }
      elasticsearch: { service: stackstate-elasticsearch-master, port: 9200, repository: ${ES_REPO} }
${overrides}`);
  return config.targets[0] as StackStateTarget;
}

export const STACKSTATE_COMPONENTS = [
  {
    name: "stackstate-server",
    kind: "Deployment" as const,
    replicas: 2,
    labels: { "stackstate.com/connects-to-stackgraph": "true" },
  },
  {
    name: "stackstate-api",
    kind: "Deployment" as const,
    replicas: 1,
    labels: { "stackstate.com/connects-to-stackgraph": "true" },
  },
  { name: "stackstate-e2es", kind: "Deployment" as const, replicas: 1 },
  { name: "stackstate-trace2es", kind: "Deployment" as const, replicas: 2 },
  { name: "stackstate-router", kind: "Deployment" as const, replicas: 1 },
  { name: "stackstate-victoria-metrics-0", kind: "StatefulSet" as const, replicas: 1 },
  { name: "stackstate-victoria-metrics-1", kind: "StatefulSet" as const, replicas: 1 },
  {
    name: "stackstate-otel-collector",
    kind: "StatefulSet" as const,
    replicas: 2,
    podManagementPolicy: "Parallel" as const,
  },
  {
    name: "stackstate-clickhouse-shard0",
    kind: "StatefulSet" as const,
    replicas: 1,
    containers: ["clickhouse", "backup"],
  },
];

export interface RunbookEnv {
  sim: KubernetesSimulator;
  s3: S3StandIn;
  es: ElasticsearchStandIn;
  store: ObjectStore;
  db: RunnerDatabase;
  cluster: KubernetesCluster;
  target: StackStateTarget;
  /** A request for `point` (frozen as the kind froze it) with `options`. */
  request(point: unknown, options?: unknown): Promise<string>;
  runbook(): Runbook;
  close(): Promise<void>;
}

export async function startRunbookEnv(label: string): Promise<RunbookEnv> {
  const sim = await startKubernetesSimulator({
    namespace: NS,
    components: STACKSTATE_COMPONENTS,
    timing: { startDelayMs: 10, readyDelayMs: 20, terminationDelayMs: 30 },
  });
  sim.resources.putObject(
    { apiGroup: "", plural: "configmaps" },
    sandboxBackupScriptsConfigMap("stackstate"),
  );
  const s3 = await startS3StandIn({ buckets: [SG, VM, CH] });
  const es = await startElasticsearchStandIn();
  const esPort = Number(new URL(es.url).port);
  sim.resources.registerService({
    name: "stackstate-elasticsearch-master",
    port: 9200,
    localPort: esPort,
  });
  const db = await createRunnerDatabase(label);
  const cluster = createKubernetesCluster({
    namespace: NS,
    kubeConfig: kubeconfigFor(sim),
    retry: { attempts: 2, initialDelayMs: 10, maxDelayMs: 20 },
  });
  const store = standInObjectStore(s3);
  const target = stackstateTarget();
  const workDir = await mkdtemp(join(tmpdir(), "sts-runbook-"));
  let n = 0;
  return {
    sim,
    s3,
    es,
    store,
    db,
    cluster,
    target,
    async request(point, options) {
      return insertApprovedRequest(db.pool, {
        state: "running",
        target: `sts-${++n}`,
        kind: "stackstate",
        point: point as never,
        options,
      });
    },
    runbook: () =>
      createStackStateRunbook(runbookDeps({ target, pool: db.pool, cluster, store, workDir })),
    async close() {
      await sim.close();
      await s3.close();
      await es.close();
      await db.close();
      await rm(workDir, { recursive: true, force: true });
    },
  };
}

export interface DriveResult {
  ok: boolean;
  /** The phase that failed, and its error. */
  failedAt?: string;
  error?: string;
  notes: string[];
  progress: string[];
}

/**
 * Runs phases in order as the runner does (checkpointed in phase_runs, facts written through,
 * earlier phases' facts visible), stopping at the first failure. `from` resumes at a phase.
 */
export async function drive(
  env: RunbookEnv,
  requestId: string,
  phases: readonly RunbookPhase[],
  options: { offset?: number; signal?: AbortSignal; only?: string[]; now?: () => Date } = {},
): Promise<DriveResult> {
  const notes: string[] = [];
  const progress: string[] = [];
  const offset = options.offset ?? 0;
  for (const [i, phase] of phases.entries()) {
    if (options.only && !options.only.includes(phase.name)) continue;
    const request = await getRequest(env.db.pool, requestId);
    if (!request) throw new Error("no request");
    const index = offset + i;
    const earlier = await listPhaseRuns(env.db.pool, requestId);
    if (earlier.some((r) => r.phaseIndex === index && r.state === "succeeded")) continue;
    const record = await beginPhase(env.db.pool, request, index, phase.name);
    const facts: Facts = { ...record.facts };
    const ctx: PhaseContext = {
      request,
      position: i + 1,
      total: phases.length,
      name: phase.name,
      title: phase.title,
      attempt: record.attempt,
      signal: options.signal ?? new AbortController().signal,
      earlierFacts: (name) =>
        earlier.find((r) => r.phase === name && r.state === "succeeded")?.facts,
      facts,
      async fact(key, value) {
        facts[key] = value;
        await savePhaseFacts(env.db.pool, requestId, index, facts);
      },
      progress: (text) => progress.push(text),
      note: (text) => notes.push(text),
      now: options.now ?? (() => new Date()),
    };
    const started = Date.now();
    try {
      await phase.run(ctx);
      await endPhase(env.db.pool, request, index, {
        state: "succeeded",
        facts,
        durationMs: Date.now() - started,
      });
    } catch (err) {
      const message = (err as Error).message;
      await endPhase(env.db.pool, request, index, {
        state: "failed",
        facts,
        error: message,
        durationMs: Date.now() - started,
      });
      return { ok: false, failedAt: phase.name, error: message, notes, progress };
    }
  }
  return { ok: true, notes, progress };
}

export function replicasOf(sim: KubernetesSimulator, name: string): number {
  return sim.snapshot().components.find((c) => c.name === name)?.specReplicas ?? -1;
}
