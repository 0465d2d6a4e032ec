import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateMultipartUploadCommand, S3Client, UploadPartCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createKubernetesCluster,
  type KubernetesCluster,
} from "../../../src/adapters/kubernetes/kubernetes-cluster.js";
import type { ObjectStore } from "../../../src/adapters/s3/object-store.js";
import { getRequest } from "../../../src/approvals/request-store.js";
import { parseConfig } from "../../../src/config/file.js";
import {
  backupDirectory,
  incrementalDirectory,
} from "../../../src/kinds/influxdb-enterprise/backup-runbook.js";
import type { EnterpriseTarget } from "../../../src/kinds/influxdb-enterprise/config.js";
import { influxdbEnterprise } from "../../../src/kinds/influxdb-enterprise/index.js";
import {
  createEnterpriseSource,
  freezeEnterprisePoint,
  locationOf,
} from "../../../src/kinds/influxdb-enterprise/points.js";
import { copyDirectory, tarSize } from "../../../src/kinds/influxdb-enterprise/runbook.js";
import { uploadStandInSet } from "../../../src/kinds/influxdb-enterprise/sandbox/scenario.js";
import type { JsonValue } from "../../../src/kinds/kind.js";
import { DEFAULT_KINDS } from "../../../src/kinds/registry.js";
import { listPhaseRuns } from "../../../src/runbook/run-store.js";
import { BACKUP_POINT_FACT, type Runbook } from "../../../src/runbook/types.js";
import { getConfigMap } from "../../../src/steps/index.js";
import {
  createInfluxdCtlStandIn,
  type InfluxdCtlStandIn,
} from "../../../stand-ins/influxd-ctl/influxd-ctl.js";
import { hostMetaPod, type MetaPodHost } from "../../../stand-ins/influxd-ctl/meta-pod.js";
import {
  type KubernetesSimulator,
  kubeconfigFor,
  startKubernetesSimulator,
} from "../../../stand-ins/kubernetes/index.js";
import { standInObjectStore } from "../../../stand-ins/s3/sdk-store.js";
import { type S3StandIn, startS3StandIn } from "../../../stand-ins/s3/server.js";
import {
  createRunnerDatabase,
  insertApprovedRequest,
  type RunnerDatabase,
  runbookDeps,
} from "../../jobs/support/run-fixtures.js";
import { drive } from "../stackstate/support/runbook-env.js";

const NS = "influxdb";
const BUCKET = "ent-backups";
const CONF = '[meta]\n  dir = "/var/lib/influxdb/meta"\n\n[anti-entropy]\n  enabled = true\n';

let sim: KubernetesSimulator;
let s3: S3StandIn;
let store: ObjectStore;
let db: RunnerDatabase;
let cluster: KubernetesCluster;
let ctl: InfluxdCtlStandIn;
let target: EnterpriseTarget;
let workDir: string;
let fullPoint: JsonValue;
let metaPod: MetaPodHost;
/** Moves the tool's clock on: its files are named by the second they were written. */
let ctlClockOffsetMs = 0;
let n = 0;

/** `influxd-ctl backup -full` in the stand-in, uploaded as restorebot uploads a set. */
async function uploadSet(asOf: string): Promise<JsonValue> {
  await uploadStandInSet({
    ctl,
    store,
    location: locationOf(target),
    target: target.name,
    asOf,
    full: true,
    dir: `/backups/${asOf}`,
  });
  const source = createEnterpriseSource(store, target);
  const index = await source.listPoints();
  const ref = index.points.find((p) => p.id === asOf)!;
  const details = await source.describePoints([ref], index);
  const frozen = freezeEnterprisePoint(target, ref, details.get(asOf));
  if (!frozen.ok) throw new Error(frozen.message);
  return frozen.point;
}

async function request(point: JsonValue, options?: unknown): Promise<string> {
  return insertApprovedRequest(db.pool, {
    state: "running",
    target: `ent-${++n}`,
    kind: "influxdb-enterprise",
    point: point as never,
    options,
  });
}

const deps = () => runbookDeps({ target, pool: db.pool, cluster, store, workDir });

function runbook(): Runbook {
  return influxdbEnterprise.runbooks.restore(deps());
}

const env = () => ({ db, sim }) as never;

async function conf(): Promise<string | undefined> {
  return (await getConfigMap({ cluster } as never, "influxdb-data"))["influxdb.conf"];
}

beforeAll(async () => {
  sim = await startKubernetesSimulator({
    namespace: NS,
    components: [
      { name: "influxdb-meta", kind: "StatefulSet", replicas: 1 },
      { name: "influxdb-data", kind: "StatefulSet", replicas: 2 },
    ],
    timing: { startDelayMs: 10, readyDelayMs: 20, terminationDelayMs: 30 },
  });
  sim.resources.putObject(
    { apiGroup: "", plural: "configmaps" },
    { metadata: { name: "influxdb-data" }, data: { "influxdb.conf": CONF } },
  );
  s3 = await startS3StandIn({ buckets: [BUCKET] });
  store = standInObjectStore(s3);
  db = await createRunnerDatabase("ent_runbook");
  cluster = createKubernetesCluster({
    namespace: NS,
    kubeConfig: kubeconfigFor(sim),
    retry: { attempts: 2, initialDelayMs: 10, maxDelayMs: 20 },
  });
  const config = parseConfig(`
slack:
  channels: [C0RESTORE1]
policy:
  approvers: [UAPPROVER]
targets:
  - name: ent
    kind: influxdb-enterprise
    namespace: ${NS}
    timeouts: { podsGone: 20s, podsReady: 20s }
    meta: { scratchDir: /scratch/ }
    backups: { bucket: ${BUCKET}, endpoint: http://127.0.0.1:1, forcePathStyle: true }
`);
  target = config.targets[0] as EnterpriseTarget;
  workDir = await mkdtemp(join(tmpdir(), "ent-runbook-"));
  ctl = createInfluxdCtlStandIn({
    now: () => new Date(Date.now() + ctlClockOffsetMs),
    databases: { telegraf: { autogen: [4000, 900] }, _internal: { monitor: [100] } },
  });
  metaPod = hostMetaPod(sim, ctl);
  fullPoint = await uploadSet("2026-12-01T03:00:00Z");
  await sim.waitFor((s) =>
    s.components.every((c) => c.pods.filter((p) => p.ready).length === c.specReplicas),
  );
}, 60_000);

afterAll(async () => {
  await sim?.close();
  await s3?.close();
  await db?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe("influxdb-enterprise restore runbook, against the simulator, the S3 stand-in and influxd-ctl in the meta pod", () => {
  it("is registered with its outline, options and Role rules", () => {
    expect(DEFAULT_KINDS.find("influxdb-enterprise")).toBe(influxdbEnterprise);
    expect(DEFAULT_KINDS.outline("influxdb-enterprise").map((p) => p.name)).toEqual([
      "check-set",
      "anti-entropy-off",
      "copy-set",
      "restore",
      "remove-copy",
      "anti-entropy-on",
    ]);
    expect(influxdbEnterprise.rbac.some((r) => r.resources.includes("pods/exec"))).toBe(true);
  });

  it("a full restore: anti-entropy off node by node, the set streamed in and checked, -full <manifest>, the copy removed, anti-entropy back", async () => {
    const id = await request(fullPoint);
    ctl.dropDatabase("telegraf");
    const deletedBefore = sim.resources.deletedPods().length;
    const restoreStarted = ctl.calls.length;
    const result = await drive(env(), id, runbook().phases);
    expect(result.error).toBeUndefined();
    expect(result).toMatchObject({ ok: true });
    const restoreCall = ctl.calls.slice(restoreStarted).find((c) => c[0] === "restore");
    const dir = copyDirectory(target, id);
    const manifest = (fullPoint as { manifest: string }).manifest;
    expect(restoreCall).toEqual(["restore", "-full", `${dir}/${manifest}`]);
    expect(ctl.databases.has("telegraf")).toBe(true);
    expect(result.notes.join("\n")).toMatch(/Restored from .* transferred \d+ bytes/);
    // Every file went through exactly as sized: one tar of the computed length.
    const files = (fullPoint as { files: Array<{ size: number }> }).files;
    const tarExec = sim.execs().find((e) => e.command[0] === "tar" && e.command.at(-1) === dir);
    expect(tarExec?.stdinBytes).toBe(tarSize(files));
    expect([...ctl.files.keys()].filter((k) => k.startsWith(`${dir}/`))).toEqual([]);
    // Two restarts off, two on, one node at a time; the config is back byte for byte.
    expect(sim.resources.deletedPods().slice(deletedBefore)).toEqual([
      "influxdb-data-0",
      "influxdb-data-1",
      "influxdb-data-0",
      "influxdb-data-1",
    ]);
    const original = (await listPhaseRuns(db.pool, id)).find((r) => r.phase === "anti-entropy-off")
      ?.facts["antiEntropy:original"] as never;
    expect(original).toEqual({ text: CONF, wasOn: true });
    expect(await conf()).toBe(CONF);
    const finish = runbook().describeFinish(
      (await getRequest(db.pool, id))!,
      await listPhaseRuns(db.pool, id),
      new Date(),
    );
    expect(finish.join("\n")).toContain("every database in the full set");
  }, 60_000);

  it("--db telegraf --newdb telegraf_restored: restores beside the live data with the options from the request", async () => {
    const id = await request(fullPoint, { db: "telegraf", newdb: "telegraf_restored" });
    const before = ctl.calls.length;
    const result = await drive(env(), id, runbook().phases);
    expect(result.error).toBeUndefined();
    expect(result).toMatchObject({ ok: true });
    expect(ctl.calls.slice(before).find((c) => c[0] === "restore")).toEqual([
      "restore",
      "-db",
      "telegraf",
      "-newdb",
      "telegraf_restored",
      "-full",
      `${copyDirectory(target, id)}/${(fullPoint as { manifest: string }).manifest}`,
    ]);
    expect(ctl.databases.has("telegraf_restored")).toBe(true);
    expect(ctl.databases.has("telegraf")).toBe(true);
    expect(await conf()).toBe(CONF);
  }, 60_000);

  it("influxd-ctl fails: halts with its output in the thread and an account of anti-entropy; Roll back puts anti-entropy back", async () => {
    const id = await request(fullPoint, { db: "_internal", newdb: "internal_copy" });
    ctl.failNext("restore", "problem setting snapshot: shard 9 not found");
    const rb = runbook();
    const result = await drive(env(), id, rb.phases);
    expect(result).toMatchObject({ ok: false, failedAt: "restore" });
    expect(result.error).toContain("influxd-ctl restore exited with 1");
    expect(result.error).toContain("shard 9 not found");
    expect(result.notes.join("\n")).toContain("shard 9 not found");
    expect(await conf()).toContain("enabled = false");
    const account = await rb.describeHalt(
      (await getRequest(db.pool, id))!,
      await listPhaseRuns(db.pool, id),
    );
    const state = account.state.join("\n");
    expect(state).toContain("Anti-entropy is off on influxdb-data-0, influxdb-data-1");
    expect(state).toContain("The database was touched");
    expect(state).toContain(
      `A copy of the set may be in influxdb-meta-0:${copyDirectory(target, id)}`,
    );
    expect(account.rollback).toContain("ConfigMap influxdb-data");

    const deletedBefore = sim.resources.deletedPods().length;
    const back = await drive(env(), id, rb.rollback, { offset: 101 });
    expect(back).toMatchObject({ ok: true });
    expect(await conf()).toBe(CONF);
    expect(sim.resources.deletedPods().slice(deletedBefore)).toEqual([
      "influxdb-data-0",
      "influxdb-data-1",
    ]);
    expect(
      [...ctl.files.keys()].filter((k) => k.startsWith(`${copyDirectory(target, id)}/`)),
    ).toEqual([]);
    const after = await rb.describeHalt(
      (await getRequest(db.pool, id))!,
      await listPhaseRuns(db.pool, id),
    );
    expect(after.state.join("\n")).toContain("on on influxdb-data-0, influxdb-data-1");
  }, 60_000);

  it("a set damaged after approval: refused before anything changes", async () => {
    const point = { ...(fullPoint as Record<string, JsonValue>), shards: 99 } as JsonValue;
    const id = await request(point);
    const before = sim.resources.deletedPods().length;
    const result = await drive(env(), id, runbook().phases);
    expect(result).toMatchObject({ ok: false, failedAt: "check-set" });
    expect(result.error).toContain("changed after the request was approved");
    expect(sim.resources.deletedPods().length).toBe(before);
    expect(await conf()).toBe(CONF);
  }, 30_000);

  it("/backup: influxd-ctl backup -full in the meta pod, the set streamed out and uploaded, complete.json last, the backupPoint fact; the set then restores", async () => {
    const id = await request(null as never);
    const backup = influxdbEnterprise.runbooks.backup!(deps());
    const before = ctl.calls.length;
    const result = await drive(env(), id, backup.phases);
    expect(result.error).toBeUndefined();
    expect(ctl.calls.slice(before)).toEqual([["backup", "-full", backupDirectory(target, id)]]);
    expect(result.notes.join("\n")).toMatch(/Backed up to .* transferred \d+ bytes/);
    const upload = (await listPhaseRuns(db.pool, id)).find((r) => r.phase === "upload-set");
    const fact = upload?.facts[BACKUP_POINT_FACT] as { asOf: string; bytes: number; point: never };
    expect(fact.bytes).toBeGreaterThan(0);
    expect(
      [...ctl.files.keys()].filter((k) => k.startsWith(`${backupDirectory(target, id)}/`)),
    ).toEqual([]);
    const source = createEnterpriseSource(store, target);
    const verified = await source.verifyPoint({ id: fact.asOf, time: new Date(fact.asOf) });
    expect(verified.problems).toEqual([]);
    expect(verified.ok).toBe(true);
    const restoreId = await request(fact.point, { db: "telegraf", newdb: "from_backup" });
    expect(await drive(env(), restoreId, runbook().phases)).toMatchObject({ ok: true });
    expect(ctl.databases.has("from_backup")).toBe(true);
  }, 60_000);

  function backupRunbook(): Runbook {
    return influxdbEnterprise.runbooks.backup!(deps());
  }

  async function backupFact(
    id: string,
  ): Promise<{ asOf: string; bytes: number; point: JsonValue }> {
    const upload = (await listPhaseRuns(db.pool, id)).find((r) => r.phase === "upload-set");
    return upload?.facts[BACKUP_POINT_FACT] as never;
  }

  async function completeJson(asOf: string): Promise<Record<string, unknown>> {
    const { body } = await store.getStream(BUCKET, `sets/${asOf}/complete.json`);
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
  }

  it("the set's files sit under backups.prefix<as-of>/ and the copy under meta.scratchDir", async () => {
    const asOf = (fullPoint as { asOf: string }).asOf;
    const keys: string[] = [];
    for await (const o of store.listObjects(BUCKET, "sets/")) keys.push(o.key);
    expect(keys).toContain(`sets/${asOf}/complete.json`);
    expect(keys.filter((k) => k.startsWith(`sets/${asOf}/`)).length).toBe(
      (fullPoint as { files: unknown[] }).files.length + 1,
    );
    expect(keys.some((k) => k.startsWith("sets/points/"))).toBe(false);
    expect(copyDirectory(target, "rb-x")).toBe("/scratch/restorebot-rb-x");
    expect(backupDirectory(target, "rb-x")).toBe("/scratch/restorebot-backup-rb-x");
  });

  it("/backup --incremental: no -full, into the directory kept for incremental sets; complete.json says incremental and holds every shard of the directory; the set restores without -full", async () => {
    const dir = incrementalDirectory(target);
    ctl.remove(dir.root);
    const first = await request(null as never, { incremental: true });
    const before = ctl.calls.length;
    expect(await drive(env(), first, backupRunbook().phases)).toMatchObject({ ok: true });
    // The directory was empty: the tool copies everything, as the seed says.
    expect(ctl.calls.slice(before)).toEqual([["backup", dir.set]]);
    const firstSet = await backupFact(first);
    const firstJson = await completeJson(firstSet.asOf);
    const live = [...ctl.databases.keys()].sort();
    const liveShards = [...ctl.databases.values()].flatMap((rps) => [...rps.values()].flat());
    expect(firstJson).toMatchObject({ full: false, databases: live });
    expect((firstJson.shards as unknown[]).length).toBe(liveShards.length);

    // New points in one telegraf shard; the next incremental run copies only that shard.
    ctl.write("telegraf", "autogen", 5000);
    ctlClockOffsetMs += 2000;
    const second = await request(null as never, { incremental: true });
    const result = await drive(env(), second, backupRunbook().phases);
    expect(result.error).toBeUndefined();
    const copiedLines = result.notes.filter((n) => n.includes("Backing up node"));
    expect(copiedLines).toHaveLength(1);
    expect(copiedLines[0]).toContain("db telegraf, rp autogen");
    const secondSet = await backupFact(second);
    const json = await completeJson(secondSet.asOf);
    expect(json.full).toBe(false);
    expect(json.databases).toEqual(live);
    expect(json.retentionPolicies).toEqual(firstJson.retentionPolicies);
    // Every shard of the directory, the changed one as its newest copy.
    const shards = json.shards as Array<{ id: number; bytes: number }>;
    expect(shards.map((s) => s.id)).toEqual(
      (firstJson.shards as Array<{ id: number }>).map((s) => s.id),
    );
    expect(shards.reduce((n, s) => n + s.bytes, 0)).toBe(
      (firstJson.shards as Array<{ bytes: number }>).reduce((n, s) => n + s.bytes, 0) + 5000,
    );
    // Both runs' manifests are in the uploaded set; the directory stays in the meta pod.
    const manifests = (json.files as Array<{ name: string }>).filter((f) =>
      f.name.endsWith(".manifest"),
    );
    expect(manifests.length).toBe(2);
    expect(ctl.exists(dir.set)).toBe(true);
    const finish = backupRunbook().describeFinish(
      (await getRequest(db.pool, second))!,
      await listPhaseRuns(db.pool, second),
      new Date(),
    );
    expect(finish.join(" ")).toContain(`Incremental backup set ${secondSet.asOf} uploaded`);

    const restoreId = await request(secondSet.point, { db: "telegraf", newdb: "from_incremental" });
    const calls = ctl.calls.length;
    const restored = await drive(env(), restoreId, runbook().phases);
    expect(restored.error).toBeUndefined();
    expect(ctl.calls.slice(calls).find((c) => c[0] === "restore")).toEqual([
      "restore",
      "-db",
      "telegraf",
      "-newdb",
      "from_incremental",
      `${copyDirectory(target, restoreId)}/`,
    ]);
    const telegrafBytes = shards
      .filter((s) =>
        (json.shards as Array<{ id: number; database: string }>).some(
          (j) => j.id === s.id && j.database === "telegraf",
        ),
      )
      .reduce((n, s) => n + s.bytes, 0);
    const restoredShards = [...(ctl.databases.get("from_incremental")?.values() ?? [])].flat();
    expect(restoredShards.reduce((n, s) => n + s.bytes, 0)).toBe(telegrafBytes);
  }, 60_000);

  it("/backup without options takes a full set: -full, complete.json full, the copy removed", async () => {
    const id = await request(null as never, {});
    const before = ctl.calls.length;
    expect(await drive(env(), id, backupRunbook().phases)).toMatchObject({ ok: true });
    expect(ctl.calls.slice(before)).toEqual([["backup", "-full", backupDirectory(target, id)]]);
    const set = await backupFact(id);
    expect(await completeJson(set.asOf)).toMatchObject({ full: true });
    expect(ctl.exists(backupDirectory(target, id))).toBe(false);
  }, 60_000);

  it("two /backup runs within one second: two complete sets, each in its own folder", async () => {
    // The runner's clock stands still: both backups take their set "at" the same moment, an hour
    // back (the other tests' backups hold folders of seconds around now).
    const frozen = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000 + 100);
    const asOfs: string[] = [];
    const notes: string[] = [];
    for (const _ of [1, 2]) {
      const id = await request(null as never, {});
      const result = await drive(env(), id, backupRunbook().phases, { now: () => frozen });
      expect(result).toMatchObject({ ok: true });
      notes.push(...result.notes);
      asOfs.push((await backupFact(id)).asOf);
    }
    const first = `${frozen.toISOString().slice(0, 19)}Z`;
    const next = `${new Date(frozen.getTime() + 1000).toISOString().slice(0, 19)}Z`;
    expect(asOfs).toEqual([first, next]);
    expect(notes).toContain(
      `The point is named ${next}: the folder of ${first} already holds another backup.`,
    );
    const source = createEnterpriseSource(store, target);
    for (const asOf of asOfs) {
      expect(await completeJson(asOf)).toMatchObject({ full: true });
      const verified = await source.verifyPoint({ id: asOf, time: new Date(asOf) });
      expect(verified.problems).toEqual([]);
    }
  }, 60_000);

  it("/backup resumed after a kill mid-upload: the dead run's multipart uploads under the set's folder are aborted, nothing else", async () => {
    const id = await request(null as never, {});
    expect(await drive(env(), id, backupRunbook().phases, { only: ["backup-set"] })).toMatchObject({
      ok: true,
    });
    const asOf = String(
      (await listPhaseRuns(db.pool, id)).find((r) => r.phase === "backup-set")?.facts.asOf,
    );
    // What a worker killed while uploading a large set file leaves: an upload with a part.
    const sdk = new S3Client({
      endpoint: s3.endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "AKIDTEST", secretAccessKey: "secret" },
    });
    const orphan = async (key: string) => {
      const { UploadId } = await sdk.send(
        new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }),
      );
      await sdk.send(
        new UploadPartCommand({
          Bucket: BUCKET,
          Key: key,
          UploadId,
          PartNumber: 1,
          Body: Buffer.alloc(1024),
        }),
      );
      return UploadId as string;
    };
    await orphan(`sets/${asOf}/20261202T110005Z.s1.tar.gz`);
    const elsewhere = await orphan("sets/2020-01-01T00:00:00Z/meta.00");
    try {
      const result = await drive(env(), id, backupRunbook().phases);
      expect(result.error).toBeUndefined();
      expect(result.notes.join("\n")).toContain(
        `Aborted 1 incomplete multipart upload that an interrupted run left under s3://${BUCKET}/sets/${asOf}/ (20261202T110005Z.s1.tar.gz started `,
      );
      expect(s3.pendingUploads().map((u) => u.uploadId)).toEqual([elsewhere]);
      expect((await backupFact(id)).asOf).toBe(asOf);
    } finally {
      await store.abortMultipartUpload(BUCKET, "sets/2020-01-01T00:00:00Z/meta.00", elsewhere);
      sdk.destroy();
    }
  }, 60_000);

  it("too little room in meta.scratchDir: refused at the check, before anti-entropy or anything else changes", async () => {
    const id = await request(fullPoint);
    const deletedBefore = sim.resources.deletedPods().length;
    metaPod.freeBytes = 2048;
    try {
      const result = await drive(env(), id, runbook().phases);
      expect(result).toMatchObject({ ok: false, failedAt: "check-set" });
      expect(result.error).toContain("influxdb-meta-0:/scratch has 2.0 KiB free");
      expect(result.error).toContain("nothing was changed");
      expect(result.error).toContain("meta.scratchDir");
    } finally {
      metaPod.freeBytes = Number.POSITIVE_INFINITY;
    }
    expect(sim.resources.deletedPods().length).toBe(deletedBefore);
    expect(await conf()).toBe(CONF);
    expect(ctl.exists(copyDirectory(target, id))).toBe(false);
    // The halt account: every node's anti-entropy as it was, the database untouched.
    const account = await runbook().describeHalt(
      (await getRequest(db.pool, id))!,
      await listPhaseRuns(db.pool, id),
    );
    const state = account.state.join("\n");
    expect(state).toContain("Anti-entropy was not touched.");
    expect(state).toContain("The database was not touched");
    expect(state).not.toContain("A copy of the set may be");
  }, 30_000);
});
