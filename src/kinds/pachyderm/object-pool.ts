import type { ObjectStore } from "../../adapters/s3/object-store.js";
import {
  type BackupLocation,
  bareEtag,
  poolEntry,
  poolKey,
  poolPrefix,
} from "../../backups/index.js";
import { CodedError } from "../../errors.js";
import { mapWithConcurrency } from "../../recovery-points/concurrency.js";

/** One live object as the manifest records it: key relative to `objectStore.prefix`. */
export interface LiveObject {
  key: string;
  size: number;
  /** Bare (unquoted). */
  etag: string;
}

export interface LiveLocation {
  bucket: string;
  /** "" or ending in "/". */
  prefix: string;
}

/** Every live object under the prefix, in key order (one paged LIST). */
export async function listLiveObjects(
  store: Pick<ObjectStore, "listObjects">,
  live: LiveLocation,
): Promise<LiveObject[]> {
  const out: LiveObject[] = [];
  for await (const o of store.listObjects(live.bucket, live.prefix))
    out.push({ key: o.key.slice(live.prefix.length), size: o.size, etag: bareEtag(o.etag) });
  return out;
}

/** What the pool holds: pool entry (`<key>/<etag>`) → size and the stored copy's ETag. */
export type PoolIndex = Map<string, { size: number; etag: string }>;

export async function readPoolIndex(
  store: Pick<ObjectStore, "listObjects">,
  backups: BackupLocation,
): Promise<PoolIndex> {
  const root = poolPrefix(backups.prefix);
  const index: PoolIndex = new Map();
  for await (const o of store.listObjects(backups.bucket, root))
    index.set(o.key.slice(root.length), { size: o.size, etag: bareEtag(o.etag) });
  return index;
}

export interface PoolCopyProgress {
  copied: number;
  copiedBytes: number;
  skipped: number;
  /** Objects that changed between listing and copying (pre-copy only; the delta takes them). */
  changed: number;
  total: number;
}

export interface PoolCopyOptions {
  store: Pick<ObjectStore, "copyObject">;
  live: LiveLocation;
  backups: BackupLocation;
  objects: readonly LiveObject[];
  /** Updated in place as copies land, so a resumed phase skips what it already copied. */
  pool: PoolIndex;
  /** Copies in flight; 16 by default. */
  concurrency?: number;
  /**
   * "pre-copy": an object that changed since it was listed is left for the delta copy.
   * "delta": it is an error (pachd and its workers are down; nothing should write).
   */
  mode: "pre-copy" | "delta";
  onProgress?: (progress: PoolCopyProgress) => void;
  signal?: AbortSignal;
}

/**
 * Copies live objects into the pool, server-side, each only while it still has the listed
 * ETag (`x-amz-copy-source-if-match`), skipping versions the pool already holds by key and
 * ETag. Safe to run again after a crash: what landed is skipped.
 */
export async function copyIntoPool(opts: PoolCopyOptions): Promise<PoolCopyProgress> {
  const todo = opts.objects.filter((o) => !opts.pool.has(poolEntry(o.key, o.etag)));
  const progress: PoolCopyProgress = {
    copied: 0,
    copiedBytes: 0,
    skipped: opts.objects.length - todo.length,
    changed: 0,
    total: opts.objects.length,
  };
  opts.onProgress?.({ ...progress });
  await mapWithConcurrency(todo, opts.concurrency ?? 16, async (o) => {
    if (opts.signal?.aborted) throw new CodedError("cancelled", "The object copy was cancelled.");
    try {
      const out = await opts.store.copyObject(
        { bucket: opts.live.bucket, key: `${opts.live.prefix}${o.key}`, ifMatch: o.etag },
        { bucket: opts.backups.bucket, key: poolKey(opts.backups.prefix, o.key, o.etag) },
      );
      opts.pool.set(poolEntry(o.key, o.etag), { size: o.size, etag: bareEtag(out.etag) });
      progress.copied++;
      progress.copiedBytes += o.size;
    } catch (err) {
      if (!(err instanceof CodedError) || err.code !== "precondition_failed") throw err;
      if (opts.mode === "delta") {
        throw new CodedError(
          "conflict",
          `s3://${opts.live.bucket}/${opts.live.prefix}${o.key} changed while pachd and its workers were scaled to 0: something else writes to the live bucket. Find and stop that writer, then retry the backup.`,
          { cause: err },
        );
      }
      progress.changed++;
    }
    opts.onProgress?.({ ...progress });
  });
  return progress;
}
