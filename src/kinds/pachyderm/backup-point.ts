import type { ObjectStore } from "../../adapters/s3/object-store.js";
import {
  type BackupLocation,
  type CompleteManifest,
  type PointFile,
  writeCompleteManifest,
} from "../../backups/index.js";
import { writeObjectManifest } from "./object-manifest.js";
import {
  copyIntoPool,
  type LiveLocation,
  listLiveObjects,
  type PoolCopyProgress,
  type PoolIndex,
  readPoolIndex,
} from "./object-pool.js";
import { dumpDatabaseToPoint } from "./pg-dump.js";

export interface PachydermDatabase {
  /** "pachyderm" or "dex". */
  name: string;
  dsn: string;
}

export interface PachydermPointFields {
  objectCount: number;
  objectBytes: number;
  databases: string[];
}

/**
 * The part of a backup that runs while pachd and its workers are down: copy what changed
 * since the pre-copy, dump the databases, write the manifest, and only then complete.json.
 * Any failure leaves the point without complete.json: incomplete, never restorable.
 */
export async function writePachydermPoint(opts: {
  store: Pick<ObjectStore, "listObjects" | "copyObject" | "upload" | "put">;
  live: LiveLocation;
  backups: BackupLocation;
  /**
   * The pool as the pre-copy left it; when omitted it is read in the window, alongside the live
   * listing, as the backup runbook's delta phase does.
   */
  pool?: PoolIndex;
  asOf: string;
  target: string;
  databases: readonly PachydermDatabase[];
  restorebotVersion: string;
  pgDump?: string;
  concurrency?: number;
  onDeltaProgress?: (progress: PoolCopyProgress) => void;
  signal?: AbortSignal;
}): Promise<CompleteManifest & PachydermPointFields> {
  // The manifest describes the live bucket at the pause: listed after the scale-down.
  const [objects, pool] = await Promise.all([
    listLiveObjects(opts.store, opts.live),
    opts.pool ?? readPoolIndex(opts.store, opts.backups),
  ]);
  await copyIntoPool({
    store: opts.store,
    live: opts.live,
    backups: opts.backups,
    objects,
    pool,
    mode: "delta",
    ...(opts.concurrency === undefined ? {} : { concurrency: opts.concurrency }),
    ...(opts.onDeltaProgress === undefined ? {} : { onProgress: opts.onDeltaProgress }),
    ...(opts.signal === undefined ? {} : { signal: opts.signal }),
  });
  const files: PointFile[] = [];
  for (const db of opts.databases) {
    files.push(
      await dumpDatabaseToPoint({
        store: opts.store,
        backups: opts.backups,
        asOf: opts.asOf,
        fileName: `${db.name}.sql.gz`,
        database: db.name,
        dsn: db.dsn,
        ...(opts.pgDump === undefined ? {} : { pgDump: opts.pgDump }),
        ...(opts.signal === undefined ? {} : { signal: opts.signal }),
      }),
    );
  }
  files.push(await writeObjectManifest(opts.store, opts.backups, opts.asOf, objects));
  const manifest = {
    format: 1 as const,
    kind: "pachyderm",
    target: opts.target,
    asOf: opts.asOf,
    files,
    restorebotVersion: opts.restorebotVersion,
    objectCount: objects.length,
    objectBytes: objects.reduce((sum, o) => sum + o.size, 0),
    databases: opts.databases.map((d) => d.name),
  };
  await writeCompleteManifest(opts.store, opts.backups, manifest);
  return manifest;
}
