import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  callServiceProxy,
  getConfigMap,
  getResource,
  replaceConfigMap,
  restartPod,
  undoRecorded,
  waitPodsGone,
  waitPodsReady,
} from "../../src/steps/index.js";
import type { ComponentConfig } from "../../stand-ins/kubernetes/types.js";
import { until } from "../jobs/support/until.js";
import { type StepEnv, startStepEnv } from "./step-env.js";

const COMPONENTS: ComponentConfig[] = [
  { name: "pachd", kind: "Deployment", replicas: 2 },
  { name: "pipeline-edges-v1", kind: "ReplicationController", replicas: 2 },
  { name: "etcd", kind: "StatefulSet", replicas: 2, podManagementPolicy: "Parallel" },
];

let env: StepEnv | undefined;
let server: Server | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

describe("waits", () => {
  it("does not pass 'gone' while the StatefulSet still counts a pod that lost its label and owner", async () => {
    env = await startStepEnv("steps_mislabel", { components: COMPONENTS });
    const e = env;
    expect(e.sim.relabelPod("etcd-0", "debug", { dropOwner: true })).toBe(true);
    e.sim.freezeWorkloadStatus("etcd");
    const ctx = await e.phase(1, "stop-etcd");
    await e.deps.cluster.scale("StatefulSet", "etcd", 0);
    let settled = false;
    const wait = waitPodsGone(ctx, e.deps, {
      workloads: [{ kind: "StatefulSet", name: "etcd" }],
      timeoutMs: 30_000,
    }).finally(() => {
      settled = true;
    });
    await e.sim.waitFor(
      (s) => s.components.find((c) => c.name === "etcd")?.pods.length === 0,
      10_000,
    );
    // Every pod is gone, and the wait says why it still holds: the workload disagrees.
    await until(
      () =>
        ctx.progressLines.some((l) =>
          /pods gone, but StatefulSet etcd still reports 2 replicas/.test(l),
        ),
      () => `the workload named in progress; saw ${ctx.progressLines.join(" | ")}`,
      20_000,
    );
    expect(settled).toBe(false);
    e.sim.releaseWorkloadStatus("etcd");
    await wait;
  }, 60_000);

  it("reports an Evicted pod in the thread and does not wait for it to leave", async () => {
    env = await startStepEnv("steps_evicted", { components: COMPONENTS });
    const e = env;
    const victim = e.sim.snapshot().components.find((c) => c.name === "pachd")?.pods[0]?.name ?? "";
    expect(e.sim.evictPod(victim)).toBe(true);
    const ctx = await e.phase(1, "stop-pachd");
    await e.deps.cluster.scale("Deployment", "pachd", 0);
    const outcome = await waitPodsGone(ctx, e.deps, {
      workloads: [{ kind: "Deployment", name: "pachd" }],
      timeoutMs: 20_000,
    });
    expect(outcome.stopped).toEqual([victim]);
    expect(ctx.notes.join("\n")).toContain(`Pod ${victim} of pachd is Failed (Evicted)`);
    // Still there: nobody deleted it.
    expect(
      e.sim
        .snapshot()
        .components.find((c) => c.name === "pachd")
        ?.pods.map((p) => p.name),
    ).toEqual([victim]);
  }, 60_000);

  it("waits for N ready pods of a ReplicationController after a scale-up", async () => {
    // Slow enough to readiness that the wait narrates before it ends.
    env = await startStepEnv("steps_ready", {
      components: COMPONENTS,
      timing: { startDelayMs: 50, readyDelayMs: 300, terminationDelayMs: 30 },
    });
    const e = env;
    const ctx = await e.phase(1, "start");
    await e.deps.cluster.scale("ReplicationController", "pipeline-edges-v1", 4);
    await waitPodsReady(ctx, e.deps, {
      workloads: [{ kind: "ReplicationController", name: "pipeline-edges-v1" }],
      atLeast: 4,
      timeoutMs: 20_000,
    });
    const pods =
      e.sim.snapshot().components.find((c) => c.name === "pipeline-edges-v1")?.pods ?? [];
    expect(pods.filter((p) => p.ready)).toHaveLength(4);
    expect(
      ctx.progressLines.some((l) => /pipeline-edges-v1: \d of 4 needed pods ready/.test(l)),
    ).toBe(true);
  }, 60_000);
});

describe("restartPod", () => {
  it("deletes a ReplicationController's pod and returns once its replacement is Ready; a resumed attempt does not delete the replacement", async () => {
    env = await startStepEnv("steps_restart", { components: COMPONENTS });
    const e = env;
    const before =
      e.sim.snapshot().components.find((c) => c.name === "pipeline-edges-v1")?.pods ?? [];
    const victim = before[0]?.name ?? "";
    const ctx = await e.phase(1, "restart");
    const workload = { kind: "ReplicationController" as const, name: "pipeline-edges-v1" };
    await restartPod(ctx, e.deps, { id: "edges", pod: victim, workload, timeoutMs: 20_000 });
    const after =
      e.sim.snapshot().components.find((c) => c.name === "pipeline-edges-v1")?.pods ?? [];
    expect(after.map((p) => p.name)).not.toContain(victim);
    expect(after.filter((p) => p.ready)).toHaveLength(2);
    expect(e.sim.resources.deletedPods()).toEqual([victim]);
    // A StatefulSet reuses the name: the recorded uid tells the replacement apart.
    const sts = await e.phase(2, "restart-etcd");
    await restartPod(sts, e.deps, {
      id: "etcd",
      pod: "etcd-1",
      workload: { kind: "StatefulSet", name: "etcd" },
      timeoutMs: 20_000,
    });
    const resumed = await e.phase(2, "restart-etcd");
    await restartPod(resumed, e.deps, {
      id: "etcd",
      pod: "etcd-1",
      workload: { kind: "StatefulSet", name: "etcd" },
      timeoutMs: 20_000,
    });
    expect(e.sim.resources.deletedPods()).toEqual([victim, "etcd-1"]);
  }, 60_000);

  it("refuses to delete a pod of another workload", async () => {
    env = await startStepEnv("steps_restart_no", { components: COMPONENTS });
    const e = env;
    const ctx = await e.phase(1, "restart");
    await expect(
      restartPod(ctx, e.deps, {
        id: "x",
        pod: "etcd-0",
        workload: { kind: "Deployment", name: "pachd" },
        timeoutMs: 5_000,
      }),
    ).rejects.toThrow(/belongs to StatefulSet etcd, not Deployment pachd, so it was not deleted/);
    expect(e.sim.resources.deletedPods()).toEqual([]);
  });
});

describe("ConfigMaps and generic objects", () => {
  it("replaces a ConfigMap's data keeping the first data read, and roll back puts it back", async () => {
    env = await startStepEnv("steps_cm", { components: COMPONENTS });
    const e = env;
    e.sim.resources.putObject(
      { apiGroup: "", plural: "configmaps" },
      {
        metadata: { name: "influxdb-data", labels: { app: "influxdb" } },
        data: { "anti-entropy.enabled": "true" },
      },
    );
    const ctx = await e.phase(3, "anti-entropy-off");
    await replaceConfigMap(ctx, e.deps, {
      id: "ae",
      name: "influxdb-data",
      edit: (d) => ({ ...d, "anti-entropy.enabled": "false" }),
    });
    // Resumed after the replace: the original stays the one read first.
    const again = await e.phase(3, "anti-entropy-off");
    await replaceConfigMap(again, e.deps, {
      id: "ae",
      name: "influxdb-data",
      edit: (d) => ({ ...d, "anti-entropy.enabled": "false" }),
    });
    expect(await getConfigMap(e.deps, "influxdb-data")).toEqual({
      "anti-entropy.enabled": "false",
    });
    const generic = await getResource(e.deps, {
      group: "",
      version: "v1",
      plural: "configmaps",
      name: "influxdb-data",
    });
    expect((generic?.metadata as { labels?: unknown } | undefined)?.labels).toEqual({
      app: "influxdb",
    });
    const undo = await e.phase(101, "rollback");
    await undoRecorded(undo, e.deps);
    expect(await getConfigMap(e.deps, "influxdb-data")).toEqual({ "anti-entropy.enabled": "true" });
    await expect(getConfigMap(e.deps, "nope")).rejects.toThrow(/ConfigMap nope does not exist/);
  });

  it("finds workloads by label selector", async () => {
    env = await startStepEnv("steps_select", {
      components: [
        { name: "a2es", kind: "Deployment", replicas: 1, labels: { indexer: "es" } },
        { name: "b2es", kind: "Deployment", replicas: 1, labels: { indexer: "es" } },
        { name: "other", kind: "Deployment", replicas: 1 },
      ],
    });
    expect(await env.deps.cluster.listWorkloads("Deployment", "indexer=es")).toEqual([
      "a2es",
      "b2es",
    ]);
  });
});

describe("callServiceProxy", () => {
  it("reaches a service's HTTP API through the API server's proxy, body and query included", async () => {
    env = await startStepEnv("steps_proxy", { components: COMPONENTS });
    const e = env;
    const seen: string[] = [];
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        seen.push(`${req.method} ${req.url} ${body}`);
        if (req.url?.startsWith("/missing")) {
          res
            .writeHead(404, { "content-type": "application/json" })
            .end('{"error":"no such index"}');
          return;
        }
        res.writeHead(200, { "content-type": "application/json" }).end('{"accepted":true}');
      });
    });
    await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
    const localPort = (server.address() as AddressInfo).port;
    e.sim.resources.registerService({ name: "elasticsearch-master", port: 9200, localPort });
    const ctx = await e.phase(1, "restore-snapshot");
    const answer = await callServiceProxy(ctx, e.deps, {
      service: "elasticsearch-master",
      port: 9200,
      path: "/_snapshot/sts-backup/snap-1/_restore",
      method: "POST",
      query: { wait_for_completion: "false" },
      body: '{"indices":"sts_*"}',
      contentType: "application/json",
    });
    expect(answer.json).toEqual({ accepted: true });
    expect(seen).toEqual([
      'POST /_snapshot/sts-backup/snap-1/_restore?wait_for_completion=false {"indices":"sts_*"}',
    ]);
    await expect(
      callServiceProxy(ctx, e.deps, {
        service: "elasticsearch-master",
        port: 9200,
        path: "missing",
      }),
    ).rejects.toThrow(
      /GET \/missing on service elasticsearch-master:9200 answered 404: \{"error":"no such index"\}/,
    );
  });
});
