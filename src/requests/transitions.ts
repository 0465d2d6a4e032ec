import type { RequestState } from "../approvals/request-store.js";
import type { AuditEventName } from "../audit/audit-log.js";

/**
 * The request state machine as data: every event that changes a restore request, the states it
 * may leave from, the state it leads to, and the audit event written with it. The lifecycle
 * (`lifecycle.ts`) refuses anything this table does not allow; docs/approvals.md draws it.
 *
 *   pending ──approve──▶ approved ──start──▶ running ──finish──▶ succeeded
 *      │                    │                 │  ▲  └─finish_rollback─▶ rolled_back
 *      │                    │            halt │  │ retry / rollback
 *      │                    │                 ▼  │
 *      │                    │               halted ──abandon──▶ abandoned
 *      │                    └──cancel──▶ cancelled ◀──stop (running, nothing changed yet)
 *      └──reject / expire / cancel──▶ rejected | expired | cancelled
 *
 * Some events keep the state (`to: "same"`) and only change columns: a stop asked of a running
 * run (the runner acts on it at the next phase boundary), the approval card's ts, the enqueue.
 */

export const REQUEST_EVENTS = [
  "approve",
  "reject",
  "expire",
  "cancel",
  "request_stop",
  "start",
  "stop",
  "halt",
  "retry",
  "rollback",
  "abandon",
  "finish",
  "finish_rollback",
  "attach_card",
  "mark_enqueued",
] as const;
export type RequestEvent = (typeof REQUEST_EVENTS)[number];

export interface TransitionRule {
  from: readonly RequestState[];
  /** The state after the event; "same" for events that only change columns. */
  to: RequestState | "same";
  /** Written in the same transaction as the change; null when the event is not audited. */
  audit: AuditEventName | null;
  /** One line for docs and refusals. */
  meaning: string;
}

export const TRANSITIONS: Readonly<Record<RequestEvent, TransitionRule>> = {
  approve: {
    from: ["pending"],
    to: "approved",
    audit: "approved",
    meaning: "the last approval the policy requires lands before expiry",
  },
  reject: {
    from: ["pending"],
    to: "rejected",
    audit: "rejected",
    meaning: "an approver rejects it, with a reason",
  },
  expire: {
    from: ["pending"],
    to: "expired",
    audit: "expired",
    meaning: "its time is up without enough approvals",
  },
  cancel: {
    from: ["pending", "approved"],
    to: "cancelled",
    audit: "cancelled",
    meaning: "the requester or an approver withdraws it before it runs",
  },
  request_stop: {
    from: ["running"],
    to: "same",
    audit: "cancel_requested",
    meaning: "someone asks a running restore to stop at the next phase boundary",
  },
  start: {
    from: ["approved"],
    to: "running",
    audit: "started",
    meaning: "a worker takes the job and starts the runbook",
  },
  stop: {
    from: ["running"],
    to: "cancelled",
    audit: "cancelled",
    meaning: "a stop lands at a phase boundary before anything on the target was changed",
  },
  halt: {
    from: ["running"],
    to: "halted",
    audit: "halted",
    meaning: "a phase failed, or a stop landed after the target was changed",
  },
  retry: {
    from: ["halted"],
    to: "running",
    audit: "retry_requested",
    meaning: "Retry phase: the forward run continues at the phase that halted",
  },
  rollback: {
    from: ["halted"],
    to: "running",
    audit: "rollback_requested",
    meaning: "Roll back: the run undoes what it changed",
  },
  abandon: {
    from: ["halted"],
    to: "abandoned",
    audit: "abandoned",
    meaning: "Abandon: restorebot changes nothing more; people finish by hand",
  },
  finish: {
    from: ["running"],
    to: "succeeded",
    audit: "finished",
    meaning: "the last forward phase succeeded",
  },
  finish_rollback: {
    from: ["running"],
    to: "rolled_back",
    audit: "rolled_back",
    meaning: "the last roll back step succeeded",
  },
  attach_card: {
    from: [
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
    ],
    to: "same",
    audit: null,
    meaning: "the approval card was posted; its ts is kept to redraw it",
  },
  mark_enqueued: {
    from: ["approved", "running", "halted", "succeeded", "rolled_back", "abandoned", "cancelled"],
    to: "same",
    audit: "enqueued",
    meaning: "the approved request's job is on the queue (recorded once)",
  },
};

/** Whether `event` may happen to a request in `state`. */
export function isAllowed(event: RequestEvent, state: RequestState): boolean {
  return TRANSITIONS[event].from.includes(state);
}

/** The events a request in `state` can still take part in. */
export function eventsFrom(state: RequestState): RequestEvent[] {
  return REQUEST_EVENTS.filter((event) => isAllowed(event, state));
}
