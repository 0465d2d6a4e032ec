import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type {
  ClusterPort,
  PodSummary,
  WorkloadStatus,
} from "../../../src/adapters/kubernetes/cluster-port.js";
import {
  createKubernetesCluster,
  type KubernetesClusterOptions,
} from "../../../src/adapters/kubernetes/kubernetes-cluster.js";
import { CodedError } from "../../../src/errors.js";
import { appInstanceOf } from "../../../src/kinds/influxdb-clustered/runbook/components.js";
import { INFLUXDB_CLUSTERED_RBAC_RULES } from "../../../src/kinds/influxdb-clustered/runbook/rbac.js";
import { influxdbClusteredSimulator } from "../../../src/kinds/influxdb-clustered/sandbox/simulated-cluster.js";
import {
  type KubernetesSimulator,
  type KubernetesSimulatorOptions,
  kubeconfigFor,
  kubeconfigYaml,
  type RequestRecord,
  type SimEvent,
  startKubernetesSimulator,
  writeKubeconfig,
} from "../../../stand-ins/kubernetes/index.js";

const INGESTER = "iox-shared-ingester";
const CATALOG = "iox-shared-catalog";
const NON_CATALOG = [
  "global-gc",
  "global-router",
  "iox-shared-querier",
  "iox-shared-compactor",
  INGESTER,
];

/** Every request the adapter made in this file, for the RBAC check at the end. */
const allRequests: RequestRecord[] = [];
let open: KubernetesSimulator[] = [];

afterEach(async () => {
  for (const sim of open) allRequests.push(...sim.requests());
  await Promise.all(open.map((s) => s.close()));
  open = [];
});

async function setup(
  simOptions: KubernetesSimulatorOptions = {},
  clusterOptions: Partial<KubernetesClusterOptions> = {},
): Promise<{ sim: KubernetesSimulator; cluster: ClusterPort }> {
  // The simulator enforces the adapter's own RBAC rules, as the chart's Role would.
  const sim = await startKubernetesSimulator({
    ...influxdbClusteredSimulator(),
    rbacRules: INFLUXDB_CLUSTERED_RBAC_RULES,
    ...simOptions,
  });
  open.push(sim);
  const cluster = createKubernetesCluster({
    namespace: sim.namespace,
    kubeConfig: kubeconfigFor(sim),
    retry: { initialDelayMs: 10, maxDelayMs: 40 },
    requestTimeoutMs: 2_000,
    ...clusterOptions,
  });
  return { sim, cluster };
}

async function rejection(promise: Promise<unknown>): Promise<CodedError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(CodedError);
    return err as CodedError;
  }
  throw new Error("expected a rejection");
}

const lastEvent = (events: readonly SimEvent[], type: SimEvent["type"], component?: string) =>
  events
    .filter(
      (e) =>
        e.type === type &&
        (component === undefined || ("component" in e && e.component === component)),
    )
    .at(-1);

const allGone = (pods: PodSummary[]) => pods.length === 0;
const atLeastReady = (n: number) => (pods: PodSummary[]) => pods.filter((p) => p.ready).length >= n;

describe("Kubernetes adapter: replica counts", () => {
  it("reads and scales Deployments and StatefulSets through the scale subresource", async () => {
    const { sim, cluster } = await setup();
    expect(await cluster.getReplicas("Deployment", "global-router")).toBe(3);
    expect(await cluster.getReplicas("StatefulSet", INGESTER)).toBe(3);

    await cluster.scale("Deployment", "global-router", 0);
    await cluster.scale("StatefulSet", INGESTER, 1);
    await cluster.scale("StatefulSet", INGESTER, 1); // idempotent

    expect(await cluster.getReplicas("Deployment", "global-router")).toBe(0);
    expect(await cluster.getReplicas("StatefulSet", INGESTER)).toBe(1);
    const spec = Object.fromEntries(sim.snapshot().components.map((c) => [c.name, c.specReplicas]));
    expect(spec).toMatchObject({ "global-router": 0, [INGESTER]: 1 });
    expect(sim.events().filter((e) => e.type === "scale")).toMatchObject([
      { component: "global-router", from: 3, to: 0, source: "api" },
      { component: INGESTER, from: 3, to: 1 },
      { component: INGESTER, from: 1, to: 1 },
    ]);
  });

  it("names the call, the object and the API's answer when a workload does not exist", async () => {
    const { cluster } = await setup();
    const err = await rejection(cluster.getReplicas("StatefulSet", "iox-shared-nothing"));
    expect(err.code).toBe("kubernetes_error");
    expect(err.message).toContain("read the replica count of StatefulSet iox-shared-nothing");
    expect(err.message).toContain("namespace influxdb");
    expect(err.message).toContain('404 NotFound: statefulsets.apps "iox-shared-nothing" not found');
    expect(err.details).toMatchObject({ status: 404, reason: "NotFound" });
    // A Deployment scaled as a StatefulSet is a different object.
    expect((await rejection(cluster.scale("StatefulSet", "global-gc", 0))).message).toContain(
      "404",
    );
  });

  it("lists the pods of the given components, with their state", async () => {
    const { sim, cluster } = await setup({ timing: { terminationDelayMs: 200 } });
    const pods = await cluster.listPods([CATALOG, "global-gc"]);
    expect(pods.map((p) => p.component).sort()).toEqual(
      ["global-gc", CATALOG, CATALOG, CATALOG].sort(),
    );
    expect(pods.filter((p) => p.component === CATALOG).map((p) => p.name)).toEqual([
      "iox-shared-catalog-0",
      "iox-shared-catalog-1",
      "iox-shared-catalog-2",
    ]);
    expect(pods.every((p) => p.phase === "Running" && p.ready && !p.terminating)).toBe(true);

    sim.neverTerminate(CATALOG); // so the list cannot race the termination
    sim.scale(CATALOG, 2);
    const during = await cluster.listPods([CATALOG]);
    expect(during.find((p) => p.name === "iox-shared-catalog-2")).toEqual({
      name: "iox-shared-catalog-2",
      component: CATALOG,
      phase: "Running",
      ready: false,
      terminating: true,
    });
    expect(await cluster.listPods([])).toEqual([]);
  });
});

describe("Kubernetes adapter: waiting for pods", () => {
  it("notices within a second that every non-catalog pod is gone, reporting progress", async () => {
    const { sim, cluster } = await setup({ timing: { terminationDelayMs: 60 } });
    const progress: PodSummary[][] = [];
    const waiting = cluster.waitForPods(NON_CATALOG, allGone, {
      timeoutMs: 10_000,
      description: "every non-catalog pod gone",
      onProgress: (pods) => progress.push(pods),
    });
    await sim.waitFor(() => sim.activeWatches() === 1, 2_000);
    for (const name of ["global-gc", "global-router", "iox-shared-querier"])
      await cluster.scale("Deployment", name, 0);
    await cluster.scale("StatefulSet", "iox-shared-compactor", 0);
    await cluster.scale("StatefulSet", INGESTER, 0);

    expect(await waiting).toEqual([]);
    const resolvedAt = Date.now();
    const gone = lastEvent(sim.events(), "pod-deleted");
    expect(gone && "pod" in gone ? gone.pod : "").toBe("iox-shared-ingester-0");
    expect(resolvedAt - (gone?.at ?? 0)).toBeLessThan(1_000);
    // The catalog is untouched and was never part of the wait.
    expect(sim.snapshot().components.find((c) => c.name === CATALOG)?.readyReplicas).toBe(3);
    expect(progress[0]).toHaveLength(10);
    expect(progress.some((pods) => pods.some((p) => p.terminating))).toBe(true);
    expect(progress.at(-1)).toEqual([]);
  });

  it("notices within a second that at least two pods are ready", async () => {
    const { sim, cluster } = await setup({
      timing: { startDelayMs: 30, readyDelayMs: 80 },
      overrides: { [CATALOG]: { replicas: 0 } },
    });
    const waiting = cluster.waitForPods([CATALOG], atLeastReady(2), {
      timeoutMs: 10_000,
      description: "at least 2 catalog pods ready",
    });
    await cluster.scale("StatefulSet", CATALOG, 3);
    const pods = await waiting;
    const resolvedAt = Date.now();
    expect(pods.filter((p) => p.ready).map((p) => p.name)).toEqual([
      "iox-shared-catalog-0",
      "iox-shared-catalog-1",
    ]);
    const readies = sim.events().filter((e) => e.type === "pod-ready");
    expect(readies).toHaveLength(2);
    expect(resolvedAt - (readies[1]?.at ?? 0)).toBeLessThan(1_000);
  });

  it("resolves at once when the condition already holds", async () => {
    const { cluster } = await setup();
    const started = Date.now();
    const pods = await cluster.waitForPods([CATALOG], atLeastReady(2), {
      timeoutMs: 5_000,
      description: "catalog ready",
    });
    expect(pods).toHaveLength(3);
    expect(Date.now() - started).toBeLessThan(500);
  });

  it("re-establishes a watch the server closes mid-wait and misses nothing", async () => {
    const { sim, cluster } = await setup({ timing: { terminationDelayMs: 50 } });
    sim.closeWatchesAfter(120);
    const waiting = cluster.waitForPods([INGESTER], allGone, {
      timeoutMs: 10_000,
      description: "ingesters gone",
    });
    await cluster.scale("StatefulSet", INGESTER, 0);
    await waiting;
    const gone = lastEvent(sim.events(), "pod-deleted", INGESTER);
    expect(Date.now() - (gone?.at ?? 0)).toBeLessThan(1_000);
    // Three ingesters at 150 ms each, one after the other; watches closed every 120 ms.
    expect(sim.requestCount({ verb: "watch", resource: "pods" })).toBeGreaterThanOrEqual(3);
    // Each re-watch resumed from a resourceVersion instead of listing again.
    expect(sim.requestCount({ verb: "list", resource: "pods" })).toBe(1);
    expect(
      sim
        .requests()
        .filter((r) => r.verb === "watch")
        .every((r) => r.query.resourceVersion),
    ).toBe(true);
  });

  it("lists again when its resourceVersion has expired (410), then keeps watching", async () => {
    const { sim, cluster } = await setup({ timing: { terminationDelayMs: 100 } });
    const waiting = cluster.waitForPods(["global-router"], allGone, {
      timeoutMs: 10_000,
      description: "routers gone",
    });
    await sim.waitFor(() => sim.activeWatches() === 1);
    // A change the wait does not see moves the cluster past its resourceVersion, which the
    // compaction then makes too old to resume from.
    sim.scale(CATALOG, 2);
    sim.compactWatchHistory();
    sim.closeWatches();
    await cluster.scale("Deployment", "global-router", 0);
    await waiting;
    expect(sim.requestCount({ verb: "list", resource: "pods" })).toBeGreaterThanOrEqual(2);
  });

  it("lists again when the watch request itself is answered 410 Gone", async () => {
    const { sim, cluster } = await setup({ timing: { terminationDelayMs: 30 } });
    sim.failNext({ verb: "watch", status: 410 });
    const waiting = cluster.waitForPods(["global-gc"], allGone, {
      timeoutMs: 10_000,
      description: "gc gone",
    });
    await sim.waitFor(() => sim.activeWatches() === 1, 2_000);
    await cluster.scale("Deployment", "global-gc", 0);
    await waiting;
    expect(
      sim
        .requests()
        .filter((r) => r.resource === "pods")
        .map((r) => `${r.verb} ${r.status}`),
    ).toEqual(["list 200", "watch 410", "list 200", "watch 200"]);
  });

  it("reconnects after the watch request itself fails or its connection is reset", async () => {
    const { sim, cluster } = await setup({ timing: { terminationDelayMs: 50 } });
    sim.failNext({ verb: "watch", status: 503 });
    sim.resetConnectionNext({ verb: "watch" });
    const waiting = cluster.waitForPods(["global-gc"], allGone, {
      timeoutMs: 10_000,
      description: "gc gone",
    });
    await cluster.scale("Deployment", "global-gc", 0);
    await waiting;
    expect(sim.requestCount({ verb: "watch" })).toBeGreaterThanOrEqual(3);
  });

  it("times out with an error naming what it waited for and the pods still there", async () => {
    const { sim, cluster } = await setup({ timing: { terminationDelayMs: 20 } });
    sim.neverTerminate(INGESTER);
    await cluster.scale("StatefulSet", INGESTER, 0);
    const started = Date.now();
    const err = await rejection(
      cluster.waitForPods([INGESTER], allGone, {
        timeoutMs: 300,
        description: "every ingester pod gone",
      }),
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(err.code).toBe("timeout");
    expect(err.message).toContain(
      "Timed out after 300 ms waiting for every ingester pod gone (iox-shared-ingester)",
    );
    expect(err.message).toContain("iox-shared-ingester-2 (Running, terminating)");
    expect(err.message).toContain("iox-shared-ingester-0 (Running, ready)");
    expect(err.details?.pods).toHaveLength(3);
    await sim.waitFor(() => sim.activeWatches() === 0, 1_000);
  });

  it("stops when aborted, and closes its watch", async () => {
    const { sim, cluster } = await setup();
    const controller = new AbortController();
    const waiting = cluster.waitForPods([CATALOG], allGone, {
      timeoutMs: 10_000,
      signal: controller.signal,
      description: "catalog pods gone",
    });
    await sim.waitFor(() => sim.activeWatches() === 1, 2_000);
    controller.abort();
    const err = await rejection(waiting);
    expect(err.code).toBe("cancelled");
    expect(err.message).toContain("catalog pods gone");
    await sim.waitFor(() => sim.activeWatches() === 0, 1_000);

    const already = await rejection(
      cluster.waitForPods([CATALOG], allGone, {
        timeoutMs: 1_000,
        signal: controller.signal,
        description: "x",
      }),
    );
    expect(already.code).toBe("cancelled");
  });
});

describe("Kubernetes adapter: the workloads' own status in a wait", () => {
  const settledGone = (pods: PodSummary[], workloads: WorkloadStatus[]) =>
    pods.length === 0 &&
    workloads.every((w) => w.observedGeneration >= w.generation && w.replicas === 0);

  it("holds a 'gone' wait while the StatefulSet's controller has not caught up, and resolves once it has", async () => {
    const { sim, cluster } = await setup({ timing: { terminationDelayMs: 30 } });
    sim.freezeWorkloadStatus(CATALOG);
    const seen: WorkloadStatus[][] = [];
    let settled = false;
    const waiting = cluster
      .waitForPods([CATALOG], settledGone, {
        timeoutMs: 20_000,
        description: "catalog pods gone",
        workloads: [{ kind: "StatefulSet", name: CATALOG }],
        onProgress: (_pods, workloads) => seen.push(workloads),
      })
      .finally(() => {
        settled = true;
      });
    await cluster.scale("StatefulSet", CATALOG, 0);
    await sim.waitFor(
      (snap) => snap.components.find((c) => c.name === CATALOG)?.pods.length === 0,
      10_000,
    );
    // Every pod is gone, but the controller still reports the count from before the scale.
    await expect
      .poll(() => seen.at(-1)?.[0], { timeout: 10_000 })
      .toMatchObject({ kind: "StatefulSet", name: CATALOG, replicas: 3, readyReplicas: 3 });
    const last = seen.at(-1)?.[0];
    expect(last && last.generation > last.observedGeneration).toBe(true);
    expect(settled).toBe(false);
    sim.releaseWorkloadStatus(CATALOG);
    expect(await waiting).toEqual([]);
    expect(seen.at(-1)?.[0]).toMatchObject({ replicas: 0, readyReplicas: 0 });
  });

  it("reads a Deployment's status too, and names the workload's report in a timeout", async () => {
    const { sim, cluster } = await setup({ timing: { terminationDelayMs: 30 } });
    await cluster.scale("Deployment", "global-gc", 0);
    const gone = await cluster.waitForPods(["global-gc"], settledGone, {
      timeoutMs: 10_000,
      description: "gc pods gone",
      workloads: [{ kind: "Deployment", name: "global-gc" }],
    });
    expect(gone).toEqual([]);
    sim.freezeWorkloadStatus("global-router");
    await cluster.scale("Deployment", "global-router", 0);
    const err = await rejection(
      cluster.waitForPods(["global-router"], settledGone, {
        // Long enough for the first status read on a busy machine; the wait cannot pass anyway.
        timeoutMs: 4_000,
        description: "router pods gone",
        workloads: [{ kind: "Deployment", name: "global-router" }],
      }),
    );
    expect(err.code).toBe("timeout");
    expect(err.message).toMatch(
      /Deployment global-router reports 3 replicas \(3 ready\) but has not yet acted on the latest scale \(generation \d+, observed \d+\)/,
    );
  });
});

describe("Kubernetes adapter: transient failures", () => {
  it("retries 500s and 409s on a patch until it succeeds", async () => {
    const { sim, cluster } = await setup();
    sim.failNext({ verb: "patch", resource: "statefulsets/scale", status: 500, count: 2 });
    sim.failNext({ verb: "patch", resource: "statefulsets/scale", status: 409 });
    await cluster.scale("StatefulSet", CATALOG, 1);
    expect(
      sim
        .requests()
        .filter((r) => r.verb === "patch")
        .map((r) => r.status),
    ).toEqual([500, 500, 409, 200]);
    expect(sim.snapshot().components.find((c) => c.name === CATALOG)?.specReplicas).toBe(1);
  });

  it("retries 503, 429 and reset connections on reads", async () => {
    const { sim, cluster } = await setup();
    sim.failNext({ verb: "get", resource: "deployments/scale", status: 503 });
    sim.failNext({ verb: "get", resource: "deployments/scale", status: 429, retryAfterSeconds: 0 });
    sim.resetConnectionNext({ verb: "get", resource: "deployments/scale" });
    expect(await cluster.getReplicas("Deployment", "iox-shared-querier")).toBe(2);
    sim.resetConnectionNext({ verb: "list" });
    sim.failNext({ verb: "get", resource: "appinstances", status: 502 });
    expect(await cluster.listPods(["global-gc"])).toHaveLength(1);
    expect(await cluster.getOperatorPaused(appInstanceOf({ appInstance: "influxdb" }))).toBe(false);
  });

  it("gives up after the configured attempts, saying so", async () => {
    const { sim, cluster } = await setup(
      {},
      { retry: { attempts: 3, initialDelayMs: 5, maxDelayMs: 10 } },
    );
    sim.failNext({ verb: "patch", status: 503, count: 10 });
    const err = await rejection(cluster.scale("Deployment", "global-gc", 0));
    expect(err.code).toBe("kubernetes_error");
    expect(err.message).toContain("scale Deployment global-gc to 0");
    expect(err.message).toContain("503 ServiceUnavailable");
    expect(err.message).toContain("gave up after 3 attempts");
    expect(sim.requestCount({ verb: "patch" })).toBe(3);
  });

  it("does not retry what cannot succeed, and keeps credentials out of the message", async () => {
    const { sim, cluster } = await setup();
    sim.failNext({
      verb: "patch",
      status: 403,
      message: 'appinstances.kubecfg.dev "influxdb" is forbidden',
    });
    const forbidden = await rejection(
      cluster.setOperatorPaused(appInstanceOf({ appInstance: "influxdb" }), true),
    );
    expect(forbidden.message).toContain("403 Forbidden");
    expect(forbidden.message).toContain("Role");
    expect(sim.requestCount({ verb: "patch" })).toBe(1);

    const wrongToken = createKubernetesCluster({
      namespace: sim.namespace,
      kubeconfigYaml: kubeconfigYaml(sim, { token: "sekret-token-value-1234567890" }),
    });
    const unauthorized = await rejection(wrongToken.getReplicas("Deployment", "global-gc"));
    expect(unauthorized.code).toBe("kubernetes_error");
    expect(unauthorized.message).toContain("401");
    expect(unauthorized.message).not.toContain("sekret");
    expect(JSON.stringify(unauthorized.details)).not.toContain("sekret");
  });

  it("abandons a request that hangs and tries again", async () => {
    const { sim, cluster } = await setup({}, { requestTimeoutMs: 150 });
    const slow = sim.addLatency({ verb: "get", resource: "statefulsets/scale" }, 400);
    const started = Date.now();
    setTimeout(slow, 200);
    expect(await cluster.getReplicas("StatefulSet", CATALOG)).toBe(3);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(
      sim.requestCount({ verb: "get", resource: "statefulsets/scale" }),
    ).toBeGreaterThanOrEqual(2);
  });
});

describe("Kubernetes adapter: the operator", () => {
  it("pauses and unpauses the AppInstance", async () => {
    const { sim, cluster } = await setup();
    expect(await cluster.getOperatorPaused(appInstanceOf({ appInstance: "influxdb" }))).toBe(false);
    await cluster.setOperatorPaused(appInstanceOf({ appInstance: "influxdb" }), true);
    expect(sim.snapshot().customResource?.paused).toBe(true);
    expect(await cluster.getOperatorPaused(appInstanceOf({ appInstance: "influxdb" }))).toBe(true);
    await cluster.setOperatorPaused(appInstanceOf({ appInstance: "influxdb" }), true);
    await cluster.setOperatorPaused(appInstanceOf({ appInstance: "influxdb" }), false);
    expect(await cluster.getOperatorPaused(appInstanceOf({ appInstance: "influxdb" }))).toBe(false);
    expect(sim.events().filter((e) => e.type === "pause")).toMatchObject([
      { from: false, to: true },
      { from: true, to: true },
      { from: true, to: false },
    ]);
    const missing = await rejection(
      cluster.getOperatorPaused(appInstanceOf({ appInstance: "influxdb-typo" })),
    );
    expect(missing.message).toContain("AppInstance influxdb-typo");
    expect(missing.message).toContain("404");
  });
});

describe("Kubernetes adapter: configuration", () => {
  it("selects the target's kubeContext, from a file or KUBECONFIG", async () => {
    const prod = await startKubernetesSimulator({
      ...influxdbClusteredSimulator(),
      rbacRules: INFLUXDB_CLUSTERED_RBAC_RULES,
    });
    const staging = await startKubernetesSimulator({
      ...influxdbClusteredSimulator(),
      overrides: { "global-router": { replicas: 7 } },
      rbacRules: INFLUXDB_CLUSTERED_RBAC_RULES,
    });
    open.push(prod, staging);
    const file = await writeKubeconfig(
      { "prod-admin": prod, staging },
      { currentContext: "prod-admin" },
    );

    const fromPath = createKubernetesCluster({
      namespace: "influxdb",
      kubeconfigPath: file,
      kubeContext: "staging",
    });
    expect(await fromPath.getReplicas("Deployment", "global-router")).toBe(7);
    const fromEnv = createKubernetesCluster({ namespace: "influxdb", env: { KUBECONFIG: file } });
    expect(await fromEnv.getReplicas("Deployment", "global-router")).toBe(3);
  });

  it("refuses a kubeContext the kubeconfig does not have, listing those it has", async () => {
    const sim = await startKubernetesSimulator(influxdbClusteredSimulator());
    open.push(sim);
    const file = await writeKubeconfig({ "prod-admin": sim, staging: sim });
    let error: unknown;
    try {
      createKubernetesCluster({ namespace: "influxdb", kubeconfigPath: file, kubeContext: "prod" });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(CodedError);
    expect((error as CodedError).code).toBe("config_invalid");
    expect((error as CodedError).message).toContain('Kubernetes context "prod" is not in');
    expect((error as CodedError).message).toContain("prod-admin, staging");
  });

  it("says so when there is no Kubernetes configuration at all", async () => {
    const home = await mkdtemp(join(tmpdir(), "no-kube-"));
    expect(() => createKubernetesCluster({ namespace: "influxdb", env: { HOME: home } })).toThrow(
      /No Kubernetes configuration found: set KUBECONFIG/,
    );
    expect(() =>
      createKubernetesCluster({ namespace: "influxdb", kubeconfigPath: join(home, "missing") }),
    ).toThrow(CodedError);
  });
});

// Runs last (vitest keeps declaration order within a file): by now `allRequests` holds every
// request the adapter made above.
describe("Kubernetes adapter: RBAC", () => {
  afterAll(() => {
    allRequests.length = 0;
  });

  it("uses only the access in INFLUXDB_CLUSTERED_RBAC_RULES, and every rule in it", () => {
    const triples = new Set(
      allRequests
        .filter((r) => r.verb !== undefined)
        .map((r) => `${r.apiGroup ?? ""}|${r.resource}|${r.verb}`),
    );
    expect(triples.size).toBeGreaterThan(0);
    const granted = new Set(
      INFLUXDB_CLUSTERED_RBAC_RULES.flatMap((rule) =>
        rule.apiGroups.flatMap((g) =>
          rule.resources.flatMap((res) => rule.verbs.map((v) => `${g}|${res}|${v}`)),
        ),
      ),
    );
    expect([...triples].filter((t) => !granted.has(t))).toEqual([]);
    expect([...granted].filter((t) => !triples.has(t))).toEqual([]);
    // Every request the adapter sent went to a namespaced resource API, never elsewhere.
    expect(allRequests.filter((r) => r.verb === undefined).map((r) => r.path)).toEqual([]);
  });
});
