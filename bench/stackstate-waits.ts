/**
 * Wait detection: how soon restorebot notices that a scale-down has finished (the last pod of
 * the workload gone), against the StackState chart's restore scripts, which `sleep 15` and hope.
 * Runs the real step (`scaleWorkloads` + `waitPodsGone`, watch-based) through the real
 * Kubernetes client against the simulator, with pods that take 0.5–8 s to terminate (as a
 * StatefulSet flushing data does), and reports per round: the time the last pod went (the
 * simulator's own event), the time the wait returned, the lag, and what a fixed 15 s sleep
 * would have cost (wasted when pods were gone earlier, unsafe when they took longer).
 */
import { createKubernetesCluster } from "../src/adapters/kubernetes/kubernetes-cluster.js";
import type { CompensationLog } from "../src/runbook/compensations.js";
import { scaleWorkloads, waitPodsGone } from "../src/steps/index.js";
import type { StepContext } from "../src/steps/types.js";
import { kubeconfigFor, startKubernetesSimulator } from "../stand-ins/kubernetes/index.js";

const SLEEP_MS = 15_000;
const TERMINATION_MS = [500, 1_000, 2_000, 4_000, 8_000, 20_000];
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);

const memoryLog = (): CompensationLog => {
  const rows = new Map<string, unknown>();
  return {
    record: async (_id, entry) => void rows.set(entry.key, entry),
    list: async () => [],
    settle: async () => undefined,
  };
};

async function round(terminationDelayMs: number) {
  const sim = await startKubernetesSimulator({
    namespace: "stackstate",
    components: [
      {
        name: "stackstate-victoria-metrics-0",
        kind: "StatefulSet",
        replicas: 2,
        podManagementPolicy: "Parallel",
        terminationDelayMs,
      },
    ],
    timing: { startDelayMs: 10, readyDelayMs: 20, terminationDelayMs },
  });
  try {
    const cluster = createKubernetesCluster({
      namespace: "stackstate",
      kubeConfig: kubeconfigFor(sim),
    });
    const facts: Record<string, unknown> = {};
    const ctx: StepContext = {
      request: { id: "rb-benchmrk" } as StepContext["request"],
      name: "scale-down",
      facts,
      fact: async (k, v) => {
        facts[k] = v;
      },
      progress: () => undefined,
      note: () => undefined,
      signal: new AbortController().signal,
      now: () => new Date(),
    };
    const deps = { cluster, compensations: memoryLog() };
    // Wait for the pods to be ready first.
    await cluster.waitForPods(
      ["stackstate-victoria-metrics-0"],
      (pods) => pods.filter((p) => p.ready).length === 2,
      {
        timeoutMs: 10_000,
        description: "ready",
      },
    );
    const started = Date.now();
    await scaleWorkloads(ctx, deps, {
      id: "store",
      replicas: 0,
      workloads: [{ kind: "StatefulSet", names: ["stackstate-victoria-metrics-0"] }],
    });
    await waitPodsGone(ctx, deps, {
      workloads: [{ kind: "StatefulSet", name: "stackstate-victoria-metrics-0" }],
      timeoutMs: 60_000,
    });
    const noticed = Date.now();
    const gone = sim
      .events()
      .filter((e) => e.type === "pod-deleted")
      .reduce((max, e) => Math.max(max, e.at), 0);
    return {
      terminationDelayMs,
      lastPodGoneMs: gone - started,
      noticedMs: noticed - started,
      lagMs: noticed - gone,
      sleepVerdict:
        gone - started <= SLEEP_MS
          ? `sleep 15 wastes ${((SLEEP_MS - (noticed - started)) / 1000).toFixed(1)} s`
          : `sleep 15 starts the restore ${((gone - started - SLEEP_MS) / 1000).toFixed(1)} s before the pods are gone`,
    };
  } finally {
    await sim.close();
  }
}

const results = [];
for (let r = 0; r < ROUNDS; r++) for (const t of TERMINATION_MS) results.push(await round(t));
console.log("termination | last pod gone | noticed | lag   | vs the scripts' sleep 15");
for (const x of results)
  console.log(
    `${String(x.terminationDelayMs).padStart(8)} ms | ${String(x.lastPodGoneMs).padStart(10)} ms | ${String(x.noticedMs).padStart(5)} ms | ${String(x.lagMs).padStart(3)} ms | ${x.sleepVerdict}`,
  );
const lags = results.map((x) => x.lagMs).sort((a, b) => a - b);
console.log(
  `lag: median ${lags[Math.floor(lags.length / 2)]} ms, max ${lags[lags.length - 1]} ms (target < 1000 ms)`,
);
