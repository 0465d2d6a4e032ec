import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import type { ObjectStore } from "../../../src/adapters/s3/object-store.js";
import { influxdbOss } from "../../../src/kinds/influxdb-oss/index.js";
import { writeKubeconfig } from "../../../stand-ins/kubernetes/index.js";
import { insertApprovedRequest, phaseRows } from "../../jobs/support/run-fixtures.js";
import { until } from "../../jobs/support/until.js";
import { BUCKET, type OssEnv, startOssEnv } from "./support/oss-env.js";

/**
 * The hostile case of the backup: the worker is killed with SIGKILL while the archive streams
 * into the object store (a real process, a real signal: nothing of it runs after). The point
 * stays incomplete (no complete.json, never listed as restorable), and the next run of the same
 * request brings the node back up with a complete point.
 */

const FIXTURE = fileURLToPath(new URL("./fixtures/backup-worker.ts", import.meta.url));

let env: OssEnv | undefined;
let child: ChildProcess | undefined;
afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill("SIGKILL");
    await once(child, "exit");
  }
  child = undefined;
  await env?.close();
  env = undefined;
});

describe("influxdb-oss backup, worker killed with SIGKILL mid-archive", () => {
  it("leaves the point incomplete; the next run brings the node back up with a complete point", async () => {
    env = await startOssEnv("oss-backup-kill9");
    const e = env;
    // Enough data for several parts of the multipart upload, each answered slowly: the kill
    // lands while the archive is streaming.
    writeFileSync(
      join(e.dataDir, "data", "telegraf", "autogen", "1", "big.tsm"),
      randomBytes(24 << 20),
    );
    e.s3.setLatency(500, "UploadPart");
    const id = await insertApprovedRequest(e.db.pool, {
      kind: "influxdb-oss",
      target: e.target.name,
      operation: "backup",
    });

    const worker = spawn(process.execPath, ["--import", "tsx", FIXTURE], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        DATABASE_URL: e.db.database.url,
        KUBECONFIG: await writeKubeconfig(e.sim),
        S3_ENDPOINT: e.s3.endpoint,
        NAMESPACE: e.sim.namespace,
        REQUEST_ID: id,
        AWS_REGION: "us-east-1",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = worker;
    let output = "";
    worker.stdout?.on("data", (d: Buffer) => {
      output += d.toString();
    });
    worker.stderr?.on("data", (d: Buffer) => {
      output += d.toString();
    });
    const exited = once(worker, "exit");

    // The first part of the archive has reached the object store: kill.
    await until(
      () =>
        (e.s3.requestCounts().UploadPart ?? 0) >= 1 || worker.exitCode !== null ? true : undefined,
      () => `the worker to upload a part of the archive:\n${output}`,
    );
    expect(worker.exitCode, output).toBeNull();
    worker.kill("SIGKILL");
    await exited;
    expect(worker.signalCode).toBe("SIGKILL");
    expect(output).not.toMatch(/^outcome/m);

    // Incomplete: no complete.json, nothing listed, the node still down.
    expect(e.s3.listKeys(BUCKET).filter((k) => k.endsWith("complete.json"))).toEqual([]);
    // A killed process cannot abort its multipart upload: its parts stay until the next
    // attempt at this point aborts them (or the bucket's lifecycle rule does).
    const left = e.s3.pendingUploads();
    expect(left.length).toBeGreaterThan(0);
    const source = influxdbOss.points.source(e.target, () => e.store as ObjectStore);
    expect((await source.listPoints()).points).toEqual([]);
    const archive = (await phaseRows(e.db.pool, id)).find((r) => r.phase === "archive");
    expect(archive?.state).not.toBe("succeeded");
    const sts = () => {
      const c = e.sim.snapshot().components.find((x) => x.name === "influxdb");
      return { replicas: c?.specReplicas, ready: c?.readyReplicas };
    };
    expect(sts().replicas).toBe(0);

    // Another worker takes the request up again: the archive is redone, the node starts.
    e.s3.setLatency(0, "UploadPart");
    const second = await e.run(id, "backup");
    expect(second.outcome).toBe("succeeded");
    // The killed worker's upload was aborted before the new one started: nothing stays billed.
    expect(e.s3.pendingUploads()).toEqual([]);
    const aborts = e.s3.requests().filter((r) => r.op === "AbortMultipartUpload");
    expect(aborts.map((r) => r.query.uploadId).sort()).toEqual(left.map((u) => u.uploadId).sort());
    expect(sts()).toEqual({ replicas: 1, ready: 1 });
    expect(e.sim.jobPods()).toEqual([]);
    const index = await source.listPoints();
    expect(index.points).toHaveLength(1);
    const details = await source.describePoints(index.points, index);
    expect([...details.values()].map((d) => d.complete)).toEqual([true]);
    const report = await source.verifyPoint(index.points[0] as (typeof index.points)[0]);
    expect(report).toMatchObject({ ok: true, complete: true });
  });
});
