import { randomInt } from "node:crypto";
import type { Queryable } from "../audit/audit-log.js";
import { CodedError } from "../errors.js";
import type { JsonValue } from "../kinds/kind.js";

/**
 * Restore requests in PostgreSQL, the source of truth for their state: the row, its reads, and
 * the approvals table. Nothing here changes a request once it exists: every change goes through
 * the request lifecycle (src/requests/lifecycle.ts), which owns the state machine, the
 * compare-and-set and its audit event.
 */

export const REQUEST_STATES = [
  "pending",
  "approved",
  "running",
  "halted",
  "succeeded",
  "rolled_back",
  "abandoned",
  "rejected",
  "expired",
  "cancelled",
] as const;
export type RequestState = (typeof REQUEST_STATES)[number];

/**
 * Which way a started run goes: forward through the runbook's phases, or back through its
 * rollback steps. A person picks it on a halted run and any worker carries it out, so it is
 * kept on the request row.
 */
export type RunMode = "forward" | "rollback";

/**
 * What a request does: restore the target to a frozen point, or take a backup of it (kinds
 * where restorebot takes backups). Both share the lifecycle and the one-active-per-target rule.
 */
export type Operation = "restore" | "backup";

/** States covered by the `restore_requests_one_active_per_target` unique index. */
export const ACTIVE_STATES: readonly RequestState[] = ["pending", "approved", "running", "halted"];
/** States from which nothing more can happen. */
export const FINAL_STATES: readonly RequestState[] = [
  "succeeded",
  "rolled_back",
  "abandoned",
  "rejected",
  "expired",
  "cancelled",
];

export interface RestoreRequest {
  id: string;
  target: string;
  kind: string;
  operation: Operation;
  /**
   * The frozen recovery point: its time, and what the target's kind recorded of it. A backup's
   * `point` is null until the backup has written its point; its `pointTime` is then the time it
   * was requested, and afterwards the point's as-of.
   */
  pointTime: Date;
  point: JsonValue;
  /** The kind's restore options (`Kind.restoreOptions`), as parsed; null when none were given. */
  options: JsonValue | null;
  requester: string;
  reason: string;
  channelId: string;
  /** ts of the approval card in `channelId`, once posted. */
  cardTs: string | null;
  state: RequestState;
  requiredApprovals: number;
  /** The effective policy when the request was made. */
  policy: Record<string, unknown>;
  createdAt: Date;
  expiresAt: Date;
  approvedAt: Date | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  cancelRequested: boolean;
  cancelRequestedBy: string | null;
  haltedPhase: string | null;
  haltedReason: string | null;
  closedBy: string | null;
  closeReason: string | null;
  enqueuedAt: Date | null;
  runMode: RunMode;
  /** Incremented by every change; pass it as `expectVersion` for an optimistic update. */
  version: number;
  updatedAt: Date;
}

/** Columns a lifecycle event may set; `state`, `version` and `updated_at` are managed. */
export type RequestPatch = Partial<
  Pick<
    RestoreRequest,
    | "cardTs"
    | "approvedAt"
    | "startedAt"
    | "finishedAt"
    | "cancelRequested"
    | "cancelRequestedBy"
    | "haltedPhase"
    | "haltedReason"
    | "closedBy"
    | "closeReason"
    | "enqueuedAt"
    | "runMode"
    | "point"
    | "pointTime"
  >
>;

/**
 * Extra conditions of a compare-and-set, ANDed with the state check. A `null` value means
 * "IS NULL" (e.g. `{ enqueuedAt: null }`: only if not yet enqueued).
 */
export type RequestGuard = Partial<
  Pick<RestoreRequest, "cancelRequested" | "cardTs" | "enqueuedAt" | "haltedPhase">
> & {
  /** Only if `expires_at <= expiredAt` (the expiry sweeper). */
  expiredAt?: Date;
  /** Only if `expires_at > notExpiredAt` (an approval that must land before expiry). */
  notExpiredAt?: Date;
};

export const COLUMN: Record<keyof RequestPatch | "cancelRequested" | "cardTs", string> = {
  cardTs: "card_ts",
  approvedAt: "approved_at",
  startedAt: "started_at",
  finishedAt: "finished_at",
  cancelRequested: "cancel_requested",
  cancelRequestedBy: "cancel_requested_by",
  haltedPhase: "halted_phase",
  haltedReason: "halted_reason",
  closedBy: "closed_by",
  closeReason: "close_reason",
  enqueuedAt: "enqueued_at",
  runMode: "run_mode",
  point: "point",
  pointTime: "point_time",
};

/** A restore_requests row as node-pg returns it (the lifecycle's UPDATE reads it back). */
export interface RequestRowSql {
  id: string;
  target: string;
  kind: string;
  operation: Operation;
  point_time: Date;
  point: JsonValue;
  options: JsonValue | null;
  requester: string;
  reason: string;
  channel_id: string;
  card_ts: string | null;
  state: RequestState;
  required_approvals: number;
  policy: Record<string, unknown>;
  created_at: Date;
  expires_at: Date;
  approved_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
  cancel_requested: boolean;
  cancel_requested_by: string | null;
  halted_phase: string | null;
  halted_reason: string | null;
  closed_by: string | null;
  close_reason: string | null;
  enqueued_at: Date | null;
  run_mode: RunMode;
  version: number;
  updated_at: Date;
}

export function fromRow(r: RequestRowSql): RestoreRequest {
  return {
    id: r.id,
    target: r.target,
    kind: r.kind,
    operation: r.operation ?? "restore",
    pointTime: r.point_time,
    point: r.point,
    options: r.options ?? null,
    requester: r.requester,
    reason: r.reason,
    channelId: r.channel_id,
    cardTs: r.card_ts,
    state: r.state,
    requiredApprovals: r.required_approvals,
    policy: r.policy,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    approvedAt: r.approved_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    cancelRequested: r.cancel_requested,
    cancelRequestedBy: r.cancel_requested_by,
    haltedPhase: r.halted_phase,
    haltedReason: r.halted_reason,
    closedBy: r.closed_by,
    closeReason: r.close_reason,
    enqueuedAt: r.enqueued_at,
    runMode: r.run_mode,
    version: r.version,
    updatedAt: r.updated_at,
  };
}

const ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

/** `rb-` + 8 characters of [a-z0-9] (about 41 bits), the form `isRequestId` accepts. */
export function newRequestId(): string {
  let id = "rb-";
  for (let i = 0; i < 8; i++) id += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
  return id;
}

/** What a new request is made from; the rest of the row starts empty or is the database's. */
export type NewRestoreRequest = Pick<
  RestoreRequest,
  | "target"
  | "kind"
  | "pointTime"
  | "point"
  | "requester"
  | "reason"
  | "channelId"
  | "requiredApprovals"
  | "policy"
  | "createdAt"
  | "expiresAt"
> & {
  /** A chosen id; a fresh random one when omitted. */
  id?: string;
  /** The kind's restore options; none when omitted. */
  options?: JsonValue | null;
  /** "restore" when omitted. */
  operation?: Operation;
};

function isUniqueViolation(err: unknown, constraint: string): boolean {
  const e = err as { code?: string; constraint?: string };
  return e?.code === "23505" && e.constraint === constraint;
}

/**
 * Inserts a `pending` request. When the target already has an active request, the partial
 * unique index `restore_requests_one_active_per_target` refuses the row and this throws a
 * `conflict` CodedError whose details carry `activeRequestId`. The insert names that index as
 * its conflict arbiter (`ON CONFLICT … DO NOTHING`), so a concurrent request waits for the
 * other transaction and the caller's transaction stays usable to read the winner's id.
 */
export async function insertRequest(
  db: Queryable,
  input: NewRestoreRequest,
): Promise<RestoreRequest> {
  for (let attempt = 0; ; attempt++) {
    const id = input.id ?? newRequestId();
    let rows: RequestRowSql[];
    try {
      ({ rows } = await db.query<RequestRowSql>(
        `INSERT INTO restore_requests
           (id, target, kind, point_time, point, requester, reason, channel_id, state,
            required_approvals, policy, created_at, expires_at, updated_at, operation, options)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10, $11, $12, $11, $13, $14)
         ON CONFLICT (target) WHERE state IN (${ACTIVE_STATES.map((s) => `'${s}'`).join(", ")})
         DO NOTHING
         RETURNING *`,
        [
          id,
          input.target,
          input.kind,
          input.pointTime,
          input.point === null ? null : JSON.stringify(input.point),
          input.requester,
          input.reason,
          input.channelId,
          input.requiredApprovals,
          JSON.stringify(input.policy),
          input.createdAt,
          input.expiresAt,
          input.operation ?? "restore",
          input.options === undefined || input.options === null
            ? null
            : JSON.stringify(input.options),
        ],
      ));
    } catch (err) {
      // A random id that collides with an old one: draw again (never for a caller-chosen id).
      if (isUniqueViolation(err, "restore_requests_pkey") && input.id === undefined && attempt < 5)
        continue;
      throw err;
    }
    const row = rows[0];
    if (row) return fromRow(row);
    const active = await findActiveRequest(db, input.target);
    throw new CodedError(
      "conflict",
      `${input.target} already has an active ${active?.operation ?? "restore"} request${active ? ` (${active.id})` : ""}`,
      { details: { activeRequestId: active?.id } },
    );
  }
}

export async function getRequest(
  db: Queryable,
  id: string,
  options: { forUpdate?: boolean } = {},
): Promise<RestoreRequest | undefined> {
  const { rows } = await db.query<RequestRowSql>(
    `SELECT * FROM restore_requests WHERE id = $1${options.forUpdate ? " FOR UPDATE" : ""}`,
    [id],
  );
  return rows[0] ? fromRow(rows[0]) : undefined;
}

/** The target's request in pending/approved/running/halted, if any (at most one exists). */
export async function findActiveRequest(
  db: Queryable,
  target: string,
): Promise<RestoreRequest | undefined> {
  const { rows } = await db.query<RequestRowSql>(
    "SELECT * FROM restore_requests WHERE target = $1 AND state = ANY($2::text[])",
    [target, [...ACTIVE_STATES]],
  );
  return rows[0] ? fromRow(rows[0]) : undefined;
}

/** Newest first. */
export async function listRequests(
  db: Queryable,
  filter: {
    target?: string;
    states?: readonly RequestState[];
    operation?: Operation;
    limit: number;
  },
): Promise<RestoreRequest[]> {
  const params: unknown[] = [];
  const where: string[] = [];
  if (filter.operation) {
    params.push(filter.operation);
    where.push(`operation = $${params.length}`);
  }
  if (filter.target) {
    params.push(filter.target);
    where.push(`target = $${params.length}`);
  }
  if (filter.states) {
    params.push([...filter.states]);
    where.push(`state = ANY($${params.length}::text[])`);
  }
  params.push(filter.limit);
  const { rows } = await db.query<RequestRowSql>(
    `SELECT * FROM restore_requests ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
     ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
    params,
  );
  return rows.map(fromRow);
}

/** Pending requests whose time is up at `now` (the expiry sweeper's work list). */
export async function listExpiredPending(
  db: Queryable,
  now: Date,
  limit = 100,
): Promise<RestoreRequest[]> {
  const { rows } = await db.query<RequestRowSql>(
    `SELECT * FROM restore_requests WHERE state = 'pending' AND expires_at <= $1
     ORDER BY expires_at LIMIT $2`,
    [now, limit],
  );
  return rows.map(fromRow);
}

// ---- approvals -------------------------------------------------------------------------------

export type Decision = "approve" | "reject";

export interface ApprovalRecord {
  requestId: string;
  approver: string;
  decision: Decision;
  reason: string | null;
  decidedAt: Date;
}

export async function listApprovals(db: Queryable, requestId: string): Promise<ApprovalRecord[]> {
  const { rows } = await db.query<{
    request_id: string;
    approver: string;
    decision: Decision;
    reason: string | null;
    decided_at: Date;
  }>("SELECT * FROM approvals WHERE request_id = $1 ORDER BY decided_at, approver", [requestId]);
  return rows.map((r) => ({
    requestId: r.request_id,
    approver: r.approver,
    decision: r.decision,
    reason: r.reason,
    decidedAt: r.decided_at,
  }));
}

/**
 * Records one person's decision. The primary key (request, approver) makes a second click
 * count once: an approval that already exists is left alone and `false` is returned. A
 * rejection replaces the person's earlier approval (they changed their mind before the
 * request was approved).
 */
export async function recordDecision(
  db: Queryable,
  decision: { requestId: string; approver: string; decision: Decision; reason?: string; at: Date },
): Promise<boolean> {
  const { rowCount } = await db.query(
    decision.decision === "approve"
      ? `INSERT INTO approvals (request_id, approver, decision, reason, decided_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (request_id, approver) DO NOTHING`
      : `INSERT INTO approvals (request_id, approver, decision, reason, decided_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (request_id, approver) DO UPDATE
           SET decision = EXCLUDED.decision, reason = EXCLUDED.reason, decided_at = EXCLUDED.decided_at`,
    [
      decision.requestId,
      decision.approver,
      decision.decision,
      decision.reason ?? null,
      decision.at,
    ],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * Withdraws the approvals of people the current policy no longer lists, so the table (and the
 * card drawn from it) counts only approvals that still count. Returns whose were withdrawn.
 */
export async function revokeApprovals(
  db: Queryable,
  requestId: string,
  approvers: readonly string[],
): Promise<string[]> {
  if (approvers.length === 0) return [];
  const { rows } = await db.query<{ approver: string }>(
    `DELETE FROM approvals WHERE request_id = $1 AND approver = ANY($2::text[]) AND decision = 'approve'
     RETURNING approver`,
    [requestId, [...approvers]],
  );
  return rows.map((r) => r.approver);
}
