import type { ObjectStore } from "../../adapters/s3/object-store.js";
import { asCodedError, CodedError } from "../../errors.js";
import type { FolderListingCache } from "./cached-listing.js";
import { type ClickHouseMetadataCache, listClickHouseBackups } from "./clickhouse-points.js";
import type { ElasticsearchHttp } from "./elasticsearch-http.js";
import { listElasticsearchSnapshots } from "./elasticsearch-points.js";
import { asFolder } from "./list-all.js";
import {
  describeMetricsVersions,
  findMetricsVersion,
  listMetricsVersions,
  type MetricsCompletionCache,
  type MetricsVersionRef,
} from "./metrics-points.js";
import { formatStackStatePoint, type StackStatePointRef } from "./point-ref.js";
import {
  type MetricsPoint,
  STACKSTATE_STORES,
  type StackStatePoint,
  type StackStateStore,
  type StackStateStoresConfig,
} from "./points.js";
import { listStackGraphBackups } from "./stackgraph-points.js";

/** What the listing reads through; built once per target by the composition root. */
export interface StackStateReaders {
  /** The chart's MinIO/S3 (`backupStore`); needed for stackgraph, metrics and clickhouse. */
  objectStore?: ObjectStore;
  /** Elasticsearch through the API server's service proxy; needed for elasticsearch. */
  elasticsearch?: ElasticsearchHttp;
  /**
   * Keep these for the life of the process so warm listings skip what cannot change, and list
   * only the ends of the metrics instances' long folders (`cached-listing.ts`).
   */
  caches?: {
    metrics?: MetricsCompletionCache;
    clickhouse?: ClickHouseMetadataCache;
    listings?: FolderListingCache;
  };
}

export interface StoreGroup {
  store: StackStateStore;
  /** Where the points live, for messages: `s3://sts-stackgraph-backup/`, `elasticsearch repository "sts-backup"`. */
  location: string;
  /** Newest first, at most `limit`. */
  points: StackStatePoint[];
  /** Points in the store (for metrics: version folders, complete or not). */
  total: number;
  newestComplete: StackStatePoint | undefined;
  /** now − newest complete point's time. */
  rpoMs: number | undefined;
  /** Metrics only: each instance's newest complete version. */
  instances?: Array<{ instance: string; newestComplete: MetricsPoint | undefined }>;
  /** Names in the store that are not a backup of it (never fatal). */
  skipped: string[];
  /** Requests this listing made to the store (S3 or Elasticsearch). */
  requests: number;
  /** Set when the store could not be read; the other stores are still listed. */
  error: string | undefined;
}

export interface ListStackStateOptions {
  stores: StackStateStoresConfig;
  readers: StackStateReaders;
  /** `--store S`: only this store. */
  store?: StackStateStore;
  /** `--limit N`, per store (default 20). */
  limit?: number;
  now: Date;
}

export function configuredStores(stores: StackStateStoresConfig): StackStateStore[] {
  return STACKSTATE_STORES.filter((s) => stores[s] !== undefined);
}

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) {
    throw new CodedError("config_invalid", `No ${what} was given to read this store with.`);
  }
  return value;
}

function locationOf(store: StackStateStore, stores: StackStateStoresConfig): string {
  switch (store) {
    case "stackgraph":
      return `s3://${stores.stackgraph?.bucket}/${asFolder(stores.stackgraph?.prefix)}`;
    case "metrics":
      return `s3://${stores.metrics?.bucket}/${asFolder(stores.metrics?.prefix)}`;
    case "clickhouse":
      return `s3://${stores.clickhouse?.bucket}/${asFolder(stores.clickhouse?.prefix)}`;
    case "elasticsearch":
      return `Elasticsearch repository "${stores.elasticsearch?.repository}"`;
  }
}

/**
 * Metrics versions are described (one HEAD each, cached once complete) only as far as the
 * page and the newest complete version of each instance need: a year of hourly versions costs
 * the listing pages plus a handful of HEADs, not one HEAD per version.
 */
async function metricsGroup(
  readers: StackStateReaders,
  config: NonNullable<StackStateStoresConfig["metrics"]>,
  limit: number,
): Promise<{
  points: MetricsPoint[];
  total: number;
  skipped: string[];
  requests: number;
  instances: NonNullable<StoreGroup["instances"]>;
}> {
  const store = need(readers.objectStore, "object store");
  const listed = await listMetricsVersions(
    store,
    config,
    readers.caches?.listings === undefined ? {} : { listings: readers.caches.listings },
  );
  let requests = listed.requests;
  const described: MetricsPoint[] = [];
  const newest = new Map<string, MetricsPoint>();
  const pending = new Set(
    config.instances.filter((i) => listed.versions.some((v) => v.instance === i)),
  );
  let next = 0;
  const batch = Math.max(limit, 8);
  while (next < listed.versions.length && (next < limit || pending.size > 0)) {
    const slice: MetricsVersionRef[] = [];
    while (
      next < listed.versions.length &&
      slice.length < batch &&
      (next < limit || pending.size > 0)
    ) {
      const version = listed.versions[next]!;
      if (next < limit || pending.has(version.instance)) slice.push(version);
      next++;
    }
    const result = await describeMetricsVersions(store, config, slice, {
      ...(readers.caches?.metrics === undefined ? {} : { cache: readers.caches.metrics }),
    });
    requests += result.requests;
    for (const point of result.points) {
      described.push(point);
      if (point.complete && !newest.has(point.instance)) {
        newest.set(point.instance, point);
        pending.delete(point.instance);
      }
    }
  }
  return {
    points: described,
    total: listed.versions.length,
    skipped: listed.skipped,
    requests,
    instances: config.instances.map((instance) => ({
      instance,
      newestComplete: newest.get(instance),
    })),
  };
}

async function readGroup(
  store: StackStateStore,
  opts: ListStackStateOptions,
  limit: number,
): Promise<Omit<StoreGroup, "store" | "location" | "rpoMs" | "error">> {
  const { stores, readers } = opts;
  const pick = (points: StackStatePoint[]) => ({
    points: points.slice(0, limit),
    total: points.length,
    newestComplete: points.find((p) => p.notRestorable === undefined),
  });
  switch (store) {
    case "stackgraph": {
      const r = await listStackGraphBackups(
        need(readers.objectStore, "object store"),
        stores.stackgraph!,
      );
      return { ...pick(r.points), skipped: r.skipped, requests: r.requests };
    }
    case "clickhouse": {
      const r = await listClickHouseBackups(
        need(readers.objectStore, "object store"),
        stores.clickhouse!,
        readers.caches?.clickhouse === undefined ? {} : { cache: readers.caches.clickhouse },
      );
      return { ...pick(r.points), skipped: r.skipped, requests: r.requests };
    }
    case "elasticsearch": {
      const r = await listElasticsearchSnapshots(
        need(readers.elasticsearch, "Elasticsearch connection"),
        stores.elasticsearch!,
      );
      return { ...pick(r.points), skipped: r.skipped, requests: r.requests };
    }
    case "metrics": {
      const r = await metricsGroup(readers, stores.metrics!, limit);
      const candidates = r.instances.flatMap((i) =>
        i.newestComplete === undefined ? [] : [i.newestComplete],
      );
      candidates.sort((a, b) => (b.time?.getTime() ?? 0) - (a.time?.getTime() ?? 0));
      return {
        points: r.points.slice(0, limit),
        total: r.total,
        newestComplete: candidates[0],
        instances: r.instances,
        skipped: r.skipped,
        requests: r.requests,
      };
    }
  }
}

/**
 * `/recovery-points <sts> [--store S] [--limit N]`: each configured store's points, newest
 * first, with its own newest complete point and RPO. Stores are read at once; one that cannot
 * be read says why in its group and the others are still listed.
 */
export async function listStackStatePoints(opts: ListStackStateOptions): Promise<StoreGroup[]> {
  const limit = opts.limit ?? 20;
  const configured = configuredStores(opts.stores);
  if (opts.store !== undefined && !configured.includes(opts.store)) {
    throw new CodedError(
      "usage",
      `This target has no ${opts.store} store (it has ${configured.join(", ") || "none"}). Try \`--store ${configured[0] ?? "stackgraph"}\`, or leave --store out to list them all.`,
    );
  }
  const wanted = opts.store === undefined ? configured : [opts.store];
  return Promise.all(
    wanted.map(async (store): Promise<StoreGroup> => {
      const location = locationOf(store, opts.stores);
      try {
        const group = await readGroup(store, opts, limit);
        const newestTime = group.newestComplete?.time;
        return {
          store,
          location,
          ...group,
          rpoMs: newestTime === undefined ? undefined : opts.now.getTime() - newestTime.getTime(),
          error: undefined,
        };
      } catch (err) {
        return {
          store,
          location,
          points: [],
          total: 0,
          newestComplete: undefined,
          rpoMs: undefined,
          skipped: [],
          requests: 0,
          error: asCodedError(err).message,
        };
      }
    }),
  );
}

/**
 * The point a restore request names, looked up in its store: `<store>:latest` is the newest
 * complete one. Refuses, saying what to type instead, when it is missing or not restorable.
 */
export async function findStackStatePoint(
  ref: StackStatePointRef,
  opts: Omit<ListStackStateOptions, "store" | "limit">,
): Promise<StackStatePoint> {
  const typed = ref.latest
    ? formatStackStatePoint(ref.store, "latest")
    : formatStackStatePoint(ref.store, ref.name);
  const listHint = `\`/recovery-points <target> --store ${ref.store}\` lists them.`;
  if (ref.latest) {
    const [group] = await listStackStatePoints({ ...opts, store: ref.store, limit: 1 });
    if (group?.error !== undefined)
      throw new CodedError(
        "precondition_failed",
        `Could not read the ${ref.store} store: ${group.error}`,
      );
    if (group?.newestComplete === undefined) {
      throw new CodedError(
        "not_found",
        `${typed}: the ${ref.store} store has no complete backup at ${group?.location}. ${listHint}`,
      );
    }
    return group.newestComplete;
  }
  let point: StackStatePoint | undefined;
  if (ref.store === "metrics") {
    const config = opts.stores.metrics!;
    const store = need(opts.readers.objectStore, "object store");
    const [instance, version] = ref.name.split("/") as [string, string];
    if (!config.instances.includes(instance)) {
      throw new CodedError(
        "usage",
        `${typed}: "${instance}" is not one of this target's Victoria Metrics instances (${config.instances.join(", ")}). ${listHint}`,
      );
    }
    // One version, looked up directly: not a listing of the instance's whole folder.
    point = (await findMetricsVersion(store, config, instance, version)).point;
  } else {
    const [group] = await listStackStatePoints({
      ...opts,
      store: ref.store,
      limit: Number.MAX_SAFE_INTEGER,
    });
    if (group?.error !== undefined)
      throw new CodedError(
        "precondition_failed",
        `Could not read the ${ref.store} store: ${group.error}`,
      );
    point = group?.points.find((p) => p.name === ref.name);
  }
  if (point === undefined) {
    throw new CodedError(
      "not_found",
      `${typed} is not in the ${ref.store} store (${locationOf(ref.store, opts.stores)}). ${listHint}`,
    );
  }
  if (point.notRestorable !== undefined) {
    throw new CodedError(
      "precondition_failed",
      `${typed} cannot be restored: ${point.notRestorable}. Pick another point; ${listHint}`,
    );
  }
  return point;
}
