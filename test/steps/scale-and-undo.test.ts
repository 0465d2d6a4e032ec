import { afterEach, describe, expect, it } from "vitest";
import { rbacRulesFor } from "../../src/adapters/kubernetes/rbac.js";
import { INFLUXDB_CLUSTERED_RBAC_RULES } from "../../src/kinds/influxdb-clustered/runbook/rbac.js";
import type { StepDeps } from "../../src/steps/index.js";
import {
  describeRollback,
  patchOperations,
  patchResource,
  recordedCounts,
  rollbackAfter,
  scaleBack,
  scaleOperations,
  scaleWorkloads,
  undoRecorded,
  WAIT_OPERATIONS,
  type WorkloadSelection,
  waitPodsGone,
} from "../../src/steps/index.js";
import type { ComponentConfig } from "../../stand-ins/kubernetes/types.js";
import { type StepEnv, startStepEnv } from "./step-env.js";

const COMPONENTS: ComponentConfig[] = [
  { name: "pachd", kind: "Deployment", replicas: 2 },
  {
    name: "pipeline-edges-v1",
    kind: "ReplicationController",
    replicas: 1,
    labels: { suite: "pipeline" },
  },
  {
    name: "pipeline-montage-v1",
    kind: "ReplicationController",
    replicas: 2,
    labels: { suite: "pipeline" },
  },
  { name: "etcd", kind: "StatefulSet", replicas: 1 },
];
const ORIGINAL = { pachd: 2, "pipeline-edges-v1": 1, "pipeline-montage-v1": 2 };
const SELECTION: WorkloadSelection[] = [
  { kind: "Deployment", names: ["pachd"] },
  { kind: "ReplicationController", labelSelector: "suite=pipeline" },
];
const WORKLOADS = [
  { kind: "Deployment" as const, name: "pachd" },
  { kind: "ReplicationController" as const, name: "pipeline-edges-v1" },
  { kind: "ReplicationController" as const, name: "pipeline-montage-v1" },
];
const PIPELINE = { group: "pps.pachyderm.io", version: "v1", plural: "pipelines", name: "edges" };
const APP_INSTANCE = {
  group: "kubecfg.dev",
  version: "v1alpha1",
  plural: "appinstances",
  name: "influxdb",
};

class Crash extends Error {}

/** Deps and a context that crash right after the `at`-th durable write or cluster change. */
function crashingAfter(deps: StepDeps, at: number) {
  let count = 0;
  const tick = () => {
    count++;
    if (count === at) throw new Crash(`crash after durable point ${at}`);
  };
  return {
    count: () => count,
    wrap<T extends { fact(k: string, v: unknown): Promise<void> }>(ctx: T): T {
      const fact = ctx.fact.bind(ctx);
      return Object.assign(ctx, {
        fact: async (k: string, v: unknown) => {
          await fact(k, v);
          tick();
        },
      });
    },
    deps: {
      compensations: {
        ...deps.compensations,
        record: async (...args: Parameters<StepDeps["compensations"]["record"]>) => {
          await deps.compensations.record(...args);
          tick();
        },
      },
      cluster: Object.assign(Object.create(deps.cluster), {
        scale: async (...args: Parameters<StepDeps["cluster"]["scale"]>) => {
          await deps.cluster.scale(...args);
          tick();
        },
      }),
    } as StepDeps,
  };
}

let env: StepEnv | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

describe("scaleWorkloads", () => {
  it("records the counts before the first scale and, crashed after any durable point, resumes without recording anything twice or taking 0 for an original", async () => {
    env = await startStepEnv("steps_scale", { components: COMPONENTS });
    const e = env;
    // A clean run counts its durable points: 1 checkpoint, 3 compensations, 3 scales.
    const probe = crashingAfter(e.deps, Number.POSITIVE_INFINITY);
    const clean = probe.wrap(await e.phase(5, "scale-down", { requestId: await e.newRequest() }));
    await scaleWorkloads(clean, probe.deps, { id: "stop", workloads: SELECTION, replicas: 0 });
    const points = probe.count();
    expect(points).toBe(7);
    for (let at = 1; at <= points; at++) {
      for (const [name, n] of Object.entries(ORIGINAL)) e.sim.scale(name, n);
      const id = await e.newRequest();
      const crash = crashingAfter(e.deps, at);
      const first = crash.wrap(await e.phase(5, "scale-down", { requestId: id }));
      await expect(
        scaleWorkloads(first, crash.deps, { id: "stop", workloads: SELECTION, replicas: 0 }),
      ).rejects.toBeInstanceOf(Crash);
      // The worker comes back: a new attempt of the same phase, with what the first one saved.
      const second = await e.phase(5, "scale-down", { requestId: id });
      expect(second.facts).not.toEqual({});
      const checkpoint = await scaleWorkloads(second, e.deps, {
        id: "stop",
        workloads: SELECTION,
        replicas: 0,
      });
      expect(Object.fromEntries(checkpoint.original.map((w) => [w.name, w.replicas]))).toEqual(
        ORIGINAL,
      );
      const records = await e.compensations.list(id);
      expect(records.map((r) => r.description).sort(), `crash at ${at}`).toEqual([
        "scale Deployment pachd back to 2",
        "scale ReplicationController pipeline-edges-v1 back to 1",
        "scale ReplicationController pipeline-montage-v1 back to 2",
      ]);
      await waitPodsGone(second, e.deps, { workloads: WORKLOADS, timeoutMs: 10_000 });
      // A third attempt after everything is at 0 still knows the counts from before.
      const third = await e.phase(5, "scale-down", { requestId: id });
      expect(recordedCounts(third.facts, "stop")?.original.map((w) => w.replicas)).toEqual([
        2, 1, 2,
      ]);
      await scaleWorkloads(third, e.deps, { id: "stop", workloads: SELECTION, replicas: 0 });
      expect(await e.compensations.list(id)).toHaveLength(3);
    }
  }, 120_000);
});

describe("derived roll back", () => {
  it("undoes patches and scales in reverse order from what was recorded, once, under exactly the Role its steps imply", async () => {
    const operations = [
      ...scaleOperations(SELECTION),
      ...WAIT_OPERATIONS(WORKLOADS),
      ...patchOperations(PIPELINE),
      ...patchOperations(APP_INSTANCE),
    ];
    env = await startStepEnv("steps_undo", {
      components: COMPONENTS,
      rbacRules: rbacRulesFor(operations),
    });
    const e = env;
    e.sim.resources.defineResource({
      apiGroup: "pps.pachyderm.io",
      version: "v1",
      plural: "pipelines",
      kind: "Pipeline",
    });
    e.sim.resources.putObject(
      { apiGroup: "pps.pachyderm.io", plural: "pipelines" },
      { metadata: { name: "edges" }, spec: { parallelism: 4, stopped: false } },
    );
    const down = await e.phase(5, "scale-down");
    await scaleWorkloads(down, e.deps, { id: "stop", workloads: SELECTION, replicas: 0 });
    await waitPodsGone(down, e.deps, { workloads: WORKLOADS, timeoutMs: 10_000 });
    const pause = await e.phase(6, "pause");
    await patchResource(pause, e.deps, {
      id: "operator",
      ref: APP_INSTANCE,
      patch: { spec: { pause: true } },
    });
    await patchResource(pause, e.deps, {
      id: "pipeline",
      ref: PIPELINE,
      patch: { spec: { stopped: true, reason: "restore" } },
    });
    expect(e.sim.snapshot().customResource?.paused).toBe(true);

    const seqBefore = e.sim.requests().length;
    const undo = await e.phase(101, "rollback-undo-recorded");
    const { undone } = await undoRecorded(undo, e.deps);
    expect(undone).toEqual([
      'patch pipelines.pps.pachyderm.io/edges back to {"spec":{"stopped":false,"reason":null}}',
      'patch appinstances.kubecfg.dev/influxdb back to {"spec":{"pause":null}}',
      "scale ReplicationController pipeline-montage-v1 back to 2",
      "scale ReplicationController pipeline-edges-v1 back to 1",
      "scale Deployment pachd back to 2",
    ]);
    const writes = e.sim
      .requests()
      .slice(seqBefore)
      .filter((r) => r.method === "PATCH")
      .map((r) => `${r.resource}/${r.name}`);
    expect(writes).toEqual([
      "pipelines/edges",
      "appinstances/influxdb",
      "replicationcontrollers/scale/pipeline-montage-v1",
      "replicationcontrollers/scale/pipeline-edges-v1",
      "deployments/scale/pachd",
    ]);
    const snap = e.sim.snapshot();
    expect(snap.customResource?.paused).toBe(false);
    expect(Object.fromEntries(snap.components.map((c) => [c.name, c.specReplicas]))).toMatchObject(
      ORIGINAL,
    );
    const pipeline = e.sim.resources.getObject(
      { apiGroup: "pps.pachyderm.io", plural: "pipelines" },
      "edges",
    );
    expect(pipeline?.spec).toEqual({ parallelism: 4, stopped: false });
    // Run again (a crash after the last settle): nothing left, nothing done twice.
    const again = await e.phase(101, "rollback-undo-recorded");
    expect((await undoRecorded(again, e.deps)).undone).toEqual([]);
    expect((await e.compensations.list(e.requestId)).every((c) => c.settledBy === "rollback")).toBe(
      true,
    );
  }, 60_000);

  it("leaves nothing to undo for workloads the run scaled back itself", async () => {
    env = await startStepEnv("steps_scaleback", { components: COMPONENTS });
    const e = env;
    const down = await e.phase(5, "scale-down");
    await scaleWorkloads(down, e.deps, { id: "stop", workloads: SELECTION, replicas: 0 });
    const up = await e.phase(8, "scale-up");
    const checkpoint = recordedCounts(down.facts, "stop");
    if (!checkpoint) throw new Error("no checkpoint");
    await scaleBack(up, e.deps, { checkpoint, id: "stop", phase: "scale-down", only: ["pachd"] });
    const described = await describeRollback(e.deps, e.requestId);
    expect(described).toBe(
      "Roll back will, in this order: scale ReplicationController pipeline-montage-v1 back to 2; scale ReplicationController pipeline-edges-v1 back to 1.",
    );
    // A kind's own first step reads as one sentence with the recorded ones.
    expect(rollbackAfter("Roll back deletes the helper pod", described)).toBe(
      "Roll back deletes the helper pod; after that, it will, in this order: scale ReplicationController pipeline-montage-v1 back to 2; scale ReplicationController pipeline-edges-v1 back to 1.",
    );
    const undo = await e.phase(101, "rollback-undo-recorded");
    // pachd is back by the run's own hand; only the workers are left for roll back.
    expect((await undoRecorded(undo, e.deps)).undone).toEqual([
      "scale ReplicationController pipeline-montage-v1 back to 2",
      "scale ReplicationController pipeline-edges-v1 back to 1",
    ]);
    expect(
      (await e.compensations.list(e.requestId)).map((c) => [c.description, c.settledBy]),
    ).toEqual([
      ["scale Deployment pachd back to 2", "run"],
      ["scale ReplicationController pipeline-edges-v1 back to 1", "rollback"],
      ["scale ReplicationController pipeline-montage-v1 back to 2", "rollback"],
    ]);
    expect(await describeRollback(e.deps, e.requestId)).toBe(
      "Roll back has nothing recorded to undo.",
    );
  }, 60_000);

  it("derives the InfluxDB Clustered Role from the steps it uses: exactly the Helm chart's rules", () => {
    const influx = [
      ...scaleOperations([
        { kind: "Deployment", names: ["global-router"] },
        { kind: "StatefulSet", names: ["iox-shared-catalog"] },
      ]),
      ...WAIT_OPERATIONS([]),
      ...patchOperations(APP_INSTANCE),
    ];
    const norm = (
      rules: readonly {
        apiGroups: readonly string[];
        resources: readonly string[];
        verbs: readonly string[];
      }[],
    ) =>
      rules
        .flatMap((r) =>
          r.apiGroups.flatMap((g) =>
            r.resources.flatMap((res) => r.verbs.map((v) => `${g}|${res}|${v}`)),
          ),
        )
        .sort();
    expect(norm(rbacRulesFor(influx))).toEqual(norm(INFLUXDB_CLUSTERED_RBAC_RULES));
  });
});
