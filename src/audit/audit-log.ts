import type { Queryable } from "../db/database.js";

export type { Queryable };

/** Every event in a request's life, in an append-only table (shown by `/restore history`). */
export type AuditEventName =
  | "requested"
  | "approved"
  | "approval_revoked"
  | "rejected"
  | "expired"
  | "cancelled"
  | "cancel_requested"
  | "enqueued"
  | "started"
  | "resumed"
  | "phase_started"
  | "phase_succeeded"
  | "phase_failed"
  | "halted"
  | "retry_requested"
  | "rollback_requested"
  | "rolled_back"
  | "abandoned"
  | "finished"
  | "refused"
  | "points_pruned";

export interface AuditEvent {
  requestId: string | null;
  target: string | null;
  /** Slack user ID, or "restorebot" for the system itself. */
  actor: string;
  event: AuditEventName;
  details?: Record<string, unknown>;
}

export interface AuditRecord extends Required<AuditEvent> {
  id: number;
  at: Date;
}

export async function recordAuditEvent(db: Queryable, event: AuditEvent): Promise<void> {
  await db.query(
    "INSERT INTO audit_events (request_id, target, actor, event, details) VALUES ($1, $2, $3, $4, $5)",
    [event.requestId, event.target, event.actor, event.event, JSON.stringify(event.details ?? {})],
  );
}

export async function listAuditEvents(
  db: Queryable,
  filter: { requestId?: string; target?: string; limit?: number },
): Promise<AuditRecord[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.requestId) {
    params.push(filter.requestId);
    where.push(`request_id = $${params.length}`);
  }
  if (filter.target) {
    params.push(filter.target);
    where.push(`target = $${params.length}`);
  }
  params.push(filter.limit ?? 50);
  const { rows } = await db.query<{
    id: string;
    at: Date;
    request_id: string | null;
    target: string | null;
    actor: string;
    event: AuditEventName;
    details: Record<string, unknown>;
  }>(
    `SELECT id, at, request_id, target, actor, event, details FROM audit_events
     ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY at DESC, id DESC LIMIT $${params.length}`,
    params,
  );
  return rows.map((r) => ({
    id: Number(r.id),
    at: r.at,
    requestId: r.request_id,
    target: r.target,
    actor: r.actor,
    event: r.event,
    details: r.details,
  }));
}
