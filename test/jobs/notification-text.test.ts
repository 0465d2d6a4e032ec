import { describe, expect, it } from "vitest";
import type { RestoreRequest } from "../../src/approvals/request-store.js";
import { DEFAULT_KINDS } from "../../src/kinds/registry.js";
import { withoutButtons } from "../../src/narration/control-messages.js";
import { haltedMessage, statusCard } from "../../src/narration/run-messages.js";
import type { RunStatus } from "../../src/runbook/types.js";

/**
 * Slack shows a message's `text` (beside its blocks) as it is in push notifications, where a
 * `<@U…>` mention is not turned into a name: no raw user ID may be in it. The blocks keep them.
 */

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
    state: "halted",
    requiredApprovals: 2,
    policy: {},
    createdAt: new Date("2024-08-12T17:10:00Z"),
    expiresAt: new Date("2024-08-12T17:40:00Z"),
    approvedAt: new Date("2024-08-12T17:11:00Z"),
    startedAt: new Date("2024-08-12T17:11:30Z"),
    finishedAt: null,
    cancelRequested: false,
    cancelRequestedBy: "UCANCEL1",
    haltedPhase: "scale-down-catalog",
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

const status: RunStatus = {
  requestId: "rb-k3m9x2qa",
  mode: "forward",
  state: "halted",
  startedAt: new Date("2024-08-12T17:11:30Z"),
  phases: [
    {
      index: 1,
      name: "check-recovery-point",
      title: "Check the recovery point",
      state: "succeeded",
    },
    { index: 2, name: "scale-down-catalog", title: "Scale down the catalog", state: "pending" },
  ],
  controls: ["retry", "rollback", "abandon"],
};

const REASON =
  "Cancelled by <@UCANCEL1> at the phase boundary before phase 2 (Scale down the catalog); <@WENTERPRISE2> was told.";

function halted() {
  return haltedMessage({
    kinds: DEFAULT_KINDS,
    request: request(),
    status,
    phase: status.phases[1],
    reason: REASON,
    account: { state: ["iox-shared-catalog: 1 replica"], rollback: "scales everything back up." },
  });
}

describe("notification text of run messages", () => {
  it("calls a halted backup a backup: headline and the warning that the target stays down", () => {
    const message = haltedMessage({
      kinds: DEFAULT_KINDS,
      request: request({ kind: "influxdb-oss", operation: "backup", target: "influx1" }),
      status: {
        ...status,
        phases: [
          { index: 1, name: "stop-node", title: "Stop InfluxDB", state: "succeeded" },
          { index: 2, name: "archive", title: "Stream the archive", state: "failed" },
          { index: 3, name: "start-node", title: "Start InfluxDB", state: "pending" },
        ],
      },
      phase: { index: 2, name: "archive", title: "Stream the archive", state: "failed" },
      reason: "tar exited with 2",
      account: { state: ["No complete.json was written."], rollback: "scales influxdb back up." },
    });
    expect(message.text).toContain(
      ":octagonal_sign: *Backup stopped at phase 2/3 (Stream the archive).*",
    );
    expect(message.text).toContain(
      ":warning: *influx1 stays down until someone presses Roll back* (or Retry phase to finish the backup).",
    );
    expect(message.text).not.toMatch(/restore/i);
    // A restore keeps its own words.
    expect(halted().text).toContain(":octagonal_sign: *Restore stopped at phase 2/2");
  });

  it("leaves the people quoted in a cancel reason out of the halt message's text, keeping them in its blocks", () => {
    const message = halted();
    expect(message.text).not.toMatch(/<@/);
    expect(message.text).toContain(
      "Cancelled at the phase boundary before phase 2 (Scale down the catalog); someone was told.",
    );
    const blocksJson = JSON.stringify(message.blocks);
    expect(blocksJson).toContain("Cancelled by <@UCANCEL1> at the phase boundary");
    expect(blocksJson).toContain("<@UREQ1>");
  });

  it("keeps no raw ID in the halt message once its buttons are replaced, even for one stored with the old text", () => {
    const message = halted();
    const choice = { userId: "UAPPROVER1", control: "rollback" as const, at: NOW };
    const replaced = withoutButtons({ channel: "C1", ts: "1.2", ...message }, choice);
    expect(replaced.text).not.toMatch(/<@/);
    expect(JSON.stringify(replaced.blocks)).toContain("<@UAPPROVER1> chose *Roll back*");
    const stored = { channel: "C1", ts: "1.2", text: `Stopped. ${REASON}`, blocks: message.blocks };
    expect(withoutButtons(stored, choice).text).not.toMatch(/<@/);
  });

  it("keeps no raw ID in the live status card's text", () => {
    expect(statusCard(request({ reason: "asked by <@UOTHER1>" }), status, NOW).text).not.toMatch(
      /<@/,
    );
  });
});
