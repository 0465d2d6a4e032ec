import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ObjectStore } from "../../../src/adapters/s3/object-store.js";
import { type BackupLocation, poolKey } from "../../../src/backups/index.js";
import { CodedError } from "../../../src/errors.js";
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

let s3: S3StandIn;
let store: ObjectStore;
let n = 0;

beforeAll(async () => {
  ({ s3, store } = await startPachydermBuckets());
});

afterAll(async () => {
  await s3.close();
});

function fresh(count: number): { live: LiveLocation; backups: BackupLocation } {
  n++;
  const live = { bucket: LIVE_BUCKET, prefix: `t${n}/pach/` };
  seedChunks(s3, live.prefix, count, (i) => `v1-${i}`);
  return { live, backups: { bucket: BACKUP_BUCKET, prefix: `t${n}/restorebot/` } };
}

describe("object pool", () => {
  it("pre-copies every object, then the delta copies only new versions and keeps old ones", async () => {
    const { live, backups } = fresh(40);
    const pool = await readPoolIndex(store, backups);
    const first = await copyIntoPool({
      store,
      live,
      backups,
      objects: await listLiveObjects(store, live),
      pool,
      mode: "pre-copy",
      concurrency: 8,
    });
    expect(first).toMatchObject({ copied: 40, skipped: 0, changed: 0 });
    s3.putObjectDirect(live.bucket, `${live.prefix}chunks/0003`, "v2-3");
    s3.putObjectDirect(live.bucket, `${live.prefix}chunks/new`, "new");
    s3.resetCounts();
    const seen: number[] = [];
    const delta = await copyIntoPool({
      store,
      live,
      backups,
      objects: await listLiveObjects(store, live),
      pool: await readPoolIndex(store, backups),
      mode: "delta",
      onProgress: (p) => seen.push(p.copied),
    });
    expect(delta).toMatchObject({ copied: 2, skipped: 39, total: 41 });
    expect(seen.at(-1)).toBe(2);
    expect(s3.requestCounts().CopyObject).toBe(2);
    const keys = s3.listKeys("pachyderm-backups", `${backups.prefix}objects/chunks/0003/`);
    expect(keys).toHaveLength(2);
  });

  it("pre-copy leaves an object that changed after listing to the delta; the delta refuses it", async () => {
    const { live, backups } = fresh(3);
    const listed = await listLiveObjects(store, live);
    s3.putObjectDirect(live.bucket, `${live.prefix}chunks/0001`, "changed");
    const pre = await copyIntoPool({
      store,
      live,
      backups,
      objects: listed,
      pool: new Map(),
      mode: "pre-copy",
    });
    expect(pre).toMatchObject({ copied: 2, changed: 1 });
    const err = await copyIntoPool({
      store,
      live,
      backups,
      objects: listed,
      pool: new Map(),
      mode: "delta",
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CodedError);
    expect((err as CodedError).code).toBe("conflict");
    expect((err as CodedError).message).toContain(
      "changed while pachd and its workers were scaled to 0",
    );
  });
});

describe("manifest and restore copy", () => {
  it("round-trips objects.ndjson.gz and a tampered one fails the read", async () => {
    const { live, backups } = fresh(5);
    const objects = await listLiveObjects(store, live);
    const file = await writeObjectManifest(store, backups, "2026-01-01T00:00:00Z", objects);
    const back = [];
    for await (const o of readObjectManifest(store, backups, "2026-01-01T00:00:00Z", file))
      back.push(o);
    expect(back).toEqual(objects);
    const key = `${backups.prefix}points/2026-01-01T00:00:00Z/objects.ndjson.gz`;
    const bytes = Buffer.from(s3.getObjectDirect("pachyderm-backups", key) ?? Buffer.alloc(0));
    bytes[bytes.length - 9] = (bytes[bytes.length - 9] ?? 0) ^ 0xff;
    s3.putObjectDirect("pachyderm-backups", key, bytes);
    await expect(async () => {
      for await (const _ of readObjectManifest(store, backups, "2026-01-01T00:00:00Z", file)) {
        // drain
      }
    }).rejects.toThrow();
  });

  it("copies back exactly the missing and different objects, deletes nothing, and is idempotent", async () => {
    const { live, backups } = fresh(30);
    const objects = await listLiveObjects(store, live);
    await copyIntoPool({ store, live, backups, objects, pool: new Map(), mode: "delta" });
    s3.deleteObjectDirect(live.bucket, `${live.prefix}chunks/0000`);
    s3.deleteObjectDirect(live.bucket, `${live.prefix}chunks/0001`);
    s3.putObjectDirect(live.bucket, `${live.prefix}chunks/0002`, "corrupted");
    s3.putObjectDirect(live.bucket, `${live.prefix}chunks/later`, "written after the point");
    s3.resetCounts();
    const result = await restoreObjectsFromPool({
      store,
      live,
      backups,
      manifest: objects,
      concurrency: 4,
    });
    expect(result).toMatchObject({ total: 30, present: 27, copied: 3, toCopy: 3 });
    expect(s3.requestCounts().CopyObject).toBe(3);
    expect(s3.getObjectDirect(live.bucket, `${live.prefix}chunks/0002`)?.toString()).toBe("v1-2");
    expect(s3.getObjectDirect(live.bucket, `${live.prefix}chunks/later`)?.toString()).toBe(
      "written after the point",
    );
    const again = await restoreObjectsFromPool({ store, live, backups, manifest: objects });
    expect(again.copied).toBe(0);
  });

  it("refuses before copying anything when the pool lacks an object of the point", async () => {
    const { live, backups } = fresh(4);
    const objects = await listLiveObjects(store, live);
    await copyIntoPool({ store, live, backups, objects, pool: new Map(), mode: "delta" });
    const gone = objects[2];
    s3.deleteObjectDirect(
      "pachyderm-backups",
      poolKey(backups.prefix, gone?.key ?? "", gone?.etag ?? ""),
    );
    s3.deleteObjectDirect(live.bucket, `${live.prefix}chunks/0000`);
    s3.resetCounts();
    await expect(
      restoreObjectsFromPool({ store, live, backups, manifest: objects }),
    ).rejects.toThrow(
      /1 object\(s\) of the point are missing from the backup pool.*chunks\/0002.*Nothing was changed/,
    );
    expect(s3.requestCounts().CopyObject ?? 0).toBe(0);
  });
});

/**
 * The object copies run server-side (CopyObject only: no HEAD, GET or PUT per object) with the
 * bound on copies in flight reached and never passed, as the S3 stand-in itself observes.
 */
describe("Pachyderm object copies", () => {
  it("restores with exactly `concurrency` CopyObjects in flight at the store, and nothing else per object", async () => {
    const { live, backups } = fresh(48);
    const objects = await listLiveObjects(store, live);
    await copyIntoPool({ store, live, backups, objects, pool: new Map(), mode: "delta" });
    const target = { bucket: "pachyderm-data", prefix: `t${n}-restored/` };
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
      const again = { bucket: "pachyderm-data", prefix: `t${n}-again/` };
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
    const { live, backups } = fresh(40);
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
    const { live, backups } = fresh(30);
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
