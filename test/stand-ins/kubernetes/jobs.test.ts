import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import {
  BatchV1Api,
  CoreV1Api,
  Exec,
  Log,
  type V1Job,
  type V1Status,
} from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { influxdbClusteredSimulator } from "../../../src/kinds/influxdb-clustered/sandbox/simulated-cluster.js";
import {
  type KubernetesSimulator,
  type KubernetesSimulatorOptions,
  kubeconfigFor,
  startKubernetesSimulator,
} from "../../../stand-ins/kubernetes/index.js";

// Jobs, PVCs and local exec, driven by the real @kubernetes/client-node 2.x.

const NS = "influxdb";
let sims: KubernetesSimulator[] = [];

afterEach(async () => {
  await Promise.all(sims.map((s) => s.close()));
  sims = [];
});

async function start(options: KubernetesSimulatorOptions = {}) {
  const sim = await startKubernetesSimulator({
    ...influxdbClusteredSimulator(),
    timing: { startDelayMs: 5, readyDelayMs: 5, terminationDelayMs: 20 },
    ...options,
  });
  sims.push(sim);
  const kc = kubeconfigFor(sim);
  return {
    sim,
    kc,
    batch: kc.makeApiClient(BatchV1Api),
    core: kc.makeApiClient(CoreV1Api),
    log: new Log(kc),
    exec: new Exec(kc),
  };
}

function jobManifest(
  name: string,
  extra: { command?: string[]; backoffLimit?: number } = {},
): V1Job {
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name },
    spec: {
      backoffLimit: extra.backoffLimit ?? 0,
      template: {
        metadata: { labels: { app: "restore" } },
        spec: {
          restartPolicy: "Never",
          containers: [{ name: "main", image: "busybox", command: extra.command ?? ["restore"] }],
        },
      },
    },
  };
}

/** Follows a pod's log with client-node's Log class; resolves with the text when the server ends it. */
function follow(log: Log, pod: string, container: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const out = new PassThrough();
    let text = "";
    out.on("data", (d: Buffer) => {
      text += d.toString("utf8");
    });
    out.on("end", () => resolve(text));
    log.log(NS, pod, container, out, { follow: true }).catch(reject);
  });
}

describe("Kubernetes API simulator: Jobs", () => {
  it("runs a Job's pod to completion: job-name labels, log lines over time followed to the end, Complete", async () => {
    const { sim, batch, core, log } = await start();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    sim.onJobPod({ job: "restore-graph" }, async (run) => {
      run.log("starting restore\n");
      await gate;
      run.log("restored 42 vertices\n");
      return 0;
    });
    await batch.createNamespacedJob({ namespace: NS, body: jobManifest("restore-graph") });
    await sim.waitFor(() => sim.jobSnapshot()[0]?.pods[0]?.phase === "Running");
    const pods = await core.listNamespacedPod({
      namespace: NS,
      labelSelector: "job-name=restore-graph",
    });
    expect(pods.items).toHaveLength(1);
    const pod = pods.items[0];
    expect(pod?.metadata?.labels).toMatchObject({
      "job-name": "restore-graph",
      "batch.kubernetes.io/job-name": "restore-graph",
      app: "restore",
    });
    expect(pod?.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: "Job",
      name: "restore-graph",
    });
    const name = pod?.metadata?.name as string;
    const followed = follow(log, name, "main");
    await sim.waitFor(() => sim.activeLogStreams() === 1);
    release();
    expect(await followed).toBe("starting restore\nrestored 42 vertices\n");
    const job = await batch.readNamespacedJob({ name: "restore-graph", namespace: NS });
    expect(job.status?.succeeded).toBe(1);
    expect(job.status?.active).toBeUndefined();
    expect(job.status?.conditions?.map((c) => c.type)).toContain("Complete");
    // A finished pod's log is still readable, and a follow of it ends at once.
    expect(await follow(log, name, "main")).toBe("starting restore\nrestored 42 vertices\n");
  });

  it("retries a failing pod up to backoffLimit, then fails the Job with BackoffLimitExceeded", async () => {
    const { sim, batch } = await start();
    sim.onJobPod({}, (run) => {
      run.log(`attempt ${run.attempt}: the graph is not empty\n`);
      return 1;
    });
    await batch.createNamespacedJob({ namespace: NS, body: jobManifest("r", { backoffLimit: 1 }) });
    await sim.waitFor(() => sim.jobSnapshot()[0]?.condition === "Failed");
    const job = await batch.readNamespacedJob({ name: "r", namespace: NS });
    expect(job.status?.failed).toBe(2);
    expect(job.status?.conditions?.find((c) => c.type === "Failed")).toMatchObject({
      status: "True",
      reason: "BackoffLimitExceeded",
    });
    expect(sim.jobSnapshot()[0]?.pods.map((p) => p.exitCode)).toEqual([1, 1]);
  });

  it("keeps a pod Pending with the scheduler's reason, or for a PVC that does not exist", async () => {
    const { sim, batch, core } = await start();
    sim.onJobPod({ job: "big" }, { pending: "Unschedulable" });
    await batch.createNamespacedJob({ namespace: NS, body: jobManifest("big") });
    const missing = jobManifest("needs-claim");
    const spec = missing.spec?.template.spec;
    if (!spec) throw new Error("no pod spec");
    spec.volumes = [{ name: "data", persistentVolumeClaim: { claimName: "nope" } }];
    await batch.createNamespacedJob({ namespace: NS, body: missing });
    await sim.waitFor(() => sim.jobSnapshot().every((j) => j.pods.length === 1));
    const pods = (await core.listNamespacedPod({ namespace: NS, labelSelector: "job-name" })).items;
    const scheduled = pods.map((p) => p.status?.conditions?.find((c) => c.type === "PodScheduled"));
    expect(pods.map((p) => p.status?.phase)).toEqual(["Pending", "Pending"]);
    expect(scheduled.map((c) => c?.reason)).toEqual(["Unschedulable", "Unschedulable"]);
    expect(scheduled.map((c) => c?.message).join("\n")).toContain(
      'persistentvolumeclaim "nope" not found',
    );
  });

  it("deletes a Job by propagationPolicy: Orphan (batch/v1's default) keeps the pods, Background and Foreground remove them", async () => {
    const { sim, batch } = await start();
    sim.onJobPod(
      {},
      (run) => new Promise((resolve) => run.signal.addEventListener("abort", () => resolve(137))),
    );
    for (const name of ["orphan", "background", "foreground"]) {
      await batch.createNamespacedJob({ namespace: NS, body: jobManifest(name) });
    }
    await sim.waitFor(() => sim.jobSnapshot().every((j) => j.pods[0]?.phase === "Running"));
    const podOf = (job: string) => sim.jobSnapshot().find((j) => j.name === job)?.pods[0]?.name;
    const orphanPod = podOf("orphan");

    await batch.deleteNamespacedJob({ name: "orphan", namespace: NS });
    expect(sim.jobSnapshot().map((j) => j.name)).not.toContain("orphan");
    expect(sim.jobPods()).toContain(orphanPod);

    const backgroundPod = podOf("background");
    await batch.deleteNamespacedJob({
      name: "background",
      namespace: NS,
      propagationPolicy: "Background",
    });
    expect(sim.jobSnapshot().map((j) => j.name)).not.toContain("background");
    await sim.waitFor(() => !sim.jobPods().includes(backgroundPod as string));

    const foregroundPod = podOf("foreground");
    await batch.deleteNamespacedJob({
      name: "foreground",
      namespace: NS,
      propagationPolicy: "Foreground",
    });
    // The Job stays (deletionTimestamp, foregroundDeletion) until its pod is gone.
    const terminating = await batch.readNamespacedJob({ name: "foreground", namespace: NS });
    expect(terminating.metadata?.finalizers).toEqual(["foregroundDeletion"]);
    await sim.waitFor(() => sim.jobSnapshot().every((j) => j.name !== "foreground"));
    expect(sim.jobPods()).not.toContain(foregroundPod);
    expect(sim.jobPods()).toEqual([orphanPod]);
  });
});

describe("Kubernetes API simulator: PVCs and commands run for real", () => {
  it("backs a PVC with a directory a Job's pod writes into at its mountPath, and exec reads it back", async () => {
    const { sim, batch, core, exec } = await start({ localExec: true });
    await core.createNamespacedPersistentVolumeClaim({
      namespace: NS,
      body: {
        metadata: { name: "restore-data" },
        spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
      },
    });
    const claim = await core.readNamespacedPersistentVolumeClaim({
      name: "restore-data",
      namespace: NS,
    });
    expect(claim.status?.phase).toBe("Bound");
    const manifest = jobManifest("writer", {
      command: ["sh", "-c", "echo written-in-pod > /var/lib/restore/marker && echo done"],
    });
    const spec = manifest.spec?.template.spec;
    if (!spec) throw new Error("no pod spec");
    spec.volumes = [{ name: "data", persistentVolumeClaim: { claimName: "restore-data" } }];
    spec.containers[0] = {
      ...spec.containers[0],
      name: "main",
      volumeMounts: [{ name: "data", mountPath: "/var/lib/restore" }],
    };
    await batch.createNamespacedJob({ namespace: NS, body: manifest });
    await sim.waitFor(() => sim.jobSnapshot()[0]?.condition !== undefined, 10_000);
    expect(sim.jobSnapshot()[0]?.condition).toBe("Complete");
    const dir = sim.pvcDirectory("restore-data") as string;
    expect(readFileSync(join(dir, "marker"), "utf8")).toBe("written-in-pod\n");

    // A pod that keeps running, mounting the same claim: exec runs /bin/sh in it for real.
    sim.onJobPod(
      { job: "holder" },
      (run) => new Promise((r) => run.signal.addEventListener("abort", () => r(0))),
    );
    const holder = jobManifest("holder");
    holder.spec = { ...holder.spec, template: { ...manifest.spec?.template } } as V1Job["spec"];
    await batch.createNamespacedJob({ namespace: NS, body: holder });
    await sim.waitFor(
      () => sim.jobSnapshot().find((j) => j.name === "holder")?.pods[0]?.phase === "Running",
    );
    const pod = sim.jobSnapshot().find((j) => j.name === "holder")?.pods[0]?.name as string;
    let stdout = "";
    let stderr = "";
    const status = await new Promise<V1Status>((resolve, reject) => {
      const out = new PassThrough().on("data", (d: Buffer) => {
        stdout += d.toString();
      });
      const err = new PassThrough().on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      exec
        .exec(
          NS,
          pod,
          "main",
          ["sh", "-c", "cat /var/lib/restore/marker; echo oops >&2; exit 3"],
          out,
          err,
          null,
          false,
          resolve,
        )
        .catch(reject);
    });
    expect(stdout).toBe("written-in-pod\n");
    expect(stderr).toBe("oops\n");
    expect(status).toMatchObject({
      status: "Failure",
      reason: "NonZeroExitCode",
      details: { causes: [{ reason: "ExitCode", message: "3" }] },
    });

    // Deleted while mounted: Terminating until the pod is gone, then its directory goes.
    await core.deleteNamespacedPersistentVolumeClaim({ name: "restore-data", namespace: NS });
    expect(sim.pvcNames()).toEqual(["restore-data"]);
    await batch.deleteNamespacedJob({
      name: "holder",
      namespace: NS,
      propagationPolicy: "Background",
    });
    await sim.waitFor(() => sim.pvcNames().length === 0);
  });
});
