import type { ObjectStore } from "../adapters/s3/object-store.js";
import {
  type BackupLocation,
  COMPLETE_FILE,
  pointFileKey,
  pointPrefix,
  poolPrefix,
} from "./layout.js";
import type { BackupPoint } from "./points.js";

export type KeepReason = "not expired" | "frozen by a request" | "newest complete point";

export interface RetentionPlan {
  prune: BackupPoint[];
  keep: Array<{ point: BackupPoint; reason: KeepReason }>;
}

/**
 * Which points retention removes: those whose expiry has passed, except a point a pending,
 * approved or running request froze (`frozen`, by as-of name) and the newest complete point
 * (a target is never left with nothing to restore, whatever the retention says).
 */
export function planRetention(
  points: readonly BackupPoint[],
  opts: { now: Date; frozen: ReadonlySet<string> },
): RetentionPlan {
  const newestComplete = points
    .filter((p) => p.complete)
    .reduce<BackupPoint | undefined>(
      (best, p) => (best === undefined || p.asOf > best.asOf ? p : best),
      undefined,
    );
  const plan: RetentionPlan = { prune: [], keep: [] };
  for (const point of points) {
    if (opts.frozen.has(point.asOf)) plan.keep.push({ point, reason: "frozen by a request" });
    else if (point === newestComplete) plan.keep.push({ point, reason: "newest complete point" });
    else if (point.expiresAt === undefined || point.expiresAt.getTime() > opts.now.getTime())
      plan.keep.push({ point, reason: "not expired" });
    else plan.prune.push(point);
  }
  return plan;
}

/**
 * Deletes whole points. complete.json goes first, in its own request, so a prune cut short
 * leaves an incomplete point (never restorable, pruned next time), never a "complete" point
 * with files missing.
 */
export async function deletePoints(
  store: Pick<ObjectStore, "deleteObjects" | "listObjects">,
  location: BackupLocation,
  points: readonly BackupPoint[],
): Promise<{ points: number; files: number }> {
  let files = 0;
  for (const point of points) {
    if (point.files.some((f) => f.name === COMPLETE_FILE)) {
      await store.deleteObjects(location.bucket, [
        pointFileKey(location.prefix, point.asOf, COMPLETE_FILE, location.pointsFolder),
      ]);
      files++;
    }
    // Listed again rather than trusting `point.files`: a file written since is removed too.
    const folder = pointPrefix(location.prefix, point.asOf, location.pointsFolder);
    const rest: string[] = [];
    for await (const o of store.listObjects(location.bucket, folder)) rest.push(o.key);
    if (rest.length > 0) await store.deleteObjects(location.bucket, rest);
    files += rest.length;
  }
  return { points: points.length, files };
}

/**
 * Deletes pool objects (`objects/<key>/<etag>`) that no remaining point lists. `referenced`
 * holds pool entries (`<key>/<etag>`) from every remaining point's manifest; the caller
 * builds it only after the expired points are gone, and must not call this while a backup
 * of the target runs (its pre-copied objects are in no manifest yet) — one operation per
 * target guarantees that.
 */
export async function prunePool(
  store: Pick<ObjectStore, "deleteObjects" | "listObjects">,
  location: BackupLocation,
  referenced: ReadonlySet<string>,
): Promise<{ deleted: number; kept: number; deletedBytes: number }> {
  const root = poolPrefix(location.prefix);
  let batch: string[] = [];
  let deleted = 0;
  let kept = 0;
  let deletedBytes = 0;
  for await (const o of store.listObjects(location.bucket, root)) {
    if (referenced.has(o.key.slice(root.length))) {
      kept++;
      continue;
    }
    batch.push(o.key);
    deletedBytes += o.size;
    if (batch.length === 1000) {
      await store.deleteObjects(location.bucket, batch);
      deleted += batch.length;
      batch = [];
    }
  }
  if (batch.length > 0) {
    await store.deleteObjects(location.bucket, batch);
    deleted += batch.length;
  }
  return { deleted, kept, deletedBytes };
}

export interface RetentionResult {
  pruned: string[];
  kept: Array<{ asOf: string; reason: KeepReason }>;
  pool: { deleted: number; kept: number; deletedBytes: number } | undefined;
}

/**
 * Retention in order: plan, delete the expired points, then prune the pool against the
 * manifests of every point that remains. `poolEntriesOf` reads one point's manifest (kinds
 * without a pool leave it out). When any remaining point's manifest cannot be read, the
 * pool is left alone: nothing is deleted on a guess.
 */
export async function applyRetention(
  store: Pick<ObjectStore, "deleteObjects" | "listObjects">,
  location: BackupLocation,
  points: readonly BackupPoint[],
  opts: {
    now: Date;
    frozen: ReadonlySet<string>;
    poolEntriesOf?: (point: BackupPoint) => AsyncIterable<string>;
  },
): Promise<RetentionResult> {
  const plan = planRetention(points, opts);
  await deletePoints(store, location, plan.prune);
  let pool: RetentionResult["pool"];
  if (opts.poolEntriesOf !== undefined) {
    const referenced = new Set<string>();
    for (const { point } of plan.keep) {
      for await (const entry of opts.poolEntriesOf(point)) referenced.add(entry);
    }
    pool = await prunePool(store, location, referenced);
  }
  return {
    pruned: plan.prune.map((p) => p.asOf),
    kept: plan.keep.map(({ point, reason }) => ({ asOf: point.asOf, reason })),
    pool,
  };
}
