import type { ObjectStore } from "../../adapters/s3/object-store.js";
import { mapWithConcurrency } from "../../recovery-points/concurrency.js";
import { type FolderListingCache, listFolderCached } from "./cached-listing.js";
import { asFolder } from "./list-all.js";
import { type MetricsPoint, newestFirst, parseCompactUtc } from "./points.js";

/** vmbackup writes this file last into a version and deletes it first when it starts again. */
export const VMBACKUP_COMPLETE_MARKER = "backup_complete.ignore";

export interface MetricsConfig {
  bucket: string;
  instances: string[];
  /** Folder above the instances' folders, when the chart's s3Prefix has one. */
  prefix?: string;
}

/** A version folder as listed, before anyone looked inside. */
export interface MetricsVersionRef {
  instance: string;
  version: string;
  /** `<instance>/<version>`, the name after `metrics:`. */
  name: string;
  /** From the version's name (`<instance>-<yyyymmddHHMMSS>`); undefined for e.g. `-latest`. */
  nameTime: Date | undefined;
  /**
   * The instance's newest dated version: the one vmbackup writes into every hour (it starts a
   * new version only when the instance's storage was emptied), so its marker can go and come.
   */
  current: boolean;
}

/**
 * Completion of versions already seen complete, by `<bucket>/<name>`. vmbackup writes only
 * into an instance's newest version; an older dated version, once its marker is there, no
 * longer changes. The newest version of each instance and undated versions (`…-latest`) are
 * never answered from the cache.
 */
export type MetricsCompletionCache = Map<string, Date>;

export async function listMetricsVersions(
  store: ObjectStore,
  config: MetricsConfig,
  opts: { listings?: FolderListingCache } = {},
): Promise<{ versions: MetricsVersionRef[]; skipped: string[]; requests: number }> {
  const root = asFolder(config.prefix);
  const versions: MetricsVersionRef[] = [];
  const skipped: string[] = [];
  let requests = 0;
  const perInstance = await Promise.all(
    config.instances.map((instance) =>
      listFolderCached(store, config.bucket, `${root}${instance}/`, opts.listings),
    ),
  );
  config.instances.forEach((instance, i) => {
    const listed = perInstance[i]!;
    requests += listed.requests;
    for (const folder of listed.prefixes) {
      const version = folder.slice(`${root}${instance}/`.length).replace(/\/$/, "");
      if (!version.startsWith(`${instance}-`)) {
        skipped.push(`${instance}/${version}`);
        continue;
      }
      const suffix = version.slice(instance.length + 1);
      versions.push({
        instance,
        version,
        name: `${instance}/${version}`,
        nameTime: parseCompactUtc(suffix),
        current: false,
      });
    }
    for (const object of listed.objects) skipped.push(object.key.slice(root.length));
  });
  versions.sort((a, b) =>
    newestFirst({ name: a.name, time: a.nameTime }, { name: b.name, time: b.nameTime }),
  );
  const seen = new Set<string>();
  for (const v of versions)
    if (v.nameTime !== undefined && !seen.has(v.instance)) {
      seen.add(v.instance);
      v.current = true;
    }
  return { versions, skipped, requests };
}

/**
 * Whether each version is complete and when vmbackup last completed it: one HEAD of the
 * marker per version not already known complete. An in-progress version has no marker.
 */
export async function describeMetricsVersions(
  store: ObjectStore,
  config: MetricsConfig,
  refs: readonly MetricsVersionRef[],
  opts: { cache?: MetricsCompletionCache; concurrency?: number } = {},
): Promise<{ points: MetricsPoint[]; requests: number }> {
  const root = asFolder(config.prefix);
  let requests = 0;
  const points = await mapWithConcurrency(refs, opts.concurrency ?? 8, async (ref) => {
    const cacheKey = `${config.bucket}/${ref.name}`;
    const cacheable = ref.nameTime !== undefined && !ref.current;
    let completed = cacheable ? opts.cache?.get(cacheKey) : undefined;
    if (completed === undefined) {
      requests++;
      const head = await store.head(
        config.bucket,
        `${root}${ref.name}/${VMBACKUP_COMPLETE_MARKER}`,
      );
      completed = head?.lastModified;
      if (completed !== undefined && cacheable) opts.cache?.set(cacheKey, completed);
    }
    const point: MetricsPoint = {
      store: "metrics",
      name: ref.name,
      instance: ref.instance,
      version: ref.version,
      // The data is as of the last completed backup into the version; before that, its name.
      time: completed ?? ref.nameTime,
      lastCompleted: completed,
      complete: completed !== undefined,
      notRestorable:
        completed === undefined
          ? `vmbackup has not completed this version (no ${VMBACKUP_COMPLETE_MARKER}): a backup into it is running or was interrupted`
          : undefined,
    };
    return point;
  });
  return { points, requests };
}

/**
 * One named version, looked up directly rather than by listing its instance's folder: a HEAD
 * of its marker and, only when that is absent, one LIST of at most one key under the version's
 * folder to tell "in progress" from "not there". The same decisions as the listing: a folder
 * not named `<instance>-…` is not a version, and completeness is the marker
 * (`describeMetricsVersions`). 1 request for a complete version, 2 otherwise, whatever the
 * size of the instance's folder.
 */
export async function findMetricsVersion(
  store: ObjectStore,
  config: MetricsConfig,
  instance: string,
  version: string,
): Promise<{ point: MetricsPoint | undefined; requests: number }> {
  if (!version.startsWith(`${instance}-`) || version.includes("/"))
    return { point: undefined, requests: 0 };
  const root = asFolder(config.prefix);
  const ref: MetricsVersionRef = {
    instance,
    version,
    name: `${instance}/${version}`,
    nameTime: parseCompactUtc(version.slice(instance.length + 1)),
    current: false,
  };
  const described = await describeMetricsVersions(store, config, [ref]);
  const point = described.points[0];
  if (point?.complete) return { point, requests: described.requests };
  const page = await store.listPrefixes(config.bucket, `${root}${ref.name}/`, "/", {
    maxKeys: 1,
  });
  const exists = page.prefixes.length > 0 || page.objects.length > 0;
  return { point: exists ? point : undefined, requests: described.requests + 1 };
}
