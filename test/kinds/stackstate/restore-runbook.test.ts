import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { StackStateTarget } from "../../../src/kinds/stackstate/config.js";
import { VMBACKUP_COMPLETE_MARKER } from "../../../src/kinds/stackstate/metrics-points.js";
import { resolveStackStatePoint } from "../../../src/kinds/stackstate/named-points.js";
import {
  createStackStateRunbook,
  STACKGRAPH_NOT_EMPTY_MESSAGE,
} from "../../../src/kinds/stackstate/runbook.js";
import { listPhaseRuns } from "../../../src/runbook/run-store.js";
import { type ContainerShell, containerShell } from "../../../stand-ins/kubernetes/index.js";
import { runbookDeps } from "../../jobs/support/run-fixtures.js";
import {
  CH,
  drive,
  ES_REPO,
  type RunbookEnv,
  replicasOf,
  SG,
  startRunbookEnv,
  VM,
} from "./support/runbook-env.js";

let env: RunbookEnv;

async function frozen(text: string) {
  const r = await resolveStackStatePoint(env.target, text, {
    objectStore: () => env.store,
    cluster: () => env.cluster,
    now: new Date(),
  });
  if (!r.ok) throw new Error(r.message);
  return r.point.point;
}

/** Waits on a condition the test controls through a promise it resolves. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

beforeAll(async () => {
  env = await startRunbookEnv("sts_runbook");
  env.s3.putObjectDirect(SG, "sts-backup-20240617-0300.graph", "graph-bytes");
  for (const instance of ["victoria-metrics-0", "victoria-metrics-1"]) {
    const v = `${instance}/${instance}-20240617000000`;
    env.s3.putObjectDirect(VM, `${v}/data/small/part-1/index.bin`, "vm-data");
    env.s3.putObjectDirect(VM, `${v}/${VMBACKUP_COMPLETE_MARKER}`, "");
  }
  const metadata = (name: string) =>
    JSON.stringify({
      backup_name: name,
      creation_date: "2024-06-17T18:50:00Z",
      data_format: "tar",
      databases: [{ name: "otel" }],
      tables: [{ database: "otel", table: "otel_traces" }],
    });
  env.s3.putObjectDirect(CH, "full_2024-06-17T18-50-00/shadow/otel/otel_traces/default.tar", "t");
  env.s3.putObjectDirect(
    CH,
    "full_2024-06-17T18-50-00/metadata.json",
    metadata("full_2024-06-17T18-50-00"),
  );
  env.es.addSnapshot(ES_REPO, {
    snapshot: "sts-backup-20240617-0300-abc",
    indices: ["sts_internal_events-2024.06.17", "sts_multi_metrics-2024.06.17"],
    startTime: new Date("2024-06-17T03:00:00Z"),
  });
}, 60_000);

afterAll(async () => {
  await env?.close();
});

describe("StackGraph restore, end to end against the simulator, the S3 stand-in and the chart's templates", () => {
  it("stops the StackGraph Deployments, runs the chart's Job with its PVC, streams its log, scales back, deletes Job and PVC", async () => {
    const point = await frozen("stackgraph:latest");
    const id = await env.request(point);
    const seen: Record<string, number> = {};
    let envSeen: Record<string, string> = {};
    const stop = env.sim.onJobPod({ job: /^stackgraph-restore-backup-/ }, async (run) => {
      seen.server = replicasOf(env.sim, "stackstate-server");
      seen.api = replicasOf(env.sim, "stackstate-api");
      envSeen = { ...run.env };
      run.log('=== Downloading StackGraph backup "sts-backup-20240617-0300.graph"...\n');
      run.log("=== Importing StackGraph data\n");
      return 0;
    });
    try {
      const result = await drive(env, id, env.runbook().phases);
      expect(result).toMatchObject({ ok: true });
      expect(seen).toEqual({ server: 0, api: 0 });
      expect(envSeen.BACKUP_FILE).toBe("sts-backup-20240617-0300.graph");
      expect(envSeen.FORCE_DELETE).toBe("");
      expect(result.notes.join("\n")).toContain("=== Importing StackGraph data");
      expect(replicasOf(env.sim, "stackstate-server")).toBe(2);
      expect(replicasOf(env.sim, "stackstate-api")).toBe(1);
      expect(replicasOf(env.sim, "stackstate-router")).toBe(1);
      const job = `stackgraph-restore-backup-${id.replace("rb-", "")}`;
      expect(env.sim.jobSnapshot().filter((j) => j.name === job && !j.terminating)).toEqual([]);
      expect(env.sim.pvcNames()).not.toContain(job);
    } finally {
      stop();
    }
  });

  it("a non-empty graph without --force: halts with what to type, the log in the thread; Roll back scales back and deletes Job and PVC", async () => {
    const id = await env.request(await frozen("stackgraph:sts-backup-20240617-0300.graph"));
    const stop = env.sim.onJobPod({ job: /^stackgraph-restore-backup-/ }, (run) => {
      run.log(
        "ERROR com.stackvista.graph.migration.Restore - Restore isn't possible in a non empty.\n",
      );
      return 1;
    });
    try {
      const runbook = env.runbook();
      const result = await drive(env, id, runbook.phases);
      expect(result).toMatchObject({ ok: false, failedAt: "restore" });
      expect(result.error).toContain(STACKGRAPH_NOT_EMPTY_MESSAGE);
      expect(result.notes.join("\n")).toContain("Restore isn't possible in a non empty");
      expect(replicasOf(env.sim, "stackstate-server")).toBe(0);
      const job = `stackgraph-restore-backup-${id.replace("rb-", "")}`;
      expect(env.sim.pvcNames()).toContain(job);
      const request = (await import("../../../src/approvals/request-store.js")).getRequest;
      const account = await runbook.describeHalt(
        (await request(env.db.pool, id))!,
        await listPhaseRuns(env.db.pool, id),
      );
      expect(account.rollback).toContain(`delete Job ${job}`);
      expect(account.state.join("\n")).toContain("stackstate-server: 0 replicas now (recorded 2)");

      const back = await drive(env, id, runbook.rollback, { offset: 101 });
      expect(back).toMatchObject({ ok: true });
      expect(replicasOf(env.sim, "stackstate-server")).toBe(2);
      expect(replicasOf(env.sim, "stackstate-api")).toBe(1);
      expect(env.sim.jobSnapshot().filter((j) => j.name === job && !j.terminating)).toEqual([]);
      await until(() => !env.sim.pvcNames().includes(job));
    } finally {
      stop();
    }
  });

  it("with --force the chart's -force is passed to the Job", async () => {
    const id = await env.request(await frozen("stackgraph:latest"), { force: true });
    let force = "unset";
    const stop = env.sim.onJobPod({ job: /^stackgraph-restore-backup-/ }, (run) => {
      force = run.env.FORCE_DELETE ?? "absent";
      return 0;
    });
    try {
      expect(await drive(env, id, env.runbook().phases)).toMatchObject({ ok: true });
      expect(force).toBe("-force");
    } finally {
      stop();
    }
  });

  it("a Job pod stuck Pending: the phase times out with the pod's exact state", async () => {
    const id = await env.request(await frozen("stackgraph:latest"));
    const stop = env.sim.onJobPod(
      { job: /^stackgraph-restore-backup-/ },
      {
        pending: "Unschedulable",
        message: "0/3 nodes are available: 3 Insufficient memory.",
      },
    );
    try {
      const target: StackStateTarget = {
        ...env.target,
        timeouts: { podsGone: 20_000, podsReady: 800 },
      };
      const runbook = createStackStateRunbook(
        runbookDeps({
          target,
          pool: env.db.pool,
          cluster: env.cluster,
          store: env.store,
          workDir: "/nonexistent",
        }),
      );
      const result = await drive(env, id, runbook.phases);
      expect(result).toMatchObject({ ok: false, failedAt: "restore" });
      expect(result.error).toContain("Insufficient memory");
      expect(result.error).toMatch(/Pending/);
      await drive(env, id, runbook.rollback, { offset: 101 });
      expect(replicasOf(env.sim, "stackstate-server")).toBe(2);
    } finally {
      stop();
    }
  });

  it("a worker stopped while the Job runs: the next attempt finds the same Job by name and follows it (no second Job)", async () => {
    const id = await env.request(await frozen("stackgraph:latest"));
    const started = gate();
    const finish = gate();
    let pods = 0;
    const stop = env.sim.onJobPod({ job: /^stackgraph-restore-backup-/ }, async (run) => {
      pods++;
      run.log("line before the crash\n");
      started.open();
      await finish.opened;
      run.log("line after the crash\n");
      return 0;
    });
    try {
      const runbook = env.runbook();
      const abort = new AbortController();
      const first = drive(env, id, runbook.phases, { signal: abort.signal });
      await started.opened;
      await until(async () => {
        const runs = await listPhaseRuns(env.db.pool, id);
        const facts = runs.find((r) => r.phase === "restore")?.facts ?? {};
        return (facts["runJob:restore"] as { linesPosted?: number } | undefined)?.linesPosted === 1;
      });
      abort.abort();
      const interrupted = await first;
      expect(interrupted).toMatchObject({ ok: false, failedAt: "restore" });

      const again = drive(env, id, env.runbook().phases);
      finish.open();
      const result = await again;
      expect(result).toMatchObject({ ok: true });
      expect(pods).toBe(1);
      const job = `stackgraph-restore-backup-${id.replace("rb-", "")}`;
      expect(result.notes.join("\n")).toContain("line after the crash");
      expect(result.notes.join("\n")).not.toContain("line before the crash");
      expect(
        env.sim
          .jobSnapshot()
          .filter(
            (j) =>
              j.name.startsWith("stackgraph-restore-backup-") && j.name !== job && !j.terminating,
          ),
      ).toEqual([]);
      expect(replicasOf(env.sim, "stackstate-server")).toBe(2);
    } finally {
      stop();
    }
  });
});

describe("Victoria Metrics restore", () => {
  it("stops <release>-<instance>, runs the chart's Job with the instance and S3 prefix, and brings it back ready", async () => {
    const id = await env.request(
      await frozen("metrics:victoria-metrics-1/victoria-metrics-1-20240617000000"),
    );
    let during = -1;
    let args: readonly string[] = [];
    const stop = env.sim.onJobPod({ job: /^victoria-metrics-restore-backup-/ }, (run) => {
      during = replicasOf(env.sim, "stackstate-victoria-metrics-1");
      args = run.command;
      run.log("restored 53072307269 bytes from backup in 0.445 seconds\n");
      return 0;
    });
    try {
      const result = await drive(env, id, env.runbook().phases);
      expect(result).toMatchObject({ ok: true });
      expect(during).toBe(0);
      expect(replicasOf(env.sim, "stackstate-victoria-metrics-0")).toBe(1);
      expect(args).toContain(
        "-src=s3://sts-victoria-metrics-backup/victoria-metrics-1/victoria-metrics-1-20240617000000",
      );
      expect(replicasOf(env.sim, "stackstate-victoria-metrics-1")).toBe(1);
      const ready = env.sim
        .snapshot()
        .components.find((c) => c.name === "stackstate-victoria-metrics-1");
      expect(ready?.readyReplicas).toBe(1);
    } finally {
      stop();
    }
  });
});

describe("ClickHouse restore: restore_remote detached in the backup container, followed through its files", () => {
  const BACKUP = "full_2024-06-17T18-50-00";
  let shell: ContainerShell;
  const calls = () =>
    existsSync(join(shell.tmpDir, "clickhouse-backup.calls"))
      ? readFileSync(join(shell.tmpDir, "clickhouse-backup.calls"), "utf8").trim().split("\n")
      : [];
  const release = (exitCode: number) => {
    writeFileSync(join(shell.tmpDir, "exit-code"), String(exitCode));
    writeFileSync(join(shell.tmpDir, "release"), "");
  };
  const runFacts = async (id: string) =>
    ((await listPhaseRuns(env.db.pool, id)).find((r) => r.phase === "restore")?.facts ?? {}) as {
      clickhouseRun?: { run: number; directory: string; bytesPosted: number };
    };

  beforeAll(() => {
    // The chart's backup container: its sh runs for real; clickhouse-backup prints what the
    // tool prints and waits until the test releases it (or two minutes), then exits as told.
    shell = containerShell(env.sim, {
      pod: "stackstate-clickhouse-shard0-0",
      container: "backup",
      tools: {
        "clickhouse-backup": `name=""; for a in "$@"; do name=$a; done
echo "$*" >> {tmp}/clickhouse-backup.calls
echo "info download backup=$name operation=restore_remote version=2.5.13"
i=0
while [ ! -e {tmp}/release ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
code=$(cat {tmp}/exit-code 2>/dev/null || echo 0)
if [ "$code" = 0 ]; then echo "info done backup=$name operation=restore version=2.5.13"
else echo "error can't create table otel.otel_traces: code: 57, message: Directory for table data store/abc/ already exists" >&2; fi
exit "$code"`,
      },
    });
  });
  afterAll(() => {
    // Lets any restore still waiting end, then removes the container's files.
    if (shell) release(1);
    shell?.close();
  });
  beforeEach(() => {
    rmSync(join(shell.tmpDir, "release"), { force: true });
    rmSync(join(shell.tmpDir, "clickhouse-backup.calls"), { force: true });
  });

  it("stops the collector, runs restore_remote once with the chart's config, its output in the thread, starts the collector", async () => {
    const id = await env.request(await frozen(`clickhouse:${BACKUP}`));
    const run = drive(env, id, env.runbook().phases);
    await until(() => calls().length === 1);
    expect(replicasOf(env.sim, "stackstate-otel-collector")).toBe(0);
    release(0);
    const result = await run;
    expect(result).toMatchObject({ ok: true });
    expect(calls()).toEqual([`--config /etc/clickhouse-backup.yaml restore_remote ${BACKUP}`]);
    const thread = result.notes.join("\n");
    expect(thread).toContain(`info download backup=${BACKUP}`);
    expect(thread).toContain(`info done backup=${BACKUP}`);
    expect(replicasOf(env.sim, "stackstate-otel-collector")).toBe(2);
    // The run's files are removed once its end is recorded.
    expect(readdirSync(join(shell.tmpDir, "restorebot-clickhouse"))).toEqual([]);
  });

  it("a failed restore_remote still scales the collector back, then halts with the output; Retry phase starts a new run", async () => {
    const id = await env.request(await frozen("clickhouse:latest"));
    release(1);
    const result = await drive(env, id, env.runbook().phases);
    expect(result).toMatchObject({ ok: false, failedAt: "restore" });
    expect(result.error).toContain("exited with 1");
    expect(result.error).toContain("Directory for table data store/abc/ already exists");
    expect(replicasOf(env.sim, "stackstate-otel-collector")).toBe(2);
    expect((await runFacts(id)).clickhouseRun?.run).toBe(1);

    release(0);
    const retried = await drive(env, id, env.runbook().phases);
    expect(retried).toMatchObject({ ok: true });
    expect(calls()).toHaveLength(2);
    expect((await runFacts(id)).clickhouseRun?.run).toBe(2);
    expect(replicasOf(env.sim, "stackstate-otel-collector")).toBe(2);
  });

  it("a worker stopped mid-restore: the restore keeps running, the collector stays stopped, and the next attempt follows the same run to its end", async () => {
    const id = await env.request(await frozen(`clickhouse:${BACKUP}`));
    const abort = new AbortController();
    const first = drive(env, id, env.runbook().phases, { signal: abort.signal });
    // The first line of output is in the thread (and its bytes recorded) before the stop.
    await until(async () => ((await runFacts(id)).clickhouseRun?.bytesPosted ?? 0) > 0);
    abort.abort();
    const interrupted = await first;
    expect(interrupted).toMatchObject({ ok: false, failedAt: "restore" });
    expect(interrupted.notes.join("\n")).toContain(`info download backup=${BACKUP}`);
    // Nothing scaled the collector back while the restore runs on in the container.
    expect(replicasOf(env.sim, "stackstate-otel-collector")).toBe(0);
    expect(existsSync(join(shell.tmpDir, "restorebot-clickhouse", `${id}-1`, "exit"))).toBe(false);

    const again = drive(env, id, env.runbook().phases);
    await until(async () => (await listPhaseRuns(env.db.pool, id)).some((r) => r.attempt === 2));
    release(0);
    const result = await again;
    expect(result).toMatchObject({ ok: true });
    expect(calls()).toHaveLength(1);
    const thread = result.notes.join("\n");
    expect(thread).toContain("Following `clickhouse-backup restore_remote");
    expect(thread).toContain(`info done backup=${BACKUP}`);
    expect(thread).not.toContain(`info download backup=${BACKUP}`);
    expect(replicasOf(env.sim, "stackstate-otel-collector")).toBe(2);
  });
});

describe("Elasticsearch restore through the service proxy", () => {
  it("stops the *2es indexers, deletes exactly the snapshot's indices, restores them, waits for recovery, starts the indexers", async () => {
    env.es.addIndex("sts_internal_events-2024.06.17", { docs: 5 });
    env.es.addIndex("sts_unrelated-2024.06.18", { docs: 7 });
    const id = await env.request(await frozen("elasticsearch:latest"));
    const result = await drive(env, id, env.runbook().phases);
    expect(result).toMatchObject({ ok: true });
    expect(env.es.indexNames()).toEqual(
      expect.arrayContaining([
        "sts_internal_events-2024.06.17",
        "sts_multi_metrics-2024.06.17",
        "sts_unrelated-2024.06.18",
      ]),
    );
    expect(env.es.index("sts_unrelated-2024.06.18")?.docs).toBe(7);
    expect(env.es.index("sts_internal_events-2024.06.17")?.origin).toMatchObject({
      type: "SNAPSHOT",
    });
    const scaled = env.sim
      .events()
      .filter((e) => e.type === "scale")
      .map((e) => e.component);
    expect(scaled).toContain("stackstate-e2es");
    expect(scaled).toContain("stackstate-trace2es");
    expect(scaled).not.toContain("stackstate-router");
    expect(replicasOf(env.sim, "stackstate-trace2es")).toBe(2);
  });

  it("failed shards halt the restore with each shard and Elasticsearch's reason; Roll back starts the indexers", async () => {
    const id = await env.request(await frozen("elasticsearch:latest"), {
      indices: ["sts_multi_metrics-2024.06.17"],
    });
    env.es.failShards("sts_multi_metrics-2024.06.17", [0]);
    const runbook = env.runbook();
    const result = await drive(env, id, runbook.phases);
    expect(result).toMatchObject({ ok: false, failedAt: "restore" });
    expect(result.error).toContain("sts_multi_metrics-2024.06.17 shard 0");
    expect(replicasOf(env.sim, "stackstate-e2es")).toBe(0);
    expect(await drive(env, id, runbook.rollback, { offset: 101 })).toMatchObject({ ok: true });
    expect(replicasOf(env.sim, "stackstate-e2es")).toBe(1);
    expect(replicasOf(env.sim, "stackstate-trace2es")).toBe(2);
  });
});

async function until(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("/restore plan for a StackState point", () => {
  it("names what each store's restore stops, with live replica counts, and what it runs", async () => {
    const { DEFAULT_KINDS } = await import("../../../src/kinds/registry.js");
    const kind = DEFAULT_KINDS.get("stackstate");
    const at = new Date();
    const plan = async (text: string) =>
      kind.plan({
        target: env.target,
        point: { id: text, time: at, point: await frozen(text) },
        cluster: () => env.cluster,
        now: at,
      });
    const sg = await plan("stackgraph:latest");
    expect(sg.phases.join("\n")).toContain("stackstate-api (1 replicas now)");
    expect(sg.phases.join("\n")).toContain("stackstate-server (2 replicas now)");
    expect(sg.phases.join("\n")).toContain("stackgraph-restore-backup");
    const es = await plan("elasticsearch:latest");
    expect(es.phases.join("\n")).toContain("stackstate-e2es");
    expect(es.phases.join("\n")).not.toContain("stackstate-router");
    const ch = await plan("clickhouse:latest");
    expect(ch.phases.join("\n")).toContain(
      "clickhouse-backup restore_remote full_2024-06-17T18-50-00",
    );
  });

  it("says what it could not read when the cluster does not answer", async () => {
    const { DEFAULT_KINDS } = await import("../../../src/kinds/registry.js");
    const { createKubernetesCluster } = await import(
      "../../../src/adapters/kubernetes/kubernetes-cluster.js"
    );
    const { kubeconfigFor } = await import("../../../stand-ins/kubernetes/index.js");
    const broken = createKubernetesCluster({
      namespace: "stackstate",
      kubeConfig: kubeconfigFor(env.sim, { token: "wrong" }),
      retry: { attempts: 1, initialDelayMs: 1, maxDelayMs: 1 },
    });
    const at = new Date();
    const result = await DEFAULT_KINDS.get("stackstate").plan({
      target: env.target,
      point: { id: "x", time: at, point: await frozen("metrics:latest") },
      cluster: () => broken,
      now: at,
    });
    expect(result.phases.join("\n")).toContain("could not read the cluster");
  });
});
