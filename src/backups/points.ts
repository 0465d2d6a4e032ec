import type { ObjectStore } from "../adapters/s3/object-store.js";
import { CodedError } from "../errors.js";
import { parseAsOf } from "./as-of.js";
import { type CompleteManifest, readCompleteManifest } from "./complete-manifest.js";
import { type BackupLocation, COMPLETE_FILE, pointsPrefix } from "./layout.js";

/** One point restorebot wrote, as its folder shows it now. */
export interface BackupPoint {
  asOf: string;
  time: Date;
  /** complete.json is present and valid: the only points a restore may use. */
  complete: boolean;
  manifest: CompleteManifest | undefined;
  /** Why a folder with a complete.json is still not complete (unreadable, wrong format). */
  problem: string | undefined;
  /** Every file stored in the folder, with its size. */
  files: Array<{ name: string; size: number }>;
  totalBytes: number;
  /** When retention will prune it; undefined without a retention. */
  expiresAt: Date | undefined;
}

export interface ListPointsOptions {
  /** The target's `backup.retention`, in milliseconds. */
  retentionMs?: number | undefined;
  /** complete.json files read at once; 8 by default. */
  concurrency?: number;
}

/**
 * Every point under the location, newest first. One paged LIST of `points/` gives each
 * folder's files and sizes; only complete.json is read. Folders whose name is not an as-of
 * are not points and are left out.
 */
export async function listBackupPoints(
  store: Pick<ObjectStore, "listObjects" | "getStream">,
  location: BackupLocation,
  opts: ListPointsOptions = {},
): Promise<BackupPoint[]> {
  const root = pointsPrefix(location.prefix, location.pointsFolder);
  const folders = new Map<string, Array<{ name: string; size: number }>>();
  for await (const o of store.listObjects(location.bucket, root)) {
    const rest = o.key.slice(root.length);
    const slash = rest.indexOf("/");
    if (slash <= 0) continue;
    const asOf = rest.slice(0, slash);
    if (parseAsOf(asOf) === undefined) continue;
    let files = folders.get(asOf);
    if (files === undefined) {
      files = [];
      folders.set(asOf, files);
    }
    files.push({ name: rest.slice(slash + 1), size: o.size });
  }
  const names = [...folders.keys()].sort().reverse();
  const points: BackupPoint[] = [];
  const pending = [...names];
  const read = async (): Promise<void> => {
    for (let asOf = pending.shift(); asOf !== undefined; asOf = pending.shift()) {
      const files = folders.get(asOf) ?? [];
      const time = parseAsOf(asOf) as Date;
      let manifest: CompleteManifest | undefined;
      let problem: string | undefined;
      if (files.some((f) => f.name === COMPLETE_FILE)) {
        try {
          manifest = await readCompleteManifest(store, location, asOf);
        } catch (err) {
          if (!(err instanceof CodedError) || err.code !== "dump_invalid") throw err;
          problem = err.message;
        }
      }
      points.push({
        asOf,
        time,
        complete: manifest !== undefined,
        manifest,
        problem,
        files,
        totalBytes: files.reduce((sum, f) => sum + f.size, 0),
        expiresAt:
          opts.retentionMs === undefined ? undefined : new Date(time.getTime() + opts.retentionMs),
      });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 8) }, read));
  return points.sort((a, b) => (a.asOf < b.asOf ? 1 : a.asOf > b.asOf ? -1 : 0));
}
