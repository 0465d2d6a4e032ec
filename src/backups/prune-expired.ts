import type { ObjectStore } from "../adapters/s3/object-store.js";
import { recordAuditEvent } from "../audit/audit-log.js";
import type { Target } from "../config/file.js";
import type { Queryable } from "../db/database.js";
import type { KindRegistry } from "../kinds/registry.js";
import type { Logger } from "../logging/logger.js";
import { formatAsOf } from "./as-of.js";
import { listBackupPoints } from "./points.js";
import { applyRetention, type RetentionResult } from "./retention.js";

/**
 * Retention of the points restorebot writes (`backup.retention`), run by the worker after a
 * backup succeeds and on the scheduler's tick. It runs under the target's lock (one operation
 * per target), never while a backup of the target is active (its pre-copied objects are in no
 * manifest yet), and never prunes a point a pending, approved, running or halted restore froze.
 */

/** Requests that hold their frozen point: a restore that may still run. */
const HOLDING_STATES = ["pending", "approved", "running", "halted"];

/** The as-of names of the points restores of `target` froze and may still use. */
export async function frozenPoints(db: Queryable, target: string): Promise<Set<string>> {
  const { rows } = await db.query<{ point_time: Date }>(
    `SELECT point_time FROM restore_requests
      WHERE target = $1 AND operation = 'restore' AND state = ANY($2::text[])`,
    [target, HOLDING_STATES],
  );
  return new Set(rows.map((r) => formatAsOf(r.point_time)));
}

export interface PruneDeps {
  db: Queryable;
  kinds: KindRegistry;
  objectStoreFor: (target: Target) => ObjectStore;
  logger: Logger;
  clock: () => Date;
  /** Takes the target's lock without waiting; undefined when another holds it. */
  tryLock(target: string): Promise<{ release(): Promise<void> } | undefined>;
}

export type PruneOutcome =
  | { outcome: "pruned"; result: RetentionResult }
  | { outcome: "skipped"; why: string };

export async function pruneExpiredPoints(deps: PruneDeps, target: Target): Promise<PruneOutcome> {
  const kind = deps.kinds.of(target);
  const retentionMs = target.backup?.retention;
  if (!kind.runbooks.backup || !kind.backups)
    return { outcome: "skipped", why: `${kind.id} targets have no backups of restorebot's` };
  if (retentionMs === undefined) return { outcome: "skipped", why: "no backup.retention" };
  const lock = await deps.tryLock(target.name);
  if (!lock) return { outcome: "skipped", why: "the target is busy (its lock is held)" };
  try {
    const { rows } = await deps.db.query<{ id: string }>(
      `SELECT id FROM restore_requests
        WHERE target = $1 AND operation = 'backup' AND state = ANY($2::text[])`,
      [target.name, HOLDING_STATES],
    );
    if (rows.length) return { outcome: "skipped", why: `backup ${rows[0]?.id} is active` };
    // Read under the lock: a restore requested from here on freezes a point that is listed
    // again by its own first phase, which refuses a point retention removed.
    const frozen = await frozenPoints(deps.db, target.name);
    const store = deps.objectStoreFor(target);
    const location = kind.backups.location(target);
    const points = await listBackupPoints(store, location, { retentionMs });
    const poolEntriesOf = kind.backups.poolEntriesOf;
    const result = await applyRetention(store, location, points, {
      now: deps.clock(),
      frozen,
      ...(poolEntriesOf
        ? { poolEntriesOf: (point) => poolEntriesOf.call(kind.backups, target, store, point) }
        : {}),
    });
    if (result.pruned.length || (result.pool?.deleted ?? 0) > 0) {
      await recordAuditEvent(deps.db, {
        requestId: null,
        target: target.name,
        actor: "restorebot",
        event: "points_pruned",
        details: { pruned: result.pruned, pool: result.pool ?? null },
      });
      deps.logger.info(
        { target: target.name, pruned: result.pruned, pool: result.pool },
        "pruned expired backup points",
      );
    }
    return { outcome: "pruned", result };
  } finally {
    await lock.release();
  }
}
