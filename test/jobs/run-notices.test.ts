import { afterEach, describe, expect, it } from "vitest";
import { CHANNEL, type RestoreEnv, startRestoreEnv } from "./support/restore-env.js";
import { phaseRows, resumeHalted } from "./support/run-fixtures.js";
import { until } from "./support/until.js";

/**
 * A restore cancelled after it took the cluster down: the halt says up front that the cluster
 * stays down until someone presses Roll back, the requester and the approvers get a direct
 * message when it halts and when it ends, and the card names who cancelled and says no data
 * was lost when the catalog restore never started.
 */

let env: RestoreEnv | undefined;

afterEach(async () => {
  await env?.close();
  env = undefined;
});

function dmsTo(e: RestoreEnv, user: string): string[] {
  return e.slack
    .calls("chat.postMessage")
    .filter((c) => c.args.channel === user && c.response?.ok)
    .map((c) => String(c.args.text ?? ""));
}

describe("a run cancelled after scale-down", () => {
  it("says the cluster stays down, tells the requester and approvers, and names who cancelled", async () => {
    env = await startRestoreEnv({ label: "notices" });
    const e = env;
    const { id, cardTs } = await e.newRequest();
    await e.pool.query(
      "INSERT INTO approvals (request_id, approver, decision) VALUES ($1, 'UAPPROVER1', 'approve')",
      [id],
    );
    e.startWorker();
    // /restore cancel lands while the catalog is being scaled down (phase 6).
    const cancelled = (async () => {
      for (;;) {
        const rows = await phaseRows(e.pool, id);
        if (rows.some((r) => r.phase === "scale-down-catalog")) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      await e.pool.query(
        "UPDATE restore_requests SET cancel_requested = true, cancel_requested_by = 'UCANCELLER' WHERE id = $1",
        [id],
      );
      // As /restore cancel does: the column and its audit event.
      await e.pool.query(
        "INSERT INTO audit_events (request_id, target, actor, event) VALUES ($1, 'prod', 'UCANCELLER', 'cancel_requested')",
        [id],
      );
    })();
    await e.enqueue(id);
    await cancelled;
    expect(await e.waitForState(id, ["halted", "succeeded"], 30_000)).toBe("halted");

    const halt = await e.slack.waitForMessage(
      CHANNEL,
      (m) => m.threadTs === cardTs && /Restore stopped/.test(m.text ?? ""),
      { timeoutMs: 15_000 },
    );
    expect(halt.text).toContain("prod stays down until someone presses Roll back");
    for (const person of ["UREQUESTER", "UAPPROVER1"])
      await until(
        () => dmsTo(e, person).some((t) => /stopped/.test(t) && /prod` stays down/.test(t)),
        `a direct message to ${person} about the halt`,
        15_000,
      );
    await until(
      () => JSON.stringify(e.slack.message(CHANNEL, cardTs)?.blocks ?? []).includes("Halted"),
      "the card showing the halt",
      15_000,
    );
    const haltedCard = JSON.stringify(e.slack.message(CHANNEL, cardTs)?.blocks ?? []);
    expect(haltedCard).toContain("Cancelled by <@UCANCELLER>");
    expect(haltedCard).not.toContain("&lt;@");

    await resumeHalted(e.pool, id, "rollback");
    await e.enqueue(id);
    expect(await e.waitForState(id, ["rolled_back", "halted"], 30_000)).toBe("rolled_back");
    for (const person of ["UREQUESTER", "UAPPROVER1"])
      await until(
        () => dmsTo(e, person).some((t) => /was rolled back/.test(t)),
        `a direct message to ${person} about the roll back`,
        15_000,
      );
    await until(
      () => JSON.stringify(e.slack.message(CHANNEL, cardTs)?.blocks ?? []).includes("Rolled back"),
      "the card showing the roll back",
      15_000,
    );
    const card = JSON.stringify(e.slack.message(CHANNEL, cardTs)?.blocks ?? []);
    expect(card).toContain("No data lost");
    expect(card).not.toContain("Data loss:*");
    // Nobody else got a message.
    expect(dmsTo(e, "UCANCELLER")).toEqual([]);
  });
});
