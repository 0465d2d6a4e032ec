import type { ObjectStore } from "../../adapters/s3/object-store.js";
import { type BackupLocation, poolEntry, poolKey } from "../../backups/index.js";
import { CodedError } from "../../errors.js";
import { mapWithConcurrency } from "../../recovery-points/concurrency.js";
import {
  type LiveLocation,
  type LiveObject,
  listLiveObjects,
  type PoolIndex,
  readPoolIndex,
} from "./object-pool.js";

export interface ObjectRestoreProgress {
  total: number;
  /** Already in the live bucket with the point's size and content. */
  present: number;
  copied: number;
  copiedBytes: number;
  toCopy: number;
}

/**
 * A live object matches the point when its size does and its ETag is the point's, or the
 * pool copy's (S3 gives a copy of a multipart object a new ETag, so an object this restore
 * copied earlier carries the pool's).
 */
function matches(
  live: { size: number; etag: string } | undefined,
  o: LiveObject,
  pool: { etag: string },
): boolean {
  return (
    live !== undefined && live.size === o.size && (live.etag === o.etag || live.etag === pool.etag)
  );
}

/** What a restore would copy: for /restore plan, and the first step of the copy itself. */
export async function planObjectRestore(
  store: Pick<ObjectStore, "listObjects">,
  live: LiveLocation,
  backups: BackupLocation,
  manifest: AsyncIterable<LiveObject> | Iterable<LiveObject>,
  pool?: PoolIndex,
): Promise<{
  total: number;
  present: number;
  toCopy: LiveObject[];
  toCopyBytes: number;
  pool: PoolIndex;
}> {
  const [liveObjects, index] = await Promise.all([
    listLiveObjects(store, live),
    pool === undefined ? readPoolIndex(store, backups) : Promise.resolve(pool),
  ]);
  const liveByKey = new Map(liveObjects.map((o) => [o.key, o]));
  const toCopy: LiveObject[] = [];
  const missing: string[] = [];
  let total = 0;
  let toCopyBytes = 0;
  for await (const o of manifest) {
    total++;
    const pooled = index.get(poolEntry(o.key, o.etag));
    if (pooled === undefined || pooled.size !== o.size) {
      missing.push(o.key);
      continue;
    }
    if (matches(liveByKey.get(o.key), o, pooled)) continue;
    toCopy.push(o);
    toCopyBytes += o.size;
  }
  if (missing.length > 0) {
    throw new CodedError(
      "dump_invalid",
      `${missing.length} object(s) of the point are missing from the backup pool or have a different size (first: ${missing.slice(0, 3).join(", ")}): the point cannot be restored. Nothing was changed.`,
      { details: { missing: missing.length } },
    );
  }
  return { total, present: total - toCopy.length, toCopy, toCopyBytes, pool: index };
}

/**
 * Copies into the live bucket every manifest object that is missing there or different,
 * server-side from the pool, `concurrency` at a time. Deletes nothing: objects the point
 * does not list belong to Pachyderm's own garbage collection. Running it again copies only
 * what still differs.
 */
export async function restoreObjectsFromPool(opts: {
  store: Pick<ObjectStore, "listObjects" | "copyObject">;
  live: LiveLocation;
  backups: BackupLocation;
  manifest: AsyncIterable<LiveObject> | Iterable<LiveObject>;
  /** Copies in flight; 16 by default. */
  concurrency?: number;
  onProgress?: (progress: ObjectRestoreProgress) => void;
  signal?: AbortSignal;
}): Promise<ObjectRestoreProgress> {
  const plan = await planObjectRestore(opts.store, opts.live, opts.backups, opts.manifest);
  const progress: ObjectRestoreProgress = {
    total: plan.total,
    present: plan.present,
    copied: 0,
    copiedBytes: 0,
    toCopy: plan.toCopy.length,
  };
  opts.onProgress?.({ ...progress });
  await mapWithConcurrency(plan.toCopy, opts.concurrency ?? 16, async (o) => {
    if (opts.signal?.aborted)
      throw new CodedError("cancelled", "The object restore was cancelled.");
    const pooled = plan.pool.get(poolEntry(o.key, o.etag));
    await opts.store.copyObject(
      {
        bucket: opts.backups.bucket,
        key: poolKey(opts.backups.prefix, o.key, o.etag),
        ...(pooled === undefined ? {} : { ifMatch: pooled.etag }),
      },
      { bucket: opts.live.bucket, key: `${opts.live.prefix}${o.key}` },
    );
    progress.copied++;
    progress.copiedBytes += o.size;
    opts.onProgress?.({ ...progress });
  });
  return progress;
}
