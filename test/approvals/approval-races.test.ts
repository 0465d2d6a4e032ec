import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getRequest } from "../../src/approvals/request-store.js";
import { enqueueRun, reconcileJobs } from "../../src/requests/lifecycle.js";
import {
  type ApprovalFixture,
  answerTo,
  approvalRows,
  auditEvents,
  buttonsOf,
  CHANNEL,
  cardText,
  click,
  currentCard,
  directMessagesTo,
  jobsFor,
  makeRequest,
  openedView,
  REQUESTER,
  requestRow,
  startApprovalFixture,
} from "./approval-fixture.js";

/**
 * Exactly once: concurrent signed requests really race in the bot (each is its own HTTP
 * request, handled concurrently), and PostgreSQL's compare-and-set decides one outcome.
 */
describe("exactly once under concurrent clicks (signed HTTP, real PostgreSQL and Redis)", () => {
  let f: ApprovalFixture;
  beforeAll(async () => {
    f = await startApprovalFixture();
  });
  afterAll(async () => {
    await f?.close();
  });

  const count = (events: Array<{ event: string }>, name: string) =>
    events.filter((e) => e.event === name).length;

  it("ten concurrent Approve clicks by one approver: one approval, one job", async () => {
    const { id, card } = await makeRequest(f, "t1");
    const clicks = await Promise.all(
      Array.from({ length: 10 }, () => click(f, card, "request_approve", "UAPP1")),
    );
    expect(clicks.every((r) => r.status === 200)).toBe(true);
    const answers = await Promise.all(clicks.map((r) => answerTo(f, r)));
    expect(answers.filter((a) => a.startsWith("You approved"))).toHaveLength(1);
    expect(answers.filter((a) => a.includes("is already approved"))).toHaveLength(9);

    expect(await approvalRows(f, id)).toEqual([{ approver: "UAPP1", decision: "approve" }]);
    expect((await requestRow(f, id)).state).toBe("approved");
    expect(await jobsFor(f, id)).toBe(1);
    const events = await auditEvents(f, id);
    expect(count(events, "approved")).toBe(1);
    expect(count(events, "enqueued")).toBe(1);
    const updated = currentCard(f, card);
    expect(buttonsOf(updated)).toEqual([]);
    expect(cardText(updated)).toContain("approved 1 of 1");
    expect(directMessagesTo(f, REQUESTER).filter((t) => t.includes(id))).toHaveLength(1);
  });

  it("ten concurrent clicks by one approver count once when two approvals are required", async () => {
    const { id, card } = await makeRequest(f, "two-a");
    const clicks = await Promise.all(
      Array.from({ length: 10 }, () => click(f, card, "request_approve", "UAPP1")),
    );
    await Promise.all(clicks.map((r) => answerTo(f, r)));
    expect(await approvalRows(f, id)).toEqual([{ approver: "UAPP1", decision: "approve" }]);
    expect((await requestRow(f, id)).state).toBe("pending");
    expect(await jobsFor(f, id)).toBe(0);
    expect(count(await auditEvents(f, id), "approved")).toBe(1);
    expect(cardText(currentCard(f, card))).toContain("approved 1 of 2");
  });

  it("two approvers at once complete a two-approval request exactly once", async () => {
    const { id, card } = await makeRequest(f, "two-b");
    const clicks = await Promise.all([
      ...Array.from({ length: 5 }, () => click(f, card, "request_approve", "UAPP1")),
      ...Array.from({ length: 5 }, () => click(f, card, "request_approve", "UAPP2")),
    ]);
    await Promise.all(clicks.map((r) => answerTo(f, r)));
    expect(await approvalRows(f, id)).toEqual([
      { approver: "UAPP1", decision: "approve" },
      { approver: "UAPP2", decision: "approve" },
    ]);
    expect((await requestRow(f, id)).state).toBe("approved");
    expect(await jobsFor(f, id)).toBe(1);
    expect(count(await auditEvents(f, id), "enqueued")).toBe(1);
    const updated = currentCard(f, card);
    expect(cardText(updated)).toContain("approved 2 of 2");
    expect(buttonsOf(updated)).toEqual([]);
  });

  it("Approve and Reject racing give exactly one outcome, every time", async () => {
    const outcomes: string[] = [];
    for (const target of ["t2", "t3", "t4", "t5", "t6"]) {
      const { id, card } = await makeRequest(f, target);
      // The rejecter has the reason modal open; then both submit at the same moment.
      const cursor = f.h.fake.cursor();
      await click(f, card, "request_reject", "UAPP2");
      const opened = await f.h.fake.waitForCall("views.open", () => true, { since: cursor });
      const viewId = openedView(opened).id;
      const [approve, reject] = await Promise.all([
        click(f, card, "request_approve", "UAPP1"),
        f.h.sender.viewSubmission({
          userId: "UAPP2",
          view: {
            id: viewId,
            callback_id: "request_reject_reason",
            state: {
              values: {
                reason: {
                  reason_input: { type: "plain_text_input", value: "not during peak hours" },
                },
              },
            },
          },
        }),
      ]);
      expect(approve.status).toBe(200);
      expect(reject.status).toBe(200);
      await answerTo(f, approve);
      await f.h.fake.waitForCall(
        "chat.postEphemeral",
        (c) => c.args.user === "UAPP2" && String(c.args.text).includes(id),
        { since: cursor },
      );

      const state = (await requestRow(f, id)).state;
      expect(["approved", "rejected"]).toContain(state);
      outcomes.push(state);
      const events = await auditEvents(f, id);
      expect(count(events, "approved") + count(events, "rejected")).toBe(1);
      expect(await jobsFor(f, id)).toBe(state === "approved" ? 1 : 0);
      // The card converges on the winner, without buttons.
      const final = await f.h.fake.waitForMessage(
        CHANNEL,
        (m) =>
          m.ts === card.ts &&
          cardText(m).includes(state === "approved" ? "Approved" : "Rejected") &&
          buttonsOf(m).length === 0,
      );
      expect(cardText(final)).not.toContain(state === "approved" ? "Rejected" : "queued to run");
    }
    expect(outcomes).toHaveLength(5);
  });

  it("two requests for one target at once: one is made, the other refused with its id", async () => {
    const [a, b] = await Promise.all(
      ["UREQ1", "UREQ2"].map((user) =>
        f.h.sender.slashCommand({
          command: "/restore",
          text: "t7 latest catalog corrupted by bad migration INC-9",
          userId: user,
          channelId: CHANNEL,
        }),
      ),
    );
    const answers = await Promise.all([answerTo(f, a as never), answerTo(f, b as never)]);
    const made = answers.filter((t) => t.startsWith("Requested"));
    const refused = answers.filter((t) => t.includes("already has an active restore request"));
    expect(made).toHaveLength(1);
    expect(refused).toHaveLength(1);
    const id = /rb-[a-z0-9]{8}/.exec(made[0] as string)?.[0] as string;
    expect(refused[0]).toContain(id);
    const { rows } = await f.h.runtime.pool.query(
      "SELECT id FROM restore_requests WHERE target = 't7'",
    );
    expect(rows.map((r: { id: string }) => r.id)).toEqual([id]);
  });

  it("approvals racing the expiry sweep: expired once, never approved", async () => {
    const { id, card } = await makeRequest(f, "t8");
    f.setClockOffset(31 * 60_000);
    try {
      const clicks = await Promise.all([
        ...Array.from({ length: 5 }, () => click(f, card, "request_approve", "UAPP1")),
        f.sweeper.runOnce(),
      ]);
      await Promise.all(clicks.flatMap((r) => (r && "responseUrlId" in r ? [answerTo(f, r)] : [])));
    } finally {
      f.setClockOffset(0);
    }
    expect((await requestRow(f, id)).state).toBe("expired");
    expect(await approvalRows(f, id)).toEqual([]);
    expect(await jobsFor(f, id)).toBe(0);
    const events = await auditEvents(f, id);
    expect(count(events, "expired")).toBe(1);
    expect(count(events, "approved")).toBe(0);
    expect(directMessagesTo(f, REQUESTER).filter((t) => t.includes(id))).toHaveLength(1);
    expect(cardText(currentCard(f, card))).toContain("Expired");
    expect(buttonsOf(currentCard(f, card))).toEqual([]);
  });

  it("an approval's enqueue racing reconciler passes: one job, one enqueued event, one creator", async () => {
    const { deps } = f.h.runtime;
    for (const target of ["t9", "t10", "t11", "t12", "t13"]) {
      const { id } = await makeRequest(f, target);
      // Approved, not yet enqueued: the moment between the approval's commit and its enqueue.
      await f.h.runtime.pool.query(
        "UPDATE restore_requests SET state = 'approved', approved_at = now() WHERE id = $1",
        [id],
      );
      const request = await getRequest(f.h.runtime.pool, id);
      if (!request) throw new Error(`${id} is gone`);
      await Promise.all([
        enqueueRun(deps, request.id, { by: "UAPP1" }),
        reconcileJobs(deps, ["approved"]),
        reconcileJobs(deps, ["approved"]),
        f.sweeper.runOnce(),
      ]);
      expect(await jobsFor(f, id)).toBe(1);
      expect(count(await auditEvents(f, id), "enqueued")).toBe(1);
      expect((await requestRow(f, id)).state).toBe("approved");
    }
    // The queue itself: of many concurrent enqueues of one id, exactly one created the job.
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        deps.queue.enqueueRestore({ requestId: "rb-race0000", target: "t14" }),
      ),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(await jobsFor(f, "rb-race0000")).toBe(1);
  });
});
