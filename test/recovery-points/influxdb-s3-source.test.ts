import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ObjectStore } from "../../src/adapters/s3/object-store.js";
import { createS3Client, createS3ObjectStore } from "../../src/adapters/s3/s3-object-store.js";
import { CodedError } from "../../src/errors.js";
import { createInfluxDbS3Source } from "../../src/kinds/influxdb-clustered/s3-source.js";
import {
  SNAPSHOT_PREFIX,
  seedSnapshotHistory,
  standInObjectStore,
} from "../../src/kinds/influxdb-clustered/sandbox/snapshot-writer.js";
import { listRecoveryPoints } from "../../src/recovery-points/list-recovery-points.js";
import { type S3StandIn, startS3StandIn } from "../../stand-ins/s3/server.js";

const BUCKET = "influxdb-prod";
const NOW = new Date("2024-08-12T14:42:00Z");
const H = 3_600_000;
const D = 24 * H;
const retention = { hourly: 30 * D, daily: 90 * D };
const target = { name: "prod", retention };
/** The listing reads no verifications here; an empty database answer is enough. */
const noDb = { query: async () => ({ rows: [] }) } as never;
const firstPage = { cadence: "all" as const, sinceMs: undefined, limit: 20, before: undefined };

describe("InfluxDB recovery points over S3, with the real SDK against the stand-in", () => {
  let s3: S3StandIn;
  let store: ObjectStore;
  beforeAll(async () => {
    s3 = await startS3StandIn({ buckets: [BUCKET] });
    // 720 hourly + 120 daily folders, 30 of them shared: 810 snapshots × 200 file lists.
    seedSnapshotHistory({
      store: s3,
      bucket: BUCKET,
      now: NOW,
      hourly: 720,
      daily: 120,
      incomplete: [new Date("2024-08-12T14:00:00Z"), new Date("2024-08-11T09:00:00Z")],
    });
    // A stray folder and a stray file beside the snapshots.
    s3.putObjectDirect(BUCKET, `${SNAPSHOT_PREFIX}manual-copy/pg_dump.gz`, "x");
    s3.putObjectDirect(BUCKET, `${SNAPSHOT_PREFIX}README.txt`, "x");
    // Pay the stand-in's one-off key sort and the SDK client's first-use set-up outside the
    // timings; production keeps one client per target for the life of the process.
    store = standInObjectStore(s3);
    await store.listPrefixes(BUCKET, "warm-up/", "/");
  });
  afterAll(async () => {
    await s3?.close();
  });
  beforeEach(() => {
    s3.resetCounts();
    s3.clearFaults();
  });

  const source = () => createInfluxDbS3Source(store, { bucket: BUCKET, prefix: SNAPSHOT_PREFIX });

  it("answers the first page with under 1 s of work and 5 S3 requests, whatever each snapshot holds", async () => {
    // CPU time, not wall time: on two busy cores a wall clock measures the neighbours (it once
    // read 1.1 s here). Each test file runs in its own process (pool "forks"), so this is the
    // work of the listing itself, the SDK and the stand-in answering it.
    const cpuBefore = process.cpuUsage();
    const listing = await listRecoveryPoints({
      source: source(),
      target,
      query: firstPage,
      now: NOW,
      db: noDb,
    });
    const cpu = process.cpuUsage(cpuBefore);
    expect(listing.totalPoints).toBe(810);
    expect(listing.skipped).toEqual(["manual-copy"]);
    expect(listing.points).toHaveLength(20);
    // The newest is still being written: visible, not restorable, and not the RPO.
    expect(listing.points[0]).toMatchObject({
      ref: { id: "2024-08-12T14:00:00+00:00" },
      restorable: false,
      details: { complete: false },
    });
    expect(listing.newestIsComplete).toBe(false);
    expect(listing.newestComplete?.id).toBe("2024-08-12T13:00:00+00:00");
    expect(listing.oldestComplete?.id).toBe("2024-04-15T00:00:00+00:00");
    expect(listing.points[1]?.details?.dumpSize).toBeGreaterThan(100);
    expect(listing.olderCount).toBe(790);
    expect(s3.totalRequests()).toBeLessThanOrEqual(5);
    expect(s3.requestCounts().HeadObject ?? 0).toBe(0);
    expect((cpu.user + cpu.system) / 1000).toBeLessThan(1_000);
  });

  it("lists folders with a delimiter: one request for 810 snapshots of 200 files each", async () => {
    const index = await source().listPoints();
    expect(index.points).toHaveLength(810);
    expect(s3.totalRequests()).toBe(1);
    expect(s3.requests()[0]?.query.delimiter).toBe("/");
  });

  it("describes only the points asked for, in one request when they are adjacent", async () => {
    const src = source();
    const index = await src.listPoints();
    s3.resetCounts();
    const wanted = index.points.slice(20, 40);
    const details = await src.describePoints(wanted, index);
    expect([...details.keys()]).toEqual(wanted.map((p) => p.id));
    expect(details.get("2024-08-11T09:00:00+00:00")?.complete).toBe(false);
    expect([...details.values()].filter((d) => d.complete)).toHaveLength(19);
    expect(s3.totalRequests()).toBe(1);
  });

  it("describes scattered points (--daily) with one cheap request each", async () => {
    const listing = await listRecoveryPoints({
      source: source(),
      target,
      query: { ...firstPage, cadence: "daily", limit: 5 },
      now: NOW,
      db: noDb,
    });
    expect(listing.points.map((p) => p.ref.id)).toEqual([
      "2024-08-12T00:00:00+00:00",
      "2024-08-11T00:00:00+00:00",
      "2024-08-10T00:00:00+00:00",
      "2024-08-09T00:00:00+00:00",
      "2024-08-08T00:00:00+00:00",
    ]);
    expect(listing.points.every((p) => p.restorable && p.cadence === "daily")).toBe(true);
    // The folder listing, the five dailies, the newest 20 and the oldest 10.
    expect(s3.totalRequests()).toBeLessThanOrEqual(8);
    // Old dailies beyond the 90-day retention are flagged, not hidden.
    const oldest = await listRecoveryPoints({
      source: source(),
      target,
      query: { ...firstPage, cadence: "daily", before: new Date("2024-05-14T00:00:00Z") },
      now: NOW,
      db: noDb,
    });
    expect(oldest.points[0]?.expiry).toBe("overdue");
  });
});

describe("unusual layouts and failing stores", () => {
  let s3: S3StandIn;
  beforeAll(async () => {
    s3 = await startS3StandIn({ buckets: [BUCKET] });
  });
  afterAll(async () => {
    await s3?.close();
  });

  it("still describes every point when file lists are not in -ID folders", async () => {
    const prefix = "snapshots";
    for (let h = 0; h < 6; h++) {
      const folder = `${prefix}/2024-08-12T0${h}:00:00+00:00/`;
      s3.putObjectDirect(BUCKET, `${folder}pg_dump.gz`, gzipSync("-- PostgreSQL database dump\n"));
      for (let i = 0; i < 1500; i++) s3.putObjectDirect(BUCKET, `${folder}loose/t${i}.txt.gz`, "");
      if (h !== 3) s3.putObjectDirect(BUCKET, `${folder}bloom.bin.gz`, "b");
    }
    const src = createInfluxDbS3Source(standInObjectStore(s3), { bucket: BUCKET, prefix });
    expect(src.location).toBe(`s3://${BUCKET}/snapshots/`);
    const index = await src.listPoints();
    const details = await src.describePoints(index.points, index);
    expect(details.size).toBe(6);
    expect(details.get("2024-08-12T03:00:00+00:00")?.complete).toBe(false);
    expect(details.get("2024-08-12T05:00:00+00:00")).toMatchObject({ complete: true });
  });

  it("says which bucket refused the credentials and what S3 said", async () => {
    const client = createS3Client({
      endpoint: s3.endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "AKIDREVOKED", secretAccessKey: "never-shown-0123456789" },
    });
    s3.denyAccessKey("AKIDREVOKED");
    const src = createInfluxDbS3Source(
      createS3ObjectStore(client, { endpoint: s3.endpoint, region: "us-east-1" }),
      {
        bucket: BUCKET,
        prefix: SNAPSHOT_PREFIX,
      },
    );
    const err = await src.listPoints().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CodedError);
    expect((err as CodedError).code).toBe("s3_access_denied");
    expect((err as CodedError).message).toContain(BUCKET);
    expect((err as CodedError).message).toContain("InvalidAccessKeyId");
    expect((err as CodedError).message).not.toContain("never-shown");
  });

  it("says the store cannot be reached, naming the bucket", async () => {
    const client = createS3Client({
      endpoint: "http://127.0.0.1:1",
      region: "us-east-1",
      forcePathStyle: true,
      maxAttempts: 1,
      credentials: { accessKeyId: "AKID", secretAccessKey: "x" },
    });
    const src = createInfluxDbS3Source(
      createS3ObjectStore(client, { endpoint: "http://127.0.0.1:1", region: "us-east-1" }),
      { bucket: BUCKET, prefix: SNAPSHOT_PREFIX },
    );
    const err = (await src.listPoints().catch((e: unknown) => e)) as CodedError;
    expect(err.code).toBe("s3_unreachable");
    expect(err.message).toContain(BUCKET);
  });
});
