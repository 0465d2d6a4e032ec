import type pg from "pg";
import { createKubernetesCluster } from "../../src/adapters/kubernetes/kubernetes-cluster.js";
import { influxdbClusteredSimulator } from "../../src/kinds/influxdb-clustered/sandbox/simulated-cluster.js";
import { type CompensationLog, createCompensationLog } from "../../src/runbook/compensations.js";
import { beginPhase, savePhaseFacts } from "../../src/runbook/run-store.js";
import type { Facts } from "../../src/runbook/types.js";
import type { StepContext, StepDeps } from "../../src/steps/types.js";
import {
  type KubernetesSimulator,
  kubeconfigFor,
  startKubernetesSimulator,
} from "../../stand-ins/kubernetes/index.js";
import type { KubernetesSimulatorOptions } from "../../stand-ins/kubernetes/types.js";
import {
  createRunnerDatabase,
  insertApprovedRequest,
  type RunnerDatabase,
} from "../jobs/support/run-fixtures.js";

/** The simulator, restorebot's database (migrated) and one approved request, for step tests. */
export interface StepEnv {
  sim: KubernetesSimulator;
  db: RunnerDatabase;
  pool: pg.Pool;
  requestId: string;
  /** Another approved request (its own target), for tests that run the same step many times. */
  newRequest(): Promise<string>;
  deps: StepDeps;
  compensations: CompensationLog;
  /** Starts (or resumes: a new attempt keeping earlier facts) phase `index` and gives its context. */
  phase(
    index: number,
    name: string,
    options?: { signal?: AbortSignal; requestId?: string },
  ): Promise<TestContext>;
  close(): Promise<void>;
}

export interface TestContext extends StepContext {
  notes: string[];
  progressLines: string[];
}

export async function startStepEnv(
  label: string,
  simOptions: KubernetesSimulatorOptions = {},
): Promise<StepEnv> {
  const sim = await startKubernetesSimulator({
    ...influxdbClusteredSimulator(),
    timing: { startDelayMs: 10, readyDelayMs: 20, terminationDelayMs: 30 },
    ...simOptions,
  });
  const db = await createRunnerDatabase(label);
  const requestId = await insertApprovedRequest(db.pool, { state: "running", target: label });
  const cluster = createKubernetesCluster({
    namespace: sim.namespace,
    kubeConfig: kubeconfigFor(sim),
    retry: { attempts: 2, initialDelayMs: 10, maxDelayMs: 20 },
  });
  const compensations = createCompensationLog(db.pool);
  let requests = 0;
  return {
    sim,
    db,
    pool: db.pool,
    requestId,
    deps: { cluster, compensations },
    compensations,
    newRequest: () =>
      insertApprovedRequest(db.pool, { state: "running", target: `${label}-${++requests}` }),
    async phase(index, name, options = {}) {
      const id = options.requestId ?? requestId;
      const record = await beginPhase(db.pool, { id, target: label }, index, name);
      const facts: Facts = { ...record.facts };
      const notes: string[] = [];
      const progressLines: string[] = [];
      const request = (
        await db.pool.query("SELECT id, target, kind FROM restore_requests WHERE id = $1", [id])
      ).rows[0];
      return {
        request,
        name,
        facts,
        signal: options.signal ?? new AbortController().signal,
        async fact(key: string, value: unknown) {
          facts[key] = value;
          await savePhaseFacts(db.pool, id, index, facts);
        },
        progress: (text: string) => progressLines.push(text),
        note: (text: string) => notes.push(text),
        now: () => new Date(),
        notes,
        progressLines,
      } as TestContext;
    },
    async close() {
      await sim.close();
      await db.close();
    },
  };
}
