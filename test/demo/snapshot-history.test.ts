import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildIoxCatalog,
  pgDump,
} from "../../src/kinds/influxdb-clustered/sandbox/catalog-builder.js";
import { DEMO_CATALOG_SIZE } from "../../src/kinds/influxdb-clustered/sandbox/scenario.js";
import { seedDemoHistory } from "../../src/kinds/influxdb-clustered/sandbox/snapshot-history.js";
import {
  BLOOM_FILE,
  DUMP_FILE,
  SNAPSHOT_PREFIX,
} from "../../src/kinds/influxdb-clustered/sandbox/snapshot-writer.js";
import { cadenceOf, expiryOf, expiryState } from "../../src/recovery-points/retention.js";
import { type S3StandIn, startS3StandIn } from "../../stand-ins/s3/server.js";
import { createTestDatabase, type TestDatabase } from "../support/postgres.js";

const BUCKET = "influxdb-prod";
const NOW = new Date("2026-03-10T15:25:00Z");
const DAY_MS = 86_400_000;

let db: TestDatabase;
let s3: S3StandIn;

beforeAll(async () => {
  [db, s3] = await Promise.all([createTestDatabase("demo_history"), startS3StandIn()]);
  await buildIoxCatalog(db.url, DEMO_CATALOG_SIZE, { seed: 7 });
});

afterAll(async () => {
  await s3?.close();
  await db?.drop();
});

describe("the sandbox's snapshot history", () => {
  it("has real newest points, a snapshot still being written, older incomplete and expiring points", async () => {
    const history = await seedDemoHistory({ s3, bucket: BUCKET, catalogUrl: db.url, now: NOW });
    const folders = new Set(
      s3
        .listKeys(BUCKET, SNAPSHOT_PREFIX)
        .map((k) => k.slice(SNAPSHOT_PREFIX.length).split("/")[0]),
    );
    expect(folders.size).toBe(history.totalPoints);
    // Three days of hours plus fourteen midnights, the midnights of the last three days counted once.
    expect(history.totalPoints).toBe(72 + 14 - 3);

    const complete = (asOf: string) =>
      s3.getObjectDirect(BUCKET, `${SNAPSHOT_PREFIX}${asOf}/${BLOOM_FILE}`) !== undefined;
    expect(history.incompletePoints).toEqual([
      "2026-03-10T15:00:00+00:00",
      "2026-03-10T06:00:00+00:00",
    ]);
    for (const asOf of history.incompletePoints) expect(complete(asOf)).toBe(false);
    expect(history.newestComplete).toBe("2026-03-10T14:00:00+00:00");
    expect(history.realPoints).toEqual(["2026-03-10T14:00:00+00:00", "2026-03-10T13:00:00+00:00"]);
    for (const asOf of history.realPoints) expect(complete(asOf)).toBe(true);

    // Every point's dump is the real catalog's, so restoring any complete point works.
    const dump = s3.getObjectDirect(
      BUCKET,
      `${SNAPSHOT_PREFIX}2026-03-01T00:00:00+00:00/${DUMP_FILE}`,
    );
    expect(dump).toEqual(
      s3.getObjectDirect(BUCKET, `${SNAPSHOT_PREFIX}${history.newestComplete}/${DUMP_FILE}`),
    );
    expect((await pgDump(db.url)).length).toBeGreaterThan(10_000);

    // With the demo's retention (3 d hourly, 14 d daily) some points expire within a day.
    const retention = { hourly: 3 * DAY_MS, daily: 14 * DAY_MS };
    const states = [...folders].map((asOf) => {
      const time = new Date(String(asOf).replace("+00:00", "Z"));
      return { cadence: cadenceOf(time), state: expiryState(expiryOf(time, retention), NOW) };
    });
    expect(
      states.filter((s) => s.state === "expiring" && s.cadence === "hourly").length,
    ).toBeGreaterThan(10);
    expect(states.filter((s) => s.state === "expiring" && s.cadence === "daily").length).toBe(1);
    expect(states.filter((s) => s.state === "overdue")).toEqual([]);
  });
});
