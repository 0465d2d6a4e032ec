import { describe, expect, it } from "vitest";
import {
  buildRequestCard,
  describeDataLoss,
  type RequestCardView,
} from "../../src/approvals/card.js";
import { describeStopEffect, requesterNotice } from "../../src/approvals/notices.js";
import {
  formatAuditEvent,
  formatHistory,
  formatRequestStatus,
} from "../../src/approvals/reports.js";
import type { ApprovalRecord, RestoreRequest } from "../../src/approvals/request-store.js";
import { CLUSTERED_RESTORE_WORDS } from "../../src/kinds/influxdb-clustered/point-words.js";
import { DEFAULT_KINDS } from "../../src/kinds/registry.js";
import { staysDown } from "../../src/narration/run-messages.js";
import { formatDuration } from "../../src/text/format.js";
import { blockProblems } from "../../stand-ins/slack/block-kit-limits.js";

const NOW = new Date("2024-08-12T17:12:00Z");

function request(overrides: Partial<RestoreRequest> = {}): RestoreRequest {
  return {
    id: "rb-k3m9x2qa",
    target: "prod",
    kind: "influxdb-clustered",
    operation: "restore",
    pointTime: new Date("2024-08-12T14:00:00Z"),
    options: null,
    point: {
      prefix: "catalog_backup_file_lists/2024-08-12T14:00:00+00:00/",
      dumpKey: "catalog_backup_file_lists/2024-08-12T14:00:00+00:00/pg_dump.gz",
      dumpEtag: '"0123456789abcdef0123456789abcdef"',
      dumpSize: 1234,
    },
    requester: "UREQ1",
    reason: "catalog corrupted by bad migration INC-1234",
    channelId: "CRESTORES",
    cardTs: "1723482720.000100",
    state: "pending",
    requiredApprovals: 2,
    policy: {},
    createdAt: new Date("2024-08-12T17:10:00Z"),
    expiresAt: new Date("2024-08-12T17:40:00Z"),
    approvedAt: null,
    startedAt: null,
    finishedAt: null,
    cancelRequested: false,
    cancelRequestedBy: null,
    haltedPhase: null,
    haltedReason: null,
    closedBy: null,
    closeReason: null,
    enqueuedAt: null,
    runMode: "forward",
    version: 1,
    updatedAt: NOW,
    ...overrides,
  };
}

const approval = (
  approver: string,
  decision: "approve" | "reject" = "approve",
): ApprovalRecord => ({
  requestId: "rb-k3m9x2qa",
  approver,
  decision,
  reason: null,
  decidedAt: new Date("2024-08-12T17:11:00Z"),
});

function render(view: Partial<RequestCardView> & { request?: RestoreRequest } = {}) {
  const card = buildRequestCard({
    kinds: DEFAULT_KINDS,
    request: request(),
    approvals: [],
    now: NOW,
    ...view,
  });
  return { card, text: JSON.stringify(card.blocks), buttons: buttons(card.blocks) };
}

function buttons(blocks: unknown[]): string[] {
  return blocks.flatMap((b) => {
    const elements = (b as { elements?: Array<{ action_id?: string }> }).elements ?? [];
    return elements.flatMap((e) => (e.action_id ? [e.action_id] : []));
  });
}

describe("the approval card", () => {
  it("states the data-loss window in words", () => {
    expect(describeDataLoss(request(), NOW, CLUSTERED_RESTORE_WORDS)).toBe(
      "catalog changes after 14:00 UTC — about 3 h 12 min — will be lost",
    );
    // A point from another day names the day; once running, the window is fixed at the start.
    expect(
      describeDataLoss(
        request({
          pointTime: new Date("2024-08-10T14:00:00Z"),
          startedAt: new Date("2024-08-12T15:00:00Z"),
        }),
        NOW,
        CLUSTERED_RESTORE_WORDS,
      ),
    ).toBe("catalog changes after 2024-08-10 14:00 UTC — about 2 d 01 h — are lost");
  });

  it("shows everything an approver needs while pending, with confirmed buttons", () => {
    const { card, text, buttons: ids } = render({ approvals: [approval("UAPP1")] });
    expect(card.text).toContain("rb-k3m9x2qa");
    for (const part of [
      "<@UREQ1>",
      "`prod`",
      "2024-08-12 14:00 UTC (3 h 12 min ago)",
      "catalog changes after 14:00 UTC — about 3 h 12 min — will be lost",
      "catalog corrupted by bad migration INC-1234",
      "Phases that will run",
      "1. Check the recovery point",
      "10. Unpause the operator",
      "approved 1 of 2",
      "<@UAPP1>",
      "expires at 17:40 UTC (in 28 min)",
    ])
      expect(text).toContain(part);
    expect(ids).toEqual(["request_approve", "request_reject"]);
    const actions = card.blocks.find((b) => b.type === "actions") as {
      elements: Array<{ value: string; confirm?: { title: { text: string } } }>;
    };
    expect(actions.elements.map((e) => e.value)).toEqual(["rb-k3m9x2qa", "rb-k3m9x2qa"]);
    expect(actions.elements.map((e) => e.confirm?.title.text)).toEqual([
      "Approve restore of prod?",
      "Reject this request?",
    ]);
  });

  it.each([
    { state: "approved" as const, expect: "Approved", extra: {} },
    {
      state: "rejected" as const,
      expect: "Rejected",
      extra: { closedBy: "UAPP2", closeReason: "wrong point" },
    },
    { state: "expired" as const, expect: "Expired", extra: { closedBy: "restorebot" } },
    { state: "cancelled" as const, expect: "Cancelled", extra: { closedBy: "UREQ1" } },
    { state: "succeeded" as const, expect: "Restore succeeded", extra: { finishedAt: NOW } },
  ])("has no buttons once $state", ({ state, expect: word, extra }) => {
    const { text, buttons: ids } = render({ request: request({ state, ...extra }) });
    expect(text).toContain(word);
    expect(ids).toEqual([]);
  });

  it("says who rejected and why, escaping what people typed", () => {
    const { text } = render({
      request: request({
        state: "rejected",
        closedBy: "UAPP2",
        closeReason: "no <!channel> & not now",
      }),
    });
    expect(text).toContain("Rejected* by <@UAPP2>");
    expect(text).toContain("no &lt;!channel&gt; &amp; not now");
    expect(text).not.toContain("<!channel>");
  });

  it("turns into a live status with phases and run controls for the runner", () => {
    const { text, buttons: ids } = render({
      request: request({
        state: "halted",
        haltedPhase: "Scale down the catalog",
        haltedReason: "timed out after 15 min",
      }),
      phases: [
        {
          name: "check-point",
          title: "Check the recovery point",
          state: "succeeded",
          elapsedMs: 1200,
        },
        {
          name: "scale-down-catalog",
          title: "Scale down the catalog",
          state: "failed",
          elapsedMs: 900_000,
          detail: "1 pod still running",
        },
        { name: "restore", title: "Restore the catalog database", state: "pending" },
      ],
      runControls: [
        { action_id: "run_retry", text: "Retry phase", style: "primary" },
        {
          action_id: "run_rollback",
          text: "Roll back",
          style: "danger",
          confirm: {
            title: "Roll back?",
            text: "Scale up and unpause.",
            confirm: "Roll back",
            deny: "Back",
          },
        },
      ],
    });
    expect(text).toContain(":white_check_mark: 1. Check the recovery point (1.2 s)");
    expect(text).toContain(":x: 2. Scale down the catalog (15 min) — 1 pod still running");
    expect(text).toContain("Halted* at *Scale down the catalog*: timed out after 15 min");
    expect(ids).toEqual(["run_retry", "run_rollback"]);
  });

  it("stays within Slack's Block Kit limits even with a maximal reason", () => {
    const { card } = render({
      request: request({ reason: "x".repeat(1000) }),
      approvals: Array.from({ length: 10 }, (_, i) => approval(`UAPP${i}`)),
    });
    expect(blockProblems(card.blocks as never, 50)).toEqual([]);
  });
});

describe("a finished card people can trust", () => {
  const STARTED = new Date("2024-08-12T17:11:30Z");
  const statusText = (card: ReturnType<typeof buildRequestCard>) =>
    JSON.stringify(card.blocks.find((b) => (b as { block_id?: string }).block_id === "status"));

  it("names who cancelled a running restore, as a mention Slack renders, never the raw ID", () => {
    const halted = render({
      request: request({
        state: "halted",
        startedAt: STARTED,
        haltedPhase: "phase 6 — Scale down the catalog",
        haltedReason:
          "Cancelled by <@U0DEMOREQ> at the phase boundary before phase 6 (Scale down the catalog).",
      }),
    });
    const status = statusText(halted.card);
    expect(status).toContain("Cancelled by <@U0DEMOREQ> at the phase boundary");
    expect(status).not.toContain("&lt;@");
    // What a person typed is still escaped.
    const typed = render({
      request: request({ state: "halted", startedAt: STARTED, haltedReason: "x <!channel> y" }),
    });
    expect(statusText(typed.card)).toContain("&lt;!channel&gt;");
  });

  it("says who cancelled when the run stopped it before changing anything, not 'someone'", () => {
    const { card } = render({
      request: request({
        state: "cancelled",
        startedAt: STARTED,
        finishedAt: NOW,
        cancelRequestedBy: "UREQ1",
        closedBy: null,
      }),
    });
    const status = statusText(card);
    expect(status).toContain("by <@UREQ1>");
    expect(status).not.toContain("someone");
    expect(status).toContain("before anything on `prod` was changed");
  });

  it("keeps no raw <@U…> ID in the notification text, which Slack shows without mrkdwn", () => {
    for (const state of ["pending", "halted", "cancelled", "succeeded"] as const) {
      const { card } = render({ request: request({ state, startedAt: STARTED }) });
      expect(card.text).not.toMatch(/<@/);
    }
  });

  it("drops the data-loss warning only where the catalog was certainly never touched", () => {
    const warns = (view: Partial<RequestCardView>) =>
      render(view).text.includes(":warning: *Data loss:*");
    // Never ran: rejected, expired, cancelled before the worker took it.
    for (const state of ["rejected", "expired", "cancelled"] as const)
      expect(warns({ request: request({ state, closedBy: "UAPP1" }) })).toBe(false);
    expect(render({ request: request({ state: "rejected", closedBy: "UAPP1" }) }).text).toContain(
      "No data lost",
    );
    // Ran, and the checkpoints show the catalog restore never started.
    for (const state of ["cancelled", "rolled_back", "abandoned"] as const)
      expect(
        warns({ request: request({ state, startedAt: STARTED }), catalogUntouched: true }),
      ).toBe(false);
    // Ran, and nobody checked (or it did start): the warning stays.
    for (const state of ["cancelled", "rolled_back", "abandoned"] as const) {
      expect(warns({ request: request({ state, startedAt: STARTED }) })).toBe(true);
      expect(
        warns({ request: request({ state, startedAt: STARTED }), catalogUntouched: false }),
      ).toBe(true);
    }
    // Still to run, or done: the warning is the point.
    expect(warns({ request: request({ state: "pending" }) })).toBe(true);
    expect(
      warns({ request: request({ state: "halted", startedAt: STARTED }), catalogUntouched: true }),
    ).toBe(true);
    expect(warns({ request: request({ state: "succeeded", startedAt: STARTED }) })).toBe(true);
  });
});

describe("notices and reports", () => {
  it("formats durations for people", () => {
    expect([0, 45_000, 12 * 60_000, 192 * 60_000, 49 * 3_600_000].map(formatDuration)).toEqual([
      "0 ms",
      "45 s",
      "12 min",
      "3 h 12 min",
      "2 d 01 h",
    ]);
  });

  it("tells the requester what happened and what to do", () => {
    const r = request();
    expect(requesterNotice(r, "approved", { actor: "UAPP1", now: NOW })).toContain(
      "was approved by <@UAPP1>",
    );
    expect(
      requesterNotice(r, "rejected", { actor: "UAPP2", reason: "wrong point", now: NOW }),
    ).toContain("rejected by <@UAPP2>: “wrong point”");
    const expired = requesterNotice(r, "expired", {
      approvals: { count: 1, required: 2 },
      now: NOW,
    });
    expect(expired).toContain("expired at 17:40 UTC with 1 of 2 approvals");
    // Escaped for mrkdwn, so Slack shows the placeholders instead of reading them as links.
    expect(expired).toContain("/restore prod &lt;point|latest&gt; &lt;reason…&gt;");
  });

  it("renders status and the audit trail", () => {
    const status = formatRequestStatus(
      DEFAULT_KINDS,
      request(),
      [approval("UAPP1"), approval("UREQ1")],
      NOW,
    );
    expect(status).toContain("waiting for approval");
    expect(status).toContain("Approvals: 1 of 2 (<@UAPP1>)");
    const events = [
      {
        id: 1,
        at: new Date("2024-08-12T17:10:00Z"),
        requestId: "rb-k3m9x2qa",
        target: "prod",
        actor: "UREQ1",
        event: "requested" as const,
        details: { point: "2024-08-12T14:00:00+00:00", reason: "bad migration" },
      },
      {
        id: 2,
        at: new Date("2024-08-12T17:11:00Z"),
        requestId: "rb-k3m9x2qa",
        target: "prod",
        actor: "UAPP2",
        event: "rejected" as const,
        details: { reason: "use 13:00" },
      },
    ];
    expect(formatAuditEvent(events[0] as never, NOW)).toBe(
      "`17:10 UTC` requested by <@UREQ1> (point `2024-08-12T14:00:00+00:00`): “bad migration”",
    );
    const history = formatHistory(
      DEFAULT_KINDS,
      "prod",
      [{ request: request({ state: "rejected" }), events: events as never }],
      NOW,
    );
    expect(history.indexOf("requested by")).toBeLessThan(
      history.indexOf("rejected by <@UAPP2>: “use 13:00”"),
    );
  });

  it("shows a running restore's phase, how far along it is and for how long", () => {
    const at = (m: number) => new Date(NOW.getTime() - m * 60_000);
    const run = (phaseIndex: number, phase: string, state: "running" | "succeeded", m: number) => ({
      phaseIndex,
      phase,
      state,
      attempt: 1,
      startedAt: at(m),
      finishedAt: state === "succeeded" ? at(m - 0.5) : null,
      facts: {},
      error: null,
      progress:
        state === "running"
          ? "waiting for 2 of 3 ingester pods to go (iox-shared-ingester-1, iox-shared-ingester-2)"
          : null,
      progressAt: state === "running" ? at(0.25) : null,
    });
    const status = formatRequestStatus(
      DEFAULT_KINDS,
      request({ state: "running", approvedAt: at(10), startedAt: at(9) }),
      [],
      NOW,
      [
        run(1, "check-recovery-point", "succeeded", 9),
        run(2, "prepare-snapshot", "succeeded", 8),
        run(3, "pause-operator", "succeeded", 7),
        run(4, "record-replicas", "succeeded", 6),
        run(5, "scale-down-workloads", "running", 2),
      ],
    );
    expect(status).toContain(
      "Restoring: phase 5/10 (Scale down everything but the catalog) for 2 min; 4 of 10 done.",
    );
    // The phase's own progress, as last narrated in the thread, and how fresh it is.
    expect(status).toContain(
      "Progress (15 s ago): waiting for 2 of 3 ingester pods to go (iox-shared-ingester-1, iox-shared-ingester-2)",
    );
    expect(status).toContain("Running for 9 min since 17:03 UTC.");
    expect(status).not.toMatch(/: \*running\*\n[^\n]*Started at/);
  });

  it("tells the history in plain words: one line per phase with its duration, and the RTO", () => {
    const base = new Date("2024-08-12T17:00:00Z").getTime();
    let id = 0;
    const ev = (s: number, event: string, actor: string, details: Record<string, unknown>) => ({
      id: ++id,
      at: new Date(base + s * 1_000),
      requestId: "rb-k3m9x2qa",
      target: "prod",
      actor,
      event,
      details,
    });
    const events = [
      ev(0, "requested", "UREQ1", { point: "2024-08-12T14:00:00+00:00", reason: "bad migration" }),
      ev(5, "refused", "UREQ1", { action: "approve", code: "self_approval" }),
      ev(60, "approved", "UAPP1", { count: 1, required: 1 }),
      ev(61, "started", "restorebot", {}),
      ev(61, "phase_started", "restorebot", {
        phase: "check-recovery-point",
        phaseIndex: 1,
        attempt: 1,
      }),
      ev(63, "phase_succeeded", "restorebot", {
        phase: "check-recovery-point",
        phaseIndex: 1,
        attempt: 1,
        durationMs: 2_100,
      }),
      ev(63, "phase_started", "restorebot", {
        phase: "prepare-snapshot",
        phaseIndex: 2,
        attempt: 1,
      }),
      ev(300, "finished", "restorebot", { totalMs: 239_000 }),
    ];
    const history = formatHistory(
      DEFAULT_KINDS,
      "prod",
      [
        {
          request: request({
            state: "succeeded",
            approvedAt: new Date(base + 60_000),
            startedAt: new Date(base + 61_000),
            finishedAt: new Date(base + 300_000),
          }),
          events: events as never,
        },
      ],
      NOW,
    );
    expect(history).not.toMatch(/self_approval|check-recovery-point|phase started \(/);
    expect(history).toContain(
      "refused: <@UREQ1> tried to approve (people cannot approve their own request)",
    );
    expect(history).toContain("phase 1/10 (Check the recovery point) done in 2.1 s");
    expect(history.match(/Check the recovery point/g)).toHaveLength(1);
    // A phase with no end yet keeps its start line.
    expect(history).toContain("phase 2/10 (Download and prepare the snapshot) started");
    expect(history).toContain("Approval to done (the RTO achieved): 4 min");
  });

  it("says up front, when a stop is asked, that a cluster already going down stays down until Roll back", () => {
    const run = (phaseIndex: number, phase: string) => ({
      phaseIndex,
      phase,
      state: "succeeded" as const,
      attempt: 1,
      startedAt: NOW,
      finishedAt: NOW,
      facts: {},
      error: null,
      progress: null,
      progressAt: null,
    });
    const early = [run(1, "check-recovery-point"), run(2, "prepare-snapshot")];
    const down = [
      ...early,
      run(3, "pause-operator"),
      run(4, "record-replicas"),
      run(5, "scale-down-workloads"),
    ];
    const r = request({ state: "running" });
    expect(describeStopEffect(DEFAULT_KINDS, r, down)).toContain(
      "`prod` is already being taken down (phase 5/10, Scale down everything but the catalog, has started), so it stays *down* until someone presses *Roll back*",
    );
    expect(describeStopEffect(DEFAULT_KINDS, r, early)).toMatch(
      /^Nothing on `prod` has been changed yet/,
    );
    expect(describeStopEffect(DEFAULT_KINDS, r, early)).toContain(
      "stays *down* until someone presses *Roll back*",
    );
    // Once it is back up, it is not said to stay down.
    const up = [
      ...down,
      run(6, "scale-down-catalog"),
      run(7, "restore-catalog"),
      run(8, "scale-up"),
    ];
    expect(describeStopEffect(DEFAULT_KINDS, r, up)).toMatch(
      /^`prod` has been brought back up already/,
    );
    expect(describeStopEffect(DEFAULT_KINDS, r, up)).not.toContain("stays *down*");
    const upStatus = {
      requestId: r.id,
      mode: "forward" as const,
      state: "halted" as const,
      startedAt: NOW,
      controls: [],
      phases: up.map((p) => ({
        index: p.phaseIndex,
        name: p.phase,
        title: p.phase,
        state: "succeeded" as const,
      })),
    };
    expect(staysDown(DEFAULT_KINDS, r, upStatus)).toBeUndefined();
    upStatus.phases = upStatus.phases.slice(0, 6);
    expect(staysDown(DEFAULT_KINDS, r, upStatus)).toContain(
      "prod stays down until someone presses Roll back",
    );
  });
});
