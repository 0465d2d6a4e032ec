import type { ObjectStore } from "../../adapters/s3/object-store.js";
import { mapWithConcurrency } from "../../recovery-points/concurrency.js";
import { indexFolders } from "../../recovery-points/folder-names.js";
import type {
  RecoveryPointDetails,
  RecoveryPointIndex,
  RecoveryPointRef,
  RecoveryPointSource,
  VerificationReport,
  VerifyOptions,
} from "../../recovery-points/recovery-point.js";
import { verifyInfluxDbSnapshot } from "./verify-snapshot.js";

/** Where a target's snapshots live (DESIGN.md, "storage layout"). */
export interface SnapshotLocation {
  bucket: string;
  /** `catalog_backup_file_lists/` by default; a missing trailing slash is added. */
  prefix: string;
}

export const DUMP_FILE = "pg_dump.gz";
/** Written last: a snapshot without it is incomplete and must never be restored. */
export const BLOOM_FILE = "bloom.bin.gz";
/**
 * Table file lists sit in `<namespace>-ID<n>/` folders. Listing a run of snapshot folders with
 * this as the delimiter returns each folder's pg_dump.gz and bloom.bin.gz as objects (with
 * sizes) and rolls every namespace's file lists up into one common prefix, so describing
 * twenty points costs one request instead of one per file or two per point.
 */
const NAMESPACE_FOLDER_DELIMITER = "-ID";
const PAGE = 1000;
/** Folders each range page is expected to cover (2 files + namespaces per folder). */
const FOLDERS_PER_PAGE = 25;
/** Entries asked for per wanted folder: its 2 files, its namespaces, and bridged gaps. */
const ENTRIES_PER_FOLDER = 100;
/** Unwanted folders between two wanted ones that are cheaper to list through than to skip. */
const MAX_GAP = 3;

export function normalizePrefix(prefix: string): string {
  return prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`;
}

/** Recovery points of InfluxDB Clustered: catalog snapshots in an S3 bucket. */
export function createInfluxDbS3Source(
  store: ObjectStore,
  location: SnapshotLocation,
): RecoveryPointSource {
  const bucket = location.bucket;
  const prefix = normalizePrefix(location.prefix);
  const folderKey = (id: string): string => `${prefix}${id}/`;

  async function listPoints(): Promise<RecoveryPointIndex> {
    // One request per 1000 snapshots, whatever each snapshot holds: the delimiter rolls
    // every snapshot's files up into its folder.
    const folders: string[] = [];
    let token: string | undefined;
    do {
      const page = await store.listPrefixes(bucket, prefix, "/", {
        maxKeys: PAGE,
        ...(token === undefined ? {} : { continuationToken: token }),
      });
      folders.push(...page.prefixes);
      token = page.nextToken;
    } while (token !== undefined);
    return indexFolders(folders, prefix);
  }

  async function describePoints(
    points: readonly RecoveryPointRef[],
    index: RecoveryPointIndex,
  ): Promise<Map<string, RecoveryPointDetails>> {
    const found = new Map<string, RecoveryPointDetails>();
    if (points.length === 0) return found;
    const wanted = new Set(points.map((p) => folderKey(p.id)));
    const runs = contiguousRuns(
      index.points.map((p) => folderKey(p.id)).sort(compareKeys),
      wanted,
      MAX_GAP,
    );
    await mapWithConcurrency(runs, 4, async (run) => {
      const leftOver = await describeRun(run, found);
      await mapWithConcurrency(leftOver, 8, (folder) => describeFolder(folder, found));
    });
    // Only what was asked for, and only folders that still exist.
    const out = new Map<string, RecoveryPointDetails>();
    for (const p of points) {
      const details = found.get(folderKey(p.id));
      if (details !== undefined) out.set(p.id, details);
    }
    return out;
  }

  /**
   * Lists a run of adjacent folders in key order with the namespace delimiter. Returns the
   * folders it could not cover within its page budget (an unexpected layout with many
   * loose files), which are then listed one by one.
   */
  async function describeRun(
    run: string[],
    found: Map<string, RecoveryPointDetails>,
  ): Promise<string[]> {
    const first = run[0] as string;
    const last = run[run.length - 1] as string;
    let budget = 2 + Math.ceil(run.length / FOLDERS_PER_PAGE);
    let token: string | undefined;
    let reached = "";
    do {
      if (budget-- === 0) return run.filter((f) => compareKeys(f, reached) >= 0);
      const page = await store.listPrefixes(bucket, prefix, NAMESPACE_FOLDER_DELIMITER, {
        // A lone daily should not pull a thousand entries of its neighbours.
        maxKeys: Math.min(PAGE, ENTRIES_PER_FOLDER * run.length),
        // Strictly before every key of the first folder.
        ...(token === undefined
          ? { startAfter: first.slice(0, -1) }
          : { continuationToken: token }),
      });
      for (const object of page.objects) {
        const folder = folderOf(object.key, prefix);
        if (folder === undefined || compareKeys(folder, first) < 0) continue;
        if (compareKeys(folder, last) > 0) return [];
        record(found, folder, object.key.slice(folder.length), object.size, object.etag);
      }
      const lastKey = maxKey(page.prefixes.at(-1), page.objects.at(-1)?.key);
      if (lastKey !== undefined) {
        reached = folderOf(lastKey, prefix) ?? lastKey;
        if (compareKeys(reached, last) > 0) return [];
      }
      token = page.nextToken;
    } while (token !== undefined);
    return [];
  }

  /** One folder on its own: its files as objects, namespace folders rolled up. */
  async function describeFolder(
    folder: string,
    found: Map<string, RecoveryPointDetails>,
  ): Promise<void> {
    let token: string | undefined;
    do {
      const page = await store.listPrefixes(bucket, folder, "/", {
        maxKeys: PAGE,
        ...(token === undefined ? {} : { continuationToken: token }),
      });
      for (const object of page.objects) {
        record(found, folder, object.key.slice(folder.length), object.size, object.etag);
      }
      token = page.nextToken;
    } while (token !== undefined);
  }

  async function verifyPoint(
    point: RecoveryPointRef,
    options: VerifyOptions = {},
  ): Promise<VerificationReport> {
    return verifyInfluxDbSnapshot(store, bucket, folderKey(point.id), options);
  }

  return {
    location: `s3://${bucket}/${prefix}`,
    dataLocation: bucket,
    emptyHint:
      "Check that catalog snapshots are enabled (INFLUXDB_IOX_CREATE_CATALOG_BACKUP_DATA_SNAPSHOT_FILES) and the target's snapshots.bucket and prefix.",
    listPoints,
    describePoints,
    verifyPoint,
  };
}

function record(
  found: Map<string, RecoveryPointDetails>,
  folder: string,
  name: string,
  size: number,
  etag: string,
): void {
  let details = found.get(folder);
  if (details === undefined) {
    details = { complete: false, dumpSize: undefined, dumpEtag: undefined };
    found.set(folder, details);
  }
  if (name === BLOOM_FILE) details.complete = true;
  if (name === DUMP_FILE) {
    details.dumpSize = size;
    details.dumpEtag = etag;
  }
}

/** `<prefix><as-of>/` of a key or rolled-up prefix inside a snapshot folder. */
function folderOf(key: string, prefix: string): string | undefined {
  const slash = key.indexOf("/", prefix.length);
  return slash < 0 ? undefined : key.slice(0, slash + 1);
}

function maxKey(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compareKeys(a, b) >= 0 ? a : b;
}

/**
 * S3 orders keys by UTF-8 bytes; for the ASCII of snapshot folder names, code-unit order is
 * the same, and `localeCompare` would not be.
 */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

/**
 * Splits `sorted` into runs of wanted folders, bridging gaps of at most `maxGap` unwanted
 * ones (listing through them costs less than another request).
 */
export function contiguousRuns(
  sorted: readonly string[],
  wanted: ReadonlySet<string>,
  maxGap: number,
): string[][] {
  const runs: string[][] = [];
  let current: string[] | undefined;
  let gap = 0;
  for (const folder of sorted) {
    if (wanted.has(folder)) {
      if (current === undefined || gap > maxGap) {
        current = [];
        runs.push(current);
      }
      current.push(folder);
      gap = 0;
    } else if (current !== undefined) {
      gap++;
    }
  }
  return runs;
}
