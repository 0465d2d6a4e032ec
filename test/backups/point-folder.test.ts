import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ObjectStore } from "../../src/adapters/s3/object-store.js";
import { claimPointFolder } from "../../src/backups/index.js";
import { standInObjectStore } from "../../stand-ins/s3/sdk-store.js";
import { type S3StandIn, startS3StandIn } from "../../stand-ins/s3/server.js";
import { createRunnerDatabase, type RunnerDatabase } from "../jobs/support/run-fixtures.js";

/**
 * The folder (and so the as-of) of a backup's point: never one another backup holds or held,
 * always the same one for the same request. Real PostgreSQL (the claims) and the S3 stand-in.
 */

let db: RunnerDatabase;
let s3: S3StandIn;
let store: ObjectStore;

beforeAll(async () => {
  db = await createRunnerDatabase("point-folder");
  s3 = await startS3StandIn({ buckets: ["b"] });
  store = standInObjectStore(s3);
});

afterAll(async () => {
  await s3.close();
  await db.close();
});

const T = new Date("2026-12-02T11:00:05.400Z");
const later = (s: number) => () => new Date(T.getTime() + s * 1000);

function claim(requestId: string, prefix: string, at = T, pointsFolder?: string) {
  return claimPointFolder({
    db: db.pool,
    store,
    location: { bucket: "b", prefix, ...(pointsFolder === undefined ? {} : { pointsFolder }) },
    requestId,
    at,
    // The clock is already past any second these tests move to: no wait.
    now: later(120),
  });
}

describe("claimPointFolder", () => {
  it("two backups frozen in the same second get two folders; a resumed run gets its own again", async () => {
    const a = await claim("rb-a", "one/");
    expect(a).toEqual({
      asOf: "2026-12-02T11:00:05Z",
      folder: "one/points/2026-12-02T11:00:05Z/",
      resumed: false,
      passedOver: [],
    });
    const b = await claim("rb-b", "one/");
    expect(b.asOf).toBe("2026-12-02T11:00:06Z");
    expect(b.passedOver).toEqual(["2026-12-02T11:00:05Z"]);
    // A resumed run claims from a later moment: it still gets the folder it started in.
    const again = await claim("rb-a", "one/", new Date(T.getTime() + 30_000));
    expect(again).toMatchObject({ asOf: "2026-12-02T11:00:05Z", resumed: true });
    // Even once its folder holds its own files (a dump written before a crash).
    s3.putObjectDirect("b", `${a.folder}pachyderm.sql.gz`, "half a backup");
    expect(await claim("rb-a", "one/")).toMatchObject({ asOf: a.asOf, resumed: true });
    // Another location is another set of folders.
    expect((await claim("rb-b", "two/")).asOf).toBe("2026-12-02T11:00:05Z");
  });

  it("passes over a folder holding files no claim records, and one whose point was pruned", async () => {
    s3.putObjectDirect("b", "three/2026-12-02T11:00:05Z/influxdb.tar", "an older backup");
    const c = await claim("rb-c", "three/", T, "");
    expect(c.asOf).toBe("2026-12-02T11:00:06Z");
    expect(c.folder).toBe("three/2026-12-02T11:00:06Z/");
    // c's point is pruned (its folder emptied): the folder stays held.
    const d = await claim("rb-d", "three/", new Date(T.getTime() + 1000), "");
    expect(d.asOf).toBe("2026-12-02T11:00:07Z");
    expect(d.passedOver).toEqual(["2026-12-02T11:00:06Z"]);
  });

  it("backups claiming at once each get a folder of their own", async () => {
    const claims = await Promise.all(
      Array.from({ length: 6 }, (_, i) => claim(`rb-race${i}`, "four/")),
    );
    expect(new Set(claims.map((c) => c.asOf)).size).toBe(6);
    expect(claims.map((c) => c.asOf).sort()).toEqual(
      [5, 6, 7, 8, 9, 10].map((s) => `2026-12-02T11:00:${String(s).padStart(2, "0")}Z`),
    );
  });

  it("waits until the clock reaches an as-of it had to move to", async () => {
    await claim("rb-e", "five/");
    let clockReads = 0;
    const started = Date.now();
    const f = await claimPointFolder({
      db: db.pool,
      store,
      location: { bucket: "b", prefix: "five/" },
      requestId: "rb-f",
      at: T,
      // The clock stands 200 ms before the next second the first time it is read.
      now: () => new Date(T.getTime() + 400 + (clockReads++ === 0 ? 0 : 200)),
    });
    expect(f.asOf).toBe("2026-12-02T11:00:06Z");
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  });
});
