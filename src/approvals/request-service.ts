import type { AppDeps } from "../app-deps.js";
import { type Queryable, recordAuditEvent } from "../audit/audit-log.js";
import { findTarget, type Target } from "../config/file.js";
import { withTransaction } from "../db/pool.js";
import { CodedError } from "../errors.js";
import type { JsonValue } from "../kinds/kind.js";
import { enqueueRun, SYSTEM_ACTOR, transition } from "../requests/lifecycle.js";
import { listPhaseRuns } from "../runbook/run-store.js";
import type { PointRef } from "../slack/commands/recovery-point-time.js";
import type { WebClient } from "../slack/slack-api.js";
import { formatDuration, formatUtc } from "../text/format.js";
import { busyWith } from "./backup-requests.js";
import { buildRequestCard } from "./card.js";
import { describeStopEffect, notifyRequester } from "./notices.js";
import {
  checkRequester,
  countApprovals,
  decideApproval,
  decideCancel,
  decideRejection,
  describePrincipals,
  expiresAt,
  type GroupMembers,
  groupsIn,
  isExpired,
  type Refusal,
} from "./policy.js";
import {
  findActiveRequest,
  getRequest,
  insertRequest,
  listApprovals,
  listExpiredPending,
  type RestoreRequest,
  recordDecision,
  revokeApprovals,
} from "./request-store.js";

/**
 * The approval flow: make a request, approve, reject, cancel, expire, enqueue. Each operation
 * decides with the pure policy, changes state by compare-and-set inside a transaction that also
 * writes the audit event, and only then talks to Slack and Redis — so a failed Slack call or a
 * Redis outage never leaves the database half-decided, and the reconciler finishes the enqueue.
 */

/** The Slack client a handler receives (Bolt's `client`) or the app's for background loops. */
export type SlackClient = Pick<WebClient, "chat" | "usergroups">;

export interface FlowContext {
  deps: AppDeps;
  client: SlackClient;
}

/** What the person who acted is told (ephemerally); `ok` says whether anything changed. */
export interface Outcome {
  ok: boolean;
  message: string;
  request?: RestoreRequest;
}

const SYSTEM = SYSTEM_ACTOR;

function refused(message: string, request?: RestoreRequest): Outcome {
  return { ok: false, message, ...(request ? { request } : {}) };
}

async function resolveGroups(ctx: FlowContext, ...lists: string[][]): Promise<GroupMembers> {
  const ids = groupsIn(...lists);
  if (ids.length === 0) return {};
  return ctx.deps.approvals.groups.resolve(ctx.client, ids);
}

/** Policy violations are worth an audit line (who tried what); races and typos are not. */
async function auditRefusal(
  db: Queryable,
  request: Pick<RestoreRequest, "id" | "target"> | undefined,
  target: string | undefined,
  actor: string,
  action: string,
  refusal: Refusal,
): Promise<void> {
  const audited = [
    "self_approval",
    "self_rejection",
    "not_an_approver",
    "not_a_requester",
    "not_allowed_to_cancel",
  ];
  if (!audited.includes(refusal.code)) return;
  await recordAuditEvent(db, {
    requestId: request?.id ?? null,
    target: request?.target ?? target ?? null,
    actor,
    event: "refused",
    details: { action, code: refusal.code },
  });
}

function targetGone(request: RestoreRequest): Outcome {
  return refused(
    `\`${request.target}\` is no longer in restorebot's configuration, so ${request.id} cannot be decided. Ask an administrator.`,
    request,
  );
}

/** What approving or rejecting starts from, read outside any transaction. */
interface Decidable {
  request: RestoreRequest;
  target: Target;
  /** The target's approver groups, resolved now (a Slack call, kept out of the transaction). */
  groups: GroupMembers;
}

/**
 * Reads a request someone is deciding on: refuses an unknown id, expires it first when its
 * time is up, and refuses a target no longer configured (whose policy is gone).
 */
async function loadDecidable(
  ctx: FlowContext,
  requestId: string,
): Promise<{ refusal: Outcome } | ({ refusal?: undefined } & Decidable)> {
  const request = await getRequest(ctx.deps.db, requestId);
  if (!request) return { refusal: unknownRequest(requestId) };
  const expiry = await expireIfDue(ctx, request);
  if (expiry) return { refusal: expiry };
  const target = findTarget(ctx.deps.config, request.target);
  if (!target) return { refusal: targetGone(request) };
  return { request, target, groups: await resolveGroups(ctx, target.policy.approvers) };
}

function busyMessage(target: string, active: RestoreRequest | undefined, now: Date): string {
  // A backup holds the target as a restore does (one operation per target): name it as such.
  if (active?.operation === "backup") return busyWith(target, active, now);
  if (!active)
    return `\`${target}\` already has an active restore request. See \`/restore status\`.`;
  // A halted run cannot be cancelled (decideCancel refuses it): only its card's buttons end it.
  const next =
    active.state === "halted"
      ? "it is halted part-way through its runbook: end it first with the buttons on its card (Retry the phase, Roll back, or Abandon)"
      : `wait for it to finish, or cancel it with \`/restore cancel ${active.id}\``;
  return `\`${target}\` already has an active restore request: \`${active.id}\` (${active.state}, requested by <@${active.requester}> at ${formatUtc(active.createdAt, now)}). Only one restore per target can be requested or run at a time: ${next}.`;
}

// ---- making a request -----------------------------------------------------------------------------

export interface NewRequestInput {
  target: string;
  point: PointRef;
  reason: string;
  /** The kind's restore options, as its `restoreOptions.parse` read them. */
  options?: JsonValue;
  requester: string;
  channelId: string;
}

/**
 * The checks that need no recovery point: the target exists, the person may request it in this
 * channel, and the target is not busy. Also run before the request modal opens.
 */
export async function checkCanRequest(
  ctx: FlowContext,
  input: { target: string; requester: string; channelId: string },
): Promise<{ ok: true; target: Target } | { ok: false; message: string }> {
  const { deps } = ctx;
  const target = findTarget(deps.config, input.target);
  if (!target) {
    return {
      ok: false,
      message: `Unknown target \`${input.target}\`. Known targets: ${deps.config.targets.map((t) => `\`${t.name}\``).join(", ")}.`,
    };
  }
  const policy = target.policy;
  const check = checkRequester({
    policy,
    channels: deps.config.slack.channels,
    target: target.name,
    userId: input.requester,
    channelId: input.channelId,
    groups: await resolveGroups(ctx, policy.requesters),
  });
  if (!check.ok) {
    await auditRefusal(deps.db, undefined, target.name, input.requester, "request", check);
    return { ok: false, message: check.message };
  }
  let busy = await findActiveRequest(deps.db, target.name);
  // A request past its expiry that the sweeper has not reached yet (it runs every 15 s, and
  // not at all while no bot runs) must not hold the target: expire it now, as a click would.
  if (busy && isExpired(busy, deps.clock())) {
    await expireRequest(ctx, busy);
    busy = await findActiveRequest(deps.db, target.name);
  }
  if (busy) return { ok: false, message: busyMessage(target.name, busy, deps.clock()) };
  return { ok: true, target };
}

/**
 * Makes a restore request: policy, busy target, frozen point, the row and its audit event,
 * then the approval card in the channel.
 */
export async function submitRestoreRequest(
  ctx: FlowContext,
  input: NewRequestInput,
): Promise<Outcome> {
  const { deps } = ctx;
  const allowed = await checkCanRequest(ctx, input);
  if (!allowed.ok) return refused(allowed.message);
  const target = allowed.target;
  const policy = target.policy;

  const resolution = await deps.approvals.points.resolve(target, input.point);
  if (!resolution.ok) return refused(resolution.message);
  const point = resolution.point;
  const options = input.options ?? null;
  if (options !== null) {
    const kindOptions = deps.kinds.of(target).restoreOptions;
    if (kindOptions === undefined)
      return refused(
        `\`${target.name}\` takes no restore options; leave them out: \`/restore ${target.name} ${point.id} <reason…>\`.`,
      );
    const problem = kindOptions.check?.(options, point.point, target);
    if (problem !== undefined) return refused(`${problem} Nothing was requested.`);
  }

  const now = deps.clock();
  let request: RestoreRequest;
  try {
    request = await withTransaction(deps.db, async (tx) => {
      const created = await insertRequest(tx, {
        target: target.name,
        kind: target.kind,
        pointTime: point.time,
        point: point.point,
        options,
        requester: input.requester,
        reason: input.reason,
        channelId: input.channelId,
        requiredApprovals: policy.requiredApprovals,
        policy: { ...policy },
        createdAt: now,
        expiresAt: expiresAt(now, policy),
      });
      await recordAuditEvent(tx, {
        requestId: created.id,
        target: created.target,
        actor: input.requester,
        event: "requested",
        details: {
          point: point.id,
          frozen: point.point,
          ...(options === null ? {} : { options }),
          reason: input.reason,
          channel: input.channelId,
          requiredApprovals: policy.requiredApprovals,
          expiresAt: created.expiresAt.toISOString(),
        },
      });
      return created;
    });
  } catch (err) {
    if (err instanceof CodedError && err.code === "conflict") {
      // Another request for the target won the race; the index, not a check, decided.
      const active = await findActiveRequest(deps.db, target.name);
      return refused(busyMessage(target.name, active, deps.clock()));
    }
    throw err;
  }
  deps.metrics.requestsTotal.inc({ target: target.name, event: "requested" });

  const card = buildRequestCard({ kinds: deps.kinds, request, approvals: [], now });
  let cardTs: string | undefined;
  let slackError: string | undefined;
  try {
    const posted = await ctx.client.chat.postMessage({
      channel: input.channelId,
      text: card.text,
      blocks: card.blocks,
    });
    cardTs = posted.ts;
  } catch (err) {
    slackError = (err as { data?: { error?: string } }).data?.error ?? (err as Error).message;
  }
  if (!cardTs) {
    // Without a card nobody can approve it: close it now rather than hold the target until expiry.
    await closeRequest(deps, request, ["pending"], SYSTEM, "the approval card could not be posted");
    return refused(
      `I could not post the approval card in this channel (Slack said: ${slackError ?? "no message ts"}), so the request was withdrawn and nothing will run. Invite me with \`/invite @restorebot\` and try again.`,
    );
  }
  const attached = await transition(deps.db, request.id, "attach_card", {
    actor: SYSTEM,
    patch: { cardTs },
    guard: { cardTs: null },
  });
  const withCard = attached.outcome === "changed" ? attached.request : request;
  // The card was rendered before its ts existed; a click may already have changed the state.
  if (withCard.version !== request.version + 1)
    await deps.approvals.cards.refresh(ctx.client, request.id);

  const approvers = describePrincipals(policy.approvers);
  return {
    ok: true,
    request: withCard,
    message: `Requested \`${request.id}\`: restore \`${target.name}\` to \`${point.id}\` (${describeAge(point.time, now)}). ${policy.requiredApprovals === 1 ? "A second person" : `${policy.requiredApprovals} other people`} must approve it on the card (two-person rule); approvers: ${approvers}. It expires at ${formatUtc(request.expiresAt, now)} (in ${formatDuration(policy.requestTtl)}) unless approved. To withdraw it: \`/restore cancel ${request.id}\`.`,
  };
}

function describeAge(time: Date, now: Date): string {
  return `${formatDuration(now.getTime() - time.getTime())} ago`;
}

/** Cancels a request with who and why (the lifecycle audits it in the same transaction). */
async function closeRequest(
  deps: AppDeps,
  request: RestoreRequest,
  from: RestoreRequest["state"][],
  actor: string,
  reason: string | undefined,
): Promise<RestoreRequest | undefined> {
  const closed = await transition(deps.db, request.id, "cancel", {
    from,
    actor,
    patch: { closedBy: actor, closeReason: reason ?? null, finishedAt: deps.clock() },
    details: reason ? { reason, from: request.state } : { from: request.state },
  });
  return closed.outcome === "changed" ? closed.request : undefined;
}

// ---- approving ------------------------------------------------------------------------------------

export async function approveRequest(
  ctx: FlowContext,
  input: { requestId: string; userId: string },
): Promise<Outcome> {
  const { deps } = ctx;
  const loaded = await loadDecidable(ctx, input.requestId);
  if (loaded.refusal) return loaded.refusal;
  const { target, groups } = loaded;

  type Result =
    | { kind: "refused"; outcome: Outcome; expired?: boolean }
    | {
        kind: "counted";
        request: RestoreRequest;
        count: number;
        required: number;
        complete: boolean;
        already: boolean;
        revoked: string[];
      };

  const now = deps.clock();
  const result = await withTransaction<Result>(deps.db, async (tx) => {
    // The row lock serialises deciders: with two approvals required, two approvers clicking
    // at once each see the other's approval, so the second one completes the request.
    const request = await getRequest(tx, input.requestId, { forUpdate: true });
    if (!request) return { kind: "refused", outcome: unknownRequest(input.requestId) };
    const approvals = await listApprovals(tx, request.id);
    const decision = decideApproval({
      request,
      approvals,
      policy: target.policy,
      userId: input.userId,
      groups,
      now,
    });
    if (!decision.ok) {
      await auditRefusal(tx, request, undefined, input.userId, "approve", decision);
      return {
        kind: "refused",
        outcome: refused(decision.message, request),
        expired: decision.code === "expired",
      };
    }
    const revoked = await revokeApprovals(tx, request.id, decision.revoked);
    for (const approver of revoked) {
      await recordAuditEvent(tx, {
        requestId: request.id,
        target: request.target,
        actor: SYSTEM,
        event: "approval_revoked",
        details: { approver, reason: "no longer an approver under the current policy" },
      });
    }
    if (decision.action === "already_counted") {
      return {
        kind: "counted",
        request,
        count: decision.count,
        required: decision.required,
        complete: false,
        already: true,
        revoked,
      };
    }
    await recordDecision(tx, {
      requestId: request.id,
      approver: input.userId,
      decision: "approve",
      at: now,
    });
    const details = { count: decision.count, required: decision.required };
    let current = request;
    if (decision.complete) {
      // The last approval the policy needs: the state change writes its audit event.
      const approved = await transition(tx, request.id, "approve", {
        actor: input.userId,
        details,
        patch: { approvedAt: now },
        guard: { notExpiredAt: now },
        now,
      });
      // Under the row lock this cannot lose; if it ever did, roll everything back.
      if (approved.outcome === "refused")
        throw new CodedError("conflict", `${request.id} changed while it was being approved`);
      current = approved.request;
    } else {
      await recordAuditEvent(tx, {
        requestId: request.id,
        target: request.target,
        actor: input.userId,
        event: "approved",
        details,
      });
    }
    return {
      kind: "counted",
      request: current,
      count: decision.count,
      required: decision.required,
      complete: decision.complete,
      already: false,
      revoked,
    };
  });

  if (result.kind === "refused") {
    if (result.expired && result.outcome.request) await expireIfDue(ctx, result.outcome.request);
    return result.outcome;
  }
  const { request, count, required } = result;
  const cards = deps.approvals.cards;
  const withdrawn = result.revoked.length
    ? ` The earlier approval of ${describePrincipals(result.revoked)} no longer counts: the approvers for \`${request.target}\` (in the configuration or its user groups) no longer include them.`
    : "";
  if (result.already) {
    if (result.revoked.length) await cards.refresh(ctx.client, request.id);
    return {
      ok: false,
      request,
      message: `You have already approved \`${request.id}\`; an approval counts once per person (${count} of ${required}). It still needs ${required - count} more from another approver.${withdrawn}`,
    };
  }
  if (!result.complete) {
    await cards.refresh(ctx.client, request.id);
    return {
      ok: true,
      request,
      message: `You approved \`${request.id}\` (${count} of ${required}). It needs ${required - count} more approval(s) from other approvers before it runs.${withdrawn}`,
    };
  }
  deps.metrics.requestsTotal.inc({ target: request.target, event: "approved" });
  deps.metrics.timeToApprovalSeconds.observe(
    { target: request.target },
    Math.max(0, (now.getTime() - request.createdAt.getTime()) / 1000),
  );
  const enqueued = (await enqueueRun(deps, request.id)).outcome !== "queue_unreachable";
  await cards.refresh(ctx.client, request.id);
  await notifyRequester(ctx.client, deps.logger, request, "approved", { actor: input.userId, now });
  return {
    ok: true,
    request,
    message: enqueued
      ? `You approved \`${request.id}\` (${count} of ${required}): it is approved and queued to run. Its card narrates each phase.`
      : `You approved \`${request.id}\` (${count} of ${required}): it is approved. The queue is unreachable right now; restorebot keeps trying and the run starts once it is back.`,
  };
}

function unknownRequest(id: string): Outcome {
  return refused(`There is no restore request \`${id}\`. \`/restore history\` lists recent ones.`);
}

// ---- rejecting ------------------------------------------------------------------------------------

/** Whether `userId` may reject now (before asking them for a reason). */
export async function checkCanReject(
  ctx: FlowContext,
  input: { requestId: string; userId: string },
): Promise<Outcome> {
  const { deps } = ctx;
  const loaded = await loadDecidable(ctx, input.requestId);
  if (loaded.refusal) return loaded.refusal;
  const { request, target, groups } = loaded;
  const decision = decideRejection({
    request,
    approvals: [],
    policy: target.policy,
    userId: input.userId,
    groups,
    now: deps.clock(),
  });
  if (!decision.ok) {
    await auditRefusal(deps.db, request, undefined, input.userId, "reject", decision);
    return refused(decision.message, request);
  }
  return { ok: true, message: "", request };
}

export async function rejectRequest(
  ctx: FlowContext,
  input: { requestId: string; userId: string; reason: string },
): Promise<Outcome> {
  const { deps } = ctx;
  const loaded = await loadDecidable(ctx, input.requestId);
  if (loaded.refusal) return loaded.refusal;
  const { target, groups } = loaded;
  const now = deps.clock();
  const result = await withTransaction(deps.db, async (tx) => {
    const request = await getRequest(tx, input.requestId, { forUpdate: true });
    if (!request) return unknownRequest(input.requestId);
    const decision = decideRejection({
      request,
      approvals: [],
      policy: target.policy,
      userId: input.userId,
      groups,
      now,
    });
    if (!decision.ok) {
      await auditRefusal(tx, request, undefined, input.userId, "reject", decision);
      return refused(decision.message, request);
    }
    await recordDecision(tx, {
      requestId: request.id,
      approver: input.userId,
      decision: "reject",
      reason: input.reason,
      at: now,
    });
    const rejected = await transition(tx, request.id, "reject", {
      actor: input.userId,
      details: { reason: input.reason },
      patch: { closedBy: input.userId, closeReason: input.reason, finishedAt: now },
      guard: { notExpiredAt: now },
      now,
    });
    if (rejected.outcome === "refused")
      throw new CodedError("conflict", `${request.id} changed while it was being rejected`);
    return {
      ok: true,
      request: rejected.request,
      message: `You rejected \`${request.id}\`. Nothing will run; <@${request.requester}> has been told why.`,
    };
  });
  if (!result.ok || !result.request) return result;
  deps.metrics.requestsTotal.inc({ target: result.request.target, event: "rejected" });
  await deps.approvals.cards.refresh(ctx.client, result.request.id);
  await notifyRequester(ctx.client, deps.logger, result.request, "rejected", {
    actor: input.userId,
    reason: input.reason,
    now,
  });
  return result;
}

// ---- cancelling -----------------------------------------------------------------------------------

export async function cancelRequest(
  ctx: FlowContext,
  input: { requestId: string; userId: string },
): Promise<Outcome> {
  const { deps } = ctx;
  const request = await getRequest(deps.db, input.requestId);
  if (!request) return unknownRequest(input.requestId);
  const expiry = await expireIfDue(ctx, request);
  if (expiry) return expiry;
  const target = findTarget(deps.config, request.target);
  // A target removed from the config can still be cancelled by its requester.
  const policy = target?.policy ?? deps.config.policy;
  const decision = decideCancel({
    request,
    policy,
    userId: input.userId,
    groups: await resolveGroups(ctx, policy.approvers),
    now: deps.clock(),
  });
  if (!decision.ok) {
    await auditRefusal(deps.db, request, undefined, input.userId, "cancel", decision);
    return refused(decision.message, request);
  }
  if (decision.action === "already_requested") {
    return {
      ok: false,
      request,
      message: `A stop of \`${request.id}\` was already requested${request.cancelRequestedBy ? ` by <@${request.cancelRequestedBy}>` : ""}; it stops at the next phase boundary.`,
    };
  }
  if (decision.action === "request_stop") {
    const asked = await transition(deps.db, request.id, "request_stop", {
      actor: input.userId,
      patch: { cancelRequested: true, cancelRequestedBy: input.userId },
      guard: { cancelRequested: false },
    });
    if (asked.outcome === "refused") return cancelRaced(ctx, input);
    const stopped = asked.request;
    const effect = describeStopEffect(
      deps.kinds,
      stopped,
      await listPhaseRuns(deps.db, request.id),
    );
    if (stopped.cardTs) {
      // The runner owns the card while running; say it in the thread instead of redrawing.
      await ctx.client.chat
        .postMessage({
          channel: stopped.channelId,
          thread_ts: stopped.cardTs,
          text: `:octagonal_sign: <@${input.userId}> asked to stop this restore. It stops at the next phase boundary and says in this thread what state the cluster is left in. ${effect}`,
        })
        .catch((err: unknown) =>
          deps.logger.warn(
            { requestId: request.id, err: String(err) },
            "could not post the stop notice",
          ),
        );
    }
    return {
      ok: true,
      request: stopped,
      message: `Stop requested for \`${request.id}\`: the run stops at the next phase boundary (a phase in progress is never cut short). ${effect} Follow its card's thread.`,
    };
  }
  const cancelled = await closeRequest(
    deps,
    request,
    ["pending", "approved"],
    input.userId,
    undefined,
  );
  if (!cancelled) return cancelRaced(ctx, input);
  deps.metrics.requestsTotal.inc({ target: request.target, event: "cancelled" });
  await deps.approvals.cards.refresh(ctx.client, request.id);
  if (input.userId !== request.requester)
    await notifyRequester(ctx.client, deps.logger, cancelled, "cancelled", {
      actor: input.userId,
      now: deps.clock(),
    });
  return {
    ok: true,
    request: cancelled,
    message: `Cancelled \`${request.id}\`; nothing will run${request.state === "approved" ? " (its queued job finds it cancelled and does nothing)" : ""}.`,
  };
}

/** The state moved under us (approved→running, or a decision landed): decide again once. */
async function cancelRaced(
  ctx: FlowContext,
  input: { requestId: string; userId: string },
): Promise<Outcome> {
  const again = await getRequest(ctx.deps.db, input.requestId);
  if (
    again &&
    (again.state === "running" || again.state === "pending" || again.state === "approved") &&
    !again.cancelRequested
  )
    return cancelRequest(ctx, input);
  return refused(
    again
      ? `\`${input.requestId}\` changed while I was cancelling it: it is now ${again.state}. See \`/restore status ${input.requestId}\`.`
      : `There is no restore request \`${input.requestId}\`.`,
    again,
  );
}

// ---- expiry and reconciliation ----------------------------------------------------------------------

/**
 * Expires a pending request whose time is up (CAS pending → expired, audited), then updates
 * its card and tells the requester. Returns a refusal to show the clicker when it is (now)
 * expired, `undefined` when it is not due.
 */
async function expireIfDue(
  ctx: FlowContext,
  request: RestoreRequest,
): Promise<Outcome | undefined> {
  const now = ctx.deps.clock();
  if (request.state === "expired") {
    return refused(
      `\`${request.id}\` expired at ${formatUtc(request.expiresAt, now)} without enough approvals; it can no longer be approved, rejected or cancelled. If the restore is still needed, ask <@${request.requester}> to make a new request.`,
      request,
    );
  }
  if (!isExpired(request, now)) return undefined;
  await expireRequest(ctx, request);
  const latest = (await getRequest(ctx.deps.db, request.id)) ?? request;
  if (latest.state !== "expired") return undefined;
  return expireIfDue(ctx, latest);
}

/** Expires one request if it is still pending and due; true when this call expired it. */
export async function expireRequest(ctx: FlowContext, request: RestoreRequest): Promise<boolean> {
  const { deps } = ctx;
  const now = deps.clock();
  const expired = await withTransaction(deps.db, async (tx) => {
    // Counted in the transaction of the change, for the audit event and the requester's DM.
    const count = countApprovals(await listApprovals(tx, request.id), request.requester);
    const changed = await transition(tx, request.id, "expire", {
      actor: SYSTEM,
      details: {
        approvals: count,
        required: request.requiredApprovals,
        expiresAt: request.expiresAt.toISOString(),
      },
      patch: { closedBy: SYSTEM, finishedAt: now },
      guard: { expiredAt: now },
      now,
    });
    return changed.outcome === "changed" ? { row: changed.request, count } : undefined;
  });
  if (!expired) return false;
  deps.metrics.requestsTotal.inc({ target: request.target, event: "expired" });
  await deps.approvals.cards.refresh(ctx.client, request.id);
  await notifyRequester(ctx.client, deps.logger, expired.row, "expired", {
    approvals: { count: expired.count, required: request.requiredApprovals },
    now,
  });
  return true;
}

/** One pass of the expiry sweeper: every pending request past its time. */
export async function expireDueRequests(ctx: FlowContext): Promise<number> {
  const due = await listExpiredPending(ctx.deps.db, ctx.deps.clock());
  let expired = 0;
  for (const request of due) if (await expireRequest(ctx, request)) expired++;
  return expired;
}
