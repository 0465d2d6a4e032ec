import { describe, expect, it } from "vitest";
import {
  type ApprovalDecision,
  type CancelDecision,
  checkRequester,
  countApprovals,
  decideApproval,
  decideCancel,
  decideRejection,
  expiresAt,
  type GroupMembers,
  isExpired,
  membership,
  type RefusalCode,
  type RequestFacts,
} from "../../src/approvals/policy.js";
import type { ApprovalRecord } from "../../src/approvals/request-store.js";
import { type Policy, parseConfig } from "../../src/config/file.js";

const NOW = new Date("2024-08-12T17:12:00Z");
const LATER = new Date("2024-08-12T17:42:00Z");

function policy(overrides: Partial<Policy> = {}): Policy {
  return {
    requesters: ["*"],
    approvers: ["UAPP1", "UAPP2", "UAPP3"],
    requiredApprovals: 1,
    requestTtl: 30 * 60_000,
    backupApprovals: 0,
    ...overrides,
  };
}

function request(overrides: Partial<RequestFacts> = {}): RequestFacts {
  return {
    id: "rb-abcd1234",
    target: "prod",
    requester: "UREQ1",
    state: "pending",
    expiresAt: LATER,
    requiredApprovals: 1,
    cancelRequested: false,
    ...overrides,
  };
}

function approvals(
  ...rows: Array<[string, "approve" | "reject"]>
): Pick<ApprovalRecord, "approver" | "decision">[] {
  return rows.map(([approver, decision]) => ({ approver, decision }));
}

const GROUPS: GroupMembers = { SONCALL: ["UGRP1", "UGRP2"], SEMPTY: [] };

function outcome(
  d: ApprovalDecision | CancelDecision | { ok: true } | { ok: false; code: RefusalCode },
) {
  if (!d.ok) return d.code;
  return "action" in d ? d.action : "ok";
}

describe("membership", () => {
  it.each([
    { who: "U1", list: ["*"], groups: {}, listed: true, unresolved: [] },
    { who: "U1", list: ["U1"], groups: {}, listed: true, unresolved: [] },
    { who: "U1", list: ["U2"], groups: {}, listed: false, unresolved: [] },
    { who: "UGRP1", list: ["SONCALL"], groups: GROUPS, listed: true, unresolved: [] },
    { who: "U1", list: ["SONCALL"], groups: GROUPS, listed: false, unresolved: [] },
    { who: "U1", list: ["SUNKNOWN"], groups: {}, listed: false, unresolved: ["SUNKNOWN"] },
    // A direct listing wins even when a group could not be resolved.
    { who: "U1", list: ["SUNKNOWN", "U1"], groups: {}, listed: true, unresolved: [] },
  ])("$who in $list → listed=$listed", ({ who, list, groups, listed, unresolved }) => {
    expect(membership(who, list, groups)).toEqual({ listed, unresolved });
  });
});

describe("checkRequester", () => {
  it.each<{
    name: string;
    policy: Policy;
    channels?: string[];
    user?: string;
    channel?: string;
    groups?: GroupMembers;
    expected: RefusalCode | "ok";
  }>([
    { name: "anyone may request with requesters *", policy: policy(), expected: "ok" },
    {
      name: "a listed requester",
      policy: policy({ requesters: ["UREQ1"] }),
      expected: "ok",
    },
    {
      name: "an unlisted requester",
      policy: policy({ requesters: ["UOTHER"] }),
      expected: "not_a_requester",
    },
    {
      name: "a requester through a user group",
      policy: policy({ requesters: ["SONCALL"] }),
      user: "UGRP2",
      groups: GROUPS,
      expected: "ok",
    },
    {
      name: "not a member of the requesters' group",
      policy: policy({ requesters: ["SONCALL"] }),
      groups: GROUPS,
      expected: "not_a_requester",
    },
    {
      name: "a group Slack could not list fails closed",
      policy: policy({ requesters: ["SONCALL"] }),
      groups: {},
      expected: "group_lookup_failed",
    },
    {
      name: "a channel outside slack.channels",
      policy: policy(),
      channels: ["CRESTORES"],
      channel: "CRANDOM",
      expected: "channel_not_allowed",
    },
    {
      name: "a channel inside slack.channels",
      policy: policy(),
      channels: ["CRESTORES"],
      channel: "CRESTORES",
      expected: "ok",
    },
    {
      name: "the only approver cannot request (no second person could approve)",
      policy: policy({ approvers: ["UREQ1"] }),
      expected: "unapprovable",
    },
    {
      name: "two approvals required but only one other approver listed",
      policy: policy({ approvers: ["UREQ1", "UAPP1"], requiredApprovals: 2 }),
      expected: "unapprovable",
    },
    {
      name: "two approvals required and two others listed",
      policy: policy({ approvers: ["UREQ1", "UAPP1", "UAPP2"], requiredApprovals: 2 }),
      expected: "ok",
    },
    {
      name: "approvers through a group are not counted up front",
      policy: policy({ approvers: ["SONCALL"], requiredApprovals: 3 }),
      expected: "ok",
    },
  ])("$name → $expected", (row) => {
    const result = checkRequester({
      policy: row.policy,
      channels: row.channels ?? [],
      target: "prod",
      userId: row.user ?? "UREQ1",
      channelId: row.channel ?? "CRESTORES",
      groups: row.groups ?? {},
    });
    expect(outcome(result)).toBe(row.expected);
    if (!result.ok) expect(result.message.length).toBeGreaterThan(20);
  });
});

describe("decideApproval", () => {
  it.each<{
    name: string;
    user: string;
    request?: Partial<RequestFacts>;
    policy?: Policy;
    approvals?: Pick<ApprovalRecord, "approver" | "decision">[];
    groups?: GroupMembers;
    now?: Date;
    expected: RefusalCode | "record" | "already_counted";
    count?: number;
    complete?: boolean;
    revoked?: string[];
  }>([
    { name: "an approver approves", user: "UAPP1", expected: "record", count: 1, complete: true },
    {
      name: "the requester cannot approve their own request",
      user: "UREQ1",
      expected: "self_approval",
    },
    {
      name: "the requester cannot approve even when listed as an approver",
      user: "UREQ1",
      policy: policy({ approvers: ["UREQ1", "UAPP1"] }),
      expected: "self_approval",
    },
    {
      name: "the requester cannot approve with approvers *",
      user: "UREQ1",
      policy: policy({ approvers: ["*"] }),
      expected: "self_approval",
    },
    {
      name: "the requester cannot approve as a member of the approvers' group",
      user: "UGRP1",
      request: { requester: "UGRP1" },
      policy: policy({ approvers: ["SONCALL"] }),
      groups: GROUPS,
      expected: "self_approval",
    },
    { name: "a non-approver is refused", user: "URANDOM", expected: "not_an_approver" },
    {
      name: "anyone else may approve with approvers *",
      user: "URANDOM",
      policy: policy({ approvers: ["*"] }),
      expected: "record",
      count: 1,
      complete: true,
    },
    {
      name: "an approver through a user group",
      user: "UGRP1",
      policy: policy({ approvers: ["SONCALL"] }),
      groups: GROUPS,
      expected: "record",
      count: 1,
      complete: true,
    },
    {
      name: "not in the approvers' group",
      user: "UAPP1",
      policy: policy({ approvers: ["SONCALL"] }),
      groups: GROUPS,
      expected: "not_an_approver",
    },
    {
      name: "a group Slack could not list fails closed",
      user: "UGRP1",
      policy: policy({ approvers: ["SONCALL"] }),
      groups: {},
      expected: "group_lookup_failed",
    },
    {
      name: "first of two required approvals",
      user: "UAPP1",
      request: { requiredApprovals: 2 },
      expected: "record",
      count: 1,
      complete: false,
    },
    {
      name: "second distinct approver completes two required",
      user: "UAPP2",
      request: { requiredApprovals: 2 },
      approvals: approvals(["UAPP1", "approve"]),
      expected: "record",
      count: 2,
      complete: true,
    },
    {
      name: "the same approver twice counts once",
      user: "UAPP1",
      request: { requiredApprovals: 2 },
      approvals: approvals(["UAPP1", "approve"]),
      expected: "already_counted",
      count: 1,
      complete: false,
    },
    {
      name: "an approval row of the requester is never counted",
      user: "UAPP1",
      request: { requiredApprovals: 2 },
      approvals: approvals(["UREQ1", "approve"]),
      expected: "record",
      count: 1,
      complete: false,
    },
    {
      name: "an earlier approver since removed from the config no longer counts",
      user: "UAPP2",
      request: { requiredApprovals: 2 },
      approvals: approvals(["UGONE", "approve"]),
      expected: "record",
      count: 1,
      complete: false,
      revoked: ["UGONE"],
    },
    {
      name: "an earlier approver who left the approvers' group no longer counts",
      user: "UGRP2",
      request: { requiredApprovals: 2 },
      policy: policy({ approvers: ["SONCALL"] }),
      groups: GROUPS,
      approvals: approvals(["ULEFT", "approve"]),
      expected: "record",
      count: 1,
      complete: false,
      revoked: ["ULEFT"],
    },
    {
      name: "an earlier approver still in the approvers' group counts",
      user: "UAPP1",
      request: { requiredApprovals: 2 },
      policy: policy({ approvers: ["UAPP1", "SONCALL"] }),
      groups: GROUPS,
      approvals: approvals(["UGRP1", "approve"]),
      expected: "record",
      count: 2,
      complete: true,
    },
    {
      name: "an earlier approval that cannot be checked now fails closed",
      user: "UAPP1",
      request: { requiredApprovals: 2 },
      policy: policy({ approvers: ["UAPP1", "SONCALL"] }),
      groups: {},
      approvals: approvals(["UGRP1", "approve"]),
      expected: "group_lookup_failed",
    },
    {
      name: "a repeat click still withdraws an approver since removed",
      user: "UAPP1",
      request: { requiredApprovals: 3 },
      approvals: approvals(["UAPP1", "approve"], ["UGONE", "approve"]),
      expected: "already_counted",
      count: 1,
      complete: false,
      revoked: ["UGONE"],
    },
    {
      name: "rejections are not approvals",
      user: "UAPP2",
      request: { requiredApprovals: 2 },
      approvals: approvals(["UAPP3", "reject"]),
      expected: "record",
      count: 1,
      complete: false,
    },
    {
      name: "an approved request cannot be approved again",
      user: "UAPP2",
      request: { state: "approved" },
      expected: "not_pending",
    },
    {
      name: "a rejected request",
      user: "UAPP2",
      request: { state: "rejected" },
      expected: "not_pending",
    },
    {
      name: "a cancelled request",
      user: "UAPP2",
      request: { state: "cancelled" },
      expected: "not_pending",
    },
    {
      name: "an expired request",
      user: "UAPP2",
      request: { state: "expired" },
      expected: "not_pending",
    },
    {
      name: "a running request",
      user: "UAPP2",
      request: { state: "running" },
      expected: "not_pending",
    },
    {
      name: "a pending request past its expiry",
      user: "UAPP1",
      now: LATER,
      expected: "expired",
    },
    {
      name: "a pending request one second before expiry",
      user: "UAPP1",
      now: new Date(LATER.getTime() - 1000),
      expected: "record",
      count: 1,
      complete: true,
    },
  ])("$name → $expected", (row) => {
    const result = decideApproval({
      request: request(row.request),
      approvals: row.approvals ?? [],
      policy: row.policy ?? policy(),
      userId: row.user,
      groups: row.groups ?? {},
      now: row.now ?? NOW,
    });
    expect(outcome(result)).toBe(row.expected);
    if (result.ok) {
      expect(result.count).toBe(row.count);
      expect(result.complete).toBe(row.complete);
      expect(result.revoked).toEqual(row.revoked ?? []);
    } else {
      expect(result.message.length).toBeGreaterThan(20);
    }
  });

  it("explains the two-person rule to a requester who approves", () => {
    const result = decideApproval({
      request: request(),
      approvals: [],
      policy: policy(),
      userId: "UREQ1",
      groups: {},
      now: NOW,
    });
    expect(result).toMatchObject({
      ok: false,
      message: "You requested this restore; a second person must approve it (two-person rule).",
    });
  });

  it("applies each target's own approvers and required approvals", () => {
    const config = parseConfig(`
policy:
  approvers: [UAPP1, UAPP2]
  requiredApprovals: 1
targets:
  - name: prod
    kind: influxdb-clustered
    namespace: influxdb
    appInstance: influxdb
    catalog: { dsnEnv: PROD_CATALOG_DSN }
    snapshots: { bucket: influxdb-prod }
    policy: { requiredApprovals: 2, approvers: [UAPP1, UAPP2, UPRODONLY] }
  - name: staging
    kind: influxdb-clustered
    namespace: influxdb
    appInstance: influxdb
    catalog: { dsnEnv: STAGING_CATALOG_DSN }
    snapshots: { bucket: influxdb-staging }
`);
    const [prod, staging] = config.targets;
    if (!prod || !staging) throw new Error("targets missing");
    const decide = (t: typeof prod, user: string) =>
      decideApproval({
        request: request({ target: t.name, requiredApprovals: t.policy.requiredApprovals }),
        approvals: [],
        policy: t.policy,
        userId: user,
        groups: {},
        now: NOW,
      });
    expect(decide(prod, "UAPP1")).toMatchObject({ ok: true, complete: false, required: 2 });
    expect(decide(staging, "UAPP1")).toMatchObject({ ok: true, complete: true, required: 1 });
    expect(decide(prod, "UPRODONLY")).toMatchObject({ ok: true });
    expect(decide(staging, "UPRODONLY")).toMatchObject({ ok: false, code: "not_an_approver" });
  });
});

describe("decideRejection", () => {
  it.each<{
    name: string;
    user: string;
    request?: Partial<RequestFacts>;
    policy?: Policy;
    groups?: GroupMembers;
    now?: Date;
    expected: RefusalCode | "ok";
  }>([
    { name: "an approver rejects", user: "UAPP3", expected: "ok" },
    {
      name: "an approver who approved earlier may still reject",
      user: "UAPP1",
      request: { requiredApprovals: 2 },
      expected: "ok",
    },
    {
      name: "a group member rejects",
      user: "UGRP2",
      policy: policy({ approvers: ["SONCALL"] }),
      groups: GROUPS,
      expected: "ok",
    },
    { name: "a non-approver cannot reject", user: "URANDOM", expected: "not_an_approver" },
    {
      name: "the requester withdraws with cancel instead",
      user: "UREQ1",
      expected: "self_rejection",
    },
    {
      name: "an approved request",
      user: "UAPP1",
      request: { state: "approved" },
      expected: "not_pending",
    },
    { name: "past expiry", user: "UAPP1", now: LATER, expected: "expired" },
  ])("$name → $expected", (row) => {
    const result = decideRejection({
      request: request(row.request),
      approvals: [],
      policy: row.policy ?? policy(),
      userId: row.user,
      groups: row.groups ?? {},
      now: row.now ?? NOW,
    });
    expect(outcome(result)).toBe(row.expected);
  });
});

describe("decideCancel", () => {
  it.each<{
    name: string;
    user: string;
    request?: Partial<RequestFacts>;
    policy?: Policy;
    groups?: GroupMembers;
    now?: Date;
    expected: RefusalCode | "cancel" | "request_stop" | "already_requested";
  }>([
    { name: "the requester cancels a pending request", user: "UREQ1", expected: "cancel" },
    { name: "an approver cancels a pending request", user: "UAPP2", expected: "cancel" },
    {
      name: "a group approver cancels",
      user: "UGRP1",
      policy: policy({ approvers: ["SONCALL"] }),
      groups: GROUPS,
      expected: "cancel",
    },
    { name: "anyone else may not", user: "URANDOM", expected: "not_allowed_to_cancel" },
    {
      name: "the requester cancels an approved request before it runs",
      user: "UREQ1",
      request: { state: "approved" },
      expected: "cancel",
    },
    {
      name: "a running request is asked to stop",
      user: "UAPP1",
      request: { state: "running" },
      expected: "request_stop",
    },
    {
      name: "a stop already asked for",
      user: "UREQ1",
      request: { state: "running", cancelRequested: true },
      expected: "already_requested",
    },
    {
      name: "a stranger cannot stop a running restore",
      user: "URANDOM",
      request: { state: "running" },
      expected: "not_allowed_to_cancel",
    },
    {
      name: "halted: use the card's buttons",
      user: "UREQ1",
      request: { state: "halted" },
      expected: "halted",
    },
    {
      name: "succeeded",
      user: "UREQ1",
      request: { state: "succeeded" },
      expected: "already_closed",
    },
    { name: "rejected", user: "UREQ1", request: { state: "rejected" }, expected: "already_closed" },
    {
      name: "cancelled",
      user: "UREQ1",
      request: { state: "cancelled" },
      expected: "already_closed",
    },
    { name: "expired", user: "UREQ1", request: { state: "expired" }, expected: "already_closed" },
    { name: "pending past its expiry", user: "UREQ1", now: LATER, expected: "already_closed" },
  ])("$name → $expected", (row) => {
    const result = decideCancel({
      request: request(row.request),
      policy: row.policy ?? policy(),
      userId: row.user,
      groups: row.groups ?? {},
      now: row.now ?? NOW,
    });
    expect(outcome(result)).toBe(row.expected);
  });
});

describe("counting and expiry", () => {
  it.each([
    { rows: approvals(), requester: "UREQ1", count: 0 },
    { rows: approvals(["UAPP1", "approve"]), requester: "UREQ1", count: 1 },
    { rows: approvals(["UAPP1", "approve"], ["UAPP1", "approve"]), requester: "UREQ1", count: 1 },
    { rows: approvals(["UAPP1", "approve"], ["UAPP2", "approve"]), requester: "UREQ1", count: 2 },
    { rows: approvals(["UREQ1", "approve"], ["UAPP2", "approve"]), requester: "UREQ1", count: 1 },
    { rows: approvals(["UAPP1", "reject"], ["UAPP2", "approve"]), requester: "UREQ1", count: 1 },
  ])("counts distinct approvers, never the requester: %#", ({ rows, requester, count }) => {
    expect(countApprovals(rows, requester)).toBe(count);
  });

  it("an unapproved request expires requestTtl after it was made", () => {
    const made = new Date("2024-08-12T17:00:00Z");
    const at = expiresAt(made, { requestTtl: 30 * 60_000 });
    expect(at.toISOString()).toBe("2024-08-12T17:30:00.000Z");
    expect(isExpired({ state: "pending", expiresAt: at }, new Date(at.getTime() - 1))).toBe(false);
    expect(isExpired({ state: "pending", expiresAt: at }, at)).toBe(true);
    // Only pending requests expire: an approved one waits for its run.
    expect(isExpired({ state: "approved", expiresAt: at }, new Date(at.getTime() + 60_000))).toBe(
      false,
    );
  });

  it.each([
    { now: LATER, says: "expired at 17:42 UTC without enough approvals" },
    // Seen the next day, a bare time of day would point at the wrong day.
    {
      now: new Date("2024-08-13T09:00:00Z"),
      says: "expired at 2024-08-12 17:42 UTC without enough approvals",
    },
  ])(
    "says when a request expired, with the date once it is another day: $says",
    ({ now, says }) => {
      const decision = decideApproval({
        request: request(),
        approvals: [],
        policy: policy(),
        userId: "UAPP1",
        groups: GROUPS,
        now,
      });
      expect(decision.ok).toBe(false);
      if (!decision.ok) expect(decision.message).toContain(says);
    },
  );
});
