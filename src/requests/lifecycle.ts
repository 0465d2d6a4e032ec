import { setTimeout as sleep } from "node:timers/promises";
import {
  COLUMN,
  fromRow,
  getRequest,
  listRequests,
  type RequestGuard,
  type RequestPatch,
  type RequestRowSql,
  type RequestState,
  type RestoreRequest,
} from "../approvals/request-store.js";
import { recordAuditEvent } from "../audit/audit-log.js";
import {
  type Database,
  isTransactionClient,
  type Queryable,
  type TransactionClient,
} from "../db/database.js";
import { retryOnConnectionLoss, withTransaction } from "../db/pool.js";
import type { Logger } from "../logging/logger.js";
import type { RestoreQueue } from "../queue/restore-queue.js";
import { type RequestEvent, TRANSITIONS } from "./transitions.js";

/**
 * The one place a restore request changes: every change is one guarded compare-and-set UPDATE
 * (`WHERE id AND state = ANY(from) AND version AND guard … RETURNING`) plus its audit event, in
 * one transaction. Double clicks, Slack retries, two approvers, the expiry sweeper, run
 * controls and the runner racing each other produce exactly one `changed`; every other caller
 * gets `refused` with the reason, and says so. This module also owns the one enqueue path
 * (`enqueueRun`) and the reconciler that hands back runs whose job is missing.
 */

/** The system's own name in the audit log. */
export const SYSTEM_ACTOR = "restorebot";

/**
 * Why nothing changed:
 * - `not_found`: no request has that id;
 * - `wrong_state`: the request is in a state the event does not leave from (someone else
 *   acted first, or the event is not allowed there);
 * - `stale_version`: the row changed since the caller read it (`expectVersion`);
 * - `condition`: the state was right but a guard did not hold (already enqueued, a stop
 *   already asked, expiry time not reached or passed, a card already attached).
 */
export type RefusalReason = "not_found" | "wrong_state" | "stale_version" | "condition";

export type TransitionOutcome =
  | { outcome: "changed"; request: RestoreRequest; event: RequestEvent }
  | { outcome: "refused"; reason: RefusalReason; event: RequestEvent; request?: RestoreRequest };

export interface TransitionInput {
  /** Who caused it: a Slack user id, or SYSTEM_ACTOR. */
  actor: string;
  /** The audit event's details. */
  details?: Record<string, unknown>;
  /** Columns set together with the state. */
  patch?: RequestPatch;
  /** Narrows the event's from-states (e.g. withdrawing a request only while it is pending). */
  from?: readonly RequestState[];
  /** Only if the row's `version` is still this (optimistic concurrency on a row read earlier). */
  expectVersion?: number;
  guard?: RequestGuard;
  /** `updated_at`; the database's now() when omitted. */
  now?: Date;
}

/**
 * Applies `event` to request `id`: moves it along the transition table and writes the event's
 * audit row, both or neither. On a pool it runs its own transaction (retried whole when the
 * connection is lost: it is safe to repeat); given a transaction's client it joins that
 * transaction, so a caller's other writes (an approval row) commit with it.
 */
export async function transition(
  db: Database | TransactionClient,
  id: string,
  event: RequestEvent,
  input: TransitionInput,
): Promise<TransitionOutcome> {
  if (isTransactionClient(db)) return transitionIn(db, id, event, input);
  return retryOnConnectionLoss(() =>
    withTransaction(db, (tx) => transitionIn(tx, id, event, input)),
  );
}

async function transitionIn(
  tx: Queryable,
  id: string,
  event: RequestEvent,
  input: TransitionInput,
): Promise<TransitionOutcome> {
  const rule = TRANSITIONS[event];
  const from = input.from ?? rule.from;
  const stray = from.filter((s) => !rule.from.includes(s));
  if (stray.length)
    throw new Error(
      `${event} cannot leave from ${stray.join(", ")} (the transition table says so)`,
    );

  const params: unknown[] = [id, [...from]];
  const set = ["version = version + 1"];
  if (rule.to !== "same") {
    params.push(rule.to);
    set.push(`state = $${params.length}`);
  }
  if (input.now) {
    params.push(input.now);
    set.push(`updated_at = $${params.length}`);
  } else set.push("updated_at = now()");
  for (const [key, value] of Object.entries(input.patch ?? {})) {
    if (value === undefined) continue;
    const column = COLUMN[key as keyof RequestPatch];
    if (!column) throw new Error(`unknown request column ${key}`);
    // jsonb: node-pg would send an array as a PostgreSQL array, so JSON is written as text.
    params.push(key === "point" ? (value === null ? null : JSON.stringify(value)) : value);
    set.push(`${column} = $${params.length}`);
  }
  const where = ["id = $1", "state = ANY($2::text[])"];
  if (input.expectVersion !== undefined) {
    params.push(input.expectVersion);
    where.push(`version = $${params.length}`);
  }
  addGuard(input.guard, params, where);

  const { rows } = await tx.query<RequestRowSql>(
    `UPDATE restore_requests SET ${set.join(", ")} WHERE ${where.join(" AND ")} RETURNING *`,
    params,
  );
  const row = rows[0];
  if (!row) return explainRefusal(tx, id, event, from, input);
  const request = fromRow(row);
  if (rule.audit) {
    await recordAuditEvent(tx, {
      requestId: id,
      target: request.target,
      actor: input.actor,
      event: rule.audit,
      details: input.details ?? {},
    });
  }
  return { outcome: "changed", request, event };
}

function addGuard(guard: RequestGuard | undefined, params: unknown[], where: string[]): void {
  for (const [key, value] of Object.entries(guard ?? {})) {
    if (value === undefined) continue;
    if (key === "expiredAt") {
      params.push(value);
      where.push(`expires_at <= $${params.length}`);
    } else if (key === "notExpiredAt") {
      params.push(value);
      where.push(`expires_at > $${params.length}`);
    } else {
      const column = COLUMN[key as keyof RequestPatch];
      if (!column) throw new Error(`unknown request column ${key}`);
      if (value === null) where.push(`${column} IS NULL`);
      else {
        params.push(value);
        where.push(`${column} = $${params.length}`);
      }
    }
  }
}

/** Reads the row again (in the same transaction) to say which condition failed. */
async function explainRefusal(
  tx: Queryable,
  id: string,
  event: RequestEvent,
  from: readonly RequestState[],
  input: TransitionInput,
): Promise<TransitionOutcome> {
  const request = await getRequest(tx, id);
  if (!request) return { outcome: "refused", reason: "not_found", event };
  const reason: RefusalReason = !from.includes(request.state)
    ? "wrong_state"
    : input.expectVersion !== undefined && request.version !== input.expectVersion
      ? "stale_version"
      : "condition";
  return { outcome: "refused", reason, event, request };
}

// ---- the enqueue path -------------------------------------------------------------------------

/** What enqueueing needs: the database, the queue adapter, a logger and the clock. */
export interface EnqueueDeps {
  db: Database;
  queue: Pick<RestoreQueue, "enqueueRestore">;
  logger: Logger;
  clock: () => Date;
}

export type EnqueueOutcome =
  /** This call added the job. */
  | { outcome: "enqueued" }
  /** The request's job was already on the queue (a retried click, a reconciler pass). */
  | { outcome: "already_queued" }
  /** Redis did not answer; the reconciler tries again. */
  | { outcome: "queue_unreachable"; error: string }
  /** The request is not approved or running (cancelled meanwhile, unknown id): no job. */
  | { outcome: "refused"; reason: "not_found" | "wrong_state"; request?: RestoreRequest };

/** States whose request has work for a worker. */
const RUNNABLE: readonly RequestState[] = ["approved", "running"];
const PREVIOUS_JOB_POLL_MS = 300;

/**
 * The only way a request's run reaches the queue. The job id is the request id, so any number
 * of calls make one job. For an approved request the first enqueue is recorded (`enqueued_at`
 * and the `enqueued` audit event, by compare-and-set, so exactly once), and once more ("again")
 * only when a request enqueued before had lost its job and this call created it anew.
 *
 * A run resumed by Retry phase / Roll back is `running` while its halted job may still be
 * finishing under the same id: `waitForPreviousJob` tries for that long before leaving it to
 * the reconciler.
 */
export async function enqueueRun(
  deps: EnqueueDeps,
  requestId: string,
  options: { by?: string; waitForPreviousJobMs?: number } = {},
): Promise<EnqueueOutcome> {
  const request = await getRequest(deps.db, requestId);
  if (!request) return { outcome: "refused", reason: "not_found" };
  if (!RUNNABLE.includes(request.state))
    return { outcome: "refused", reason: "wrong_state", request };
  // Read before enqueueing: a caller racing the first enqueue may create the job while the
  // other sets enqueued_at, and that is still the first enqueue, audited by whoever marks it.
  const enqueuedBefore = request.enqueuedAt !== null;
  const deadline = Date.now() + (options.waitForPreviousJobMs ?? 0);
  let created: boolean;
  for (;;) {
    try {
      ({ created } = await deps.queue.enqueueRestore({
        requestId: request.id,
        target: request.target,
      }));
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      deps.logger.warn(
        { requestId: request.id, err: error },
        "could not enqueue a restore; the reconciler will retry",
      );
      return { outcome: "queue_unreachable", error };
    }
    if (created || Date.now() >= deadline) break;
    await sleep(PREVIOUS_JOB_POLL_MS);
  }
  if (request.state === "approved") {
    const by = options.by ?? SYSTEM_ACTOR;
    await withTransaction(deps.db, async (tx) => {
      const marked = await transition(tx, request.id, "mark_enqueued", {
        actor: by,
        patch: { enqueuedAt: deps.clock() },
        guard: { enqueuedAt: null },
        details: { jobId: request.id },
      });
      if (marked.outcome === "refused" && created && enqueuedBefore) {
        await recordAuditEvent(tx, {
          requestId: request.id,
          target: request.target,
          actor: by,
          event: "enqueued",
          details: { jobId: request.id, again: true },
        });
      }
    });
  }
  return created ? { outcome: "enqueued" } : { outcome: "already_queued" };
}

// ---- the reconciler ---------------------------------------------------------------------------

/**
 * One pass of the reconciler: requests in `states` whose job may be missing — approved while
 * Redis was down, Retry/Roll back pressed while the halted job was still finishing, or Redis
 * lost its data — are handed to `enqueueRun` again; the job id makes it a no-op otherwise.
 * Returns how many jobs it created.
 */
export async function reconcileJobs(
  deps: EnqueueDeps,
  states: readonly ("approved" | "running")[] = RUNNABLE as ("approved" | "running")[],
): Promise<number> {
  const requests = await listRequests(deps.db, { states, limit: 100 });
  let created = 0;
  for (const request of requests) {
    const result = await enqueueRun(deps, request.id);
    if (result.outcome === "enqueued") {
      created++;
      deps.logger.info(
        { requestId: request.id, state: request.state },
        "restore had no job; enqueued it again",
      );
    }
  }
  return created;
}

export interface Reconciler {
  /** One pass now; passes never overlap (an overlapping call returns 0). */
  runOnce(): Promise<number>;
  stop(): void;
}

/** Runs `reconcileJobs` every `intervalMs` (the worker: running requests whose job is missing). */
export function startReconciler(
  deps: EnqueueDeps,
  options: { intervalMs: number; states?: readonly ("approved" | "running")[] },
): Reconciler {
  let running = false;
  const runOnce = async (): Promise<number> => {
    if (running) return 0;
    running = true;
    try {
      return await reconcileJobs(deps, options.states);
    } catch (err) {
      deps.logger.warn(
        { err: err instanceof Error ? err.message : String(err) },
        "reconciler pass failed; will retry",
      );
      return 0;
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void runOnce(), options.intervalMs);
  timer.unref();
  return { runOnce, stop: () => clearInterval(timer) };
}
