import { type Queryable, recordAuditEvent } from "../audit/audit-log.js";
import type { DatabasePool, TransactionClient } from "../db/database.js";
import { withTransaction as inTransaction, retryOnConnectionLoss } from "../db/pool.js";
import { SYSTEM_ACTOR } from "../requests/lifecycle.js";
import type { Facts, PhaseRunRecord, PhaseRunState, RunRequest } from "./types.js";

/**
 * The runner's reads and writes in restorebot's database: the per-phase checkpoints and the
 * replica counts. The request's state changes through the request lifecycle
 * (src/requests/lifecycle.ts), never here.
 */

export type Db = Pick<DatabasePool, "query" | "connect">;

/**
 * A checkpoint transaction, retried whole when the connection to restorebot's database is lost
 * (a failover, a restart): the lost attempt was rolled back by the server, and every
 * transaction here is safe to repeat. Only the target's answers may fail a phase, never this.
 */
function withTransaction<T>(db: Db, work: (client: TransactionClient) => Promise<T>): Promise<T> {
  return retryOnConnectionLoss(() => inTransaction(db, work));
}

interface PhaseRunRow {
  phase_index: number;
  phase: string;
  state: PhaseRunState;
  attempt: number;
  started_at: Date;
  finished_at: Date | null;
  facts: Facts;
  error: string | null;
  progress: string | null;
  progress_at: Date | null;
}

function toPhaseRun(row: PhaseRunRow): PhaseRunRecord {
  return {
    phaseIndex: row.phase_index,
    phase: row.phase,
    state: row.state,
    attempt: row.attempt,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    facts: row.facts,
    error: row.error,
    progress: row.progress,
    progressAt: row.progress_at,
  };
}

export async function listPhaseRuns(db: Queryable, requestId: string): Promise<PhaseRunRecord[]> {
  const { rows } = await db.query<PhaseRunRow>(
    `SELECT phase_index, phase, state, attempt, started_at, finished_at, facts, error, progress,
            progress_at
     FROM phase_runs WHERE request_id = $1 ORDER BY phase_index`,
    [requestId],
  );
  return rows.map(toPhaseRun);
}

/**
 * Checkpoints the start of a phase (a new attempt when it ran before) and audits it. Facts of
 * an earlier attempt are kept: a phase may read what it recorded before it was interrupted.
 */
export async function beginPhase(
  db: Db,
  request: Pick<RunRequest, "id" | "target">,
  phaseIndex: number,
  phase: string,
): Promise<PhaseRunRecord> {
  return withTransaction(db, async (client) => {
    const { rows } = await client.query<PhaseRunRow>(
      `INSERT INTO phase_runs (request_id, phase_index, phase, state, attempt, started_at)
       VALUES ($1, $2, $3, 'running', 1, now())
       ON CONFLICT (request_id, phase_index) DO UPDATE
         SET state = 'running', attempt = phase_runs.attempt + 1, started_at = now(),
             finished_at = NULL, error = NULL, phase = EXCLUDED.phase,
             progress = NULL, progress_at = NULL
       RETURNING phase_index, phase, state, attempt, started_at, finished_at, facts, error,
                 progress, progress_at`,
      [request.id, phaseIndex, phase],
    );
    const record = toPhaseRun(rows[0] as PhaseRunRow);
    await recordAuditEvent(client, {
      requestId: request.id,
      target: request.target,
      actor: SYSTEM_ACTOR,
      event: "phase_started",
      details: { phase, phaseIndex, attempt: record.attempt },
    });
    return record;
  });
}

/** Checkpoints the outcome of a phase with its facts, and audits it. */
export async function endPhase(
  db: Db,
  request: Pick<RunRequest, "id" | "target">,
  phaseIndex: number,
  outcome: { state: "succeeded" | "failed"; facts: Facts; error?: string; durationMs: number },
): Promise<void> {
  await withTransaction(db, async (client) => {
    const { rows } = await client.query<{ phase: string; attempt: number }>(
      `UPDATE phase_runs SET state = $3, finished_at = now(), facts = $4::jsonb, error = $5
       WHERE request_id = $1 AND phase_index = $2 RETURNING phase, attempt`,
      [request.id, phaseIndex, outcome.state, JSON.stringify(outcome.facts), outcome.error ?? null],
    );
    const row = rows[0];
    await recordAuditEvent(client, {
      requestId: request.id,
      target: request.target,
      actor: SYSTEM_ACTOR,
      event: outcome.state === "succeeded" ? "phase_succeeded" : "phase_failed",
      details: {
        phase: row?.phase,
        phaseIndex,
        attempt: row?.attempt,
        durationMs: outcome.durationMs,
        ...(outcome.error ? { error: outcome.error } : {}),
      },
    });
  });
}

/** Saves facts of a running phase without ending it (so a resumed attempt can read them). */
export async function savePhaseFacts(
  db: Queryable,
  requestId: string,
  phaseIndex: number,
  facts: Facts,
): Promise<void> {
  await db.query(
    "UPDATE phase_runs SET facts = $3::jsonb WHERE request_id = $1 AND phase_index = $2",
    [requestId, phaseIndex, JSON.stringify(facts)],
  );
}

/**
 * Keeps the latest progress line of a running phase for `/restore status`. Only a row still
 * running takes it, so a late write cannot decorate a finished phase.
 */
export async function savePhaseProgress(
  db: Queryable,
  requestId: string,
  phaseIndex: number,
  progress: string,
): Promise<void> {
  await db.query(
    `UPDATE phase_runs SET progress = $3, progress_at = now()
     WHERE request_id = $1 AND phase_index = $2 AND state = 'running'`,
    [requestId, phaseIndex, progress],
  );
}

/** Read at every phase boundary: `/restore cancel` only sets a flag. */
export async function isCancelRequested(db: Queryable, requestId: string): Promise<boolean> {
  const { rows } = await db.query<{ cancel_requested: boolean }>(
    "SELECT cancel_requested FROM restore_requests WHERE id = $1",
    [requestId],
  );
  return rows[0]?.cancel_requested ?? false;
}

/** Who asked to cancel, from the audit log (the request row only keeps a flag). */
export async function cancelRequestedBy(
  db: Queryable,
  requestId: string,
): Promise<string | undefined> {
  const { rows } = await db.query<{ actor: string }>(
    `SELECT actor FROM audit_events WHERE request_id = $1 AND event IN ('cancel_requested', 'cancelled')
     ORDER BY at DESC, id DESC LIMIT 1`,
    [requestId],
  );
  return rows[0]?.actor;
}

// ---- replica records -----------------------------------------------------------------------

export interface ReplicaRecord {
  component: string;
  workloadKind: "Deployment" | "StatefulSet";
  replicas: number;
  recordedAt: Date;
}

export async function listReplicaRecords(
  db: Queryable,
  requestId: string,
): Promise<ReplicaRecord[]> {
  const { rows } = await db.query<{
    component: string;
    workload_kind: "Deployment" | "StatefulSet";
    replicas: number;
    recorded_at: Date;
  }>(
    `SELECT component, workload_kind, replicas, recorded_at FROM replica_records
     WHERE request_id = $1 ORDER BY component`,
    [requestId],
  );
  return rows.map((r) => ({
    component: r.component,
    workloadKind: r.workload_kind,
    replicas: r.replicas,
    recordedAt: r.recorded_at,
  }));
}

/**
 * Records every component's replica count in one transaction, once: rows already present are
 * never overwritten (a resumed run must not replace them with zeros read from a half-scaled
 * cluster). Returns what is recorded after the call.
 */
export async function recordReplicaCounts(
  db: Db,
  requestId: string,
  counts: ReadonlyArray<Omit<ReplicaRecord, "recordedAt">>,
): Promise<ReplicaRecord[]> {
  await withTransaction(db, async (client) => {
    for (const c of counts) {
      await client.query(
        `INSERT INTO replica_records (request_id, component, workload_kind, replicas)
         VALUES ($1, $2, $3, $4) ON CONFLICT (request_id, component) DO NOTHING`,
        [requestId, c.component, c.workloadKind, c.replicas],
      );
    }
  });
  return listReplicaRecords(db, requestId);
}

// ---- the run before this one ---------------------------------------------------------------

/** The latest earlier run of a target that ended without putting the target back. */
export interface RunLeftBehind {
  id: string;
  state: "halted" | "abandoned";
  /** Its phase checkpoints (forward phases and roll back steps). */
  runs: PhaseRunRecord[];
  /** The replica counts it recorded before scaling anything (none when it never got there). */
  replicas: ReplicaRecord[];
}

/**
 * The most recent earlier run on `target` (the latest to have started any phase), when it ended
 * `halted` or `abandoned`: such a run may have left the target scaled down and the operator
 * paused, and its recorded counts are then the last known-good ones. Undefined when the latest
 * earlier run finished (succeeded, rolled back, cancelled) or there was none.
 */
export async function findRunLeftBehind(
  db: Queryable,
  target: string,
  excludeRequestId: string,
): Promise<RunLeftBehind | undefined> {
  const { rows } = await db.query<{ id: string; state: string }>(
    `SELECT r.id, r.state FROM restore_requests r
     WHERE r.target = $1 AND r.id <> $2
       AND EXISTS (SELECT 1 FROM phase_runs p WHERE p.request_id = r.id)
     ORDER BY (SELECT max(p.started_at) FROM phase_runs p WHERE p.request_id = r.id) DESC
     LIMIT 1`,
    [target, excludeRequestId],
  );
  const latest = rows[0];
  if (!latest || (latest.state !== "halted" && latest.state !== "abandoned")) return undefined;
  return {
    id: latest.id,
    state: latest.state,
    runs: await listPhaseRuns(db, latest.id),
    replicas: await listReplicaRecords(db, latest.id),
  };
}
