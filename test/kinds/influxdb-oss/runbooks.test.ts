import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { ObjectStore } from "../../../src/adapters/s3/object-store.js";
import { partSizeFor } from "../../../src/adapters/s3/part-writer.js";
import { influxdbOss } from "../../../src/kinds/influxdb-oss/index.js";
import { databasesOf, measuredLine } from "../../../src/kinds/influxdb-oss/runbooks.js";
import {
  insertApprovedRequest,
  phaseRows,
  requestRow,
  resumeHalted,
} from "../../jobs/support/run-fixtures.js";
import { BUCKET, type OssEnv, seedDataDirectory, startOssEnv } from "./support/oss-env.js";

/**
 * The influxdb-oss runbooks end to end through the runner: the real Kubernetes client against
 * the simulator (the kind's Role enforced, the helper pod's busybox scripts run for real on the
 * PVC's directory), the S3 adapter against the S3 stand-in, restorebot's PostgreSQL.
 */

let env: OssEnv | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

/** Every file under `dir` (relative path → sha256), the restorebot bookkeeping excluded. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out[relative(dir, path)] = createHash("sha256").update(readFileSync(path)).digest("hex");
    }
  };
  walk(dir);
  return out;
}

function sts(e: OssEnv) {
  const c = e.sim.snapshot().components.find((x) => x.name === "influxdb");
  return { replicas: c?.specReplicas, ready: c?.readyReplicas };
}

/** A backup request as /backup makes it: operation backup, no point until it writes one. */
async function backupRequest(e: OssEnv): Promise<string> {
  return insertApprovedRequest(e.db.pool, {
    kind: "influxdb-oss",
    target: e.target.name,
    operation: "backup",
  });
}

async function backup(e: OssEnv): Promise<{ id: string; asOf: string }> {
  const id = await backupRequest(e);
  const result = await e.run(id, "backup");
  expect(result.outcome, JSON.stringify(await requestRow(e.db.pool, id))).toBe("succeeded");
  const archive = (await phaseRows(e.db.pool, id)).find((r) => r.phase === "archive");
  return { id, asOf: String(archive?.facts.asOf) };
}

/** A restore request of `asOf`, frozen the way the bot freezes it. */
async function restoreRequest(e: OssEnv, asOf: string): Promise<string> {
  const source = influxdbOss.points.source(e.target, () => e.store);
  const index = await source.listPoints();
  const ref = index.points.find((p) => p.id === asOf);
  if (!ref) throw new Error(`point ${asOf} not listed`);
  const details = await source.describePoints([ref], index);
  const frozen = influxdbOss.points.freeze(e.target, ref, details.get(asOf));
  if (!frozen.ok) throw new Error(frozen.message);
  return insertApprovedRequest(e.db.pool, {
    kind: "influxdb-oss",
    target: e.target.name,
    pointTime: ref.time,
    point: frozen.point,
  });
}

function notes(e: OssEnv): string[] {
  return e.events.flatMap((ev) => (ev.type === "phase-note" ? [ev.text] : []));
}

describe("influxdb-oss backup", () => {
  it("stops the node, streams meta/ data/ wal/ to the store, writes complete.json last, and starts the node with the downtime on the card", async () => {
    env = await startOssEnv("oss-backup");
    const before = tree(env.dataDir);
    const { id, asOf } = await backup(env);

    const keys = env.s3.listKeys(BUCKET);
    expect(keys).toEqual([`archives/${asOf}/complete.json`, `archives/${asOf}/influxdb.tar`]);
    const writes = env.s3.writeLog().map((w) => w.key);
    expect(writes.indexOf(`archives/${asOf}/complete.json`)).toBeGreaterThan(
      writes.indexOf(`archives/${asOf}/influxdb.tar`),
    );
    const tar = env.s3.getObjectDirect(BUCKET, `archives/${asOf}/influxdb.tar`) as Buffer;
    const complete = JSON.parse(
      String(env.s3.getObjectDirect(BUCKET, `archives/${asOf}/complete.json`)),
    );
    expect(complete).toMatchObject({
      format: 1,
      kind: "influxdb-oss",
      target: "influx1",
      asOf,
      files: [
        {
          name: "influxdb.tar",
          size: tar.length,
          sha256: createHash("sha256").update(tar).digest("hex"),
        },
      ],
    });
    const listed = execFileSync("tar", ["-tf", "-"], { input: tar }).toString().split("\n");
    expect(listed).toContain("meta/meta.db");
    expect(listed).toContain("data/telegraf/autogen/1/000000001-000000001.tsm");
    expect(listed).toContain("wal/metrics/autogen/2/_00001.wal");

    // The node was stopped before the helper ran and started only after complete.json.
    const lifecycle = env.sim.events().filter((ev) => ev.type === "scale");
    expect(lifecycle.map((ev) => (ev.type === "scale" ? [ev.from, ev.to] : []))).toEqual([
      [1, 0],
      [0, 1],
    ]);
    expect(sts(env)).toEqual({ replicas: 1, ready: 1 });
    expect(env.sim.jobPods()).toEqual([]);
    expect(tree(env.dataDir)).toEqual(before);

    const start = (await phaseRows(env.db.pool, id)).find((r) => r.phase === "start-node");
    expect(start?.facts.pauseWindowMs).toBeGreaterThan(0);
    expect(String(start?.facts.cardNote)).toMatch(
      /^InfluxDB was down for .+ \(pod gone → ready\)$/,
    );
    const finished = env.events.find((ev) => ev.type === "run-finished");
    expect(finished?.type === "run-finished" && finished.lines.join("\n")).toMatch(
      /down for .+ \(pod gone → ready again\)/,
    );
    // The directory was measured beside the tar. With an archive this small the stream can
    // end first, and the measure is then stopped unheard: its line appears only when it came
    // in time, and a stopped measure is never reported as a failure.
    expect(env.sim.execs().some((e) => e.command.join(" ").includes("restorebot: estimate"))).toBe(
      true,
    );
    const progress = env.events.flatMap((ev) => (ev.type === "phase-progress" ? [ev.text] : []));
    for (const line of progress.filter((t) => t.includes("files and directories")))
      expect(line).toMatch(
        /^\/var\/lib\/influxdb holds \d+(\.\d)? (B|KiB) in \d+ files and directories; 8 MiB parts are enough$/,
      );
    expect(progress.some((t) => t.startsWith("could not measure"))).toBe(false);
    expect(measuredLine("/var/lib/influxdb", { fileBytes: 1536, entries: 12 }, 8 * 1048576)).toBe(
      "/var/lib/influxdb holds 1.5 KiB in 12 files and directories; 8 MiB parts are enough",
    );
    expect(
      measuredLine(
        "/var/lib/influxdb",
        { fileBytes: 100 * 1024 ** 3, entries: 65_541 },
        partSizeFor(100 * 1024 ** 3),
      ),
    ).toBe(
      "/var/lib/influxdb holds 100 GiB in 65,541 files and directories; the upload's parts grow to 12 MiB from here on, to fit S3's 10 000 parts",
    );

    // The runner writes the point into the request: exactly what a restore request freezes.
    const { rows } = await env.db.pool.query(
      "SELECT point, point_time FROM restore_requests WHERE id = $1",
      [id],
    );
    expect(rows[0]?.point).toEqual({
      asOf,
      key: `archives/${asOf}/influxdb.tar`,
      size: tar.length,
      sha256: complete.files[0].sha256,
    });
    expect(new Date(rows[0]?.point_time).toISOString().replace(".000", "")).toBe(asOf);

    // Listed as a complete point, verified to its end.
    const source = influxdbOss.points.source(env.target, () => env?.store as ObjectStore);
    const index = await source.listPoints();
    expect(index.points.map((p) => p.id)).toEqual([asOf]);
    const report = await source.verifyPoint(index.points[0] as (typeof index.points)[0]);
    expect(report).toMatchObject({ ok: true, complete: true, dump: { bytes: tar.length } });
  });

  it("a worker stopped mid-archive leaves the point incomplete; run again, the node comes back up with a complete point", async () => {
    env = await startOssEnv("oss-backup-crash");
    const id = await backupRequest(env);
    const stop = new AbortController();
    // The archive's multipart upload starts, takes the first bytes of the tar, and the worker
    // goes away without aborting it (as a killed process would).
    const dying = (store: ObjectStore): ObjectStore => ({
      ...store,
      async openUploadWriter(bucket, key, opts) {
        const writer = await store.openUploadWriter(bucket, key, opts);
        return {
          ...writer,
          write(chunk) {
            void writer.write(chunk)?.catch(() => undefined);
            stop.abort(new Error("worker killed"));
            return Promise.reject(new Error("the worker died mid-upload"));
          },
          abort: async () => undefined,
        };
      },
    });
    const first = await env.run(id, "backup", { signal: stop.signal, wrapStore: dying });
    expect(first.outcome).toBe("suspended");
    expect(env.s3.listKeys(BUCKET).filter((k) => k.endsWith("complete.json"))).toEqual([]);
    expect(sts(env).replicas).toBe(0);
    const left = env.s3.pendingUploads();
    expect(left).toHaveLength(1);

    const second = await env.run(id, "backup");
    expect(second.outcome).toBe("succeeded");
    // The re-run aborted the upload the stopped worker had left open before starting its own.
    expect(env.s3.pendingUploads()).toEqual([]);
    expect(
      env.s3
        .requests()
        .filter((r) => r.op === "AbortMultipartUpload")
        .map((r) => r.query.uploadId),
    ).toEqual([left[0]?.uploadId]);
    expect(sts(env)).toEqual({ replicas: 1, ready: 1 });
    expect(env.sim.jobPods()).toEqual([]);
    const source = influxdbOss.points.source(env.target, () => env?.store as ObjectStore);
    const index = await source.listPoints();
    const details = await source.describePoints(index.points, index);
    expect([...details.values()].map((d) => d.complete)).toEqual([true]);
  });
});

describe("influxdb-oss backups in the same second", () => {
  it("two backups back to back within one second write two complete points, each in its own folder", async () => {
    env = await startOssEnv("oss-same-second");
    const e = env;
    // The runner's clock stands still: both backups stop the node "at" the same moment.
    const frozen = new Date(Math.floor(Date.now() / 1000) * 1000 + 100);
    const clock = () => frozen;
    const asOfs: string[] = [];
    for (const _ of [1, 2]) {
      const id = await backupRequest(e);
      expect((await e.run(id, "backup", { clock })).outcome).toBe("succeeded");
      asOfs.push(
        String((await phaseRows(e.db.pool, id)).find((r) => r.phase === "archive")?.facts.asOf),
      );
    }
    const first = `${frozen.toISOString().slice(0, 19)}Z`;
    const next = `${new Date(frozen.getTime() + 1000).toISOString().slice(0, 19)}Z`;
    expect(asOfs).toEqual([first, next]);
    expect(notes(e)).toContain(
      `The point is named ${next}: the folder of ${first} already holds another backup.`,
    );
    for (const asOf of asOfs) {
      const complete = JSON.parse(
        String(e.s3.getObjectDirect(BUCKET, `archives/${asOf}/complete.json`)),
      );
      expect(complete.asOf).toBe(asOf);
    }
    // The first point is untouched: its archive was written once.
    const writes = e.s3.writeLog().map((w) => w.key);
    expect(writes.filter((k) => k === `archives/${first}/influxdb.tar`)).toHaveLength(1);
    const source = influxdbOss.points.source(e.target, () => e.store);
    const index = await source.listPoints();
    expect(index.points.map((p) => p.id).sort()).toEqual(asOfs);
    for (const p of index.points) expect((await source.verifyPoint(p)).ok).toBe(true);
  });
});

describe("influxdb-oss backup that fails", () => {
  it("deletes the helper pod, writes no point, and Roll back starts the node again", async () => {
    env = await startOssEnv("oss-backup-fails");
    // An unfinished restore left its aside directory: the backup script refuses.
    mkdirSync(join(env.dataDir, ".restorebot-old-rb-earlier"));
    const id = await backupRequest(env);
    expect((await env.run(id, "backup")).outcome).toBe("halted");
    const row = await requestRow(env.db.pool, id);
    expect(row.halted_reason).toMatch(/an unfinished restore left .*\.restorebot-old-rb-earlier/);
    expect(env.sim.jobPods()).toEqual([]);
    expect(env.s3.listKeys(BUCKET).filter((k) => k.endsWith("complete.json"))).toEqual([]);
    expect(sts(env).replicas).toBe(0);
    const halted = env.events.find((ev) => ev.type === "run-halted");
    expect(halted?.type === "run-halted" && halted.account.state.join("\n")).toMatch(
      /No complete.json was written/,
    );
    // One sentence, in the order Roll back runs: the helper pod, then the recorded undo.
    expect(halted?.type === "run-halted" && halted.account.rollback).toBe(
      "Roll back deletes the helper pod; after that, it will, in this order: scale StatefulSet influxdb back to 1.",
    );

    await resumeHalted(env.db.pool, id, "rollback");
    expect((await env.run(id, "backup")).outcome).toBe("rolled_back");
    expect(sts(env)).toEqual({ replicas: 1, ready: 1 });
  });

  it("stops an archive larger than S3 stores once the measure arrives: upload aborted, no point, Roll back starts the node", async () => {
    env = await startOssEnv("oss-backup-too-large");
    // A sparse file: tar would archive all 6 TiB of it; the directory's measure says so.
    const sparse = join(env.dataDir, "data", "telegraf", "autogen", "1", "huge.tsm");
    execFileSync("truncate", ["-s", "6T", sparse]);
    const id = await backupRequest(env);
    expect((await env.run(id, "backup")).outcome).toBe("halted");
    const row = await requestRow(env.db.pool, id);
    expect(row.halted_reason).toMatch(
      /the archive of \/var\/lib\/influxdb would be up to 6\.00 TiB, more than the 5 TiB S3 stores in one object; the upload was aborted, no point was written/,
    );
    expect(env.s3.pendingUploads()).toEqual([]);
    expect(env.s3.listKeys(BUCKET)).toEqual([]);
    expect(env.sim.jobPods()).toEqual([]);
    rmSync(sparse);
    await resumeHalted(env.db.pool, id, "rollback");
    expect((await env.run(id, "backup")).outcome).toBe("rolled_back");
    expect(sts(env)).toEqual({ replicas: 1, ready: 1 });
  });
});

describe("influxdb-oss restore", () => {
  it("restores exactly the archived tree, keeps the owner, says which databases the node holds, and deletes the old directories last", async () => {
    env = await startOssEnv("oss-restore");
    const archived = tree(env.dataDir);
    const { asOf } = await backup(env);
    // Later: a database dropped, another created, the WAL moved on.
    rmSync(join(env.dataDir, "data", "metrics"), { recursive: true });
    seedDataDirectory(env.dataDir, ["scratch"], "v2");
    expect(tree(env.dataDir)).not.toEqual(archived);

    const id = await restoreRequest(env, asOf);
    const result = await env.run(id, "restore");
    expect(result.outcome, JSON.stringify(await requestRow(env.db.pool, id))).toBe("succeeded");
    expect(tree(env.dataDir)).toEqual(archived);
    expect(readdirSync(env.dataDir).filter((n) => n.startsWith(".restorebot"))).toEqual([]);
    expect(sts(env)).toEqual({ replicas: 1, ready: 1 });
    expect(env.sim.jobPods()).toEqual([]);
    expect(notes(env)).toContain(
      "The restored node answers /ping and holds 2 databases: metrics, telegraf.",
    );
    // Confirmed by a second exec: the extract's own status is never what decides.
    const confirm = env.sim.execs().filter((x) => x.command.join(" ").includes("landed size="));
    expect(confirm.length).toBeGreaterThan(0);
  });

  it("refuses an archive truncated in the object store before the node is stopped", async () => {
    env = await startOssEnv("oss-truncated");
    const { asOf } = await backup(env);
    const id = await restoreRequest(env, asOf);
    const key = `archives/${asOf}/influxdb.tar`;
    const whole = env.s3.getObjectDirect(BUCKET, key) as Buffer;
    env.s3.putObjectDirect(BUCKET, key, whole.subarray(0, whole.length - 2048));
    const scalesBefore = env.sim.events().filter((ev) => ev.type === "scale").length;
    const before = tree(env.dataDir);

    const result = await env.run(id, "restore");
    expect(result.outcome).toBe("halted");
    const row = await requestRow(env.db.pool, id);
    expect(row.halted_phase).toMatch(/Check the archive against complete.json/);
    expect(row.halted_reason).toMatch(/holds \d+ bytes but complete.json records \d+/);
    expect(env.sim.events().filter((ev) => ev.type === "scale").length).toBe(scalesBefore);
    expect(tree(env.dataDir)).toEqual(before);
  });

  it("an archive whose bytes differ puts the old directories back; Roll back leaves the node up on its old data", async () => {
    env = await startOssEnv("oss-putback");
    const { asOf } = await backup(env);
    seedDataDirectory(env.dataDir, ["later"], "v2");
    const current = tree(env.dataDir);
    const id = await restoreRequest(env, asOf);
    // Same size, different bytes: only the sha256 while streaming can tell.
    const key = `archives/${asOf}/influxdb.tar`;
    const damaged = Buffer.from(env.s3.getObjectDirect(BUCKET, key) as Buffer);
    damaged[600] = (damaged[600] ?? 0) ^ 0xff;
    env.s3.putObjectDirect(BUCKET, key, damaged);

    const result = await env.run(id, "restore");
    expect(result.outcome).toBe("halted");
    const row = await requestRow(env.db.pool, id);
    expect(row.halted_phase).toMatch(/Stream the archive in/);
    // The sha256 taken while streaming (the only one on this path) names the damage.
    expect(row.halted_reason).toMatch(
      /the object store served \d+ bytes with sha256 [0-9a-f]{64}, but complete.json records \d+ bytes with sha256 [0-9a-f]{64}; the archive is damaged; the old directories are back in place/,
    );
    expect(tree(env.dataDir)).toEqual(current);
    const halted = env.events.find((ev) => ev.type === "run-halted");
    expect(halted?.type === "run-halted" && halted.account.state.join("\n")).toMatch(
      /is as it was: the old directories were put back/,
    );
    // The helper pod never outlives a failed phase.
    expect(env.sim.jobPods()).toEqual([]);

    await resumeHalted(env.db.pool, id, "rollback");
    const rolled = await env.run(id, "restore");
    expect(rolled.outcome).toBe("rolled_back");
    expect(tree(env.dataDir)).toEqual(current);
    expect(sts(env)).toEqual({ replicas: 1, ready: 1 });
    expect(env.sim.jobPods()).toEqual([]);
    // The closing lines (the thread's last word and the requester's message) say that the old
    // directories are back, before the node's scale.
    const finished = env.events.filter((ev) => ev.type === "run-finished").at(-1);
    expect(finished?.type === "run-finished" && finished.lines[0]).toMatch(
      /^\*Rolled back influx1\* after the restore stopped: undone: the old directories of \/var\/lib\/influxdb are back in place \(from \/var\/lib\/influxdb\/\.restorebot-old-[^)]+\/\); scale StatefulSet influxdb back to 1\.$/,
    );
  });

  it("works against a cluster that speaks only the v4 exec protocol (the archive's size bounds stdin)", async () => {
    env = await startOssEnv("oss-v4", { execProtocols: ["v4.channel.k8s.io"] });
    const archived = tree(env.dataDir);
    const { asOf } = await backup(env);
    writeFileSync(join(env.dataDir, "meta", "meta.db"), "changed after the backup\n");
    const id = await restoreRequest(env, asOf);
    const result = await env.run(id, "restore");
    expect(result.outcome, JSON.stringify(await requestRow(env.db.pool, id))).toBe("succeeded");
    expect(tree(env.dataDir)).toEqual(archived);
  });
});

describe("databasesOf", () => {
  it("reads SHOW DATABASES and refuses an error answer with the node's words", () => {
    expect(
      databasesOf(
        '{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":[["_internal"],["telegraf"]]}]}]}',
      ),
    ).toEqual(["_internal", "telegraf"]);
    expect(() => databasesOf('{"results":[{"error":"database not found"}]}')).toThrow(
      /SHOW DATABASES failed on the restored node: database not found/,
    );
  });
});
