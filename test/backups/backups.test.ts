import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ObjectStore } from "../../src/adapters/s3/object-store.js";
import {
  applyRetention,
  type BackupLocation,
  type BackupPoint,
  type CompleteManifest,
  checkPointFileSizes,
  formatAsOf,
  listBackupPoints,
  openCheckedPointFile,
  openSizedPointFile,
  parseAsOf,
  planRetention,
  poolKey,
  uploadPointFile,
  writeCompleteManifest,
} from "../../src/backups/index.js";
import { CodedError } from "../../src/errors.js";
import { type S3StandIn, startS3StandIn } from "../../stand-ins/s3/server.js";
import { objectStoreFor } from "../support/s3.js";

let s3: S3StandIn;
let store: ObjectStore;
const HOUR = 3_600_000;

beforeAll(async () => {
  s3 = await startS3StandIn({ buckets: ["backups"] });
  store = objectStoreFor(s3);
});

afterAll(async () => {
  await s3.close();
});

let counter = 0;
function freshLocation(): BackupLocation {
  counter++;
  return { bucket: "backups", prefix: `t${counter}/restorebot/` };
}

function manifest(asOf: string, files: CompleteManifest["files"] = []): CompleteManifest {
  return {
    format: 1,
    kind: "pachyderm",
    target: "pach-prod",
    asOf,
    files,
    restorebotVersion: "0.1.0",
    objectCount: 2,
  };
}

describe("as-of names", () => {
  it.each([
    ["2026-12-02T11:00:05Z", true],
    ["2026-12-02T11:00:05.000Z", false],
    ["2026-12-02T11:00:05+00:00", false],
    ["2026-02-30T11:00:05Z", false],
    ["2026-12-02T24:00:00Z", false],
    ["latest", false],
  ])("%s is a name: %s", (name, ok) => {
    expect(parseAsOf(name) !== undefined).toBe(ok);
  });

  it("formats to the second in UTC", () => {
    expect(formatAsOf(new Date("2026-12-02T12:00:05.987+01:00"))).toBe("2026-12-02T11:00:05Z");
  });
});

/** A point file "abcdef" uploaded in a fresh location, and its object key. */
async function storedAbcdef(name: string) {
  const loc = freshLocation();
  const asOf = "2026-01-01T00:00:00Z";
  const file = await uploadPointFile(
    store,
    loc,
    asOf,
    name,
    Readable.from([Buffer.from("abcdef")]),
  );
  return { loc, asOf, file, key: `${loc.prefix}points/${asOf}/${name}` };
}

describe("point files", () => {
  it("records size and sha256 while uploading, and the checked reader passes the exact bytes", async () => {
    const loc = freshLocation();
    const body = Buffer.from("x".repeat(100_000));
    const file = await uploadPointFile(
      store,
      loc,
      "2026-01-01T00:00:00Z",
      "pachyderm.sql.gz",
      Readable.from([body]),
    );
    expect(file).toEqual({
      name: "pachyderm.sql.gz",
      size: 100_000,
      sha256: createHash("sha256").update(body).digest("hex"),
    });
    const opened = await openCheckedPointFile(store, loc, "2026-01-01T00:00:00Z", file);
    expect((await text(opened.body)).length).toBe(100_000);
  });

  it("refuses a file whose size differs before reading, and fails the stream on a different sha256", async () => {
    const { loc, asOf, file, key } = await storedAbcdef("dex.sql.gz");
    s3.putObjectDirect("backups", key, "abcdefg");
    await expect(openCheckedPointFile(store, loc, asOf, file)).rejects.toThrow(
      /is 7 bytes, more than complete.json records/,
    );
    s3.putObjectDirect("backups", key, "abcdeX");
    const opened = await openCheckedPointFile(store, loc, asOf, file);
    await expect(text(opened.body)).rejects.toThrow(/different sha256/);
    const m = manifest(asOf, [file, { name: "missing.gz", size: 3, sha256: "0".repeat(64) }]);
    expect(await checkPointFileSizes(store, loc, m)).toEqual([
      { name: "missing.gz", problem: "missing", expected: 3, actual: undefined },
    ]);
  });

  it("the sized reader refuses a different size before reading and passes other bytes unchecked, for a caller that hashes them", async () => {
    const { loc, asOf, file, key } = await storedAbcdef("influxdb.tar");
    s3.putObjectDirect("backups", key, "abcde");
    await expect(openSizedPointFile(store, loc, asOf, file)).rejects.toThrow(
      /is 5 bytes, fewer than complete.json records/,
    );
    // Same size, other bytes: passed on as they are; checking them is the caller's part.
    s3.putObjectDirect("backups", key, "abcdeX");
    const opened = await openSizedPointFile(store, loc, asOf, file);
    expect(opened).toMatchObject({ size: 6, key });
    expect(await text(opened.body)).toBe("abcdeX");
  });

  it("a failing source leaves no file", async () => {
    const loc = freshLocation();
    const failing = new Readable({
      read() {
        this.destroy(new CodedError("dump_invalid", "pg_dump exited with status 1"));
      },
    });
    await expect(
      uploadPointFile(store, loc, "2026-01-01T00:00:00Z", "pachyderm.sql.gz", failing),
    ).rejects.toThrow("pg_dump exited with status 1");
    expect(s3.listKeys("backups", loc.prefix)).toEqual([]);
  });
});

describe("listing and retention", () => {
  it("lists points newest first with completeness, sizes and expiry", async () => {
    const loc = freshLocation();
    for (const asOf of ["2026-01-01T00:00:00Z", "2026-01-03T00:00:00Z"]) {
      const f = await uploadPointFile(
        store,
        loc,
        asOf,
        "a.gz",
        Readable.from([Buffer.from("12345")]),
      );
      await writeCompleteManifest(store, loc, manifest(asOf, [f]));
    }
    s3.putObjectDirect("backups", `${loc.prefix}points/2026-01-02T00:00:00Z/a.gz`, "12");
    s3.putObjectDirect("backups", `${loc.prefix}points/2026-01-04T00:00:00Z/complete.json`, "{");
    s3.putObjectDirect("backups", `${loc.prefix}points/not-a-time/a.gz`, "12");
    const points = await listBackupPoints(store, loc, { retentionMs: 24 * HOUR });
    expect(points.map((p) => [p.asOf, p.complete])).toEqual([
      ["2026-01-04T00:00:00Z", false],
      ["2026-01-03T00:00:00Z", true],
      ["2026-01-02T00:00:00Z", false],
      ["2026-01-01T00:00:00Z", true],
    ]);
    expect(points[0]?.problem).toContain("is not JSON");
    expect(points[1]?.manifest?.objectCount).toBe(2);
    expect(points[2]?.totalBytes).toBe(2);
    expect(points[3]?.expiresAt?.toISOString()).toBe("2026-01-02T00:00:00.000Z");
  });

  function point(asOf: string, complete: boolean, retentionMs = 24 * HOUR): BackupPoint {
    const time = parseAsOf(asOf) as Date;
    return {
      asOf,
      time,
      complete,
      manifest: complete ? manifest(asOf) : undefined,
      problem: undefined,
      files: [],
      totalBytes: 0,
      expiresAt: new Date(time.getTime() + retentionMs),
    };
  }

  it("never prunes a frozen point or the newest complete one", () => {
    const points = [
      point("2026-01-10T00:00:00Z", false),
      point("2026-01-05T00:00:00Z", true),
      point("2026-01-04T00:00:00Z", true),
      point("2026-01-03T00:00:00Z", true),
      point("2026-01-02T00:00:00Z", false),
    ];
    const plan = planRetention(points, {
      now: new Date("2026-01-10T12:00:00Z"),
      frozen: new Set(["2026-01-03T00:00:00Z"]),
    });
    expect(plan.prune.map((p) => p.asOf)).toEqual(["2026-01-04T00:00:00Z", "2026-01-02T00:00:00Z"]);
    expect(plan.keep.map((k) => [k.point.asOf, k.reason])).toEqual([
      ["2026-01-10T00:00:00Z", "not expired"],
      ["2026-01-05T00:00:00Z", "newest complete point"],
      ["2026-01-03T00:00:00Z", "frozen by a request"],
    ]);
  });

  it("prunes expired points, then pool objects no remaining point lists, never a frozen point's", async () => {
    const loc = freshLocation();
    const pool = (key: string, etag: string) => poolKey(loc.prefix, key, etag);
    const lists: Record<string, string[]> = {
      "2026-01-01T00:00:00Z": ["a/e1", "b/e1"], // expired, frozen
      "2026-01-02T00:00:00Z": ["a/e1", "c/e1"], // expired
      "2026-01-03T00:00:00Z": ["a/e2", "d/e1"], // newest complete
    };
    for (const [asOf, entries] of Object.entries(lists)) {
      const f = await uploadPointFile(
        store,
        loc,
        asOf,
        "objects.txt",
        Readable.from([Buffer.from(entries.join("\n"))]),
      );
      await writeCompleteManifest(store, loc, manifest(asOf, [f]));
      for (const e of entries) {
        const [key = "", etag = ""] = e.split("/");
        s3.putObjectDirect("backups", pool(key, etag), e);
      }
    }
    s3.putObjectDirect("backups", pool("orphan", "e9"), "x");
    const points = await listBackupPoints(store, loc, { retentionMs: HOUR });
    const result = await applyRetention(store, loc, points, {
      now: new Date("2026-02-01T00:00:00Z"),
      frozen: new Set(["2026-01-01T00:00:00Z"]),
      poolEntriesOf: async function* (p) {
        const file = p.manifest?.files[0];
        if (file === undefined) return;
        const opened = await openCheckedPointFile(store, loc, p.asOf, file);
        yield* (await text(opened.body)).split("\n");
      },
    });
    expect(result.pruned).toEqual(["2026-01-02T00:00:00Z"]);
    expect(result.pool).toEqual({ deleted: 2, kept: 4, deletedBytes: 5 });
    expect(s3.listKeys("backups", `${loc.prefix}objects/`)).toEqual([
      pool("a", "e1"),
      pool("a", "e2"),
      pool("b", "e1"),
      pool("d", "e1"),
    ]);
    expect(s3.listKeys("backups", `${loc.prefix}points/2026-01-02T00:00:00Z/`)).toEqual([]);
    const deletes = s3.requests().filter((r) => r.op === "DeleteObjects");
    expect(deletes.length).toBeGreaterThan(0);
  });

  it("leaves the pool alone when a remaining point's manifest cannot be read", async () => {
    const loc = freshLocation();
    const f = await uploadPointFile(
      store,
      loc,
      "2026-01-03T00:00:00Z",
      "objects.txt",
      Readable.from([Buffer.from("a/e1")]),
    );
    await writeCompleteManifest(store, loc, manifest("2026-01-03T00:00:00Z", [f]));
    s3.putObjectDirect("backups", poolKey(loc.prefix, "a", "e1"), "a");
    s3.putObjectDirect("backups", `${loc.prefix}points/2026-01-03T00:00:00Z/objects.txt`, "zzzz");
    const points = await listBackupPoints(store, loc, { retentionMs: HOUR });
    await expect(
      applyRetention(store, loc, points, {
        now: new Date("2026-02-01T00:00:00Z"),
        frozen: new Set(),
        poolEntriesOf: async function* (p) {
          const file = p.manifest?.files[0];
          if (file === undefined) return;
          const opened = await openCheckedPointFile(store, loc, p.asOf, file);
          yield* (await text(opened.body)).split("\n");
        },
      }),
    ).rejects.toThrow(/different sha256/);
    expect(s3.listKeys("backups", `${loc.prefix}objects/`)).toEqual([
      poolKey(loc.prefix, "a", "e1"),
    ]);
  });
});
