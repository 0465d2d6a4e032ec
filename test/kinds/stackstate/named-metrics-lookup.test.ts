import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ObjectStore } from "../../../src/adapters/s3/object-store.js";
import { findStackStatePoint } from "../../../src/kinds/stackstate/list-stackstate-points.js";
import {
  describeMetricsVersions,
  listMetricsVersions,
  VMBACKUP_COMPLETE_MARKER,
} from "../../../src/kinds/stackstate/metrics-points.js";
import { parseStackStatePoint } from "../../../src/kinds/stackstate/point-ref.js";
import type { StackStateStoresConfig } from "../../../src/kinds/stackstate/points.js";
import { standInObjectStore } from "../../../stand-ins/s3/sdk-store.js";
import { type S3StandIn, startS3StandIn } from "../../../stand-ins/s3/server.js";

const VM = "sts-victoria-metrics-backup";
const INSTANCE = "victoria-metrics-0";
const START = Date.UTC(2023, 0, 1);
const HOURS = 8760;
const NOW = new Date(START + HOURS * 3_600_000);

function versionAt(hour: number): string {
  const d = new Date(START + hour * 3_600_000).toISOString();
  return `${INSTANCE}-${d.slice(0, 4)}${d.slice(5, 7)}${d.slice(8, 10)}${d.slice(11, 13)}0000`;
}

/**
 * `metrics:<instance>/<version>` names one version: it is found with a HEAD of its marker (and,
 * when that is absent, one LIST of the version's own folder), never by listing the instance's
 * whole folder — a year of hourly versions is nine listing pages. The answer must be the one
 * the listing gives, for a complete, an in-progress and a missing version.
 */
describe("a named metrics version is looked up directly", () => {
  let s3: S3StandIn;
  let store: ObjectStore;
  const stores: StackStateStoresConfig = { metrics: { bucket: VM, instances: [INSTANCE] } };
  const inProgress = versionAt(HOURS - 1);

  beforeAll(async () => {
    s3 = await startS3StandIn({ buckets: [VM] });
    store = standInObjectStore(s3);
    for (let hour = 0; hour < HOURS; hour++) {
      const folder = `${INSTANCE}/${versionAt(hour)}/`;
      s3.putObjectDirect(VM, `${folder}data.bin`, "d");
      // The newest version is being written: no marker yet.
      if (hour !== HOURS - 1)
        s3.putObjectDirect(VM, `${folder}${VMBACKUP_COMPLETE_MARKER}`, "", {
          lastModified: new Date(START + hour * 3_600_000 + 600_000),
        });
    }
  });

  afterAll(async () => {
    await s3?.close();
  });

  async function lookup(name: string): Promise<{ outcome: string; requests: number }> {
    s3.resetCounts();
    const outcome = await findStackStatePoint(parseStackStatePoint(`metrics:${name}`), {
      stores,
      readers: { objectStore: store },
      now: NOW,
    }).then(
      (p) => `found ${p.name} complete=${String((p as { complete?: boolean }).complete)}`,
      (err: Error) => err.message,
    );
    return { outcome, requests: s3.totalRequests() };
  }

  /** What the listing says about the same name (the decision the lookup must repeat). */
  async function byListing(name: string): Promise<{ outcome: string; requests: number }> {
    s3.resetCounts();
    const listed = await listMetricsVersions(store, { bucket: VM, instances: [INSTANCE] });
    const ref = listed.versions.find((v) => v.name === name);
    const point =
      ref === undefined
        ? undefined
        : (await describeMetricsVersions(store, { bucket: VM, instances: [INSTANCE] }, [ref]))
            .points[0];
    return {
      outcome: point === undefined ? "absent" : `complete=${String(point.complete)}`,
      requests: s3.totalRequests(),
    };
  }

  it("a complete version: one request (HEAD of its marker); the listing needed ten", async () => {
    const name = `${INSTANCE}/${versionAt(4000)}`;
    const direct = await lookup(name);
    expect(direct.outcome).toBe(`found ${name} complete=true`);
    expect(direct.requests).toBe(1);
    expect(s3.requestCounts()).toEqual({ HeadObject: 1 });
    const listing = await byListing(name);
    expect(listing.outcome).toBe("complete=true");
    expect(listing.requests).toBe(10);
  });

  it("an in-progress version: refused as the listing refuses it, in two requests", async () => {
    const direct = await lookup(`${INSTANCE}/${inProgress}`);
    expect(direct.outcome).toMatch(/cannot be restored: vmbackup has not completed this version/);
    expect(direct.requests).toBe(2);
    expect((await byListing(`${INSTANCE}/${inProgress}`)).outcome).toBe("complete=false");
  });

  it("a version that is not there, or not named <instance>-…: not in the store, as listed", async () => {
    const missing = await lookup(`${INSTANCE}/${INSTANCE}-20990101000000`);
    expect(missing.outcome).toMatch(/is not in the metrics store/);
    expect(missing.requests).toBe(2);
    expect((await byListing(`${INSTANCE}/${INSTANCE}-20990101000000`)).outcome).toBe("absent");

    // A folder the listing skips (not `<instance>-…`) is no version, even with a marker in it.
    s3.putObjectDirect(VM, `${INSTANCE}/stray/${VMBACKUP_COMPLETE_MARKER}`, "");
    const stray = await lookup(`${INSTANCE}/stray`);
    expect(stray.outcome).toMatch(/is not in the metrics store/);
    expect(stray.requests).toBe(0);
    expect((await byListing(`${INSTANCE}/stray`)).outcome).toBe("absent");
  });
});
