import type pg from "pg";
import { recordAuditEvent } from "../../src/audit/audit-log.js";
import type {
  Facts,
  PhaseRunRecord,
  PhaseRunState,
  RequestState,
  RunMode,
  RunRequest,
} from "./types.js";

/**
 * The runner's reads and writes in restorebot's database: the request's run state and the
 * per-phase checkpoints. PostgreSQL is the source of truth; every state change is a
 * compare-and-set on the current state and is audited in the same transaction.
 */

export type Db = Pick<pg.Pool, "query" | "connect">;
type Queryable = Pick<pg.Pool, "query"> | Pick<pg.PoolClient, "query">;

/** The system's own name in the audit log. */
export const SYSTEM_ACTOR = "restorebot";

interface RequestRow {
  id: string;
  target: string;
  kind: string;
  point_time: Date;
  point_prefix: string;
  dump_key: string;
  dump_etag: string | null;
  dump_size: string | null;
  requester: string;
  reason: string;
  channel_id: string;
  card_ts: string | null;
  state: RequestState;
  approved_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
  cancel_requested: boolean;
  halted_phase: string | null;
  halted_reason: string | null;
  run_mode: RunMode;
}

function toRequest(row: RequestRow): RunRequest {
  return {
    id: row.id,
    target: row.target,
    kind: row.kind,
    pointTime: row.point_time,
    pointPrefix: row.point_prefix,
    dumpKey: row.dump_key,
    dumpEtag: row.dump_etag,
    dumpSize: row.dump_size === null ? null : Number(row.dump_size),
    requester: row.requester,
    reason: row.reason,
    channelId: row.channel_id,
    cardTs: row.card_ts,
    state: row.state,
    approvedAt: row.approved_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    cancelRequested: row.cancel_requested,
    haltedPhase: row.halted_phase,
    haltedReason: row.halted_reason,
    runMode: row.run_mode,
  };
}

const REQUEST_COLUMNS = `id, target, kind, point_time, point_prefix, dump_key, dump_etag, dump_size,
  requester, reason, channel_id, card_ts, state, approved_at, started_at, finished_at,
  cancel_requested, halted_phase, halted_reason, run_mode`;

export async function loadRunRequest(db: Queryable, id: string): Promise<RunRequest | undefined> {
  const { rows } = await db.query<RequestRow>(
    `SELECT ${REQUEST_COLUMNS} FROM restore_requests WHERE id = $1`,
    [id],
  );
  return rows[0] ? toRequest(rows[0]) : undefined;
}

async function inTransaction<T>(db: Db, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await db.connect();
  try {
    await client.query("BEGIN");
    const result = await work(client);
    await client.query("COMMIT");
    return result;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

export interface StateChange {
  from: RequestState | readonly RequestState[];
  to: RequestState;
  /** Column values to set with the state (snake_case column → value). */
  set?: Record<string, unknown>;
  audit?: {
    actor: string;
    event: Parameters<typeof recordAuditEvent>[1]["event"];
    details?: Facts;
  };
}

const SETTABLE_COLUMNS = new Set([
  "started_at",
  "finished_at",
  "halted_phase",
  "halted_reason",
  "cancel_requested",
  "run_mode",
]);

/**
 * Compare-and-set of the request's state: changes nothing and returns undefined when the state
 * is no longer one of `from` (someone else acted first).
 */
export async function changeRequestState(
  db: Db,
  id: string,
  change: StateChange,
): Promise<RunRequest | undefined> {
  const from = Array.isArray(change.from) ? change.from : [change.from];
  const params: unknown[] = [id, change.to, from];
  const sets = ["state = $2", "version = version + 1", "updated_at = now()"];
  for (const [column, value] of Object.entries(change.set ?? {})) {
    if (!SETTABLE_COLUMNS.has(column)) throw new Error(`changeRequestState: cannot set ${column}`);
    params.push(value);
    sets.push(`${column} = $${params.length}`);
  }
  return inTransaction(db, async (client) => {
    const { rows } = await client.query<RequestRow>(
      `UPDATE restore_requests SET ${sets.join(", ")}
       WHERE id = $1 AND state = ANY($3::text[]) RETURNING ${REQUEST_COLUMNS}`,
      params,
    );
    const row = rows[0];
    if (!row) return undefined;
    if (change.audit) {
      await recordAuditEvent(client, {
        requestId: id,
        target: row.target,
        actor: change.audit.actor,
        event: change.audit.event,
        details: change.audit.details ?? {},
      });
    }
    return toRequest(row);
  });
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
  };
}

export async function listPhaseRuns(db: Queryable, requestId: string): Promise<PhaseRunRecord[]> {
  const { rows } = await db.query<PhaseRunRow>(
    `SELECT phase_index, phase, state, attempt, started_at, finished_at, facts, error
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
  return inTransaction(db, async (client) => {
    const { rows } = await client.query<PhaseRunRow>(
      `INSERT INTO phase_runs (request_id, phase_index, phase, state, attempt, started_at)
       VALUES ($1, $2, $3, 'running', 1, now())
       ON CONFLICT (request_id, phase_index) DO UPDATE
         SET state = 'running', attempt = phase_runs.attempt + 1, started_at = now(),
             finished_at = NULL, error = NULL, phase = EXCLUDED.phase
       RETURNING phase_index, phase, state, attempt, started_at, finished_at, facts, error`,
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
  await inTransaction(db, async (client) => {
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
  await inTransaction(db, async (client) => {
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
