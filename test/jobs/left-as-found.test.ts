import { afterEach, describe, expect, it } from "vitest";
import type { ClusterSnapshot } from "../../stand-ins/kubernetes/index.js";
import { CHANNEL, type RestoreEnv, startRestoreEnv } from "./support/restore-env.js";
import { phaseRows, resumeHalted } from "./support/run-fixtures.js";

/**
 * What restorebot finds, it leaves: an operator someone else paused stays paused (phase 10 and
 * Roll back alike), and a cluster a halted or abandoned run left scaled down is never
 * "restored" to zero — the next run carries that run's recorded counts forward.
 */

const NAMES = { catalog: "iox-shared-catalog", ingester: "iox-shared-ingester" };

let env: RestoreEnv | undefined;

afterEach(async () => {
  await env?.close();
  env = undefined;
});

function replicasOf(snapshot: ClusterSnapshot): Record<string, number> {
  return Object.fromEntries(snapshot.components.map((c) => [c.name, c.specReplicas]));
}

function threadTexts(e: RestoreEnv, cardTs: string): string[] {
  return e.slack
    .thread(CHANNEL, cardTs)
    .slice(1)
    .map((m) => m.text ?? "");
}

/** The approval card as it stands now (text and blocks), as people see it. */
function cardText(e: RestoreEnv, cardTs: string): string {
  const card = e.slack.thread(CHANNEL, cardTs)[0];
  return `${card?.text ?? ""}\n${JSON.stringify(card?.blocks ?? [])}`;
}

async function until<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  what: () => string,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const operatorPatches = (e: RestoreEnv) =>
  e.sim.events().filter((x) => x.type === "pause" && x.source === "api");

describe("an operator someone else paused", () => {
  it("stays paused after a successful restore, and the thread and the card say so", async () => {
    env = await startRestoreEnv({ label: "found_paused" });
    const e = env;
    const initial = e.sim.snapshot();
    const originals = replicasOf(initial);
    e.sim.setPaused(true);
    e.startWorker();
    const { id, cardTs } = await e.newRequest();
    await e.enqueue(id);
    expect(await e.waitForState(id, ["succeeded", "halted"], 60_000)).toBe("succeeded");

    expect(e.sim.snapshot().customResource?.paused).toBe(true);
    expect(operatorPatches(e).some((x) => x.type === "pause" && x.to === false)).toBe(false);
    expect(replicasOf(e.sim.snapshot())).toEqual(originals);
    expect(await e.catalogEqualsSnapshot()).toBe(true);
    const phase10 = (await phaseRows(e.pool, id)).find((p) => p.phase === "unpause-operator");
    expect(phase10?.facts.leftPaused).toBe(true);

    await until(
      () =>
        threadTexts(e, cardTs).some((t) => /operator is \*left paused\*, as it was found/.test(t)),
      () => `the thread to say the operator is left paused:\n${threadTexts(e, cardTs).join("\n")}`,
    );
    await until(
      () => /left paused, as found before this run/.test(cardText(e, cardTs)),
      () => `the card to say the operator is left paused:\n${cardText(e, cardTs)}`,
    );
  });

  it("stays paused after Roll back of a halted run, and the halt account says it will", async () => {
    env = await startRestoreEnv({
      label: "found_paused_rb",
      timeouts: { podsGone: "2s", podsReady: "20s" },
    });
    const e = env;
    const initial = e.sim.snapshot();
    const originals = replicasOf(initial);
    e.sim.setPaused(true);
    e.sim.neverTerminate(NAMES.ingester);
    e.startWorker();
    const { id, cardTs } = await e.newRequest();
    await e.enqueue(id);
    expect(await e.waitForState(id, ["halted", "succeeded"], 60_000)).toBe("halted");
    const halt = await e.slack.waitForMessage(
      CHANNEL,
      (m) => m.threadTs === cardTs && /Restore stopped at phase 5\/10/.test(m.text ?? ""),
      { timeoutMs: 20_000 },
    );
    expect(halt.text).toMatch(/leaves the operator paused, as it was found/);
    expect(halt.text).not.toMatch(/unpauses the operator/);

    e.sim.neverTerminate(NAMES.ingester, false);
    await resumeHalted(e.pool, id, "rollback");
    await e.enqueue(id);
    expect(await e.waitForState(id, ["rolled_back", "halted"], 60_000)).toBe("rolled_back");
    expect(replicasOf(e.sim.snapshot())).toEqual(originals);
    expect(e.sim.snapshot().customResource?.paused).toBe(true);
    expect(operatorPatches(e).some((x) => x.type === "pause" && x.to === false)).toBe(false);
    await e.slack.waitForMessage(
      CHANNEL,
      (m) =>
        /Rolled back prod\*: .*operator is \*left paused\*, as it was found/.test(m.text ?? ""),
      { timeoutMs: 20_000 },
    );
  });
});

describe("a cluster left scaled down by an abandoned run", () => {
  it("is restored to the last known-good counts, not to zero, and the card says where they came from", async () => {
    env = await startRestoreEnv({
      label: "left_down",
      timeouts: { podsGone: "2s", podsReady: "20s" },
    });
    const e = env;
    const initial = e.sim.snapshot();
    const originals = replicasOf(initial);
    // Run 1 halts in phase 5 (ingester pods that will not go), and is abandoned: everything but
    // the catalog stays at 0 and the operator stays paused by restorebot.
    e.sim.neverTerminate(NAMES.ingester);
    e.startWorker();
    const first = await e.newRequest();
    await e.enqueue(first.id);
    expect(await e.waitForState(first.id, ["halted", "succeeded"], 60_000)).toBe("halted");
    await e.pool.query(
      "UPDATE restore_requests SET state = 'abandoned', finished_at = now() WHERE id = $1",
      [first.id],
    );
    e.sim.neverTerminate(NAMES.ingester, false);
    await until(
      () =>
        e.sim.snapshot().components.every((c) => c.name === NAMES.catalog || c.pods.length === 0) ||
        undefined,
      () => `the ingester pods to go: ${JSON.stringify(e.sim.snapshot().components)}`,
    );
    const leftDown = replicasOf(e.sim.snapshot());
    expect(Object.values(leftDown).filter((n) => n === 0).length).toBeGreaterThan(0);
    expect(e.sim.snapshot().customResource?.paused).toBe(true);

    // Run 2, on the cluster as run 1 left it.
    const second = await e.newRequest();
    await e.enqueue(second.id);
    expect(await e.waitForState(second.id, ["succeeded", "halted"], 60_000)).toBe("succeeded");
    const { rows } = await e.pool.query<{ component: string; replicas: number }>(
      "SELECT component, replicas FROM replica_records WHERE request_id = $1",
      [second.id],
    );
    expect(Object.fromEntries(rows.map((r) => [r.component, r.replicas]))).toEqual(originals);
    expect(replicasOf(e.sim.snapshot())).toEqual(originals);
    // Run 1 paused it, not someone else: run 2 unpauses it at the end.
    expect(e.sim.snapshot().customResource?.paused).toBe(false);
    expect(await e.catalogEqualsSnapshot()).toBe(true);

    const record = (await phaseRows(e.pool, second.id)).find((p) => p.phase === "record-replicas");
    expect(record?.facts.carriedFrom).toEqual({ requestId: first.id, state: "abandoned" });
    await until(
      () =>
        threadTexts(e, second.cardTs).some((t) =>
          new RegExp(`because ${first.id} was abandoned with the cluster scaled down`).test(t),
        ),
      () =>
        `the thread to say where the counts came from:\n${threadTexts(e, second.cardTs).join("\n")}`,
    );
    await until(
      () => new RegExp(`carried forward from ${first.id}`).test(cardText(e, second.cardTs)),
      () => `the card to say where the counts came from:\n${cardText(e, second.cardTs)}`,
    );
  });
});
