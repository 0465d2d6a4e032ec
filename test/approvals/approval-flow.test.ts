import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ApprovalFixture,
  answerTo,
  approvalRows,
  auditEvents,
  BUCKET,
  buttonsOf,
  CHANNEL,
  cardText,
  click,
  currentCard,
  directMessagesTo,
  INCOMPLETE_ID,
  jobsFor,
  makeRequest,
  NEWEST_COMPLETE_ID,
  openedView,
  REQUESTER,
  requestRow,
  startApprovalFixture,
} from "./approval-fixture.js";

/** Requests, decisions and refusals through signed HTTP requests to the running bot. */
describe("restore requests and the two-person rule (signed HTTP, real PostgreSQL and Redis)", () => {
  let f: ApprovalFixture;
  beforeAll(async () => {
    f = await startApprovalFixture();
  });
  afterAll(async () => {
    await f?.close();
  });

  it("makes a request that freezes the newest complete point and posts the approval card", async () => {
    const { id, card, answer } = await makeRequest(f, "t1");
    expect(answer).toContain(`restore \`t1\` to \`${NEWEST_COMPLETE_ID}\``);
    expect(answer).toContain("two-person rule");
    const { rows } = await f.h.runtime.pool.query(
      `SELECT state, point->>'prefix' AS point_prefix, point->>'dumpKey' AS dump_key,
              point->>'dumpEtag' AS dump_etag, point->>'dumpSize' AS dump_size, card_ts, requester
         FROM restore_requests WHERE id = $1`,
      [id],
    );
    const row = rows[0];
    expect(row).toMatchObject({
      state: "pending",
      point_prefix: `catalog_backup_file_lists/${NEWEST_COMPLETE_ID}/`,
      dump_key: `catalog_backup_file_lists/${NEWEST_COMPLETE_ID}/pg_dump.gz`,
      card_ts: card.ts,
      requester: REQUESTER,
    });
    // The ETag frozen is the one S3 reports for the dump.
    const dump = f.s3.store.get(BUCKET, row.dump_key);
    expect(row.dump_etag).toBe(dump?.etag);
    expect(Number(row.dump_size)).toBe(dump?.body.length);

    const text = cardText(card);
    expect(text).toContain(`<@${REQUESTER}>`);
    expect(text).toContain("approved 0 of 1");
    expect(text).toMatch(/catalog changes after .* UTC — about \d+ h( \d+ min)? — will be lost/);
    expect(text).toContain("catalog corrupted by bad migration INC-1234");
    expect(text).toContain("Phases that will run");
    expect(text).toContain("Restore the catalog database");
    expect(text).toMatch(/expires at .* UTC \(in 30 min\)/);
    expect(buttonsOf(card)).toEqual(["request_approve", "request_reject"]);
    // Both buttons ask for confirmation first.
    const actions = card.blocks.find((b) => b.type === "actions") as unknown as {
      elements: Array<{ confirm?: unknown }>;
    };
    expect(actions.elements.every((e) => e.confirm !== undefined)).toBe(true);
    expect(await auditEvents(f, id)).toEqual([{ event: "requested", actor: REQUESTER }]);
  });

  it("refuses self-approval with the two-person rule, and a non-approver", async () => {
    const { id, card } = await makeRequest(f, "t2");
    const self = await answerTo(f, await click(f, card, "request_approve", REQUESTER));
    expect(self).toBe(
      "You requested this restore; a second person must approve it (two-person rule).",
    );
    const stranger = await answerTo(f, await click(f, card, "request_approve", "URANDOM"));
    expect(stranger).toContain("You are not an approver for `t2`");
    expect(stranger).toContain("<@UAPP1>");
    expect((await requestRow(f, id)).state).toBe("pending");
    expect(await approvalRows(f, id)).toEqual([]);
    expect(await jobsFor(f, id)).toBe(0);
    expect((await auditEvents(f, id)).map((e) => e.event)).toEqual([
      "requested",
      "refused",
      "refused",
    ]);
    // Refusals are private: the fake recorded them as ephemeral.
    const refusals = f.h.fake.responses().filter((r) => r.body.text === self);
    expect(refusals.every((r) => r.effect === "posted_ephemeral")).toBe(true);
  });

  it("approves with one approval: one job, card updated without buttons, requester told", async () => {
    const { id, card } = await makeRequest(f, "t3");
    const answer = await answerTo(f, await click(f, card, "request_approve", "UAPP1"));
    expect(answer).toContain("approved and queued to run");
    expect((await requestRow(f, id)).state).toBe("approved");
    expect(await jobsFor(f, id)).toBe(1);
    const updated = currentCard(f, card);
    expect(buttonsOf(updated)).toEqual([]);
    expect(cardText(updated)).toContain("Approved");
    expect(cardText(updated)).toContain("approved 1 of 1");
    expect(cardText(updated)).toContain("<@UAPP1>");
    expect(
      directMessagesTo(f, REQUESTER).some(
        (t) => t.includes(id) && t.includes("was approved by <@UAPP1>"),
      ),
    ).toBe(true);
    expect((await auditEvents(f, id)).map((e) => e.event)).toEqual([
      "requested",
      "approved",
      "enqueued",
    ]);
  });

  it("with requiredApprovals 2, one approver clicking twice counts once; a second approver completes it", async () => {
    const { id, card } = await makeRequest(f, "two-a");
    expect(cardText(card)).toContain("approved 0 of 2");
    const first = await answerTo(f, await click(f, card, "request_approve", "UAPP1"));
    expect(first).toContain("(1 of 2)");
    const again = await answerTo(f, await click(f, card, "request_approve", "UAPP1"));
    expect(again).toContain("already approved");
    expect(await approvalRows(f, id)).toEqual([{ approver: "UAPP1", decision: "approve" }]);
    expect((await requestRow(f, id)).state).toBe("pending");
    expect(await jobsFor(f, id)).toBe(0);
    expect(cardText(currentCard(f, card))).toContain("approved 1 of 2");
    expect(buttonsOf(currentCard(f, card))).toEqual(["request_approve", "request_reject"]);

    const second = await answerTo(f, await click(f, card, "request_approve", "UAPP2"));
    expect(second).toContain("(2 of 2)");
    expect((await requestRow(f, id)).state).toBe("approved");
    expect(await jobsFor(f, id)).toBe(1);
    expect(buttonsOf(currentCard(f, card))).toEqual([]);
  });

  it("rejects with a reason through the modal: card shows who and why, requester told", async () => {
    const { id, card } = await makeRequest(f, "t4");
    const cursor = f.h.fake.cursor();
    await click(f, card, "request_reject", "UAPP2");
    const opened = await f.h.fake.waitForCall("views.open", () => true, { since: cursor });
    expect(opened.response?.ok).toBe(true);
    const view = openedView(opened);
    await f.h.sender.viewSubmission({
      userId: "UAPP2",
      view: {
        id: view.id,
        callback_id: "request_reject_reason",
        state: {
          values: {
            reason: { reason_input: { type: "plain_text_input", value: "wrong point: use 13:00" } },
          },
        },
      },
    });
    await f.h.fake.waitForMessage(
      CHANNEL,
      (m) => m.ts === card.ts && cardText(m).includes("Rejected"),
    );
    const row = await requestRow(f, id);
    expect(row).toMatchObject({
      state: "rejected",
      closed_by: "UAPP2",
      close_reason: "wrong point: use 13:00",
    });
    const updated = currentCard(f, card);
    expect(buttonsOf(updated)).toEqual([]);
    expect(cardText(updated)).toContain("wrong point: use 13:00");
    expect(cardText(updated)).toContain("<@UAPP2>");
    await f.h.fake.waitForCall(
      "chat.postMessage",
      (c) => c.args.channel === REQUESTER && String(c.args.text).includes(id),
    );
    expect(directMessagesTo(f, REQUESTER).find((t) => t.includes(id))).toContain(
      "wrong point: use 13:00",
    );
    expect(await jobsFor(f, id)).toBe(0);
    // Approving afterwards is refused and changes nothing.
    const late = await answerTo(
      f,
      await f.h.sender.blockActions({
        userId: "UAPP1",
        channelId: CHANNEL,
        actions: [{ action_id: "request_approve", value: id }],
      }),
    );
    expect(late).toContain("was rejected by <@UAPP2>");
    expect((await requestRow(f, id)).state).toBe("rejected");
  });

  it("a non-approver's Reject is refused before any modal opens", async () => {
    const { id, card } = await makeRequest(f, "t5");
    const cursor = f.h.fake.cursor();
    const answer = await answerTo(f, await click(f, card, "request_reject", "URANDOM"));
    expect(answer).toContain("Only approvers for `t5` can reject");
    expect(f.h.fake.calls("views.open").filter((c) => c.seq > cursor)).toHaveLength(0);
    expect((await requestRow(f, id)).state).toBe("pending");
  });

  it("refuses approval after expiry, and the card shows it expired", async () => {
    const { id, card } = await makeRequest(f, "t6");
    f.setClockOffset(31 * 60_000);
    try {
      const answer = await answerTo(f, await click(f, card, "request_approve", "UAPP1"));
      expect(answer).toContain("expired");
      expect(answer).not.toContain("approved and queued");
    } finally {
      f.setClockOffset(0);
    }
    expect((await requestRow(f, id)).state).toBe("expired");
    expect(await approvalRows(f, id)).toEqual([]);
    expect(await jobsFor(f, id)).toBe(0);
    const updated = currentCard(f, card);
    expect(cardText(updated)).toContain("Expired");
    expect(buttonsOf(updated)).toEqual([]);
    expect(
      directMessagesTo(f, REQUESTER).some((t) => t.includes(id) && t.includes("expired")),
    ).toBe(true);
    expect((await auditEvents(f, id)).map((e) => e.event)).toEqual(["requested", "expired"]);
  });

  it("the sweeper expires due requests once, even when two passes race", async () => {
    const { id, card } = await makeRequest(f, "t7");
    f.setClockOffset(31 * 60_000);
    try {
      await Promise.all([f.sweeper.runOnce(), f.sweeper.runOnce()]);
    } finally {
      f.setClockOffset(0);
    }
    expect((await requestRow(f, id)).state).toBe("expired");
    expect((await auditEvents(f, id)).filter((e) => e.event === "expired")).toHaveLength(1);
    expect(cardText(currentCard(f, card))).toContain("Expired");
    expect(buttonsOf(currentCard(f, card))).toEqual([]);
  });

  it("refuses a second request for a busy target with the active request's id", async () => {
    const { id } = await makeRequest(f, "t8");
    const res = await f.h.sender.slashCommand({
      command: "/restore",
      text: "t8 latest another attempt for INC-1234",
      userId: "UOTHER",
      channelId: CHANNEL,
    });
    const answer = await answerTo(f, res);
    expect(answer).toContain(`already has an active restore request: \`${id}\``);
    expect(answer).toContain(`/restore cancel ${id}`);
    const { rows } = await f.h.runtime.pool.query(
      "SELECT count(*)::int AS n FROM restore_requests WHERE target = 't8'",
    );
    expect(rows[0].n).toBe(1);
  });

  it("a busy target whose run is halted points to the card's buttons, not to a cancel that would be refused", async () => {
    const { id } = await makeRequest(f, "t16");
    // The runner halted it part-way (as it does on a phase failure).
    await f.h.runtime.pool.query(
      "UPDATE restore_requests SET state = 'halted', halted_phase = 'scale-down' WHERE id = $1",
      [id],
    );
    const answer = await answerTo(
      f,
      await f.h.sender.slashCommand({
        command: "/restore",
        text: "t16 latest another attempt for INC-1234",
        userId: "UOTHER",
        channelId: CHANNEL,
      }),
    );
    expect(answer).toContain(`already has an active restore request: \`${id}\``);
    expect(answer).toContain("Retry");
    expect(answer).toContain("Roll back");
    expect(answer).not.toContain(`/restore cancel ${id}`);
  });

  it("refuses incomplete and missing points, saying why", async () => {
    const incomplete = await answerTo(
      f,
      await f.h.sender.slashCommand({
        command: "/restore",
        text: `t9 ${INCOMPLETE_ID} restore for INC-1234 please`,
        userId: REQUESTER,
        channelId: CHANNEL,
      }),
    );
    expect(incomplete).toContain("is incomplete");
    const missing = await answerTo(
      f,
      await f.h.sender.slashCommand({
        command: "/restore",
        text: "t9 2001-01-01T00:00Z restore for INC-1234 please",
        userId: REQUESTER,
        channelId: CHANNEL,
      }),
    );
    expect(missing).toContain("There is no recovery point of `t9`");
    const { rows } = await f.h.runtime.pool.query(
      "SELECT count(*)::int AS n FROM restore_requests WHERE target = 't9'",
    );
    expect(rows[0].n).toBe(0);
  });

  it("restricts requesters as configured", async () => {
    const answer = await answerTo(
      f,
      await f.h.sender.slashCommand({
        command: "/restore",
        text: "locked latest catalog corrupted INC-1234",
        userId: "UOTHER",
        channelId: CHANNEL,
      }),
    );
    expect(answer).toContain("You are not allowed to request restores of `locked`");
  });

  it("resolves approvers through a user group, asking Slack once per minute at most", async () => {
    const lookups = () => f.h.fake.calls("usergroups.users.list").length;
    const before = lookups();
    const { id, card } = await makeRequest(f, "group");
    const outsider = await answerTo(f, await click(f, card, "request_approve", "UAPP1"));
    expect(outsider).toContain("not an approver");
    const self = await answerTo(f, await click(f, card, "request_approve", REQUESTER));
    expect(self).toContain("two-person rule");
    expect(lookups() - before).toBe(1);
    // Membership changes are seen once the cache entry is older than a minute.
    f.h.fake.setUserGroup("SONCALL", ["UGRP1", "UGRP2", "UAPP1"]);
    f.setClockOffset(61_000);
    try {
      const member = await answerTo(f, await click(f, card, "request_approve", "UAPP1"));
      expect(member).toContain("approved and queued");
    } finally {
      f.setClockOffset(0);
    }
    expect(lookups() - before).toBe(2);
    expect((await requestRow(f, id)).state).toBe("approved");
  });

  it("an earlier approval stops counting once its approver is no longer eligible", async () => {
    const { id, card } = await makeRequest(f, "two-group");
    const first = await answerTo(f, await click(f, card, "request_approve", "UPAIR1"));
    expect(first).toContain("(1 of 2)");
    // UPAIR1 leaves the approvers' group; the cached membership is a minute old by the next click.
    f.h.fake.setUserGroup("SPAIR", ["UPAIR2", "UPAIR3"]);
    f.setClockOffset(61_000);
    try {
      const second = await answerTo(f, await click(f, card, "request_approve", "UPAIR2"));
      expect(second).toContain("(1 of 2)");
      expect(second).toContain("The earlier approval of <@UPAIR1> no longer counts");
    } finally {
      f.setClockOffset(0);
    }
    expect((await requestRow(f, id)).state).toBe("pending");
    expect(await jobsFor(f, id)).toBe(0);
    expect(await approvalRows(f, id)).toEqual([{ approver: "UPAIR2", decision: "approve" }]);
    expect(cardText(currentCard(f, card))).toContain("approved 1 of 2");
    expect(buttonsOf(currentCard(f, card))).toEqual(["request_approve", "request_reject"]);
    expect((await auditEvents(f, id)).map((e) => e.event)).toEqual([
      "requested",
      "approved",
      "approval_revoked",
      "approved",
    ]);
    const history = await answerTo(
      f,
      await f.h.sender.slashCommand({
        command: "/restore",
        text: "history two-group",
        userId: "UOTHER",
        channelId: CHANNEL,
      }),
    );
    expect(history).toContain("approval of <@UPAIR1> withdrawn: no longer an approver");
    // A second approver who is still eligible completes it.
    const third = await answerTo(f, await click(f, card, "request_approve", "UPAIR3"));
    expect(third).toContain("approved and queued");
    expect(await jobsFor(f, id)).toBe(1);
  });

  it("a request past its expiry that the sweeper has not reached yet does not hold the target", async () => {
    const stale = await makeRequest(f, "t15");
    f.setClockOffset(31 * 60_000);
    try {
      const next = await makeRequest(f, "t15", { user: "UREQ2" });
      expect(next.id).not.toBe(stale.id);
    } finally {
      f.setClockOffset(0);
    }
    expect((await requestRow(f, stale.id)).state).toBe("expired");
    expect((await auditEvents(f, stale.id)).map((e) => e.event)).toEqual(["requested", "expired"]);
    expect(cardText(currentCard(f, stale.card))).toContain("Expired");
    expect(buttonsOf(currentCard(f, stale.card))).toEqual([]);
  });

  it("withdraws a request whose card cannot be posted, and frees the target", async () => {
    f.h.fake.failNext("chat.postMessage", { error: "not_in_channel" });
    const answer = await answerTo(
      f,
      await f.h.sender.slashCommand({
        command: "/restore",
        text: "t14 latest catalog corrupted by bad migration INC-7",
        userId: REQUESTER,
        channelId: CHANNEL,
      }),
    );
    expect(answer).toContain(
      "I could not post the approval card in this channel (Slack said: not_in_channel)",
    );
    expect(answer).toContain("/invite @restorebot");
    const { rows } = await f.h.runtime.pool.query(
      "SELECT state, closed_by FROM restore_requests WHERE target = 't14'",
    );
    expect(rows).toEqual([{ state: "cancelled", closed_by: "restorebot" }]);
    await makeRequest(f, "t14");
  });

  it("cancels: a stranger is refused, the requester may", async () => {
    const { id, card } = await makeRequest(f, "t10");
    const stranger = await answerTo(
      f,
      await f.h.sender.slashCommand({
        command: "/restore",
        text: `cancel ${id}`,
        userId: "UOTHER",
        channelId: CHANNEL,
      }),
    );
    expect(stranger).toContain(`Only the requester (<@${REQUESTER}>) or an approver`);
    const own = await answerTo(
      f,
      await f.h.sender.slashCommand({
        command: "/restore",
        text: `cancel ${id}`,
        userId: REQUESTER,
        channelId: CHANNEL,
      }),
    );
    expect(own).toContain(`Cancelled \`${id}\``);
    expect((await requestRow(f, id)).state).toBe("cancelled");
    expect(cardText(currentCard(f, card))).toContain("Cancelled");
    expect(buttonsOf(currentCard(f, card))).toEqual([]);
    // The target is free again.
    const next = await makeRequest(f, "t10");
    expect(next.id).not.toBe(id);
  });

  it("the reconciler re-enqueues an approved request whose job went missing", async () => {
    const { id, card } = await makeRequest(f, "t11");
    await answerTo(f, await click(f, card, "request_approve", "UAPP1"));
    const job = await f.queue.getJob(id);
    await job?.remove();
    expect(await jobsFor(f, id)).toBe(0);
    await f.sweeper.runOnce();
    expect(await jobsFor(f, id)).toBe(1);
    await f.sweeper.runOnce();
    expect(await jobsFor(f, id)).toBe(1);
    expect((await auditEvents(f, id)).filter((e) => e.event === "enqueued")).toHaveLength(2);
  });

  it("the Restore-to-this-point button opens a modal whose submission makes the same request", async () => {
    const cursor = f.h.fake.cursor();
    await f.h.sender.blockActions({
      userId: REQUESTER,
      channelId: CHANNEL,
      actions: [
        {
          action_id: "restore_point_open",
          value: JSON.stringify({ target: "t12", point: NEWEST_COMPLETE_ID }),
        },
      ],
    });
    const opened = await f.h.fake.waitForCall("views.open", () => true, { since: cursor });
    const view = openedView(opened);
    expect(view.callback_id).toBe("restore_request_modal");
    const short = await f.h.sender.viewSubmission({
      userId: REQUESTER,
      view: {
        id: view.id,
        callback_id: "restore_request_modal",
        state: {
          values: { reason: { reason_input: { type: "plain_text_input", value: "short" } } },
        },
      },
    });
    expect(short.json).toMatchObject({ response_action: "errors" });
    await f.h.sender.viewSubmission({
      userId: REQUESTER,
      view: {
        id: view.id,
        callback_id: "restore_request_modal",
        state: {
          values: {
            reason: {
              reason_input: { type: "plain_text_input", value: "catalog corrupted INC-42" },
            },
          },
        },
      },
    });
    const ephemeral = await f.h.fake.waitForCall(
      "chat.postEphemeral",
      (c) => c.args.user === REQUESTER && String(c.args.text).startsWith("Requested"),
      { since: cursor },
    );
    const id = /rb-[a-z0-9]{8}/.exec(String(ephemeral.args.text))?.[0] as string;
    const { rows } = await f.h.runtime.pool.query(
      "SELECT state, point->>'prefix' AS point_prefix, reason, card_ts FROM restore_requests WHERE id = $1",
      [id],
    );
    expect(rows[0]).toMatchObject({
      state: "pending",
      point_prefix: `catalog_backup_file_lists/${NEWEST_COMPLETE_ID}/`,
      reason: "catalog corrupted INC-42",
    });
    expect(rows[0].card_ts).toBeTruthy();
  });

  it("shows the audit log in /restore history, and answers status and targets", async () => {
    const { id, card } = await makeRequest(f, "t13");
    await answerTo(f, await click(f, card, "request_approve", REQUESTER));
    await answerTo(f, await click(f, card, "request_approve", "UAPP3"));
    const history = await answerTo(
      f,
      await f.h.sender.slashCommand({
        command: "/restore",
        text: "history t13",
        userId: "UOTHER",
        channelId: CHANNEL,
      }),
    );
    expect(history).toContain(id);
    expect(history).toContain(`requested by <@${REQUESTER}>`);
    expect(history).toContain("catalog corrupted by bad migration INC-1234");
    expect(history).toContain(
      `refused: <@${REQUESTER}> tried to approve (people cannot approve their own request)`,
    );
    expect(history).not.toContain("self_approval");
    expect(history).toContain("approved by <@UAPP3> (1 of 1)");
    expect(history).toContain("queued for a worker");

    const status = await answerTo(
      f,
      await f.h.sender.slashCommand({
        command: "/restore",
        text: `status ${id}`,
        userId: "UOTHER",
        channelId: CHANNEL,
      }),
    );
    expect(status).toContain("approved, queued to run");
    expect(status).toContain("Approvals: 1 of 1 (<@UAPP3>)");

    const targets = await answerTo(
      f,
      await f.h.sender.slashCommand({
        command: "/restore",
        text: "targets",
        userId: "UOTHER",
        channelId: CHANNEL,
      }),
    );
    expect(targets).toContain("`t13`");
    expect(targets).toContain(`busy: \`${id}\``);
    expect(targets).toContain("2 approval(s)");
  });
});
