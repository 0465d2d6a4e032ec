import type { Queryable } from "../audit/audit-log.js";
import { retryOnConnectionLoss } from "../db/pool.js";

/**
 * The undo log of a run: each step that changes the target records here how to put it back,
 * durably and before it makes the change, so Roll back is derived from what the run did
 * (`undoRecorded` in src/steps) instead of being written per kind.
 *
 * A row is written at most once per key (a resumed step records nothing twice and never replaces
 * the first record, which holds the value from before any change) and is settled once roll back
 * has undone it, or once the run itself put the object back (a scale-up to the recorded count).
 */

/** What undoes one change. JSON-safe: kept in run_compensations.action. */
export type CompensationAction =
  | {
      type: "scale";
      kind: "Deployment" | "StatefulSet" | "ReplicationController";
      name: string;
      replicas: number;
    }
  | {
      type: "patch";
      ref: { group: string; version: string; plural: string; name: string };
      /** The merge patch that puts back what the change replaced (null removes a key it added). */
      patch: Record<string, unknown>;
    }
  | { type: "replaceConfigMap"; name: string; data: Record<string, string> }
  /** Delete a Job the run created (its pods go with it) / a PVC it created. */
  | { type: "deleteJob"; name: string }
  | { type: "deletePvc"; name: string };

export interface CompensationRecord {
  requestId: string;
  /** Unique within the request: `<phase>/<step id>/<object>`. */
  key: string;
  seq: number;
  phase: string;
  /** What the undo does, as people read it: "scale Deployment pachd back to 1". */
  description: string;
  action: CompensationAction;
  recordedAt: Date;
  settledAt: Date | null;
  settledBy: "rollback" | "run" | null;
}

export interface NewCompensation {
  key: string;
  phase: string;
  description: string;
  action: CompensationAction;
}

/** The log of one database; steps reach it through their deps, tests pass the same. */
export interface CompensationLog {
  /** Records the undo unless one with this key exists; resolves once it is durable. */
  record(requestId: string, entry: NewCompensation): Promise<void>;
  /** Every record of the request, in the order recorded. */
  list(requestId: string): Promise<CompensationRecord[]>;
  settle(requestId: string, key: string, by: "rollback" | "run"): Promise<void>;
}

interface Row {
  request_id: string;
  key: string;
  seq: string;
  phase: string;
  description: string;
  action: CompensationAction;
  recorded_at: Date;
  settled_at: Date | null;
  settled_by: "rollback" | "run" | null;
}

export function createCompensationLog(db: Queryable): CompensationLog {
  // Each write is one statement, safe to repeat: retried whole when the connection is lost.
  return {
    async record(requestId, entry) {
      await retryOnConnectionLoss(() =>
        db.query(
          `INSERT INTO run_compensations (request_id, key, phase, description, action)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (request_id, key) DO NOTHING`,
          [requestId, entry.key, entry.phase, entry.description, JSON.stringify(entry.action)],
        ),
      );
    },
    async list(requestId) {
      const { rows } = await retryOnConnectionLoss(() =>
        db.query<Row>(
          `SELECT request_id, key, seq, phase, description, action, recorded_at, settled_at, settled_by
           FROM run_compensations WHERE request_id = $1 ORDER BY seq`,
          [requestId],
        ),
      );
      return rows.map((r) => ({
        requestId: r.request_id,
        key: r.key,
        seq: Number(r.seq),
        phase: r.phase,
        description: r.description,
        action: r.action,
        recordedAt: r.recorded_at,
        settledAt: r.settled_at,
        settledBy: r.settled_by,
      }));
    },
    async settle(requestId, key, by) {
      await retryOnConnectionLoss(() =>
        db.query(
          `UPDATE run_compensations SET settled_at = now(), settled_by = $3
           WHERE request_id = $1 AND key = $2 AND settled_at IS NULL`,
          [requestId, key, by],
        ),
      );
    },
  };
}
