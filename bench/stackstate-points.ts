/**
 * Listing StackState's four stores over many points: restorebot's readers (delimited listings,
 * a HEAD or GET only for what the page and the newest complete point need, caches for what
 * cannot change) against a naive reader that lists every object and reads every marker and
 * metadata.json (what the chart's list Jobs read once their pod runs). They run alternately, per
 * store and for all four, in one process against the S3 and Elasticsearch stand-ins, over two
 * data shapes. Prints requests, milliseconds (medians of BENCH_ROUNDS, default 3) and the ratio.
 */
import type { ObjectStore } from "../src/adapters/s3/object-store.js";
import {
  type ElasticsearchHttp,
  fetchElasticsearchHttp,
} from "../src/kinds/stackstate/elasticsearch-http.js";
import {
  listStackStatePoints,
  type StackStateReaders,
} from "../src/kinds/stackstate/list-stackstate-points.js";
import {
  STACKSTATE_STORES,
  type StackStateStore,
  type StackStateStoresConfig,
} from "../src/kinds/stackstate/points.js";
import { startElasticsearchStandIn } from "../stand-ins/elasticsearch/server.js";
import { standInObjectStore } from "../stand-ins/s3/sdk-store.js";
import { startS3StandIn } from "../stand-ins/s3/server.js";

const H = 3_600_000;
const D = 24 * H;
const NOW = new Date("2025-01-01T00:00:00Z");
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const compact = (d: Date) => d.toISOString().replace(/[-:T]/g, "").slice(0, 14);
const sgName = (d: Date) => `sts-backup-${compact(d).slice(0, 8)}-${compact(d).slice(8, 12)}.graph`;
const chName = (kind: string, d: Date) =>
  `${kind}_${d.toISOString().slice(0, 19).replace(/:/g, "-")}`;

interface Shape {
  label: string;
  metricsVersionsPerInstance: number;
  metricsEveryMs: number;
  daily: number;
  clickhouseIncrementalsPerDay: number;
}

const SHAPES: Shape[] = [
  {
    label: "a year: hourly metrics versions, daily StackGraph/ClickHouse/Elasticsearch",
    metricsVersionsPerInstance: 8760,
    metricsEveryMs: H,
    daily: 365,
    clickhouseIncrementalsPerDay: 0,
  },
  {
    label:
      "chart defaults: 11 metrics versions, 30 days of StackGraph/Elasticsearch, 14 days of ClickHouse (22 incrementals a day)",
    metricsVersionsPerInstance: 11,
    metricsEveryMs: D,
    daily: 30,
    clickhouseIncrementalsPerDay: 22,
  },
];

/**
 * What a reader that lists every object does for one store (and, for metrics and ClickHouse,
 * what the chart's list Jobs do once their pod runs: every version's marker time, every
 * backup's metadata). Elasticsearch has one way to list: the snapshot API.
 */
async function naiveList(
  store: ObjectStore,
  http: ElasticsearchHttp,
  stores: StackStateStoresConfig,
  which: StackStateStore,
): Promise<number> {
  let points = 0;
  switch (which) {
    case "stackgraph":
      for await (const o of store.listObjects(stores.stackgraph!.bucket, ""))
        if (o.key.endsWith(".graph")) points++;
      return points;
    case "metrics": {
      const markers: string[] = [];
      for await (const o of store.listObjects(stores.metrics!.bucket, ""))
        if (o.key.endsWith("/data.bin"))
          markers.push(o.key.replace(/data\.bin$/, "backup_complete.ignore"));
      for (const key of markers)
        if ((await store.head(stores.metrics!.bucket, key)) !== undefined) points++;
      return points;
    }
    case "clickhouse": {
      const metadata: string[] = [];
      for await (const o of store.listObjects(stores.clickhouse!.bucket, ""))
        if (o.key.endsWith("/metadata.json")) metadata.push(o.key);
      for (const key of metadata) {
        const { body } = await store.getStream(stores.clickhouse!.bucket, key);
        for await (const _ of body) void _;
        points++;
      }
      return points;
    }
    case "elasticsearch": {
      const [group] = await listStackStatePoints({
        stores: { elasticsearch: stores.elasticsearch! },
        readers: { elasticsearch: http },
        now: NOW,
      });
      return group?.total ?? 0;
    }
  }
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

for (const shape of SHAPES) {
  const stores: StackStateStoresConfig = {
    stackgraph: { bucket: "sts-stackgraph-backup" },
    metrics: {
      bucket: "sts-victoria-metrics-backup",
      instances: ["victoria-metrics-0", "victoria-metrics-1"],
    },
    clickhouse: { bucket: "sts-clickhouse-backup" },
    elasticsearch: {
      service: "stackstate-elasticsearch-master",
      port: 9200,
      repository: "sts-backup",
    },
  };
  const s3 = await startS3StandIn({
    buckets: ["sts-stackgraph-backup", "sts-victoria-metrics-backup", "sts-clickhouse-backup"],
  });
  const es = await startElasticsearchStandIn();
  for (let i = 0; i < shape.daily; i++) {
    const day = new Date(NOW.getTime() - (i + 1) * D + 3 * H);
    s3.putObjectDirect("sts-stackgraph-backup", sgName(day), "graph");
    es.addSnapshot("sts-backup", {
      snapshot: `sts-backup-${compact(day)}-x`,
      indices: ["sts_a", "sts_b"],
      startTime: day,
    });
  }
  for (const instance of stores.metrics!.instances) {
    for (let i = 0; i < shape.metricsVersionsPerInstance; i++) {
      const at = new Date(NOW.getTime() - (i + 1) * shape.metricsEveryMs);
      const folder = `${instance}/${instance}-${compact(at)}/`;
      s3.putObjectDirect("sts-victoria-metrics-backup", `${folder}data.bin`, "d");
      s3.putObjectDirect("sts-victoria-metrics-backup", `${folder}backup_complete.ignore`, "", {
        lastModified: at,
      });
    }
  }
  const chDays = shape.clickhouseIncrementalsPerDay === 0 ? shape.daily : 14;
  for (let d = 0; d < chDays; d++) {
    const full = new Date(NOW.getTime() - (d + 1) * D);
    let previous = chName("full", full);
    const put = (name: string, at: Date, required?: string) => {
      s3.putObjectDirect("sts-clickhouse-backup", `${name}/shadow/otel/t/default.tar`, "t");
      s3.putObjectDirect(
        "sts-clickhouse-backup",
        `${name}/metadata.json`,
        JSON.stringify({
          backup_name: name,
          creation_date: at.toISOString(),
          data_format: "tar",
          ...(required ? { required_backup: required } : {}),
        }),
      );
    };
    put(previous, full);
    for (let i = 0; i < shape.clickhouseIncrementalsPerDay; i++) {
      const at = new Date(full.getTime() + (i + 2) * H);
      const name = chName("incremental", at);
      put(name, at, previous);
      previous = name;
    }
  }
  const store = standInObjectStore(s3);
  await store.listPrefixes("sts-stackgraph-backup", "warm-up/", "/");
  const http = fetchElasticsearchHttp(es.url);
  const newCaches = () => ({ metrics: new Map(), clickhouse: new Map(), listings: new Map() });
  const warmReaders: StackStateReaders = {
    objectStore: store,
    elasticsearch: http,
    caches: newCaches(),
  };
  type Row = { ms: number[]; requests: number[] };
  const results = new Map<string, Row>();
  const record = (key: string, ms: number, requests: number) => {
    const row = results.get(key) ?? { ms: [], requests: [] };
    row.ms.push(ms);
    row.requests.push(requests);
    results.set(key, row);
  };
  const measure = async (key: string, work: () => Promise<unknown>) => {
    s3.resetCounts();
    es.resetRequests();
    const t = performance.now();
    await work();
    record(key, performance.now() - t, s3.totalRequests() + es.requests().length);
  };
  const list = (which: StackStateStore | undefined, readers: StackStateReaders) =>
    listStackStatePoints({
      stores,
      readers,
      ...(which === undefined ? {} : { store: which }),
      now: NOW,
    });
  console.log(`\n${shape.label}`);
  await list(undefined, warmReaders); // the warm readers' caches are filled once, before the rounds
  for (let round = 0; round < ROUNDS; round++) {
    for (const which of STACKSTATE_STORES) {
      await measure(`naive ${which}`, () => naiveList(store, http, stores, which));
      await measure(`cold ${which}`, () =>
        list(which, { objectStore: store, elasticsearch: http, caches: newCaches() }),
      );
      await measure(`warm ${which}`, () => list(which, warmReaders));
    }
    await measure("naive all", async () => {
      for (const which of STACKSTATE_STORES) await naiveList(store, http, stores, which);
    });
    await measure("cold all", () =>
      list(undefined, { objectStore: store, elasticsearch: http, caches: newCaches() }),
    );
    await measure("warm all", () => list(undefined, warmReaders));
  }
  const groups = await list(undefined, warmReaders);
  for (const g of groups)
    console.log(
      `  ${g.store.padEnd(13)} ${String(g.total).padStart(6)} points, newest complete ${g.newestComplete?.name}`,
    );
  console.log(
    `  ${"store".padEnd(13)}  ${"naive (the list Job's reads)".padEnd(30)}${"cold".padEnd(30)}warm`,
  );
  const cell = (key: string, naiveMs: number) => {
    const row = results.get(key)!;
    const ms = median(row.ms);
    const ratio = key.startsWith("naive") ? "" : ` ${(naiveMs / ms).toFixed(1)}×`;
    return `${ms.toFixed(0).padStart(6)} ms ${String(median(row.requests)).padStart(6)} req${ratio}`.padEnd(
      30,
    );
  };
  for (const which of [...STACKSTATE_STORES, "all"]) {
    const naiveMs = median(results.get(`naive ${which}`)!.ms);
    console.log(
      `  ${which.padEnd(13)}  ${cell(`naive ${which}`, naiveMs)}${cell(`cold ${which}`, naiveMs)}${cell(`warm ${which}`, naiveMs)}`,
    );
  }
  await s3.close();
  await es.close();
}
