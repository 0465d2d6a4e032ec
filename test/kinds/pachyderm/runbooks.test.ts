import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { COMPLETE_FILE, listBackupPoints, pointFileKey } from "../../../src/backups/index.js";
import {
  OBJECT_MANIFEST,
  pachyderm,
  readObjectManifest,
} from "../../../src/kinds/pachyderm/index.js";
import type { PachydermPoint } from "../../../src/kinds/pachyderm/points.js";
import { BACKUP_POINT_FACT, PAUSE_WINDOW_FACT } from "../../../src/runbook/types.js";
import { phaseRows, requestRow, resumeHalted } from "../../jobs/support/run-fixtures.js";
import { until } from "../../jobs/support/until.js";
import { type PachydermEnv, startPachydermEnv } from "./kind-env.js";
import { PREPARED_ADMIN_URL, pgDumpOf, SEQUENTIAL_ADMIN_URL } from "./support.js";

let env: PachydermEnv | undefined;

afterEach(async () => {
  await env?.close();
  env = undefined;
});

function replicas(e: PachydermEnv): Record<string, number> {
  return Object.fromEntries(e.sim.snapshot().components.map((c) => [c.name, c.specReplicas]));
}

function readyPachd(e: PachydermEnv): number {
  return e.sim.snapshot().components.find((c) => c.name === "pachd")?.readyReplicas ?? 0;
}

async function backupPointOf(e: PachydermEnv, id: string): Promise<PachydermPoint> {
  const rows = await phaseRows(e.runner.pool, id);
  const fact = rows.find((r) => r.phase === "write-complete")?.facts[BACKUP_POINT_FACT] as
    | { asOf: string; point: PachydermPoint }
    | undefined;
  if (!fact) throw new Error("the backup recorded no point");
  return fact.point;
}

async function takeBackup(e: PachydermEnv): Promise<PachydermPoint> {
  const id = await e.request();
  const result = await e.run(id, "backup");
  expect(result.outcome, JSON.stringify(await requestRow(e.runner.pool, id))).toBe("succeeded");
  return backupPointOf(e, id);
}

async function manifestKeys(e: PachydermEnv, point: PachydermPoint): Promise<string[]> {
  const file = point.files.find((f) => f.name === OBJECT_MANIFEST);
  if (!file) throw new Error("no manifest");
  const keys: string[] = [];
  for await (const o of readObjectManifest(
    e.store,
    { bucket: e.target.backups.bucket, prefix: e.target.backups.prefix },
    point.asOf,
    file,
  ))
    keys.push(o.key);
  return keys;
}

describe("Pachyderm backup through the runner", () => {
  it("pre-copies, pauses, writes a complete point with complete.json last, brings pachd back and records the pause window", async () => {
    env = await startPachydermEnv("bk", { adminUrl: SEQUENTIAL_ADMIN_URL });
    const e = env;
    const before = replicas(e);
    // A write while pachd is being stopped: the delta copy must take it into the point.
    let wrote = false;
    const id = await e.request();
    const result = await e.run(id, "backup", {
      onEvent: (ev) => {
        if (!wrote && ev.type === "phase-started" && ev.phase.name === "scale-down") {
          wrote = true;
          e.s3.putObjectDirect("pachyderm-data", "chunks/late", "written just before the pause");
        }
      },
    });
    expect(result.outcome).toBe("succeeded");
    const point = await backupPointOf(e, id);
    expect(point.objectCount).toBe(31);
    expect(point.databases).toEqual(["pachyderm", "dex"]);
    expect(point.files.map((f) => f.name).sort()).toEqual(
      ["dex.sql.gz", OBJECT_MANIFEST, "pachyderm.sql.gz"].sort(),
    );
    expect((await manifestKeys(e, point)).sort()).toContain("chunks/late");
    // Every manifest object is in the pool.
    const poolKeys = new Set(e.s3.listKeys("pachyderm-backups", "restorebot/objects/"));
    expect(poolKeys.size).toBe(31);
    // complete.json was the last object written into the point's folder.
    const folder = `restorebot/points/${point.asOf}/`;
    const writes = e.s3
      .writeLog()
      .filter((w) => w.bucket === "pachyderm-backups" && w.key.startsWith(folder));
    expect(writes.at(-1)?.key).toBe(`${folder}${COMPLETE_FILE}`);
    // The pause window: recorded, and pachd is back with its count; pachd owns its workers.
    const rows = await phaseRows(e.runner.pool, id);
    const pause = rows.find((r) => r.phase === "wait-ready")?.facts[PAUSE_WINDOW_FACT];
    expect(typeof pause).toBe("number");
    expect(pause as number).toBeGreaterThan(0);
    expect(replicas(e).pachd).toBe(before.pachd);
    expect(readyPachd(e)).toBe(before.pachd);
    const finished = e.events.find((ev) => ev.type === "run-finished");
    expect(finished?.type === "run-finished" && finished.lines.join("\n")).toMatch(
      /Pause window: .+ \(from the first scale-down until pachd was ready again\)/,
    );
    // Listed newest first, complete, with dumps, objects and expiry.
    const points = await listBackupPoints(e.store, {
      bucket: "pachyderm-backups",
      prefix: "restorebot/",
    });
    expect(points.map((p) => [p.asOf, p.complete])).toEqual([[point.asOf, true]]);
    const source = pachyderm.points.source(e.target, () => e.store);
    const index = await source.listPoints();
    const details = await source.describePoints(index.points, index);
    const d = details.get(point.asOf);
    expect(d?.complete).toBe(true);
    expect(d?.summary).toMatch(/pachyderm\.sql\.gz .+, dex\.sql\.gz .+ · 31 objects/);
    const frozen = pachyderm.points.freeze(e.target, index.points[0] as never, d);
    expect(frozen.ok).toBe(true);
    if (frozen.ok)
      expect(pachyderm.points.cardLines(frozen.point).join("\n")).toMatch(
        /commit one after the other: the server of "pachyderm" and "dex" has max_prepared_transactions = 0/,
      );
  });

  it("a pg_dump that fails halfway leaves no complete.json; Roll back brings pachd and the workers back", async () => {
    env = await startPachydermEnv("bkfail", { adminUrl: SEQUENTIAL_ADMIN_URL });
    const e = env;
    await e.pach.query(
      "CREATE TABLE big AS SELECT i, repeat(md5(i::text), 20) AS pad FROM generate_series(1, 400000) i",
    );
    const before = replicas(e);
    const id = await e.request();
    const killer = new pg.Client({ connectionString: SEQUENTIAL_ADMIN_URL });
    await killer.connect();
    let killing: Promise<unknown> | undefined;
    const result = await e.run(id, "backup", {
      onEvent: (ev) => {
        if (
          killing === undefined &&
          ev.type === "phase-progress" &&
          ev.text.startsWith('pg_dump of database "pachyderm"')
        )
          killing = until(async () => {
            const { rows } = await killer.query(
              "SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity WHERE datname = $1 AND application_name = 'pg_dump' AND query ILIKE 'COPY%big%'",
              [e.pach.name],
            );
            return rows.length > 0 ? true : undefined;
          }, "pg_dump copying the big table");
      },
    });
    await killing;
    await killer.end();
    expect(result.outcome).toBe("halted");
    const row = await requestRow(e.runner.pool, id);
    expect(row.halted_phase).toMatch(/Dump the databases/);
    expect(row.halted_reason).toMatch(/pg_dump of database "pachyderm"/);
    const keys = e.s3.listKeys("pachyderm-backups", "restorebot/points/");
    expect(keys.some((k) => k.endsWith(COMPLETE_FILE))).toBe(false);
    expect(keys.some((k) => k.endsWith("pachyderm.sql.gz"))).toBe(false);
    expect(e.s3.pendingUploads()).toEqual([]);
    // The halt account names what Roll back does; pachd is still down.
    const halted = e.events.find((ev) => ev.type === "run-halted");
    expect(halted?.type === "run-halted" && halted.account.rollback).toMatch(
      /scale Deployment pachd back to 2/,
    );
    expect(halted?.type === "run-halted" && halted.account.state.join("\n")).toMatch(
      /no complete\.json: it is incomplete and never restorable/,
    );
    expect(replicas(e).pachd).toBe(0);
    await resumeHalted(e.runner.pool, id, "rollback");
    const rolled = await e.run(id, "backup");
    expect(rolled.outcome).toBe("rolled_back");
    expect(replicas(e)).toEqual(before);
    expect(readyPachd(e)).toBe(2);
    const source = pachyderm.points.source(e.target, () => e.store);
    const index = await source.listPoints();
    const details = await source.describePoints(index.points, index);
    expect([...details.values()].map((d) => d.complete)).toEqual([false]);
  });

  it("two backups paused within the same second write two complete points, in two folders", async () => {
    env = await startPachydermEnv("bksame", { adminUrl: SEQUENTIAL_ADMIN_URL });
    const e = env;
    // The runner's clock stands still: both backups pause "at" the same moment.
    const frozen = new Date(Math.floor(Date.now() / 1000) * 1000 + 250);
    const ids: string[] = [];
    for (const _ of [1, 2]) {
      const id = await e.request();
      const result = await e.run(id, "backup", { clock: () => frozen });
      expect(result.outcome, JSON.stringify(await requestRow(e.runner.pool, id))).toBe("succeeded");
      ids.push(id);
    }
    const [first, second] = await Promise.all(ids.map((id) => backupPointOf(e, id)));
    expect(first?.asOf).toBe(`${frozen.toISOString().slice(0, 19)}Z`);
    expect(second?.asOf).toBe(`${new Date(frozen.getTime() + 1000).toISOString().slice(0, 19)}Z`);
    const notes = e.events.flatMap((ev) => (ev.type === "phase-note" ? [ev.text] : []));
    expect(notes).toContain(
      `The point is named ${second?.asOf}: the folder of ${first?.asOf} already holds another backup.`,
    );
    // Each folder holds one backup's files, each written once.
    for (const point of [first, second]) {
      const folder = `restorebot/points/${point?.asOf}/`;
      const writes = e.s3
        .writeLog()
        .filter((w) => w.bucket === "pachyderm-backups" && w.key.startsWith(folder))
        .map((w) => w.key.slice(folder.length));
      expect(writes.sort()).toEqual(
        ["dex.sql.gz", OBJECT_MANIFEST, "pachyderm.sql.gz", COMPLETE_FILE].sort(),
      );
    }
    const points = await listBackupPoints(e.store, {
      bucket: "pachyderm-backups",
      prefix: "restorebot/",
    });
    expect(points.map((p) => [p.asOf, p.complete])).toEqual([
      [second?.asOf, true],
      [first?.asOf, true],
    ]);
  });

  it("resumes after an interruption during the object copy and during the dumps, with every object once", async () => {
    env = await startPachydermEnv("bkresume", { adminUrl: SEQUENTIAL_ADMIN_URL, objects: 60 });
    const e = env;
    e.s3.setLatency(25, "CopyObject");
    const id = await e.request();
    // 1: stopped in the middle of the pre-copy.
    const first = new AbortController();
    const r1 = await e.run(id, "backup", {
      signal: first.signal,
      onEvent: (ev) => {
        if (ev.type === "phase-progress" && /^pre-copy: ([1-9]\d*) copied/.test(ev.text))
          first.abort();
      },
    });
    expect(r1.outcome).toBe("suspended");
    const copiedBefore = e.s3.listKeys("pachyderm-backups", "restorebot/objects/").length;
    expect(copiedBefore).toBeGreaterThan(0);
    expect(copiedBefore).toBeLessThan(60);
    // 2: resumed, then stopped during the first dump.
    const second = new AbortController();
    const r2 = await e.run(id, "backup", {
      signal: second.signal,
      onEvent: (ev) => {
        if (ev.type === "phase-started" && ev.phase.name === "scale-down")
          e.s3.putObjectDirect("pachyderm-data", "chunks/0001", "rewritten before the pause");
        if (ev.type === "phase-progress" && ev.text.startsWith("pg_dump of database"))
          second.abort();
      },
    });
    expect(r2.outcome).toBe("suspended");
    expect(replicas(e).pachd).toBe(0);
    // 3: resumed to the end.
    e.s3.setLatency(0, "CopyObject");
    const r3 = await e.run(id, "backup");
    expect(r3.outcome).toBe("succeeded");
    const point = await backupPointOf(e, id);
    const keys = await manifestKeys(e, point);
    expect(keys.length).toBe(60);
    expect(new Set(keys).size).toBe(60);
    // The pool: one entry per version, the rewritten chunk twice (old and new), nothing else.
    const pool = e.s3.listKeys("pachyderm-backups", "restorebot/objects/");
    expect(pool.length).toBe(61);
    expect(pool.filter((k) => k.startsWith("restorebot/objects/chunks/0001/")).length).toBe(2);
    // The pre-copy's resumed attempt copied only what the first attempt had not.
    const copies = e.s3
      .writeLog()
      .filter((w) => w.bucket === "pachyderm-backups" && w.key.startsWith("restorebot/objects/"));
    expect(copies.length).toBeLessThanOrEqual(61 + 16);
    expect(e.s3.pendingUploads().filter((u) => u.key.endsWith(COMPLETE_FILE))).toEqual([]);
    expect(replicas(e).pachd).toBe(2);
    // Both dumps read back to the end with their sha256.
    const verified = await pachyderm.points
      .source(e.target, () => e.store)
      .verifyPoint({ id: point.asOf, time: new Date(point.asOf) });
    expect(verified.problems).toEqual([]);
    expect(verified.ok).toBe(true);
  });
});

describe("Pachyderm restore through the runner", () => {
  async function backedUpThenChanged(label: string, adminUrl: string) {
    env = await startPachydermEnv(label, { adminUrl });
    const e = env;
    const point = await takeBackup(e);
    const pachAtPoint = await pgDumpOf(e.pach.url);
    const dexAtPoint = await pgDumpOf(e.dex.url);
    // Life goes on: rows change, an object is rewritten, one deleted, one added.
    await e.pach.query("DELETE FROM pfs.commits WHERE id % 2 = 0; CREATE TABLE pfs.extra (x int)");
    await e.dex.query("INSERT INTO client VALUES ('new', '\\x01')");
    e.s3.putObjectDirect("pachyderm-data", "chunks/0003", "rewritten after the backup");
    e.s3.deleteObjectDirect("pachyderm-data", "chunks/0004");
    e.s3.putObjectDirect("pachyderm-data", "chunks/new", "written after the backup");
    return { e, point, pachAtPoint, dexAtPoint };
  }

  it("restores both databases exactly and copies back what differs, deleting nothing; RTO and data-loss window at the end", async () => {
    const { e, point, pachAtPoint, dexAtPoint } = await backedUpThenChanged(
      "rs",
      PREPARED_ADMIN_URL,
    );
    const index = await pachyderm.points.source(e.target, () => e.store).listPoints();
    const details = await pachyderm.points
      .source(e.target, () => e.store)
      .describePoints(index.points, index);
    const frozen = pachyderm.points.freeze(
      e.target,
      index.points[0] as never,
      details.get(point.asOf),
    );
    if (!frozen.ok) throw new Error(frozen.message);
    expect(pachyderm.points.cardLines(frozen.point).join("\n")).toMatch(
      /Both databases commit together \(prepared transactions\)/,
    );
    // The plan: live counts, both databases now and in the point, objects to copy.
    const { createKubernetesCluster } = await import(
      "../../../src/adapters/kubernetes/kubernetes-cluster.js"
    );
    const { kubeconfigFor } = await import("../../../stand-ins/kubernetes/index.js");
    const cluster = createKubernetesCluster({
      namespace: e.sim.namespace,
      kubeConfig: kubeconfigFor(e.sim),
    });
    const plan = await pachyderm.plan({
      target: e.target,
      point: { id: point.asOf, time: new Date(point.asOf), point: frozen.point },
      cluster: () => cluster,
      objectStore: () => e.store,
      variables: e.env,
      now: new Date(),
    });
    const planText = plan.phases.join("\n");
    expect(planText).toMatch(
      /Deployment `pachd` \(2 now\), ReplicationController `pipeline-edges-v1` \(\d now\), ReplicationController `pipeline-montage-v1` \(\d now\)/,
    );
    expect(planText).toMatch(/"pachyderm": .+ now; in the point pachyderm\.sql\.gz/);
    expect(planText).toMatch(/"dex": .+ now; in the point dex\.sql\.gz/);
    expect(planText).toMatch(/2 of 30 objects .+ would be copied/);

    const id = await e.request(frozen.point);
    e.events.length = 0;
    const result = await e.run(id, "restore");
    expect(result.outcome, (await requestRow(e.runner.pool, id)).halted_reason ?? "").toBe(
      "succeeded",
    );
    expect(await pgDumpOf(e.pach.url)).toBe(pachAtPoint);
    expect(await pgDumpOf(e.dex.url)).toBe(dexAtPoint);
    expect(e.s3.getObjectDirect("pachyderm-data", "chunks/0003")?.toString()).toBe(
      "chunk 3 ".repeat(50),
    );
    expect(e.s3.getObjectDirect("pachyderm-data", "chunks/0004")?.toString()).toBe(
      "chunk 4 ".repeat(50),
    );
    expect(e.s3.getObjectDirect("pachyderm-data", "chunks/new")?.toString()).toBe(
      "written after the backup",
    );
    expect(replicas(e).pachd).toBe(2);
    const rows = await phaseRows(e.runner.pool, id);
    expect(rows.find((r) => r.phase === "restore-objects")?.facts.objects).toMatchObject({
      copied: 2,
      total: 30,
    });
    const finished = e.events.find((ev) => ev.type === "run-finished");
    const lines = finished?.type === "run-finished" ? finished.lines.join("\n") : "";
    expect(lines).toMatch(/RTO achieved: /);
    expect(lines).toMatch(/Data-loss window: everything written after /);
  });

  it("prepared: a second database that fails leaves both as they were", async () => {
    const { e, point } = await backedUpThenChanged("rsprep", PREPARED_ADMIN_URL);
    const pachNow = await pgDumpOf(e.pach.url);
    const dexNow = await pgDumpOf(e.dex.url);
    const frozen = await freezeNewest(e, point.asOf);
    // dex's dump is damaged after approval but keeps its size: the sha256 fails at its end.
    const key = pointFileKey("restorebot/", point.asOf, "dex.sql.gz");
    const body = e.s3.getObjectDirect("pachyderm-backups", key) as Buffer;
    const damaged = Buffer.from(body);
    damaged[damaged.length - 12] = (damaged[damaged.length - 12] ?? 0) ^ 0xff;
    e.s3.putObjectDirect("pachyderm-backups", key, damaged);
    const id = await e.request(frozen);
    e.events.length = 0;
    const result = await e.run(id, "restore");
    expect(result.outcome).toBe("halted");
    const row = await requestRow(e.runner.pool, id);
    expect(row.halted_phase).toMatch(/Restore the databases/);
    expect(row.halted_reason).toMatch(/rolled back, so every database is as it was/);
    expect(await pgDumpOf(e.pach.url)).toBe(pachNow);
    expect(await pgDumpOf(e.dex.url)).toBe(dexNow);
    const admin = new pg.Client({ connectionString: PREPARED_ADMIN_URL });
    await admin.connect();
    const prepared = await admin.query("SELECT gid FROM pg_prepared_xacts WHERE gid LIKE $1", [
      `restorebot:${id}:%`,
    ]);
    await admin.end();
    expect(prepared.rows).toEqual([]);
    await resumeHalted(e.runner.pool, id, "rollback");
    expect((await e.run(id, "restore")).outcome).toBe("rolled_back");
    expect(replicas(e).pachd).toBe(2);
    // Nothing was committed, so the closing lines name no database as left restored.
    const closing = e.events.find((ev) => ev.type === "run-finished");
    expect(closing?.type === "run-finished" && closing.lines.join("\n")).toMatch(
      /^\*Rolled back \S+\* after the restore stopped/,
    );
    expect(closing?.type === "run-finished" && closing.lines.join("\n")).not.toMatch(
      /Not undone|Restored point/,
    );
  });

  it("sequential: a second database that fails says exactly which committed", async () => {
    const { e, point, pachAtPoint } = await backedUpThenChanged("rsseq", SEQUENTIAL_ADMIN_URL);
    const dexNow = await pgDumpOf(e.dex.url);
    const frozen = await freezeNewest(e, point.asOf);
    const key = pointFileKey("restorebot/", point.asOf, "dex.sql.gz");
    const body = e.s3.getObjectDirect("pachyderm-backups", key) as Buffer;
    const damaged = Buffer.from(body);
    damaged[damaged.length - 12] = (damaged[damaged.length - 12] ?? 0) ^ 0xff;
    e.s3.putObjectDirect("pachyderm-backups", key, damaged);
    const id = await e.request(frozen);
    e.events.length = 0;
    const result = await e.run(id, "restore");
    expect(result.outcome).toBe("halted");
    const row = await requestRow(e.runner.pool, id);
    expect(row.halted_reason).toMatch(/"pachyderm" was restored and committed; "dex" is unchanged/);
    expect(await pgDumpOf(e.pach.url)).toBe(pachAtPoint);
    expect(await pgDumpOf(e.dex.url)).toBe(dexNow);
    const halted = e.events.find((ev) => ev.type === "run-halted");
    expect(halted?.type === "run-halted" && halted.account.state.join("\n")).toMatch(
      /Database "pachyderm" is restored and committed; "dex" is unchanged/,
    );
    // Rolled back, the closing lines say what stays: the committed database.
    await resumeHalted(e.runner.pool, id, "rollback");
    expect((await e.run(id, "restore")).outcome).toBe("rolled_back");
    const closing = e.events.find((ev) => ev.type === "run-finished");
    expect(closing?.type === "run-finished" && closing.lines.at(-1)).toBe(
      "*Not undone:* the database the restore had committed (pachyderm) stays restored.",
    );
    expect(await pgDumpOf(e.pach.url)).toBe(pachAtPoint);
  });

  it("refuses before scaling anything when complete.json changed since the request", async () => {
    const { e, point } = await backedUpThenChanged("rschg", SEQUENTIAL_ADMIN_URL);
    const frozen = await freezeNewest(e, point.asOf);
    const key = pointFileKey("restorebot/", point.asOf, COMPLETE_FILE);
    const text = (e.s3.getObjectDirect("pachyderm-backups", key) as Buffer).toString();
    e.s3.putObjectDirect(
      "pachyderm-backups",
      key,
      text.replace('"objectCount": 30', '"objectCount": 29'),
    );
    const id = await e.request(frozen);
    e.events.length = 0;
    const result = await e.run(id, "restore");
    expect(result.outcome).toBe("halted");
    expect((await requestRow(e.runner.pool, id)).halted_reason).toMatch(
      /complete\.json of point .+ changed since the request was approved/,
    );
    expect(replicas(e).pachd).toBe(2);
    expect(
      e.events.some((ev) => ev.type === "phase-started" && ev.phase.name === "scale-down"),
    ).toBe(false);
  });
});

async function freezeNewest(e: PachydermEnv, asOf: string) {
  const source = pachyderm.points.source(e.target, () => e.store);
  const index = await source.listPoints();
  const ref = index.points.find((p) => p.id === asOf);
  if (!ref) throw new Error("point not listed");
  const details = await source.describePoints([ref], index);
  const frozen = pachyderm.points.freeze(e.target, ref, details.get(asOf));
  if (!frozen.ok) throw new Error(frozen.message);
  return frozen.point;
}
