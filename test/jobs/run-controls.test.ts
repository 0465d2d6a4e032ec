import { afterEach, describe, expect, it } from "vitest";
import { CHANNEL, type RestoreEnv, startRestoreEnv } from "./support/restore-env.js";
import { phaseRows, requestRow } from "./support/run-fixtures.js";
import { replicasOf } from "./support/until.js";

/**
 * Retry phase, Roll back and Abandon pressed in Slack (signed block_actions to the real bot),
 * carried out by the real worker: who may press them, what each does, and the audit trail.
 */

const INGESTER = "iox-shared-ingester";
let env: RestoreEnv | undefined;

afterEach(async () => {
  await env?.close();
  env = undefined;
});

/** A run halted at phase 5 because ingester pods never terminate; returns the halt message. */
async function haltedRun(e: RestoreEnv) {
  e.sim.neverTerminate(INGESTER);
  e.startWorker();
  const { id, cardTs } = await e.newRequest();
  await e.enqueue(id);
  expect(await e.waitForState(id, ["halted", "succeeded"], 30_000)).toBe("halted");
  const halt = await e.slack.waitForMessage(
    CHANNEL,
    (m) => m.threadTs === cardTs && /Restore stopped/.test(m.text ?? ""),
    { timeoutMs: 10_000 },
  );
  return { id, cardTs, haltTs: halt.ts };
}

async function audit(e: RestoreEnv, id: string): Promise<Array<{ actor: string; event: string }>> {
  const { rows } = await e.pool.query(
    "SELECT actor, event, details FROM audit_events WHERE request_id = $1 ORDER BY id",
    [id],
  );
  return rows;
}

function lastAnswer(e: RestoreEnv): string {
  return String(e.slack.responses().at(-1)?.body.text ?? "");
}

describe("run controls", () => {
  it("lets only the requester and approvers press them; Roll back returns the cluster to its recorded replicas, unpaused", async () => {
    env = await startRestoreEnv({
      label: "ctl_rb",
      timeouts: { podsGone: "2s", podsReady: "10s" },
    });
    const e = env;
    const originals = replicasOf(e.sim.snapshot());
    e.slack.setUserGroup("SONCALL", ["UONCALL01"]);
    const { sender } = await e.startBot();
    const { id, haltTs } = await haltedRun(e);

    await sender.clickButton({
      userId: "USTRANGER1",
      channelId: CHANNEL,
      messageTs: haltTs,
      actionId: "run_control_rollback",
    });
    await expect
      .poll(() => lastAnswer(e))
      .toMatch(/Only the requester \(<@UREQUESTER>\) or an approver/);
    expect((await requestRow(e.pool, id)).state).toBe("halted");
    expect(await audit(e, id)).toContainEqual(
      expect.objectContaining({ actor: "USTRANGER1", event: "refused" }),
    );

    await sender.clickButton({
      userId: "UAPPROVER1",
      channelId: CHANNEL,
      messageTs: haltTs,
      actionId: "run_control_rollback",
    });
    await e.waitForState(id, ["running", "rolled_back"], 10_000);
    expect(await e.waitForState(id, ["rolled_back", "halted"], 30_000)).toBe("rolled_back");
    expect(await audit(e, id)).toContainEqual(
      expect.objectContaining({ actor: "UAPPROVER1", event: "rollback_requested" }),
    );
    const final = e.sim.snapshot();
    expect(replicasOf(final)).toEqual(originals);
    expect(final.customResource?.paused).toBe(false);
    await e.slack.waitForMessage(CHANNEL, (m) =>
      /<@UAPPROVER1> pressed \*Roll back\*/.test(m.text ?? ""),
    );
    // The halt message in the thread keeps no stale buttons: it says who chose what instead.
    const haltAfter = JSON.stringify(e.slack.message(CHANNEL, haltTs)?.blocks ?? []);
    expect(haltAfter).not.toContain("run_control_");
    expect(haltAfter).toContain("<@UAPPROVER1> chose *Roll back* at");
    await e.slack.waitForMessage(CHANNEL, (m) => /Rolled back prod/.test(m.text ?? ""), {
      timeoutMs: 10_000,
    });

    // A second press (from a client still showing the old buttons) finds nothing to do.
    await sender.blockActions({
      userId: "UAPPROVER2",
      channelId: CHANNEL,
      message: { ts: haltTs },
      actions: [{ action_id: "run_control_abandon", value: id }],
    });
    await expect.poll(() => lastAnswer(e)).toMatch(/is rolled back, not halted/);
    // Every press is in the audit log, including one that found nothing to do.
    expect(await audit(e, id)).toContainEqual(
      expect.objectContaining({
        actor: "UAPPROVER2",
        event: "refused",
        details: expect.objectContaining({ action: "abandon", code: "not_halted" }),
      }),
    );
  });

  it("Retry phase, pressed by the requester, resumes at the stopped phase and finishes the restore", async () => {
    env = await startRestoreEnv({
      label: "ctl_retry",
      timeouts: { podsGone: "2s", podsReady: "10s" },
    });
    const e = env;
    const originals = replicasOf(e.sim.snapshot());
    const { sender } = await e.startBot();
    const { id, haltTs } = await haltedRun(e);
    // Whatever held the pods is fixed; the retry finds them gone.
    e.sim.neverTerminate(INGESTER, false);
    await sender.clickButton({
      userId: "UREQUESTER",
      channelId: CHANNEL,
      messageTs: haltTs,
      actionId: "run_control_retry",
    });
    await e.waitForState(id, ["running", "succeeded"], 10_000);
    expect(await e.waitForState(id, ["succeeded", "halted"], 30_000)).toBe("succeeded");
    const phase5 = (await phaseRows(e.pool, id)).find((p) => p.phase === "scale-down-workloads");
    expect(phase5?.attempt).toBe(2);
    expect(replicasOf(e.sim.snapshot())).toEqual(originals);
    expect(await e.catalogEqualsSnapshot()).toBe(true);
    expect(await audit(e, id)).toContainEqual(
      expect.objectContaining({ actor: "UREQUESTER", event: "retry_requested" }),
    );
    await e.slack.waitForMessage(CHANNEL, (m) =>
      /pressed \*Retry phase\*: the run continues at phase 5\/10/.test(m.text ?? ""),
    );
  });

  it("Abandon, pressed by a member of an approver user group, stops restorebot and leaves the cluster as it is", async () => {
    env = await startRestoreEnv({
      label: "ctl_abandon",
      timeouts: { podsGone: "2s", podsReady: "10s" },
    });
    const e = env;
    e.slack.setUserGroup("SONCALL", ["UONCALL01"]);
    const { sender } = await e.startBot();
    const { id, haltTs } = await haltedRun(e);
    const before = e.sim.snapshot();
    const mutations = e.sim.events().filter((x) => x.type === "scale" || x.type === "pause").length;
    await sender.clickButton({
      userId: "UONCALL01",
      channelId: CHANNEL,
      messageTs: haltTs,
      actionId: "run_control_abandon",
    });
    expect(await e.waitForState(id, ["abandoned"], 10_000)).toBe("abandoned");
    expect(await audit(e, id)).toContainEqual(
      expect.objectContaining({ actor: "UONCALL01", event: "abandoned" }),
    );
    await e.slack.waitForMessage(CHANNEL, (m) =>
      /<@UONCALL01> abandoned this restore/.test(m.text ?? ""),
    );
    await new Promise((r) => setTimeout(r, 500));
    expect(e.sim.events().filter((x) => x.type === "scale" || x.type === "pause")).toHaveLength(
      mutations,
    );
    expect(e.sim.snapshot().customResource?.paused).toBe(before.customResource?.paused);
    // The target is free again for a new request.
    const { rows } = await e.pool.query(
      "SELECT count(*)::int AS n FROM restore_requests WHERE target = 'prod' AND state IN ('pending','approved','running','halted')",
    );
    expect(rows[0]?.n).toBe(0);
  });
});
