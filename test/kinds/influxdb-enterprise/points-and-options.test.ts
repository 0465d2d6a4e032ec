import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { ObjectStore } from "../../../src/adapters/s3/object-store.js";
import {
  pointFileKey,
  uploadPointFile,
  writeCompleteManifest,
} from "../../../src/backups/index.js";
import { sharedTargetShape } from "../../../src/config/schema-parts.js";
import {
  buildEnterpriseComplete,
  parseBackupOutput,
} from "../../../src/kinds/influxdb-enterprise/backup-set.js";
import {
  completeEnterpriseTarget,
  type EnterpriseTarget,
  enterpriseTargetShape,
} from "../../../src/kinds/influxdb-enterprise/config.js";
import { enterpriseRestoreOptions } from "../../../src/kinds/influxdb-enterprise/options-hook.js";
import {
  createEnterpriseSource,
  enterpriseCardLines,
  enterprisePointOf,
  freezeEnterprisePoint,
  locationOf,
  recheckFrozenSet,
} from "../../../src/kinds/influxdb-enterprise/points.js";
import type { JsonValue } from "../../../src/kinds/kind.js";
import { type S3StandIn, startS3StandIn } from "../../../stand-ins/s3/server.js";
import { objectStoreFor } from "../../support/s3.js";

const schema = z.object({ ...sharedTargetShape, ...enterpriseTargetShape }).strict();

function parseTarget(raw: Record<string, unknown>): EnterpriseTarget {
  return completeEnterpriseTarget(
    schema.parse({
      name: "ent",
      namespace: "influxdb",
      kind: "influxdb-enterprise",
      ...raw,
    }) as never,
  );
}

const OUTPUT = [
  "Backing up meta data... Done. 421 bytes transferred",
  "Backing up node data-0:8088, db telegraf, rp autogen, shard 4... Done. Backed up in 903.5ms, 30 bytes transferred",
  "Backing up node data-1:8088, db _internal, rp monitor, shard 1... Done. Backed up in 138.6ms, 20 bytes transferred",
  "Backed up to /tmp/set in 1.2s, transferred 471 bytes",
].join("\n");

let s3: S3StandIn;
let store: ObjectStore;
let counter = 0;

beforeAll(async () => {
  s3 = await startS3StandIn({ buckets: ["ent-backups"] });
  store = objectStoreFor(s3);
});

afterAll(async () => {
  await s3.close();
});

function freshTarget(): EnterpriseTarget {
  counter++;
  return parseTarget({ backups: { bucket: "ent-backups", prefix: `t${counter}/sets/` } });
}

async function writeSet(target: EnterpriseTarget, asOf: string, full: boolean, complete = true) {
  const location = locationOf(target);
  const files = [];
  for (const [name, body] of [
    ["20260101T000000Z.manifest", '{"meta":{}}'],
    ["20260101T000000Z.meta", "m".repeat(421)],
    ["20260101T000000Z.s4.tar.gz", "s".repeat(30)],
    ["20260101T000000Z.s1.tar.gz", "i".repeat(20)],
  ] as const)
    files.push(
      await uploadPointFile(store, location, asOf, name, Readable.from([Buffer.from(body)])),
    );
  if (!complete) return;
  await writeCompleteManifest(
    store,
    location,
    buildEnterpriseComplete({
      target: target.name,
      asOf,
      full,
      files,
      output: parseBackupOutput(OUTPUT),
      restorebotVersion: "test",
    }),
  );
}

async function frozen(target: EnterpriseTarget, asOf: string): Promise<JsonValue> {
  const source = createEnterpriseSource(store, target);
  const index = await source.listPoints();
  const ref = index.points.find((p) => p.id === asOf);
  if (!ref) throw new Error(`no point ${asOf}`);
  const details = await source.describePoints([ref], index);
  const result = freezeEnterprisePoint(target, ref, details.get(asOf));
  if (!result.ok) throw new Error(result.message);
  return result.point;
}

describe("influxdb-enterprise config", () => {
  it("fills the defaults DESIGN.md gives", () => {
    const t = parseTarget({ backups: { bucket: "ent-backups" } });
    expect(t.meta).toEqual({
      statefulset: "influxdb-meta",
      container: "influxdb-meta",
      scratchDir: "/tmp",
    });
    expect(t.data).toEqual({
      statefulset: "influxdb-data",
      configMap: "influxdb-data",
      configKey: "influxdb.conf",
    });
    expect(t.backups.prefix).toBe("sets/");
  });

  it("takes meta.scratchDir as an absolute path (trailing slash dropped) and refuses others", () => {
    const t = parseTarget({
      backups: { bucket: "ent-backups" },
      meta: { scratchDir: "/var/lib/influxdb/scratch/" },
    });
    expect(t.meta.scratchDir).toBe("/var/lib/influxdb/scratch");
    expect(t.meta.statefulset).toBe("influxdb-meta");
    for (const bad of ["scratch", "/a b", "/var/../etc", "/x'y"]) {
      const r = schema.safeParse({
        name: "ent",
        namespace: "influxdb",
        kind: "influxdb-enterprise",
        backups: { bucket: "ent-backups" },
        meta: { scratchDir: bad },
      });
      expect(r.success, bad).toBe(false);
    }
  });

  it("refuses an unknown key, naming it", () => {
    const r = schema.safeParse({
      name: "ent",
      namespace: "influxdb",
      kind: "influxdb-enterprise",
      backups: { bucket: "ent-backups" },
      data: { statefulset: "d", configmap: "x" },
    });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain("configmap");
  });
});

describe("influxdb-enterprise backup sets", () => {
  it("lists sets newest first; describes full/incremental, databases, rps and size; freezes", async () => {
    const target = freshTarget();
    await writeSet(target, "2026-12-01T10:00:00Z", true);
    await writeSet(target, "2026-12-02T10:00:00Z", false);
    const source = createEnterpriseSource(store, target);
    const index = await source.listPoints();
    expect(index.points.map((p) => p.id)).toEqual(["2026-12-02T10:00:00Z", "2026-12-01T10:00:00Z"]);
    const point = enterprisePointOf(await frozen(target, "2026-12-01T10:00:00Z"));
    expect(point).toMatchObject({
      full: true,
      manifest: "20260101T000000Z.manifest",
      databases: ["_internal", "telegraf"],
      retentionPolicies: [
        { database: "_internal", retentionPolicy: "monitor" },
        { database: "telegraf", retentionPolicy: "autogen" },
      ],
      shards: 2,
      bytes: 11 + 421 + 30 + 20,
    });
    expect(enterpriseCardLines(point as unknown as JsonValue)).toEqual([
      "Full backup set `2026-12-01T10:00:00Z` (manifest `20260101T000000Z.manifest`), 482 B",
      "Holds `_internal.monitor`, `telegraf.autogen`",
    ]);
    const incr = enterprisePointOf(await frozen(target, "2026-12-02T10:00:00Z"));
    expect(incr.full).toBe(false);
  });

  it("keeps each set directly under backups.prefix, as <prefix><as-of>/, complete.json among its files", async () => {
    const target = freshTarget();
    const asOf = "2026-12-01T11:00:00Z";
    await writeSet(target, asOf, true);
    const keys: string[] = [];
    for await (const o of store.listObjects("ent-backups", target.backups.prefix)) keys.push(o.key);
    expect(keys.sort()).toEqual(
      [
        "20260101T000000Z.manifest",
        "20260101T000000Z.meta",
        "20260101T000000Z.s1.tar.gz",
        "20260101T000000Z.s4.tar.gz",
        "complete.json",
      ].map((name) => `${target.backups.prefix}${asOf}/${name}`),
    );
    const index = await createEnterpriseSource(store, target).listPoints();
    expect(index.points.map((p) => p.id)).toEqual([asOf]);
    // A folder in the old `points/` place is not a set of this target.
    await store.put("ent-backups", `${target.backups.prefix}points/2026-12-01T12:00:00Z/x`, "x");
    expect(
      (await createEnterpriseSource(store, target).listPoints()).points.map((p) => p.id),
    ).toEqual([asOf]);
  });

  it("refuses to freeze a set without complete.json (upload never finished)", async () => {
    const target = freshTarget();
    await writeSet(target, "2026-12-03T10:00:00Z", true, false);
    const source = createEnterpriseSource(store, target);
    const index = await source.listPoints();
    const ref = index.points[0];
    if (!ref) throw new Error("no point");
    const details = await source.describePoints([ref], index);
    const r = freezeEnterprisePoint(target, ref, details.get(ref.id));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.message).toContain("has no complete.json");
      expect(r.final).toBe(false);
    }
  });

  it("refuses a point of another kind", async () => {
    const target = freshTarget();
    const location = locationOf(target);
    const asOf = "2026-12-04T10:00:00Z";
    const f = await uploadPointFile(
      store,
      location,
      asOf,
      "influxdb.tar",
      Readable.from([Buffer.from("x")]),
    );
    await writeCompleteManifest(store, location, {
      format: 1,
      kind: "influxdb-oss",
      target: target.name,
      asOf,
      files: [f],
      restorebotVersion: "test",
    });
    const source = createEnterpriseSource(store, target);
    const index = await source.listPoints();
    const ref = index.points[0];
    if (!ref) throw new Error("no point");
    const r = freezeEnterprisePoint(
      target,
      ref,
      (await source.describePoints([ref], index)).get(asOf),
    );
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(r.message).toContain("is a influxdb-oss point, not an influxdb-enterprise backup set");
  });

  it("verifies every file against complete.json and finds a damaged one; the re-check refuses it", async () => {
    const target = freshTarget();
    const asOf = "2026-12-05T10:00:00Z";
    await writeSet(target, asOf, true);
    const source = createEnterpriseSource(store, target);
    const ref = { id: asOf, time: new Date(asOf) };
    const good = await source.verifyPoint(ref);
    expect(good.ok).toBe(true);
    expect(good.dump.bytes).toBe(482);
    const point = enterprisePointOf(await frozen(target, asOf));
    expect(await recheckFrozenSet(store, locationOf(target), point)).toEqual({ ok: true });

    const location = locationOf(target);
    // Same size, different content: only the sha256 can tell.
    await store.put(
      location.bucket,
      pointFileKey(location.prefix, asOf, "20260101T000000Z.s4.tar.gz", location.pointsFolder),
      "X".repeat(30),
    );
    const bad = await source.verifyPoint(ref);
    expect(bad.ok).toBe(false);
    expect(bad.problems.join(" ")).toContain("has a different sha256");

    await store.put(
      location.bucket,
      pointFileKey(location.prefix, asOf, "20260101T000000Z.s1.tar.gz", location.pointsFolder),
      "short",
    );
    const check = await recheckFrozenSet(store, location, point);
    expect(check.ok).toBe(false);
    if (!check.ok) expect(check.message).toContain("20260101T000000Z.s1.tar.gz is 5 bytes, not 20");
  });
});

describe("influxdb-enterprise restore options hook", () => {
  const target = parseTarget({ backups: { bucket: "ent-backups" } });
  const point = {
    kind: "influxdb-enterprise-set",
    asOf: "2026-12-01T10:00:00Z",
    full: true,
    manifest: "20260101T000000Z.manifest",
    databases: ["_internal", "telegraf"],
    retentionPolicies: [
      { database: "_internal", retentionPolicy: "monitor" },
      { database: "telegraf", retentionPolicy: "autogen" },
    ],
    shards: 2,
    bytes: 482,
    files: [],
  } as JsonValue;

  it("takes the flags before the reason and says how many words they used", () => {
    const r = enterpriseRestoreOptions.parse(
      ["--db", "telegraf", "--newdb", "t2", "dropped", "by", "mistake"],
      target,
    );
    expect(r).toEqual({ ok: true, options: { db: "telegraf", newdb: "t2" }, consumed: 4 });
    expect(enterpriseRestoreOptions.parse(["dropped"], target)).toEqual({
      ok: true,
      options: {},
      consumed: 0,
    });
  });

  it("refuses --newdb without --db, saying what to type", () => {
    const r = enterpriseRestoreOptions.parse(["--newdb", "t2", "why"], target);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toContain("type --db <db-in-the-set> --newdb t2");
  });

  it("refuses a database not in the set, and a point of the wrong kind", () => {
    expect(enterpriseRestoreOptions.check?.({ db: "nope" }, point, target)).toContain(
      "holds no database nope; it holds _internal, telegraf",
    );
    expect(
      enterpriseRestoreOptions.check?.({ db: "telegraf", rp: "autogen" }, point, target),
    ).toBeUndefined();
    expect(enterpriseRestoreOptions.check?.({}, { dumpKey: "x" } as JsonValue, target)).toContain(
      "not an InfluxDB Enterprise backup set",
    );
  });

  it("shows on the card exactly what is overwritten, and --newdb as beside the live data", () => {
    expect(enterpriseRestoreOptions.cardLines({}, point)).toEqual([
      "*Overwrites every database in the full set, over the live data:* `_internal.monitor`, `telegraf.autogen`",
    ]);
    expect(enterpriseRestoreOptions.cardLines({ db: "telegraf" }, point)).toEqual([
      "*Overwrites database telegraf, over the live data:* `telegraf.autogen`",
    ]);
    expect(enterpriseRestoreOptions.cardLines({ db: "telegraf", newdb: "t2" }, point)).toEqual([
      "Restores database telegraf into the new database t2, beside the live data (nothing live is overwritten).",
    ]);
  });
});
