import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { Exec, type V1Status } from "@kubernetes/client-node";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
  createKubernetesCluster,
  type KubernetesCluster,
} from "../../../src/adapters/kubernetes/kubernetes-cluster.js";
import type { PodWorkPort } from "../../../src/adapters/kubernetes/pod-work-port.js";
import { podWorkRbacRules } from "../../../src/adapters/kubernetes/pod-work-rbac.js";
import { CodedError } from "../../../src/errors.js";
import { influxdbClusteredSimulator } from "../../../src/kinds/influxdb-clustered/sandbox/simulated-cluster.js";
import {
  type KubernetesSimulator,
  type KubernetesSimulatorOptions,
  kubeconfigFor,
  type RequestRecord,
  startKubernetesSimulator,
} from "../../../stand-ins/kubernetes/index.js";

// The adapter's Jobs, PVCs and exec against the simulator, which enforces exactly the RBAC rules
// the methods used declare (pod-work-rbac.ts).

const ALL_METHODS: (keyof PodWorkPort)[] = [
  "createJob",
  "getJob",
  "listJobPods",
  "waitJob",
  "followJobLogs",
  "deleteJob",
  "createPvc",
  "deletePvc",
  "createPod",
  "execInPod",
];

let sims: KubernetesSimulator[] = [];
const dirs: string[] = [];
/** Every request the adapter made in this file, for the RBAC check at the end. */
const allRequests: RequestRecord[] = [];

afterEach(async () => {
  for (const sim of sims) allRequests.push(...sim.requests());
  await Promise.all(sims.map((s) => s.close()));
  sims = [];
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function setup(
  options: KubernetesSimulatorOptions = {},
  methods: (keyof PodWorkPort)[] = ALL_METHODS,
): Promise<{ sim: KubernetesSimulator; cluster: KubernetesCluster }> {
  const sim = await startKubernetesSimulator({
    ...influxdbClusteredSimulator(),
    timing: { startDelayMs: 5, readyDelayMs: 5, terminationDelayMs: 20 },
    rbacRules: podWorkRbacRules(methods),
    ...options,
  });
  sims.push(sim);
  const cluster = createKubernetesCluster({
    namespace: sim.namespace,
    kubeConfig: kubeconfigFor(sim),
    retry: { initialDelayMs: 10, maxDelayMs: 40 },
    requestTimeoutMs: 2_000,
  });
  return { sim, cluster };
}

function job(name: string, extra: Record<string, unknown> = {}) {
  return {
    metadata: { name },
    spec: {
      backoffLimit: 0,
      template: {
        spec: {
          restartPolicy: "Never",
          containers: [{ name: "main", image: "restore-tools", command: ["restore"] }],
          ...extra,
        },
      },
    },
  };
}

/** A Job whose pod runs until deleted, mounting `claim` at `mountPath`. */
async function holderPod(
  sim: KubernetesSimulator,
  cluster: KubernetesCluster,
  claim: string,
  mountPath: string,
): Promise<string> {
  sim.onJobPod(
    { job: "holder" },
    (run) => new Promise((resolve) => run.signal.addEventListener("abort", () => resolve(0))),
  );
  await cluster.createJob({
    metadata: { name: "holder" },
    spec: {
      template: {
        spec: {
          restartPolicy: "Never",
          volumes: [{ name: "data", persistentVolumeClaim: { claimName: claim } }],
          containers: [
            { name: "main", image: "busybox", volumeMounts: [{ name: "data", mountPath }] },
          ],
        },
      },
    },
  });
  await sim.waitFor(
    () => sim.jobSnapshot().find((j) => j.name === "holder")?.pods[0]?.phase === "Running",
  );
  return sim.jobSnapshot().find((j) => j.name === "holder")?.pods[0]?.name as string;
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

describe("Kubernetes adapter: Jobs", () => {
  it("creates a Job, streams its log lines as they come, waits for Complete, adopts it by name and deletes it with its pods", async () => {
    const { sim, cluster } = await setup();
    const steps: Array<() => void> = [];
    sim.onJobPod({ job: "restore-graph" }, async (run) => {
      for (const line of ["reading backup", "restoring 42 vertices", "done"]) {
        run.log(`${line}\n`);
        await new Promise<void>((resolve) => steps.push(resolve));
      }
      return 0;
    });
    const created = await cluster.createJob(job("restore-graph"));
    expect(created.created).toBe(true);
    const lines: string[] = [];
    const following = cluster.followJobLogs("restore-graph", (line) => {
      lines.push(line);
      steps.shift()?.(); // the pod writes its next line only once this one arrived
    });
    const outcome = await cluster.waitJob("restore-graph", { timeoutMs: 10_000 });
    expect(outcome.outcome).toBe("succeeded");
    expect(outcome.job).toMatchObject({ succeeded: 1, finished: { type: "Complete" } });
    expect(await following).toEqual({ lines: 3 });
    expect(lines).toEqual(["reading backup", "restoring 42 vertices", "done"]);

    // A resumed step finds the same Job instead of starting a second.
    const again = await cluster.createJob(job("restore-graph"));
    expect(again.created).toBe(false);
    expect(sim.jobSnapshot()).toHaveLength(1);

    const pod = outcome.pods[0]?.name as string;
    await cluster.deleteJob("restore-graph");
    await sim.waitFor(() => !sim.jobPods().includes(pod));
    expect(sim.jobSnapshot()).toEqual([]);
    await cluster.deleteJob("restore-graph"); // already gone: fine
    expect(
      sim.requests().find((r) => r.method === "DELETE" && r.resource === "jobs")?.query,
    ).toMatchObject({ propagationPolicy: "Background" });
  });

  it("reports a failed Job with its reason and each pod's exit code, and its logs", async () => {
    const { sim, cluster } = await setup();
    sim.onJobPod({}, (run) => {
      run.log("Error: the graph is not empty; use -force to overwrite\n");
      return 1;
    });
    await cluster.createJob(job("restore-graph"));
    const outcome = await cluster.waitJob("restore-graph", { timeoutMs: 10_000 });
    expect(outcome.outcome).toBe("failed");
    expect(outcome.job.finished).toMatchObject({ type: "Failed", reason: "BackoffLimitExceeded" });
    expect(outcome.pods[0]?.detail).toBe("container main terminated: Error (exit code 1)");
    const lines: string[] = [];
    await cluster.followJobLogs("restore-graph", (line) => {
      lines.push(line);
    });
    expect(lines).toEqual(["Error: the graph is not empty; use -force to overwrite"]);
  });

  it("times out on a pod stuck Pending, saying exactly why it is pending", async () => {
    const { sim, cluster } = await setup();
    sim.onJobPod({ job: "big" }, { pending: "Unschedulable" });
    sim.onJobPod({ job: "pull" }, { pending: "ImagePullBackOff" });
    await cluster.createJob(job("big"));
    await cluster.createJob(job("pull"));
    const big = await rejection(cluster.waitJob("big", { timeoutMs: 300 }));
    expect(big.code).toBe("timeout");
    expect(big.message).toMatch(
      /^Job big did not finish within .*: pod big-\w+ is Pending — PodScheduled=False Unschedulable: 0\/1 nodes are available: 1 Insufficient memory\./,
    );
    const pull = await rejection(cluster.waitJob("pull", { timeoutMs: 300 }));
    expect(pull.message).toContain(
      'container main waiting: ImagePullBackOff: Back-off pulling image "restore-tools"',
    );
  });

  it("resumes following after a crash: the same Job by name, skipping the lines already posted", async () => {
    const { sim, cluster } = await setup();
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    sim.onJobPod({}, async (run) => {
      run.log("one\ntwo\n");
      await finished;
      run.log("three\n");
      return 0;
    });
    await cluster.createJob(job("restore-metrics"));
    const first: string[] = [];
    const crash = new AbortController();
    await cluster.followJobLogs(
      "restore-metrics",
      (line) => {
        first.push(line);
        if (first.length === 2) crash.abort();
      },
      { signal: crash.signal },
    );
    expect(first).toEqual(["one", "two"]);
    // The "new worker": adopts the Job and follows it from line 2.
    expect((await cluster.createJob(job("restore-metrics"))).created).toBe(false);
    const second: Array<[string, number]> = [];
    const following = cluster.followJobLogs(
      "restore-metrics",
      (line, at) => {
        second.push([line, at.index]);
      },
      { skipLines: first.length },
    );
    finish();
    await following;
    expect(second).toEqual([["three", 2]]);
  });
});

describe("Kubernetes adapter: exec", () => {
  it("streams stdout and stderr and returns the exit code of a command (a registered fake)", async () => {
    const { sim, cluster } = await setup({}, ["execInPod"]);
    sim.onExec({ command: (c) => c[0] === "influxd-ctl" }, (s) => {
      s.stdout.write("Backing up node data-0:8088, db telegraf, rp autogen\n");
      s.stderr.write("warning: anti-entropy is on\n");
      return s.command.includes("-full") ? 0 : 2;
    });
    const pod = sim.snapshot().components.find((c) => c.name === "global-router")?.pods[0]
      ?.name as string;
    const out: string[] = [];
    const err: string[] = [];
    const run = (command: string[]) =>
      cluster.execInPod({
        pod,
        container: "router",
        command,
        onStdout: (chunk) => {
          out.push(chunk.toString());
        },
        onStderr: (chunk) => {
          err.push(chunk.toString());
        },
      });
    expect(await run(["influxd-ctl", "backup", "-full", "/tmp/b"])).toEqual({
      exitCode: 0,
      protocol: "v5.channel.k8s.io",
    });
    expect(out.join("")).toBe("Backing up node data-0:8088, db telegraf, rp autogen\n");
    expect(err.join("")).toBe("warning: anti-entropy is on\n");
    expect((await run(["influxd-ctl", "backup", "/tmp/b"])).exitCode).toBe(2);
    const missing = await rejection(run(["clickhouse-backup", "list"]));
    expect(missing.message).toContain('exec: "clickhouse-backup": executable file not found');
    // Both verbs on pods/exec are what the rules grant; the upgrade is authorised as create.
    expect(podWorkRbacRules(["execInPod"])).toEqual([
      { apiGroups: [""], resources: ["pods/exec"], verbs: ["create", "get"] },
    ]);
  });

  it("streams 50 MB into a command with bounded memory, and the command sees all of it", async () => {
    const { sim, cluster } = await setup({ localExec: true }, [
      "execInPod",
      "createJob",
      "createPvc",
    ]);
    await cluster.createPvc({
      metadata: { name: "data" },
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
    });
    const pod = await holderPod(sim, cluster, "data", "/var/lib/influxdb");
    const total = 50 * 1024 * 1024;
    const block = createHash("sha512").update("seed").digest(); // 64 bytes
    const chunk = Buffer.alloc(64 * 1024);
    for (let i = 0; i < chunk.length; i += block.length) block.copy(chunk, i);
    const expected = createHash("sha256");
    let produced = 0;
    const source = new Readable({
      read() {
        if (produced >= total) {
          this.push(null);
          return;
        }
        produced += chunk.length;
        expected.update(chunk);
        this.push(chunk);
      },
    });
    // Sampled while it streams: how far the sender ran ahead of what reached the pod's command.
    // client-node's Exec sends a Readable as fast as it can be read, so for it that gap would be
    // the whole input, held in memory. (Process memory figures are too noisy here with garbage
    // not yet collected; the benchmark measures RSS.)
    let peakGap = 0;
    const sampler = setInterval(() => {
      peakGap = Math.max(peakGap, produced - (sim.execs().at(-1)?.stdinBytes ?? 0));
    }, 5);
    let stdout = "";
    const result = await cluster.execInPod({
      pod,
      container: "main",
      command: ["sh", "-c", "sha256sum > /var/lib/influxdb/sum && cat /var/lib/influxdb/sum"],
      stdin: source,
      onStdout: (c) => {
        stdout += c.toString();
      },
    });
    clearInterval(sampler);
    expect(result.exitCode).toBe(0);
    expect(stdout).toContain(expected.digest("hex"));
    expect(sim.execs().at(-1)?.stdinBytes).toBe(total);
    // Kernel socket buffers on loopback hold a few MB of it; the input is 50 MB.
    expect(peakGap).toBeLessThan(16 * 1024 * 1024);
  });

  it("round-trips a tar archive into a PVC's directory and back out", async () => {
    const { sim, cluster } = await setup({ localExec: true }, [
      "execInPod",
      "createJob",
      "createPvc",
      "deletePvc",
      "deleteJob",
    ]);
    await cluster.createPvc({
      metadata: { name: "influxdb-data" },
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
    });
    const pod = await holderPod(sim, cluster, "influxdb-data", "/var/lib/influxdb");
    const source = mkdtempSync(join(tmpdir(), "tar-src-"));
    const target = mkdtempSync(join(tmpdir(), "tar-out-"));
    dirs.push(source, target);
    mkdirSync(join(source, "meta"));
    mkdirSync(join(source, "data", "telegraf"), { recursive: true });
    writeFileSync(join(source, "meta", "meta.db"), "meta-bytes");
    writeFileSync(join(source, "data", "telegraf", "000001.tsm"), Buffer.alloc(300_000, 7));
    const packer = spawn("tar", ["-C", source, "-cf", "-", "meta", "data"]);
    const unpack = await cluster.execInPod({
      pod,
      container: "main",
      command: ["tar", "-C", "/var/lib/influxdb", "-xf", "-"],
      stdin: packer.stdout,
    });
    expect(unpack.exitCode).toBe(0);
    const dir = sim.pvcDirectory("influxdb-data") as string;
    expect(readFileSync(join(dir, "meta", "meta.db"), "utf8")).toBe("meta-bytes");

    const unpacker = spawn("tar", ["-C", target, "-xf", "-"]);
    const unpacked = new Promise((resolve) => unpacker.once("close", resolve));
    const pack = await cluster.execInPod({
      pod,
      container: "main",
      command: ["tar", "-C", "/var/lib/influxdb", "-cf", "-", "."],
      onStdout: (c) =>
        new Promise<void>((resolve) => {
          if (unpacker.stdin.write(c)) resolve();
          else unpacker.stdin.once("drain", () => resolve());
        }),
    });
    unpacker.stdin.end();
    expect(pack.exitCode).toBe(0);
    expect(await unpacked).toBe(0);
    expect(readFileSync(join(target, "data", "telegraf", "000001.tsm"))).toEqual(
      Buffer.alloc(300_000, 7),
    );

    // Deleted while the pod mounts it, the claim stays (Terminating) until the pod is gone.
    await cluster.deletePvc("influxdb-data");
    expect(sim.pvcNames()).toEqual(["influxdb-data"]);
    await cluster.deleteJob("holder");
    await sim.waitFor(() => sim.pvcNames().length === 0);
    await cluster.deletePvc("influxdb-data"); // already gone: fine
  });
});

describe("Kubernetes adapter: exec on a cluster older than 1.30 (v4 only)", () => {
  const script = 'n=$(wc -c); echo "got $n bytes"; exit 4';

  it("the raw client-node Exec loses the output after stdin ends, and the exit status", async () => {
    const { sim, cluster } = await setup(
      { localExec: true, execProtocols: ["v4.channel.k8s.io"] },
      ["execInPod", "createJob", "createPvc"],
    );
    await cluster.createPvc({
      metadata: { name: "d" },
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
    });
    const pod = await holderPod(sim, cluster, "d", "/data");
    let stdout = "";
    let status: V1Status | undefined;
    const out = new PassThrough().on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    const ws = await new Exec(kubeconfigFor(sim)).exec(
      sim.namespace,
      pod,
      "main",
      ["sh", "-c", script],
      out,
      null,
      Readable.from([Buffer.from("hello")]),
      false,
      (s) => {
        status = s;
      },
    );
    await new Promise<void>((resolve) => {
      if (ws.readyState === ws.CLOSED) resolve();
      else ws.addEventListener("close", () => resolve());
    });
    await sim.waitFor(() => sim.execs().at(-1)?.finished === true);
    expect(sim.execs().at(-1)).toMatchObject({
      protocol: "v4.channel.k8s.io",
      closedByClient: true,
    });
    expect(stdout).toBe(""); // "got 5 bytes" never arrives
    expect(status).toBeUndefined(); // nor does exit status 4
  });

  it("the adapter refuses to stream stdin of unknown size over v4 before anything runs, and with its size gets output and status", async () => {
    const { sim, cluster } = await setup(
      { localExec: true, execProtocols: ["v4.channel.k8s.io"] },
      ["execInPod", "createJob", "createPvc"],
    );
    await cluster.createPvc({
      metadata: { name: "d" },
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
    });
    const pod = await holderPod(sim, cluster, "d", "/data");
    const refused = await rejection(
      cluster.execInPod({
        pod,
        container: "main",
        command: ["sh", "-c", script],
        stdin: Readable.from([Buffer.from("hello")]),
      }),
    );
    expect(refused.code).toBe("precondition_failed");
    expect(refused.message).toContain("does not speak v5.channel.k8s.io");
    expect(refused.message).toContain("stdinBytes");
    expect(sim.execs()).toEqual([]); // nothing ran

    let stdout = "";
    const result = await cluster.execInPod({
      pod,
      container: "main",
      command: ["sh", "-c", script],
      stdin: Readable.from([Buffer.from("hel"), Buffer.from("lo")]),
      stdinBytes: 5,
      onStdout: (c) => {
        stdout += c.toString();
      },
    });
    expect(result).toEqual({ exitCode: 4, protocol: "v4.channel.k8s.io" });
    expect(stdout).toBe("got 5 bytes\n");
    expect(sim.execs().at(-1)?.closedByClient).toBe(false);

    // Without stdin, v4 is safe and used as it is.
    const plain = await cluster.execInPod({ pod, container: "main", command: ["true"] });
    expect(plain).toEqual({ exitCode: 0, protocol: "v4.channel.k8s.io" });
  });
});

describe("Kubernetes adapter: bare pods", () => {
  it("creates a helper pod mounting a PVC, adopts it by name, and exec in it works on the claim's directory", async () => {
    const { sim, cluster } = await setup({ localExec: true }, [
      "createPvc",
      "createPod",
      "execInPod",
      "deletePvc",
    ]);
    await cluster.createPvc({
      metadata: { name: "node-data" },
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
    });
    const manifest = {
      metadata: { name: "helper-1", labels: { app: "helper-1" } },
      spec: {
        restartPolicy: "Never",
        volumes: [{ name: "data", persistentVolumeClaim: { claimName: "node-data" } }],
        containers: [
          {
            name: "helper",
            image: "busybox:1.36",
            command: ["sleep", "86400"],
            volumeMounts: [{ name: "data", mountPath: "/var/lib/influxdb" }],
          },
        ],
      },
    };
    expect(await cluster.createPod(manifest)).toEqual({ name: "helper-1", created: true });
    // A resumed step finds its pod instead of failing on AlreadyExists.
    expect(await cluster.createPod(manifest)).toEqual({ name: "helper-1", created: false });
    await sim.waitFor(() => sim.podPhase("helper-1") === "Running", 2_000);
    const ran = await cluster.execInPod({
      pod: "helper-1",
      container: "helper",
      command: [
        "sh",
        "-c",
        "mkdir -p /var/lib/influxdb/meta && echo hi > /var/lib/influxdb/meta/x",
      ],
    });
    expect(ran.exitCode).toBe(0);
    expect(readFileSync(join(sim.pvcDirectory("node-data") as string, "meta", "x"), "utf8")).toBe(
      "hi\n",
    );
    // The pod holds the claim until it is gone, as the PVC protection controller does.
    await cluster.deletePvc("node-data");
    expect(sim.pvcNames()).toContain("node-data");
    expect(sim.deleteJobPod("helper-1")).toBe(true);
  });
});

// Runs last (declaration order): by now `allRequests` holds every request made above.
describe("Kubernetes adapter: RBAC of the work in pods", () => {
  afterAll(() => {
    allRequests.length = 0;
  });

  it("uses every rule POD_WORK_RBAC_RULES grants (each test ran under only its methods' rules)", () => {
    const used = new Set(
      allRequests
        .filter((r) => r.verb !== undefined && r.status !== 403)
        .map((r) => `${r.apiGroup ?? ""}|${r.resource}|${r.verb}`),
    );
    const granted = podWorkRbacRules(ALL_METHODS).flatMap((rule) =>
      rule.apiGroups.flatMap((g) =>
        rule.resources.flatMap((res) => rule.verbs.map((v) => `${g}|${res}|${v}`)),
      ),
    );
    // `get pods/exec` is what API servers before 1.35 check for the WebSocket upgrade; the
    // simulator, like 1.35, checks `create`.
    expect(granted.filter((t) => !used.has(t))).toEqual(["|pods/exec|get"]);
  });
});
