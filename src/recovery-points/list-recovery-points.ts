import type { DatabasePool } from "../db/database.js";
import type {
  RecoveryPointDetails,
  RecoveryPointIndex,
  RecoveryPointRef,
  RecoveryPointSource,
} from "./recovery-point.js";
import {
  type Cadence,
  cadenceOf,
  type ExpiryState,
  expiryOf,
  expiryState,
  type Retention,
} from "./retention.js";
import { loadVerifications, type StoredVerification } from "./verification-store.js";

export interface ListQuery {
  cadence: "all" | Cadence;
  sinceMs: number | undefined;
  limit: number;
  /** Only points strictly older than this (paging). */
  before: Date | undefined;
}

/**
 * Slack allows 50 blocks per message; each point is one block (so its button sits beside
 * it), and the header and paging take six.
 */
export const MAX_POINTS_PER_MESSAGE = 40;
/** Batch sizes when looking for the newest and oldest complete points beyond those shown. */
const NEWEST_BATCH = 20;
const OLDEST_BATCH = 10;
/** How far the header looks for a complete point before saying there is none among them. */
const COMPLETE_SCAN_LIMIT = 200;

export interface ListedPoint {
  ref: RecoveryPointRef;
  cadence: Cadence;
  /** Undefined when nothing will delete the point (restorebot's backups without `backup.retention`). */
  expiresAt: Date | undefined;
  expiry: ExpiryState;
  /** Undefined when the folder vanished between listing and describing it. */
  details: RecoveryPointDetails | undefined;
  /** Complete and with a dump: the only points offered for restore. */
  restorable: boolean;
  verification: StoredVerification | undefined;
}

export interface RecoveryPointListing {
  target: string;
  location: string;
  /** What to check when there are no points at all (the source's words). */
  emptyHint?: string | undefined;
  /** What deletes the points (the source's `expiresBy`). */
  expiresBy: "system" | "backup";
  now: Date;
  query: ListQuery;
  totalPoints: number;
  counts: Record<Cadence, number>;
  /** Folder names that are not snapshot times. */
  skipped: string[];
  newestComplete: RecoveryPointRef | undefined;
  oldestComplete: RecoveryPointRef | undefined;
  /** How many of the newest/oldest points were searched without finding a complete one. */
  completeScanLimited: boolean;
  /** The newest point of all, complete or not (to say "the newest is incomplete"). */
  newest: RecoveryPointRef | undefined;
  newestIsComplete: boolean;
  points: ListedPoint[];
  /** Points matching the query that are older than those shown. */
  olderCount: number;
  /** More matched than one message can hold. */
  truncatedToMessage: boolean;
  /** Stored verify results could not be read (restorebot's database is down). */
  verificationsUnavailable: boolean;
}

export interface Selection {
  shown: RecoveryPointRef[];
  olderCount: number;
  truncatedToMessage: boolean;
}

/** The points a query asks for, newest first, cut to the limit and to one message. */
export function selectPoints(index: RecoveryPointIndex, query: ListQuery, now: Date): Selection {
  const since = query.sinceMs === undefined ? undefined : now.getTime() - query.sinceMs;
  const matching = index.points.filter(
    (p) =>
      (query.cadence === "all" || cadenceOf(p.time) === query.cadence) &&
      (since === undefined || p.time.getTime() >= since) &&
      (query.before === undefined || p.time.getTime() < query.before.getTime()),
  );
  const count = Math.min(query.limit, MAX_POINTS_PER_MESSAGE);
  const shown = matching.slice(0, count);
  return {
    shown,
    olderCount: matching.length - shown.length,
    truncatedToMessage: query.limit > MAX_POINTS_PER_MESSAGE && matching.length > count,
  };
}

function isRestorable(details: RecoveryPointDetails | undefined): boolean {
  return details?.complete === true && details.dumpSize !== undefined;
}

/**
 * Everything one page of `/recovery-points` shows. S3 cost: one folder listing, then details
 * only for the points shown plus the few needed for the header (newest and oldest complete),
 * asked for in one go so the source can batch them.
 */
export async function listRecoveryPoints(input: {
  source: RecoveryPointSource;
  target: { name: string; retention: Retention };
  query: ListQuery;
  now: Date;
  db: Pick<DatabasePool, "query">;
}): Promise<RecoveryPointListing> {
  const { source, target, query, now } = input;
  const expiresBy = source.expiresBy ?? "system";
  const index = await source.listPoints();
  const selection = selectPoints(index, query, now);
  const all = index.points;

  const details = new Map<string, RecoveryPointDetails>();
  const asked = new Set<string>();
  async function describe(refs: readonly RecoveryPointRef[]): Promise<void> {
    const todo = refs.filter((r) => !asked.has(r.id));
    if (todo.length === 0) return;
    for (const r of todo) asked.add(r.id);
    const found = await source.describePoints(todo, index);
    for (const [id, d] of found) details.set(id, d);
  }

  // Newest first, oldest last: the header's two ends, scanned in batches until complete.
  let newestScanned = Math.min(NEWEST_BATCH, all.length);
  let oldestScanned = Math.min(OLDEST_BATCH, all.length);
  await describe([
    ...selection.shown,
    ...all.slice(0, newestScanned),
    ...all.slice(all.length - oldestScanned),
  ]);
  const restorableAmong = (refs: readonly RecoveryPointRef[]) =>
    refs.find((r) => isRestorable(details.get(r.id)));

  let newestComplete = restorableAmong(all.slice(0, newestScanned));
  while (
    newestComplete === undefined &&
    newestScanned < all.length &&
    newestScanned < COMPLETE_SCAN_LIMIT
  ) {
    const batch = all.slice(newestScanned, newestScanned + NEWEST_BATCH);
    newestScanned += batch.length;
    await describe(batch);
    newestComplete = restorableAmong(batch);
  }
  const oldestFirst = [...all].reverse();
  let oldestComplete = restorableAmong(oldestFirst.slice(0, oldestScanned));
  while (
    oldestComplete === undefined &&
    newestComplete !== undefined &&
    oldestScanned < all.length &&
    oldestScanned < COMPLETE_SCAN_LIMIT
  ) {
    const batch = oldestFirst.slice(oldestScanned, oldestScanned + NEWEST_BATCH);
    oldestScanned += batch.length;
    await describe(batch);
    oldestComplete = restorableAmong(batch);
  }

  // Our own database being down must not hide what can be restored in an incident.
  let verifications = new Map<number, StoredVerification>();
  let verificationsUnavailable = false;
  try {
    verifications = await loadVerifications(
      input.db,
      target.name,
      selection.shown.map((p) => p.time),
    );
  } catch {
    verificationsUnavailable = true;
  }
  const counts: Record<Cadence, number> = { hourly: 0, daily: 0 };
  for (const p of all) counts[cadenceOf(p.time)]++;
  const newest = all[0];
  return {
    target: target.name,
    location: source.location,
    emptyHint: source.emptyHint,
    expiresBy,
    now,
    query,
    totalPoints: all.length,
    counts,
    skipped: index.skipped,
    newestComplete,
    oldestComplete,
    completeScanLimited:
      (newestComplete === undefined && newestScanned < all.length) ||
      (newestComplete !== undefined && oldestComplete === undefined),
    newest,
    newestIsComplete: newest !== undefined && isRestorable(details.get(newest.id)),
    points: selection.shown.map((ref) => {
      const d = details.get(ref.id);
      const expiresAt =
        d?.expiresAt ?? (expiresBy === "system" ? expiryOf(ref.time, target.retention) : undefined);
      return {
        ref,
        cadence: cadenceOf(ref.time),
        expiresAt,
        expiry: expiresAt === undefined ? "kept" : expiryState(expiresAt, now),
        details: d,
        restorable: isRestorable(d),
        verification: verifications.get(ref.time.getTime()),
      };
    }),
    olderCount: selection.olderCount,
    truncatedToMessage: selection.truncatedToMessage,
    verificationsUnavailable,
  };
}
