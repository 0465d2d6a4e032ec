import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ObjectStore } from "../../../src/adapters/s3/object-store.js";
import type { FolderListingCache } from "../../../src/kinds/stackstate/cached-listing.js";
import {
  listStackStatePoints,
  type StackStateReaders,
} from "../../../src/kinds/stackstate/list-stackstate-points.js";
import {
  listMetricsVersions,
  type MetricsConfig,
  VMBACKUP_COMPLETE_MARKER,
} from "../../../src/kinds/stackstate/metrics-points.js";
import { standInObjectStore } from "../../../stand-ins/s3/sdk-store.js";
import { type S3StandIn, startS3StandIn } from "../../../stand-ins/s3/server.js";

const VM = "sts-victoria-metrics-backup";
const H = 3_600_000;
const NOW = new Date("2025-01-01T00:00:00Z");
const compact = (d: Date) => d.toISOString().replace(/[-:T]/g, "").slice(0, 14);
const VM0 = "victoria-metrics-0";
const VM1 = "victoria-metrics-1";
/** Hourly versions of one instance: more than the head page, a middle and the tail hold. */
const VERSIONS = 3_200;

function versionAt(instance: string, hoursAgo: number): string {
  return `${instance}-${compact(new Date(NOW.getTime() - hoursAgo * H))}`;
}

/**
 * A warm listing (the caches of the earlier ones) against the S3 stand-in, checked against a
 * listing that starts from nothing: the same versions, in the same order, after each change
 * the chart or an operator makes to the bucket.
 */
describe("warm metrics listings: the folder's ends re-listed, the rest from the cache", () => {
  let s3: S3StandIn;
  let store: ObjectStore;
  const config: MetricsConfig = { bucket: VM, instances: [VM0] };
  let listings: FolderListingCache;
  let readers: StackStateReaders;

  const putVersion = (instance: string, version: string, complete = true, at = NOW) => {
    s3.putObjectDirect(VM, `${instance}/${version}/data/small/p1/metaindex.bin`, "m");
    if (complete)
      s3.putObjectDirect(VM, `${instance}/${version}/${VMBACKUP_COMPLETE_MARKER}`, "", {
        lastModified: at,
      });
  };
  const deleteVersion = (instance: string, version: string) => {
    s3.deleteObjectDirect(VM, `${instance}/${version}/data/small/p1/metaindex.bin`);
    s3.deleteObjectDirect(VM, `${instance}/${version}/${VMBACKUP_COMPLETE_MARKER}`);
  };
  const names = async (cfg: MetricsConfig, cache?: FolderListingCache) =>
    (await listMetricsVersions(store, cfg, cache === undefined ? {} : { listings: cache })).versions
      .map((v) => v.name)
      .join("\n");
  const metricsGroup = async (cfg: MetricsConfig = config) => {
    const [group] = await listStackStatePoints({
      stores: { metrics: cfg },
      readers,
      store: "metrics",
      now: NOW,
    });
    return group!;
  };

  beforeAll(async () => {
    s3 = await startS3StandIn({ buckets: [VM] });
    store = standInObjectStore(s3);
    for (let i = VERSIONS; i >= 1; i--)
      putVersion(VM0, versionAt(VM0, i), true, new Date(NOW.getTime() - i * H + 1_800_000));
  }, 60_000);
  afterAll(async () => {
    await s3?.close();
  });
  beforeEach(async () => {
    listings = new Map();
    readers = {
      objectStore: store,
      caches: { metrics: new Map(), clickhouse: new Map(), listings },
    };
    await metricsGroup(); // cold: fills the caches
    s3.resetCounts();
  });

  it("costs three listing requests per instance and one HEAD of its newest version when nothing changed", async () => {
    const group = await metricsGroup();
    expect(group.total).toBe(VERSIONS);
    expect(group.newestComplete?.name).toBe(`${VM0}/${versionAt(VM0, 1)}`);
    expect(s3.requestCounts()).toEqual({ ListObjectsV2: 3, HeadObject: 1 });
    expect(group.requests).toBe(4);
    expect(await names(config, listings)).toBe(await names(config));
  });

  it("drops the versions retention deleted, and the newest ones deleted by hand", async () => {
    const oldest = Array.from({ length: 30 }, (_, i) => versionAt(VM0, VERSIONS - i));
    const newest = versionAt(VM0, 1);
    for (const v of oldest) deleteVersion(VM0, v);
    deleteVersion(VM0, newest);
    try {
      const group = await metricsGroup();
      expect(group.total).toBe(VERSIONS - 31);
      expect(group.points.map((p) => p.name)).not.toContain(`${VM0}/${newest}`);
      expect(group.newestComplete?.name).toBe(`${VM0}/${versionAt(VM0, 2)}`);
      expect(await names(config, listings)).toBe(await names(config));
    } finally {
      for (const v of oldest) putVersion(VM0, v);
      putVersion(VM0, newest, true, new Date(NOW.getTime() - H + 1_800_000));
    }
  });

  it("sees a version deleted in the middle of the history within as many listings as the middle has pages", async () => {
    const middle = versionAt(VM0, Math.floor(VERSIONS / 2));
    deleteVersion(VM0, middle);
    try {
      const fresh = await names(config);
      const middlePages = Math.ceil((VERSIONS - 1_000 - 900) / 1_000);
      let listed = 0;
      let seen = false;
      while (!seen && listed < middlePages) {
        const group = await metricsGroup();
        listed++;
        seen = group.total === VERSIONS - 1;
      }
      expect(seen).toBe(true);
      expect(await names(config, listings)).toBe(fresh);
    } finally {
      putVersion(VM0, middle);
    }
  });

  it("shows a new version in progress as incomplete, then complete once vmbackup writes its marker", async () => {
    const next = versionAt(VM0, 0);
    putVersion(VM0, next, false);
    try {
      let group = await metricsGroup();
      expect(group.total).toBe(VERSIONS + 1);
      expect(group.points[0]).toMatchObject({ name: `${VM0}/${next}`, complete: false });
      expect(group.newestComplete?.name).toBe(`${VM0}/${versionAt(VM0, 1)}`);

      s3.putObjectDirect(VM, `${VM0}/${next}/${VMBACKUP_COMPLETE_MARKER}`, "", {
        lastModified: NOW,
      });
      group = await metricsGroup();
      expect(group.points[0]).toMatchObject({ name: `${VM0}/${next}`, complete: true });
      expect(group.newestComplete?.name).toBe(`${VM0}/${next}`);
      expect(group.rpoMs).toBe(0);
    } finally {
      deleteVersion(VM0, next);
    }
  });

  it("reads the newest version's marker every time: a new run into it removes the marker first", async () => {
    const current = versionAt(VM0, 1);
    const marker = `${VM0}/${current}/${VMBACKUP_COMPLETE_MARKER}`;
    s3.deleteObjectDirect(VM, marker);
    try {
      let group = await metricsGroup();
      expect(group.points[0]).toMatchObject({ name: `${VM0}/${current}`, complete: false });
      expect(group.newestComplete?.name).toBe(`${VM0}/${versionAt(VM0, 2)}`);

      const later = new Date(NOW.getTime() - 60_000);
      s3.putObjectDirect(VM, marker, "", { lastModified: later });
      group = await metricsGroup();
      expect(group.newestComplete?.name).toBe(`${VM0}/${current}`);
      expect(group.newestComplete?.time?.toISOString()).toBe(later.toISOString());
    } finally {
      s3.putObjectDirect(VM, marker, "", { lastModified: new Date(NOW.getTime() - 1_800_000) });
    }
  });

  it("lists an instance that was not there before, with the caches of the others", async () => {
    const both: MetricsConfig = { bucket: VM, instances: [VM0, VM1] };
    putVersion(VM1, versionAt(VM1, 5));
    putVersion(VM1, versionAt(VM1, 3));
    try {
      const group = await metricsGroup(both);
      expect(group.total).toBe(VERSIONS + 2);
      expect(group.instances?.map((i) => [i.instance, i.newestComplete?.version])).toEqual([
        [VM0, versionAt(VM0, 1)],
        [VM1, versionAt(VM1, 3)],
      ]);
      expect(await names(both, listings)).toBe(await names(both));
    } finally {
      deleteVersion(VM1, versionAt(VM1, 5));
      deleteVersion(VM1, versionAt(VM1, 3));
    }
  });
});
