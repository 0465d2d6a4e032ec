import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ObjectStore } from "../../../src/adapters/s3/object-store.js";
import type { BackupLocation } from "../../../src/backups/index.js";
import {
  copyIntoPool,
  type LiveLocation,
  listLiveObjects,
  readObjectManifest,
  readPoolIndex,
  restoreObjectsFromPool,
  writeObjectManifest,
  writePachydermPoint,
} from "../../../src/kinds/pachyderm/index.js";
import type { S3StandIn } from "../../../stand-ins/s3/server.js";
import { ADMIN_URL } from "../../support/postgres.js";
import {
  BACKUP_BUCKET,
  LIVE_BUCKET,
  pachydermDatabases,
  type ScratchDatabase,
  seedChunks,
  startPachydermBuckets,
} from "./support.js";

/**
 * The object copies run server-side (CopyObject only: no HEAD, GET or PUT per object) with the
 * bound on copies in flight reached and never passed, as the S3 stand-in itself observes.
 */

let s3: S3StandIn;
let store: ObjectStore;
let n = 0;

beforeAll(async () => {
  ({ s3, store } = await startPachydermBuckets());
});

afterAll(async () => {
  await s3.close();
});

function seeded(count: number): { live: LiveLocation; backups: BackupLocation } {
  n++;
  const live = { bucket: LIVE_BUCKET, prefix: `p${n}/` };
  seedChunks(s3, live.prefix, count, (i) => `v-${i}`);
  return { live, backups: { bucket: BACKUP_BUCKET, prefix: `p${n}/restorebot/` } };
}

describe("Pachyderm object copies", () => {
  it("restores with exactly `concurrency` CopyObjects in flight at the store, and nothing else per object", async () => {
    const { live, backups } = seeded(48);
    const objects = await listLiveObjects(store, live);
    await copyIntoPool({ store, live, backups, objects, pool: new Map(), mode: "delta" });
    const target = { bucket: "pachyderm-data", prefix: `p${n}-restored/` };
    s3.setLatency(40, "CopyObject");
    try {
      s3.resetCounts();
      const bounded = await restoreObjectsFromPool({
        store,
        live: target,
        backups,
        manifest: objects,
        concurrency: 8,
      });
      expect(bounded.copied).toBe(48);
      expect(s3.peakInFlight().CopyObject).toBe(8);
      const ops = Object.keys(s3.requestCounts()).sort();
      expect(ops).toEqual(["CopyObject", "ListObjectsV2"]);
      expect(s3.requestCounts().CopyObject).toBe(48);

      // The default bound is 16.
      const again = { bucket: "pachyderm-data", prefix: `p${n}-again/` };
      s3.resetCounts();
      await restoreObjectsFromPool({ store, live: again, backups, manifest: objects });
      expect(s3.peakInFlight().CopyObject).toBe(16);
    } finally {
      s3.setLatency(0, "CopyObject");
    }
    for (const o of objects)
      expect(s3.getObjectDirect(target.bucket, `${target.prefix}${o.key}`)?.toString()).toBe(
        s3.getObjectDirect(live.bucket, `${live.prefix}${o.key}`)?.toString(),
      );
  });

  it("pre-copies into the pool in parallel, server-side", async () => {
    const { live, backups } = seeded(40);
    s3.setLatency(40, "CopyObject");
    try {
      s3.resetCounts();
      const result = await copyIntoPool({
        store,
        live,
        backups,
        objects: await listLiveObjects(store, live),
        pool: await readPoolIndex(store, backups),
        mode: "pre-copy",
        concurrency: 10,
      });
      expect(result.copied).toBe(40);
      expect(s3.peakInFlight().CopyObject).toBe(10);
      expect(Object.keys(s3.requestCounts()).sort()).toEqual(["CopyObject", "ListObjectsV2"]);
    } finally {
      s3.setLatency(0, "CopyObject");
    }
  });
});

describe("writePachydermPoint without a pool index", () => {
  let pach: ScratchDatabase;
  let dex: ScratchDatabase;

  beforeAll(async () => {
    ({ pach, dex } = await pachydermDatabases(ADMIN_URL, "copy"));
  });

  afterAll(async () => {
    await pach?.drop();
    await dex?.drop();
  });

  it("reads the pool itself and copies only what the pre-copy did not", async () => {
    const { live, backups } = seeded(30);
    const objects = await listLiveObjects(store, live);
    await copyIntoPool({ store, live, backups, objects, pool: new Map(), mode: "pre-copy" });
    s3.putObjectDirect(live.bucket, `${live.prefix}chunks/0007`, "rewritten");
    s3.putObjectDirect(live.bucket, `${live.prefix}chunks/new`, "added");
    s3.resetCounts();
    const point = await writePachydermPoint({
      store,
      live,
      backups,
      asOf: "2026-12-03T10:00:00Z",
      target: "pach",
      databases: [
        { name: "pachyderm", dsn: pach.url },
        { name: "dex", dsn: dex.url },
      ],
      restorebotVersion: "test",
    });
    expect(s3.requestCounts().CopyObject).toBe(2);
    expect(point.objectCount).toBe(31);
    const manifest = [];
    const file = point.files.find((f) => f.name === "objects.ndjson.gz");
    if (file === undefined) throw new Error("the point lists no objects.ndjson.gz");
    for await (const o of readObjectManifest(store, backups, point.asOf, file)) manifest.push(o);
    expect(manifest.map((o) => o.key)).toContain("chunks/new");
    expect(manifest).toHaveLength(31);
  });
});

describe("objects.ndjson.gz", () => {
  it("round-trips a manifest far larger than one write batch, in order", async () => {
    const backups = { bucket: "pachyderm-backups", prefix: "big-manifest/" };
    const objects = Array.from({ length: 5_000 }, (_, i) => ({
      key: `chunks/${String(i).padStart(6, "0")}-${"x".repeat(i % 40)}`,
      size: i * 7,
      etag: `etag${i}`,
    }));
    const file = await writeObjectManifest(store, backups, "2026-12-03T11:00:00Z", objects);
    const read = [];
    for await (const o of readObjectManifest(store, backups, "2026-12-03T11:00:00Z", file))
      read.push(o);
    expect(read).toEqual(objects);
  });
});
