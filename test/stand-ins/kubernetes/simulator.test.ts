import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  Watch,
} from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { influxdbClusteredSimulator } from "../../../src/kinds/influxdb-clustered/sandbox/simulated-cluster.js";
import {
  type KubernetesSimulator,
  type KubernetesSimulatorOptions,
  kubeconfigFor,
  type SimEvent,
  startKubernetesSimulator,
  writeKubeconfig,
} from "../../../stand-ins/kubernetes/index.js";

const NS = "influxdb";
const merge = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
const strategic = setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch);

let sims: KubernetesSimulator[] = [];

afterEach(async () => {
  await Promise.all(sims.map((s) => s.close()));
  sims = [];
});

async function start(options: KubernetesSimulatorOptions = {}) {
  const sim = await startKubernetesSimulator({ ...influxdbClusteredSimulator(), ...options });
  sims.push(sim);
  const kc = kubeconfigFor(sim);
  return {
    sim,
    kc,
    apps: kc.makeApiClient(AppsV1Api),
    core: kc.makeApiClient(CoreV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
  };
}

interface WatchLine {
  type: string;
  object: {
    metadata?: { name?: string; resourceVersion?: string; deletionTimestamp?: unknown };
    status?: { phase?: string; conditions?: { type: string; status: string }[] };
    code?: number;
  };
}

async function until(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Opens a watch with the real client and collects its events until the stream ends. */
async function openWatch(
  kc: KubeConfig,
  path: string,
  query: Record<string, string | number | boolean>,
) {
  const lines: WatchLine[] = [];
  let resolveEnded: (err: unknown) => void = () => {};
  const ended = new Promise<unknown>((resolve) => {
    resolveEnded = resolve;
  });
  const controller = await new Watch(kc).watch(
    path,
    query,
    (type, object) => lines.push({ type, object: object as WatchLine["object"] }),
    (err) => resolveEnded(err),
  );
  return { lines, ended, stop: () => controller.abort() };
}

function apiError(err: unknown): {
  code: number;
  body: { reason?: string; message?: string; code?: number };
} {
  expect(err).toBeInstanceOf(ApiException);
  const e = err as ApiException<string | undefined>;
  // client-node drops the body of a 401.
  return {
    code: e.code,
    body: e.body ? (JSON.parse(e.body) as { reason?: string; message?: string }) : {},
  };
}

async function failure(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (err) {
    return apiError(err);
  }
  throw new Error("expected the call to fail");
}

const podEvents = (events: readonly SimEvent[], type: SimEvent["type"]) =>
  events.filter((e) => e.type === type).map((e) => ("pod" in e ? e.pod : ""));

describe("Kubernetes API simulator: the install it serves", () => {
  it("has the six InfluxDB Clustered workloads with ready, realistically named pods", async () => {
    const { apps, core } = await start();
    const deployments = await apps.listNamespacedDeployment({ namespace: NS });
    const statefulSets = await apps.listNamespacedStatefulSet({ namespace: NS });
    const replicas = Object.fromEntries(
      [...deployments.items, ...statefulSets.items].map((w) => [
        w.metadata?.name,
        w.spec?.replicas,
      ]),
    );
    expect(replicas).toEqual({
      "global-gc": 1,
      "global-router": 3,
      "iox-shared-querier": 2,
      "iox-shared-compactor": 1,
      "iox-shared-ingester": 3,
      "iox-shared-catalog": 3,
    });

    const pods = await core.listNamespacedPod({ namespace: NS });
    const names = pods.items.map((p) => p.metadata?.name ?? "");
    expect(names).toHaveLength(13);
    expect(names).toEqual(
      expect.arrayContaining([
        "iox-shared-catalog-0",
        "iox-shared-catalog-2",
        "iox-shared-compactor-0",
      ]),
    );
    for (const name of names.filter((n) => n.startsWith("global-router"))) {
      expect(name).toMatch(/^global-router-[a-z0-9]{10}-[a-z0-9]{5}$/);
    }
    for (const pod of pods.items) {
      expect(pod.status?.phase).toBe("Running");
      expect(pod.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
      expect(pod.metadata?.labels?.app).toBe(
        pod.metadata?.name?.replace(/-(\d+|[a-z0-9]{10}-[a-z0-9]{5})$/, ""),
      );
    }
    const catalog = pods.items.find((p) => p.metadata?.name === "iox-shared-catalog-0");
    expect(catalog?.status?.containerStatuses?.map((c) => c.ready)).toEqual([true, true]);
  });

  it("takes replica counts, timing and names from options", async () => {
    const { apps, core } = await start({
      namespace: "tsdb",
      overrides: { "iox-shared-ingester": { replicas: 5 } },
      components: [
        { name: "iox-shared-ingester", kind: "StatefulSet", replicas: 1 },
        { name: "global-router", kind: "Deployment", replicas: 0 },
      ],
    });
    const scale = await apps.readNamespacedStatefulSetScale({
      name: "iox-shared-ingester",
      namespace: "tsdb",
    });
    expect(scale.spec?.replicas).toBe(5);
    expect((await core.listNamespacedPod({ namespace: "tsdb" })).items).toHaveLength(5);
    // Scale's spec.replicas is omitempty, as on a real API server.
    const router = await apps.readNamespacedDeploymentScale({
      name: "global-router",
      namespace: "tsdb",
    });
    expect(router.spec?.replicas).toBeUndefined();
  });
});

describe("Kubernetes API simulator: the scale subresource", () => {
  it("accepts the client's default JSON patch, merge patches and PUT, and bumps resourceVersion", async () => {
    const { apps } = await start();
    const before = await apps.readNamespacedDeploymentScale({
      name: "global-router",
      namespace: NS,
    });

    const afterJsonPatch = await apps.patchNamespacedDeploymentScale({
      name: "global-router",
      namespace: NS,
      body: [{ op: "replace", path: "/spec/replicas", value: 2 }],
    });
    expect(afterJsonPatch.spec?.replicas).toBe(2);
    expect(Number(afterJsonPatch.metadata?.resourceVersion)).toBeGreaterThan(
      Number(before.metadata?.resourceVersion),
    );

    const afterMerge = await apps.patchNamespacedStatefulSetScale(
      { name: "iox-shared-compactor", namespace: NS, body: { spec: { replicas: 0 } } },
      merge,
    );
    expect(afterMerge.spec?.replicas).toBeUndefined();

    const afterStrategic = await apps.patchNamespacedStatefulSetScale(
      { name: "iox-shared-compactor", namespace: NS, body: { spec: { replicas: 2 } } },
      strategic,
    );
    expect(afterStrategic.spec?.replicas).toBe(2);

    const current = await apps.readNamespacedDeploymentScale({ name: "global-gc", namespace: NS });
    const replaced = await apps.replaceNamespacedDeploymentScale({
      name: "global-gc",
      namespace: NS,
      body: { ...current, spec: { replicas: 4 } },
    });
    expect(replaced.spec?.replicas).toBe(4);
  });

  it("answers Kubernetes Status errors: 404, 409 for a stale resourceVersion, 422, 415", async () => {
    const { apps, sim } = await start();
    const missing = await failure(
      apps.readNamespacedStatefulSetScale({ name: "nope", namespace: NS }),
    );
    expect(missing).toMatchObject({
      code: 404,
      body: { reason: "NotFound", message: 'statefulsets.apps "nope" not found' },
    });
    // A Deployment is not a StatefulSet.
    expect(
      (await failure(apps.readNamespacedStatefulSetScale({ name: "global-gc", namespace: NS })))
        .code,
    ).toBe(404);

    const stale = await apps.readNamespacedDeploymentScale({ name: "global-gc", namespace: NS });
    sim.scale("global-gc", 2);
    const conflict = await failure(
      apps.replaceNamespacedDeploymentScale({
        name: "global-gc",
        namespace: NS,
        body: { ...stale, spec: { replicas: 5 } },
      }),
    );
    expect(conflict).toMatchObject({ code: 409, body: { reason: "Conflict" } });
    expect(sim.snapshot().components.find((c) => c.name === "global-gc")?.specReplicas).toBe(2);

    const invalid = await failure(
      apps.patchNamespacedDeploymentScale(
        { name: "global-gc", namespace: NS, body: { spec: { replicas: -1 } } },
        merge,
      ),
    );
    expect(invalid).toMatchObject({ code: 422, body: { reason: "Invalid" } });

    const unsupported = await failure(
      apps.patchNamespacedDeploymentScale(
        { name: "global-gc", namespace: NS, body: { spec: { replicas: 1 } } },
        setHeaderOptions("Content-Type", "application/json"),
      ),
    );
    expect(unsupported.code).toBe(415);
  });
});

describe("Kubernetes API simulator: pod lifecycle", () => {
  it("scales a StatefulSet down from the highest ordinal, pods terminating before they go", async () => {
    const { apps, core, sim } = await start({ timing: { terminationDelayMs: 40 } });
    // Held while we look, so the check does not race the termination timer.
    sim.neverTerminate("iox-shared-catalog");
    await apps.patchNamespacedStatefulSetScale(
      { name: "iox-shared-catalog", namespace: NS, body: { spec: { replicas: 1 } } },
      merge,
    );
    const during = await core.listNamespacedPod({
      namespace: NS,
      labelSelector: "app=iox-shared-catalog",
    });
    const terminating = during.items.filter((p) => p.metadata?.deletionTimestamp !== undefined);
    expect(terminating.map((p) => p.metadata?.name)).toEqual(["iox-shared-catalog-2"]);
    expect(during.items).toHaveLength(3);

    sim.neverTerminate("iox-shared-catalog", false);
    await sim.waitFor(
      (s) => s.components.find((c) => c.name === "iox-shared-catalog")?.pods.length === 1,
      2000,
    );
    const after = await core.listNamespacedPod({
      namespace: NS,
      labelSelector: "app=iox-shared-catalog",
    });
    expect(after.items.map((p) => p.metadata?.name)).toEqual(["iox-shared-catalog-0"]);
    expect(podEvents(sim.events(), "pod-terminating")).toEqual([
      "iox-shared-catalog-2",
      "iox-shared-catalog-1",
    ]);
    expect(podEvents(sim.events(), "pod-deleted")).toEqual([
      "iox-shared-catalog-2",
      "iox-shared-catalog-1",
    ]);
  });

  it("gives ingesters longer to terminate than other components (WAL flush)", async () => {
    const { sim } = await start({
      timing: { terminationDelayMs: 30 },
      overrides: { "iox-shared-ingester": { terminationDelayMs: 150 } },
    });
    sim.scale("iox-shared-ingester", 2);
    sim.scale("iox-shared-compactor", 0);
    await sim.waitFor(
      (s) =>
        s.components
          .filter((c) => c.name.match(/ingester|compactor/))
          .every((c) => c.pods.length === c.specReplicas),
      2000,
    );
    const span = (pod: string) => {
      const start =
        sim.events().find((e) => e.type === "pod-terminating" && e.pod === pod)?.at ?? 0;
      const end = sim.events().find((e) => e.type === "pod-deleted" && e.pod === pod)?.at ?? 0;
      return end - start;
    };
    expect(span("iox-shared-ingester-2")).toBeGreaterThanOrEqual(145);
    expect(span("iox-shared-compactor-0")).toBeLessThan(span("iox-shared-ingester-2"));
  });

  it("brings new pods up Pending → Running (not ready) → Ready, one ordinal at a time", async () => {
    const { sim, kc } = await start({
      timing: { startDelayMs: 20, readyDelayMs: 40 },
      overrides: { "iox-shared-catalog": { replicas: 0 } },
    });
    const from = sim.snapshot().resourceVersion;
    sim.scale("iox-shared-catalog", 2);
    await sim.waitFor(
      (s) => s.components.find((c) => c.name === "iox-shared-catalog")?.readyReplicas === 2,
      2000,
    );
    // Replayed from the watch history, every state each pod went through, as clients saw it.
    const watch = await openWatch(kc, `/api/v1/namespaces/${NS}/pods`, {
      labelSelector: "app=iox-shared-catalog",
      resourceVersion: from,
    });
    await until(() => watch.lines.length >= 6);
    watch.stop();
    const ready = (l: WatchLine) =>
      l.object.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
    // OrderedReady: ordinal 1 is created only once ordinal 0 is Ready.
    expect(
      watch.lines.map(
        (l) => `${l.type} ${l.object.metadata?.name} ${l.object.status?.phase} ${ready(l)}`,
      ),
    ).toEqual([
      "ADDED iox-shared-catalog-0 Pending false",
      "MODIFIED iox-shared-catalog-0 Running false",
      "MODIFIED iox-shared-catalog-0 Running true",
      "ADDED iox-shared-catalog-1 Pending false",
      "MODIFIED iox-shared-catalog-1 Running false",
      "MODIFIED iox-shared-catalog-1 Running true",
    ]);
    const sequence = sim
      .events()
      .filter((e) => "pod" in e && e.component === "iox-shared-catalog")
      .map((e) => `${e.type} ${"pod" in e ? e.pod : ""}`);
    expect(sequence).toEqual([
      "pod-created iox-shared-catalog-0",
      "pod-running iox-shared-catalog-0",
      "pod-ready iox-shared-catalog-0",
      "pod-created iox-shared-catalog-1",
      "pod-running iox-shared-catalog-1",
      "pod-ready iox-shared-catalog-1",
    ]);
  });

  it("starts and removes all pods at once with the Parallel policy, and replaces Deployment pods", async () => {
    const { sim } = await start({
      overrides: { "iox-shared-ingester": { podManagementPolicy: "Parallel", replicas: 0 } },
    });
    sim.scale("iox-shared-ingester", 3);
    expect(
      sim
        .snapshot()
        .components.find((c) => c.name === "iox-shared-ingester")
        ?.pods.map((p) => p.phase),
    ).toEqual(["Pending", "Pending", "Pending"]);
    const router = sim.snapshot().components.find((c) => c.name === "global-router");
    const victim = router?.pods[0]?.name ?? "";
    expect(sim.deletePod(victim)).toBe(true);
    await sim.waitFor((s) => {
      const r = s.components.find((c) => c.name === "global-router");
      return r?.readyReplicas === 3 && !r.pods.some((p) => p.name === victim);
    }, 2000);
  });
});

describe("Kubernetes API simulator: label selectors and watches", () => {
  it("filters pods by equality, set and inequality selectors, and rejects bad ones", async () => {
    const { core } = await start();
    const names = async (labelSelector: string) =>
      (await core.listNamespacedPod({ namespace: NS, labelSelector })).items.map(
        (p) => p.metadata?.labels?.app,
      );
    expect(new Set(await names("app=iox-shared-catalog"))).toEqual(new Set(["iox-shared-catalog"]));
    expect(new Set(await names("app in (iox-shared-catalog, global-gc)"))).toEqual(
      new Set(["iox-shared-catalog", "global-gc"]),
    );
    expect(await names("app!=iox-shared-catalog")).toHaveLength(10);
    expect(await names("app notin (iox-shared-catalog,iox-shared-ingester),app")).toHaveLength(7);
    expect(
      (await failure(core.listNamespacedPod({ namespace: NS, labelSelector: "app in (a" }))).code,
    ).toBe(400);
  });

  it("streams ADDED/MODIFIED/DELETED from a resourceVersion and ends at timeoutSeconds", async () => {
    const { kc, core, sim } = await start({ timing: { terminationDelayMs: 20 } });
    const list = await core.listNamespacedPod({ namespace: NS, labelSelector: "app=global-gc" });
    sim.scale("global-gc", 0); // happens before the watch opens: must be replayed
    const watch = await openWatch(kc, `/api/v1/namespaces/${NS}/pods`, {
      labelSelector: "app=global-gc",
      resourceVersion: list.metadata?.resourceVersion ?? "",
      timeoutSeconds: 1,
    });
    const started = Date.now();
    expect(await watch.ended).toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(watch.lines.map((l) => l.type)).toEqual(["MODIFIED", "DELETED"]);
    expect(watch.lines[0]?.object.metadata?.deletionTimestamp).toBeDefined();
  });

  it("starts with ADDED for every object when no resourceVersion is given, and sends bookmarks", async () => {
    const { kc } = await start({ bookmarkIntervalMs: 50 });
    const watch = await openWatch(kc, `/api/v1/namespaces/${NS}/pods`, {
      labelSelector: "app in (iox-shared-catalog)",
      allowWatchBookmarks: true,
      timeoutSeconds: 1,
    });
    await new Promise((r) => setTimeout(r, 250));
    watch.stop();
    expect(watch.lines.filter((l) => l.type === "ADDED")).toHaveLength(3);
    expect(watch.lines.filter((l) => l.type === "BOOKMARK").length).toBeGreaterThanOrEqual(1);
  });

  it("watches workloads and the AppInstance too", async () => {
    const { kc, sim } = await start();
    const sts = await openWatch(kc, `/apis/apps/v1/namespaces/${NS}/statefulsets`, {
      resourceVersion: sim.snapshot().resourceVersion,
    });
    const app = await openWatch(kc, `/apis/kubecfg.dev/v1alpha1/namespaces/${NS}/appinstances`, {
      resourceVersion: sim.snapshot().resourceVersion,
    });
    sim.scale("iox-shared-compactor", 0);
    sim.setPaused(true);
    await new Promise((r) => setTimeout(r, 100));
    sts.stop();
    app.stop();
    expect(sts.lines[0]).toMatchObject({
      type: "MODIFIED",
      object: { metadata: { name: "iox-shared-compactor" } },
    });
    expect(app.lines).toMatchObject([
      { type: "MODIFIED", object: { metadata: { name: "influxdb" } } },
    ]);
  });

  it("answers a too-old resourceVersion with an ERROR event carrying 410 Expired", async () => {
    const { kc, core, sim } = await start();
    const list = await core.listNamespacedPod({ namespace: NS });
    sim.scale("global-gc", 0);
    sim.compactWatchHistory();
    const watch = await openWatch(kc, `/api/v1/namespaces/${NS}/pods`, {
      resourceVersion: list.metadata?.resourceVersion ?? "",
    });
    expect(await watch.ended).toBeNull();
    expect(watch.lines).toHaveLength(1);
    expect(watch.lines[0]).toMatchObject({ type: "ERROR", object: { code: 410 } });
  });

  it("ends watches on demand and after closeWatchesAfter()", async () => {
    const { kc, sim } = await start();
    sim.closeWatchesAfter(100);
    const watch = await openWatch(kc, `/api/v1/namespaces/${NS}/pods`, {});
    expect(sim.activeWatches()).toBe(1);
    const started = Date.now();
    expect(await watch.ended).toBeNull();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(sim.activeWatches()).toBe(0);

    sim.closeWatchesAfter(null);
    const second = await openWatch(kc, `/api/v1/namespaces/${NS}/pods`, {});
    sim.closeWatches();
    expect(await second.ended).toBeNull();
  });
});

describe("Kubernetes API simulator: what the caller describes", () => {
  it("serves nothing of its own: no workloads and no custom resource unless given", async () => {
    const sim = await startKubernetesSimulator();
    sims.push(sim);
    const snap = sim.snapshot();
    expect(snap.namespace).toBe("default");
    expect(snap.components).toEqual([]);
    expect(snap.customResource).toBeUndefined();
    expect(() => sim.setPaused(true)).toThrow(/pausedField/);
    const custom = kubeconfigFor(sim).makeApiClient(CustomObjectsApi);
    const missing = await failure(
      custom.getNamespacedCustomObject({
        group: "kubecfg.dev",
        version: "v1alpha1",
        namespace: "default",
        plural: "appinstances",
        name: "influxdb",
      }),
    );
    expect(missing.code).toBe(404);
  });

  it("serves a registered custom resource: watch with bookmarks, merge patch, its paused field", async () => {
    const sim = await startKubernetesSimulator({
      namespace: "shop",
      components: [{ name: "web", kind: "Deployment", replicas: 1 }],
      customResource: {
        group: "example.com",
        version: "v1",
        plural: "shops",
        kind: "Shop",
        name: "main",
        pausedField: "suspend",
        spec: { size: 1 },
      },
      bookmarkIntervalMs: 20,
    });
    sims.push(sim);
    await sim.waitFor((s) => s.components.every((c) => c.readyReplicas === 1));
    const kc = kubeconfigFor(sim);
    const pod = (await kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: "shop" }))
      .items[0];
    expect(pod?.spec?.containers.map((c) => c.name)).toEqual(["web"]);
    expect(sim.snapshot().customResource).toEqual({ kind: "Shop", name: "main", paused: false });

    const watch = await openWatch(kc, "/apis/example.com/v1/namespaces/shop/shops", {
      resourceVersion: sim.snapshot().resourceVersion,
      allowWatchBookmarks: true,
    });
    sim.setPaused(true);
    await until(
      () =>
        watch.lines.some((l) => l.type === "MODIFIED") &&
        watch.lines.some((l) => l.type === "BOOKMARK"),
    );
    watch.stop();
    expect(watch.lines.find((l) => l.type === "MODIFIED")).toMatchObject({
      object: { kind: "Shop", apiVersion: "example.com/v1", spec: { size: 1, suspend: true } },
    });
    expect(watch.lines.find((l) => l.type === "BOOKMARK")).toMatchObject({
      object: { kind: "Shop", apiVersion: "example.com/v1" },
    });

    const custom = kc.makeApiClient(CustomObjectsApi);
    const ref = { group: "example.com", version: "v1", namespace: "shop", plural: "shops" };
    const resumed = (await custom.patchNamespacedCustomObject(
      { ...ref, name: "main", body: { spec: { suspend: false } } },
      merge,
    )) as { spec: { size?: number; suspend?: boolean } };
    expect(resumed.spec).toEqual({ size: 1, suspend: false });
    const invalid = await failure(
      custom.patchNamespacedCustomObject(
        { ...ref, name: "main", body: { spec: { suspend: "yes" } } },
        merge,
      ),
    );
    expect(invalid.code).toBe(422);
    expect(invalid.body.message).toContain('Shop.example.com "main" is invalid: spec.suspend');
    expect(sim.events().filter((e) => e.type === "pause")).toMatchObject([
      { resource: "main", from: false, to: true, source: "direct" },
      { resource: "main", from: true, to: false, source: "api" },
    ]);
    expect(sim.snapshot().customResource?.paused).toBe(false);
  });
});

describe("Kubernetes API simulator: the AppInstance", () => {
  it("pauses and unpauses through merge and JSON patches, and refuses strategic merge", async () => {
    const { custom, sim } = await start();
    const ref = {
      group: "kubecfg.dev",
      version: "v1alpha1",
      namespace: NS,
      plural: "appinstances",
      name: "influxdb",
    };
    const initial = (await custom.getNamespacedCustomObject(ref)) as { spec: { pause?: boolean } };
    expect(initial.spec.pause).toBeUndefined();

    const paused = (await custom.patchNamespacedCustomObject(
      { ...ref, body: { spec: { pause: true } } },
      merge,
    )) as {
      spec: { pause?: boolean; package?: unknown };
    };
    expect(paused.spec.pause).toBe(true);
    expect(paused.spec.package).toBeDefined();
    expect(sim.snapshot().customResource).toEqual({
      kind: "AppInstance",
      name: "influxdb",
      paused: true,
    });

    await custom.patchNamespacedCustomObject({
      ...ref,
      body: [{ op: "replace", path: "/spec/pause", value: false }],
    });
    expect(sim.snapshot().customResource?.paused).toBe(false);

    expect(
      (
        await failure(
          custom.patchNamespacedCustomObject(
            { ...ref, body: { spec: { pause: true } } },
            strategic,
          ),
        )
      ).code,
    ).toBe(415);
    expect(
      (
        await failure(
          custom.patchNamespacedCustomObject({ ...ref, body: { spec: { pause: "yes" } } }, merge),
        )
      ).code,
    ).toBe(422);
    expect((await failure(custom.getNamespacedCustomObject({ ...ref, name: "other" }))).code).toBe(
      404,
    );
    expect(
      sim
        .events()
        .filter((e) => e.type === "pause")
        .map((e) => ("to" in e ? e.to : undefined)),
    ).toEqual([true, false]);
  });
});

describe("Kubernetes API simulator: fault injection", () => {
  it("fails the next matching requests with the given status, then serves normally", async () => {
    const { apps, sim } = await start();
    sim.failNext({ verb: "patch", resource: "statefulsets/scale", status: 500, count: 2 });
    sim.failNext({ pathIncludes: "/deployments/global-gc/scale", status: 409 });
    const patch = () =>
      apps.patchNamespacedStatefulSetScale(
        { name: "iox-shared-ingester", namespace: NS, body: { spec: { replicas: 1 } } },
        merge,
      );
    expect((await failure(patch())).body.reason).toBe("InternalError");
    expect((await failure(patch())).code).toBe(500);
    expect((await patch()).spec?.replicas).toBe(1);
    expect(
      (await failure(apps.readNamespacedDeploymentScale({ name: "global-gc", namespace: NS })))
        .code,
    ).toBe(409);
    // Failed writes changed nothing: one scale event only.
    expect(sim.events().filter((e) => e.type === "scale")).toHaveLength(1);
    expect(sim.requestCount({ resource: "statefulsets/scale", verb: "patch" })).toBe(3);
    expect(
      sim
        .requests()
        .filter((r) => r.faulted)
        .map((r) => r.status),
    ).toEqual([500, 500, 409]);
  });

  it("resets connections and delays requests", async () => {
    const { apps, sim } = await start();
    sim.resetConnectionNext({ resource: "deployments/scale" });
    await expect(
      apps.readNamespacedDeploymentScale({ name: "global-gc", namespace: NS }),
    ).rejects.toMatchObject({
      // client-node 2.x fetches with undici, which wraps the socket error as `cause`.
      message: "fetch failed",
      cause: { code: "ECONNRESET" },
    });
    const remove = sim.addLatency({ resource: "deployments/scale" }, 300);
    const started = Date.now();
    await apps.readNamespacedDeploymentScale({ name: "global-gc", namespace: NS });
    const delayed = Date.now() - started;
    expect(delayed).toBeGreaterThanOrEqual(295);
    remove();
    const again = Date.now();
    await apps.readNamespacedDeploymentScale({ name: "global-gc", namespace: NS });
    expect(Date.now() - again).toBeLessThan(delayed);
  });

  it("keeps pods terminating under neverTerminate and unready under neverReady until lifted", async () => {
    const { sim } = await start({
      timing: { terminationDelayMs: 20, startDelayMs: 10, readyDelayMs: 20 },
    });
    sim.neverTerminate("iox-shared-ingester");
    sim.scale("iox-shared-ingester", 0);
    await new Promise((r) => setTimeout(r, 150));
    const ingester = () => sim.snapshot().components.find((c) => c.name === "iox-shared-ingester");
    expect(ingester()?.pods.map((p) => [p.name, p.terminating])).toEqual(
      [
        ["iox-shared-ingester-2", true],
        ["iox-shared-ingester-0", false],
        ["iox-shared-ingester-1", false],
      ].sort(),
    );
    sim.neverTerminate("iox-shared-ingester", false);
    await sim.waitFor(() => ingester()?.pods.length === 0, 2000);

    sim.neverReady("global-router");
    sim.scale("global-router", 5);
    await sim.waitFor(
      (s) =>
        s.components
          .find((c) => c.name === "global-router")
          ?.pods.filter((p) => p.phase === "Running").length === 5,
      2000,
    );
    await new Promise((r) => setTimeout(r, 100));
    expect(sim.snapshot().components.find((c) => c.name === "global-router")?.readyReplicas).toBe(
      3,
    );
    sim.neverReady("global-router", false);
    await sim.waitFor(
      (s) => s.components.find((c) => c.name === "global-router")?.readyReplicas === 5,
      2000,
    );
  });

  it("keeps a workload's status, generation aside, as it was while frozen, and catches up on release", async () => {
    const { sim, apps } = await start({ timing: { terminationDelayMs: 20 } });
    const before = await apps.readNamespacedStatefulSet({
      name: "iox-shared-catalog",
      namespace: NS,
    });
    expect(before.status?.observedGeneration).toBe(before.metadata?.generation);
    sim.freezeWorkloadStatus("iox-shared-catalog");
    sim.scale("iox-shared-catalog", 0);
    await sim.waitFor(
      (snap) => snap.components.find((c) => c.name === "iox-shared-catalog")?.pods.length === 0,
      5_000,
    );
    const frozen = await apps.readNamespacedStatefulSet({
      name: "iox-shared-catalog",
      namespace: NS,
    });
    expect(frozen.metadata?.generation).toBe((before.metadata?.generation ?? 0) + 1);
    expect(frozen.status?.observedGeneration).toBe(before.metadata?.generation);
    expect([frozen.status?.replicas, frozen.status?.readyReplicas]).toEqual([3, 3]);
    sim.releaseWorkloadStatus("iox-shared-catalog");
    const after = await apps.readNamespacedStatefulSet({
      name: "iox-shared-catalog",
      namespace: NS,
    });
    expect(after.status?.observedGeneration).toBe(frozen.metadata?.generation);
    // Zero counts are omitted, as by the API server.
    expect([after.status?.replicas, after.status?.readyReplicas]).toEqual([undefined, undefined]);
  });

  it("relabels a pod without its owner reference while its controller still counts it", async () => {
    const { sim, apps, core } = await start();
    expect(sim.relabelPod("iox-shared-catalog-0", "debug", { dropOwner: true })).toBe(true);
    const pod = await core.readNamespacedPod({ name: "iox-shared-catalog-0", namespace: NS });
    expect(pod.metadata?.labels?.app).toBe("debug");
    expect(pod.metadata?.ownerReferences ?? []).toEqual([]);
    const sts = await apps.readNamespacedStatefulSet({ name: "iox-shared-catalog", namespace: NS });
    expect(sts.status?.replicas).toBe(3);
  });

  it("requires the bearer token and can enforce RBAC rules", async () => {
    const { sim } = await start({
      rbacRules: [{ apiGroups: ["apps"], resources: ["statefulsets/scale"], verbs: ["get"] }],
    });
    const wrong = kubeconfigFor(sim, { token: "wrong" }).makeApiClient(AppsV1Api);
    expect(
      (
        await failure(
          wrong.readNamespacedStatefulSetScale({ name: "iox-shared-ingester", namespace: NS }),
        )
      ).code,
    ).toBe(401);
    const apps = kubeconfigFor(sim).makeApiClient(AppsV1Api);
    await apps.readNamespacedStatefulSetScale({ name: "iox-shared-ingester", namespace: NS });
    const denied = await failure(
      apps.patchNamespacedStatefulSetScale(
        { name: "iox-shared-ingester", namespace: NS, body: { spec: { replicas: 0 } } },
        merge,
      ),
    );
    expect(denied.code).toBe(403);
    expect(denied.body.message).toContain('cannot patch resource "statefulsets/scale"');
  });
});

describe("Kubernetes API simulator: observation", () => {
  it("reports changes live, in the same order as the event log", async () => {
    const { sim } = await start({ timing: { terminationDelayMs: 10 } });
    const seen: SimEvent[] = [];
    const off = sim.on("change", (e) => seen.push(e));
    sim.setPaused(true);
    sim.scale("global-gc", 0);
    await sim.waitFor(
      (s) => s.components.find((c) => c.name === "global-gc")?.pods.length === 0,
      2000,
    );
    off();
    expect(seen.map((e) => e.type)).toEqual(["pause", "scale", "pod-terminating", "pod-deleted"]);
    expect(seen).toEqual(sim.events());
    expect(seen[1]).toMatchObject({
      type: "scale",
      component: "global-gc",
      kind: "Deployment",
      from: 1,
      to: 0,
      source: "direct",
    });
    expect(seen.every((e, i) => i === 0 || e.at >= (seen[i - 1]?.at ?? 0))).toBe(true);
  });

  it("works through a kubeconfig file, as with KUBECONFIG", async () => {
    const sim = await startKubernetesSimulator(influxdbClusteredSimulator());
    sims.push(sim);
    const file = await writeKubeconfig(
      { "prod-admin": sim, other: sim },
      { currentContext: "other" },
    );
    const kc = new KubeConfig();
    kc.loadFromFile(file);
    expect(kc.getContexts().map((c) => c.name)).toEqual(["prod-admin", "other"]);
    kc.setCurrentContext("prod-admin");
    const scale = await kc
      .makeApiClient(AppsV1Api)
      .readNamespacedStatefulSetScale({ name: "iox-shared-catalog", namespace: NS });
    expect(scale.spec?.replicas).toBe(3);
    expect(sim.requests().at(-1)).toMatchObject({
      verb: "get",
      resource: "statefulsets/scale",
      apiGroup: "apps",
      status: 200,
    });
  });
});
