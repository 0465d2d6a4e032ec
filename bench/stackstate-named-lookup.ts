/**
 * `metrics:<instance>/<version>` looked up by name: the direct lookup (a HEAD of the version's
 * marker) against listing the instance's folder as the listing does, over a year of hourly
 * versions in the S3 stand-in. Medians of five rounds, requests counted by the stand-in.
 */
import { findStackStatePoint } from "../src/kinds/stackstate/list-stackstate-points.js";
import {
  describeMetricsVersions,
  listMetricsVersions,
} from "../src/kinds/stackstate/metrics-points.js";
import { parseStackStatePoint } from "../src/kinds/stackstate/point-ref.js";
import { standInObjectStore } from "../stand-ins/s3/sdk-store.js";
import { startS3StandIn } from "../stand-ins/s3/server.js";

const BUCKET = "sts-victoria-metrics-backup";
const INSTANCE = "victoria-metrics-0";
const HOURS = 8760;
const START = Date.UTC(2023, 0, 1);
const compact = (d: Date) => d.toISOString().replace(/[-:T]/g, "").slice(0, 14);

const s3 = await startS3StandIn({ buckets: [BUCKET] });
const store = standInObjectStore(s3);
for (let h = 0; h < HOURS; h++) {
  const at = new Date(START + h * 3_600_000);
  const folder = `${INSTANCE}/${INSTANCE}-${compact(at)}/`;
  s3.putObjectDirect(BUCKET, `${folder}data.bin`, "d");
  s3.putObjectDirect(BUCKET, `${folder}backup_complete.ignore`, "", { lastModified: at });
}
const config = { bucket: BUCKET, instances: [INSTANCE] };
const name = `${INSTANCE}/${INSTANCE}-${compact(new Date(START + 4000 * 3_600_000))}`;

async function measure(run: () => Promise<unknown>): Promise<{ ms: number; requests: number }> {
  const rounds: Array<{ ms: number; requests: number }> = [];
  for (let i = 0; i < 5; i++) {
    s3.resetCounts();
    const started = performance.now();
    await run();
    rounds.push({ ms: performance.now() - started, requests: s3.totalRequests() });
  }
  rounds.sort((a, b) => a.ms - b.ms);
  return rounds[2]!;
}

const listing = await measure(async () => {
  const listed = await listMetricsVersions(store, config);
  const ref = listed.versions.find((v) => v.name === name);
  if (!ref) throw new Error("not listed");
  await describeMetricsVersions(store, config, [ref]);
});
const direct = await measure(() =>
  findStackStatePoint(parseStackStatePoint(`metrics:${name}`), {
    stores: { metrics: config },
    readers: { objectStore: store },
    now: new Date(),
  }),
);
const [load] = (await import("node:os")).loadavg();
console.log(`year of hourly versions (${HOURS}); load average ${load?.toFixed(1)}`);
console.log(
  `listing the instance's folder: ${listing.ms.toFixed(0)} ms, ${listing.requests} requests`,
);
console.log(
  `direct lookup:                 ${direct.ms.toFixed(0)} ms, ${direct.requests} requests`,
);
await s3.close();
