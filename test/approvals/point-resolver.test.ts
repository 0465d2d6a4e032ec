import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSourcePointResolver } from "../../src/approvals/point-resolver.js";
import { parseConfig, type Target } from "../../src/config/file.js";
import { influxPointOf, recheckInfluxPoint } from "../../src/kinds/influxdb-clustered/points.js";
import { createInfluxDbS3Source } from "../../src/kinds/influxdb-clustered/s3-source.js";
import {
  SNAPSHOT_PREFIX,
  standInObjectStore,
} from "../../src/kinds/influxdb-clustered/sandbox/snapshot-writer.js";
import { DEFAULT_KINDS } from "../../src/kinds/registry.js";
import { type S3StandIn, startS3StandIn } from "../../stand-ins/s3/server.js";
import { DEFAULT_TEST_CONFIG } from "../support/bot-harness.js";

const BUCKET = "influxdb-prod";
const POINT = "2024-08-12T14:00:00+00:00";
const POINT_TIME = new Date("2024-08-12T14:00:00Z");

/** A complete snapshot folder: what freezing a point reads (the dump's listing, bloom.bin.gz). */
function seedPoint(s3: S3StandIn): void {
  const folder = `${SNAPSHOT_PREFIX}${POINT}/`;
  s3.putObjectDirect(BUCKET, `${folder}pg_dump.gz`, gzipSync("-- PostgreSQL database dump\n"));
  s3.putObjectDirect(BUCKET, `${folder}bloom.bin.gz`, gzipSync("bloom"));
}

describe("freezing a recovery point needs the dump's ETag", () => {
  let withEtags: S3StandIn;
  let withoutEtags: S3StandIn;
  let target: Target;

  beforeAll(async () => {
    withEtags = await startS3StandIn({ buckets: [BUCKET] });
    withoutEtags = await startS3StandIn({ buckets: [BUCKET], omitEtags: true });
    seedPoint(withEtags);
    seedPoint(withoutEtags);
    const config = parseConfig(DEFAULT_TEST_CONFIG);
    target = config.targets[0] as Target;
  });
  afterAll(async () => {
    await withEtags?.close();
    await withoutEtags?.close();
  });

  const resolverOver = (s3: S3StandIn) =>
    createSourcePointResolver(
      () =>
        createInfluxDbS3Source(standInObjectStore(s3), { bucket: BUCKET, prefix: SNAPSHOT_PREFIX }),
      DEFAULT_KINDS,
    );

  it("freezes the dump's ETag and size when the store gives them", async () => {
    const resolution = await resolverOver(withEtags).resolve(target, {
      kind: "time",
      time: POINT_TIME,
    });
    expect(resolution.ok).toBe(true);
    if (!resolution.ok) return;
    expect(influxPointOf(resolution.point.point).dumpEtag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(influxPointOf(resolution.point.point).dumpSize).toBeGreaterThan(0);
  });

  it("refuses a point whose dump has no ETag, by time and as latest, instead of freezing it unchecked", async () => {
    const resolver = resolverOver(withoutEtags);
    for (const ref of [{ kind: "time" as const, time: POINT_TIME }, { kind: "latest" as const }]) {
      const resolution = await resolver.resolve(target, ref);
      expect(resolution.ok).toBe(false);
      if (resolution.ok) return;
      expect(resolution.message).toContain(
        `The object store gave no ETag for pg_dump.gz of the recovery point \`${POINT}\` of \`prod\``,
      );
      expect(resolution.message).toContain("Nothing was requested");
    }
  });

  it("a frozen point without an ETag never passes the re-check", async () => {
    const source = createInfluxDbS3Source(standInObjectStore(withEtags), {
      bucket: BUCKET,
      prefix: SNAPSHOT_PREFIX,
    });
    const check = await recheckInfluxPoint(source, {
      pointTime: POINT_TIME,
      point: { dumpEtag: null },
    });
    expect(check).toEqual({
      ok: false,
      message: expect.stringContaining("froze no ETag for the catalog dump"),
    });
    const head = await standInObjectStore(withEtags).head(
      BUCKET,
      `${SNAPSHOT_PREFIX}${POINT}/pg_dump.gz`,
    );
    expect(
      await recheckInfluxPoint(source, {
        pointTime: POINT_TIME,
        point: { dumpEtag: head?.etag ?? "" },
      }),
    ).toEqual({ ok: true });
    expect(
      await recheckInfluxPoint(source, { pointTime: POINT_TIME, point: { dumpEtag: '"0123"' } }),
    ).toMatchObject({ ok: false, message: expect.stringContaining("changed since the request") });
  });
});
