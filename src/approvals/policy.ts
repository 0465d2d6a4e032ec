import type { Policy } from "../config/file.js";
import { formatUtc } from "../text/format.js";
import type { ApprovalRecord, RequestState } from "./request-store.js";

/**
 * The approval policy as pure functions: who may request, approve, reject and cancel a
 * restore, and when a request has expired. Slack user groups are resolved by the caller
 * (`usergroups.users.list`, cached) and passed in as `groups`, so every rule here is a plain
 * function of its inputs and is table-tested in test/approvals/policy.test.ts.
 *
 * Identities are Slack user IDs, never names: display names can be changed by their owner.
 */

/** Members of each user group named in the policy; `undefined` when Slack could not be asked. */
export type GroupMembers = Readonly<Record<string, readonly string[] | undefined>>;

export type RefusalCode =
  | "channel_not_allowed"
  | "not_a_requester"
  | "unapprovable"
  | "group_lookup_failed"
  | "self_approval"
  | "self_rejection"
  | "not_an_approver"
  | "not_pending"
  | "expired"
  | "not_allowed_to_cancel"
  | "already_closed"
  | "halted";

export interface Refusal {
  ok: false;
  code: RefusalCode;
  /** Written for the person who clicked or typed: what is wrong and what they can do. */
  message: string;
}

function refuse(code: RefusalCode, message: string): Refusal {
  return { ok: false, code, message };
}

/** How a principal reads in Slack: a mention for users and groups. */
export function describePrincipal(principal: string): string {
  if (principal === "*") return "anyone";
  if (principal.startsWith("S")) return `<!subteam^${principal}>`;
  return `<@${principal}>`;
}

export function describePrincipals(principals: readonly string[]): string {
  return principals.length ? principals.map(describePrincipal).join(", ") : "nobody";
}

/** The user-group IDs a list names, for the caller to resolve before asking the policy. */
export function groupsIn(...lists: ReadonlyArray<readonly string[]>): string[] {
  return [...new Set(lists.flat().filter((p) => p.startsWith("S")))];
}

export interface Membership {
  listed: boolean;
  /** Groups of the list that could not be resolved (only relevant when not listed). */
  unresolved: string[];
}

/** Whether `userId` is named by `principals`: directly, through a user group, or by "*". */
export function membership(
  userId: string,
  principals: readonly string[],
  groups: GroupMembers,
): Membership {
  const unresolved: string[] = [];
  for (const principal of principals) {
    if (principal === "*" || principal === userId) return { listed: true, unresolved: [] };
    if (principal.startsWith("S")) {
      const members = groups[principal];
      if (members === undefined) unresolved.push(principal);
      else if (members.includes(userId)) return { listed: true, unresolved: [] };
    }
  }
  return { listed: false, unresolved };
}

function lookupFailed(unresolved: string[]): Refusal {
  return refuse(
    "group_lookup_failed",
    `I could not check membership of ${describePrincipals(unresolved)} with Slack just now, so I cannot tell whether you may do this. Try again in a minute.`,
  );
}

/** Distinct people who approved, never counting the requester (whatever the table holds). */
export function countApprovals(
  approvals: readonly Pick<ApprovalRecord, "approver" | "decision">[],
  requester: string,
): number {
  return new Set(
    approvals
      .filter((a) => a.decision === "approve" && a.approver !== requester)
      .map((a) => a.approver),
  ).size;
}

export function expiresAt(createdAt: Date, policy: Pick<Policy, "requestTtl">): Date {
  return new Date(createdAt.getTime() + policy.requestTtl);
}

/** An unapproved request expires once `now` reaches `expires_at`. */
export function isExpired(request: { state: RequestState; expiresAt: Date }, now: Date): boolean {
  return request.state === "pending" && now.getTime() >= request.expiresAt.getTime();
}

// ---- making a request ---------------------------------------------------------------------------

export interface RequestCheck {
  policy: Policy;
  /** `slack.channels` of the config: where commands are accepted; empty = anywhere. */
  channels: readonly string[];
  target: string;
  userId: string;
  channelId: string;
  groups: GroupMembers;
}

export function checkRequester(input: RequestCheck): { ok: true } | Refusal {
  const { policy, channels, userId, channelId, groups, target } = input;
  if (channels.length > 0 && !channels.includes(channelId)) {
    return refuse(
      "channel_not_allowed",
      `Restores cannot be requested in this channel. Use ${channels.map((c) => `<#${c}>`).join(", ")}.`,
    );
  }
  const who = membership(userId, policy.requesters, groups);
  if (!who.listed) {
    if (who.unresolved.length) return lookupFailed(who.unresolved);
    return refuse(
      "not_a_requester",
      `You are not allowed to request restores of \`${target}\`. Requesters: ${describePrincipals(policy.requesters)}. Ask one of them to make the request.`,
    );
  }
  // With only individual approvers listed, the count is known now: refuse a request that no
  // one could ever approve instead of letting it sit until it expires.
  const onlyUsers = policy.approvers.every((p) => p !== "*" && !p.startsWith("S"));
  if (onlyUsers) {
    const others = new Set(policy.approvers.filter((p) => p !== userId)).size;
    if (others < policy.requiredApprovals) {
      return refuse(
        "unapprovable",
        `\`${target}\` needs ${policy.requiredApprovals} approval(s) from people other than you, but only ${others} other approver(s) are configured (${describePrincipals(policy.approvers)}). Ask an administrator to fix the policy in restorebot.yaml.`,
      );
    }
  }
  return { ok: true };
}

// ---- approving and rejecting ----------------------------------------------------------------------

/** What the policy needs to know about a request. */
export interface RequestFacts {
  id: string;
  target: string;
  requester: string;
  state: RequestState;
  expiresAt: Date;
  requiredApprovals: number;
  cancelRequested?: boolean;
  closedBy?: string | null;
  /** "restore" when absent. */
  operation?: "restore" | "backup";
}

export interface DecisionInput {
  request: RequestFacts;
  approvals: readonly Pick<ApprovalRecord, "approver" | "decision">[];
  /** The target's current policy: an approver removed from the config can no longer decide. */
  policy: Policy;
  userId: string;
  groups: GroupMembers;
  now: Date;
}

function describeState(request: RequestFacts): string {
  const by =
    request.closedBy && request.closedBy !== "restorebot" ? ` by <@${request.closedBy}>` : "";
  switch (request.state) {
    case "pending":
      return "is waiting for approval";
    case "approved":
      return "is already approved and queued to run";
    case "running":
      return "is already running";
    case "halted":
      return "has already run and is halted";
    case "succeeded":
      return "has already run and succeeded";
    case "rolled_back":
      return "has already run and was rolled back";
    case "abandoned":
      return "has already run and was abandoned";
    case "rejected":
      return `was rejected${by}`;
    case "expired":
      return "expired before it was approved";
    case "cancelled":
      return `was cancelled${by}`;
  }
}

function notPending(request: RequestFacts, what: string): Refusal {
  const again =
    request.state === "rejected" || request.state === "expired" || request.state === "cancelled"
      ? ` To restore anyway, make a new request with \`/restore ${request.target} &lt;point|latest&gt; &lt;reason…&gt;\`.`
      : ` See \`/restore status ${request.id}\`.`;
  return refuse(
    "not_pending",
    `Nothing to ${what}: ${request.id} ${describeState(request)}.${again}`,
  );
}

function expired(request: RequestFacts, now: Date): Refusal {
  return refuse(
    "expired",
    `${request.id} expired at ${formatUtc(request.expiresAt, now)} without enough approvals, so it can no longer be approved or rejected. Ask the requester to make a new request if the restore is still needed.`,
  );
}

export type ApprovalDecision =
  | {
      ok: true;
      /** `record`: a new approval; `already_counted`: this person had approved already. */
      action: "record" | "already_counted";
      /** Distinct approvals once this one is counted. */
      count: number;
      required: number;
      /** The request is approved with this approval (and must be enqueued). */
      complete: boolean;
      /**
       * Earlier approvers the current policy no longer lists (removed from the config, or no
       * longer in the approvers' group): their approvals are not counted and are withdrawn.
       */
      revoked: string[];
    }
  | Refusal;

export function decideApproval(input: DecisionInput): ApprovalDecision {
  const { request, approvals, policy, userId, groups, now } = input;
  if (request.state !== "pending") return notPending(request, "approve");
  if (isExpired(request, now)) return expired(request, now);
  if (userId === request.requester) {
    return refuse(
      "self_approval",
      `You requested this ${request.operation ?? "restore"}; a second person must approve it (two-person rule).`,
    );
  }
  const who = membership(userId, policy.approvers, groups);
  if (!who.listed) {
    if (who.unresolved.length) return lookupFailed(who.unresolved);
    return refuse(
      "not_an_approver",
      `You are not an approver for \`${request.target}\`, so your approval cannot count. Approvers: ${describePrincipals(policy.approvers)}. Ask one of them to review ${request.id}.`,
    );
  }
  // Earlier approvals count only while their approvers are still eligible, so removing someone
  // from the config (or from the approvers' group) withdraws an approval they already gave.
  const already = approvals.some((a) => a.approver === userId && a.decision === "approve");
  const earlier = new Set(
    approvals
      .filter((a) => a.decision === "approve" && a.approver !== request.requester)
      .map((a) => a.approver)
      .filter((a) => a !== userId),
  );
  let others = 0;
  const revoked: string[] = [];
  for (const approver of earlier) {
    const still = membership(approver, policy.approvers, groups);
    if (still.listed) others++;
    else if (still.unresolved.length) return lookupFailed(still.unresolved);
    else revoked.push(approver);
  }
  const count = others + 1;
  return {
    ok: true,
    action: already ? "already_counted" : "record",
    count,
    required: request.requiredApprovals,
    complete: !already && count >= request.requiredApprovals,
    revoked,
  };
}

export type RejectionDecision = { ok: true } | Refusal;

/** Any eligible approver may reject a pending request; the requester withdraws with cancel. */
export function decideRejection(input: DecisionInput): RejectionDecision {
  const { request, policy, userId, groups, now } = input;
  if (request.state !== "pending") return notPending(request, "reject");
  if (isExpired(request, now)) return expired(request, now);
  if (userId === request.requester) {
    return refuse(
      "self_rejection",
      `You made this request, so you cannot reject it; to withdraw it, use \`/restore cancel ${request.id}\`.`,
    );
  }
  const who = membership(userId, policy.approvers, groups);
  if (!who.listed) {
    if (who.unresolved.length) return lookupFailed(who.unresolved);
    return refuse(
      "not_an_approver",
      `Only approvers for \`${request.target}\` can reject a request: ${describePrincipals(policy.approvers)}. If something is wrong with ${request.id}, tell one of them or the requester (<@${request.requester}>).`,
    );
  }
  return { ok: true };
}

// ---- cancelling -----------------------------------------------------------------------------------

export type CancelDecision =
  | {
      ok: true;
      /**
       * `cancel`: pending/approved → cancelled; `request_stop`: running, the runner stops at the
       * next phase boundary; `already_requested`: a stop was asked for already.
       */
      action: "cancel" | "request_stop" | "already_requested";
    }
  | Refusal;

export interface CancelInput {
  request: RequestFacts;
  policy: Policy;
  userId: string;
  groups: GroupMembers;
  now: Date;
}

/** Only the requester or an approver may cancel; before the run starts, or stop a running one. */
export function decideCancel(input: CancelInput): CancelDecision {
  const { request, policy, userId, groups, now } = input;
  const finished = ["succeeded", "rolled_back", "abandoned", "rejected", "expired", "cancelled"];
  if (finished.includes(request.state) || isExpired(request, now)) {
    const state = isExpired(request, now) ? { ...request, state: "expired" as const } : request;
    return refuse("already_closed", `Nothing to cancel: ${request.id} ${describeState(state)}.`);
  }
  if (userId !== request.requester) {
    const who = membership(userId, policy.approvers, groups);
    if (!who.listed) {
      if (who.unresolved.length) return lookupFailed(who.unresolved);
      return refuse(
        "not_allowed_to_cancel",
        `Only the requester (<@${request.requester}>) or an approver for \`${request.target}\` (${describePrincipals(policy.approvers)}) can cancel ${request.id}. Ask one of them.`,
      );
    }
  }
  if (request.state === "halted") {
    return refuse(
      "halted",
      `${request.id} is halted part-way through its runbook, so it cannot simply be cancelled: use the buttons on its card to retry the phase, roll back (scale up to the recorded counts and unpause) or abandon.`,
    );
  }
  if (request.state === "running")
    return { ok: true, action: request.cancelRequested ? "already_requested" : "request_stop" };
  return { ok: true, action: "cancel" };
}
