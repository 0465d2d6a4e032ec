import { afterEach, describe, expect, it } from "vitest";
import type { SimEvent } from "../stand-ins/kubernetes/index.js";
import { type RestoreEnv, startRestoreEnv } from "./support/restore-env.js";
import { requestRow } from "./support/run-fixtures.js";

/**
 * Pods are a workload's by label *or* by owner: a relabelled pod still holds up "gone", a pod
 * stopped for good (Evicted) does not, and each is named in the progress line. The catalog SQL
 * does not start unless the operator is still paused.
 */

const NAMES = { catalog: "iox-shared-catalog", ingester: "iox-shared-ingester" };

let env: RestoreEnv | undefined;

afterEach(async () => {
  await env?.close();
  env = undefined;
});

/** Every text the thread and the card showed, updates included. */
function everythingSaid(e: RestoreEnv): string {
  return e.slack
    .calls()
    .map((c) => `${String(c.args.text ?? "")} ${JSON.stringify(c.args.blocks ?? [])}`)
    .join("\n");
}

describe("pods matched by label and owner", () => {
  it("waits for a relabelled ingester pod before the catalog goes down, and names it", async () => {
    env = await startRestoreEnv({
      label: "relabel",
      sim: { overrides: { [NAMES.ingester]: { terminationDelayMs: 1_000 } } },
    });
    const e = env;
    // Ingester-0 is the last to go (OrderedReady): with a wrong label it would be missed.
    expect(e.sim.relabelPod(`${NAMES.ingester}-0`, "debug")).toBe(true);
    e.startWorker({ progressIntervalMs: 100 });
    const { id } = await e.newRequest();
    await e.enqueue(id);
    expect(await e.waitForState(id, ["succeeded", "halted"], 60_000)).toBe("succeeded");
    const events = e.sim.events();
    const relabelledGone = events.findIndex(
      (x) => x.type === "pod-deleted" && x.pod === `${NAMES.ingester}-0`,
    );
    const catalogDown = events.findIndex(
      (x) => x.type === "scale" && x.component === NAMES.catalog && x.to === 0,
    );
    expect(relabelledGone).toBeGreaterThanOrEqual(0);
    expect(catalogDown).toBeGreaterThan(relabelledGone);
    expect(everythingSaid(e)).toMatch(
      /iox-shared-ingester-0 \([^)]*labelled app=debug, owned by iox-shared-ingester\)/,
    );
  });

  it("does not wait for an Evicted pod to go, and says which pod it is and why", async () => {
    env = await startRestoreEnv({
      label: "evicted",
      timeouts: { podsGone: "20s", podsReady: "20s" },
    });
    const e = env;
    const querier = e.sim.snapshot().components.find((c) => c.name === "iox-shared-querier");
    const victim = querier?.pods[0]?.name ?? "";
    expect(e.sim.evictPod(victim)).toBe(true);
    e.startWorker({ progressIntervalMs: 100 });
    const { id } = await e.newRequest();
    await e.enqueue(id);
    expect(
      await e.waitForState(id, ["succeeded", "halted"], 60_000),
      JSON.stringify(await requestRow(e.pool, id)),
    ).toBe("succeeded");
    // Still there (nobody deleted it), stopped for good, and named.
    expect(
      e.sim
        .snapshot()
        .components.find((c) => c.name === "iox-shared-querier")
        ?.pods.some((p) => p.name === victim && p.phase === "Failed"),
    ).toBe(true);
    expect(everythingSaid(e)).toMatch(new RegExp(`${victim} \\(Failed: Evicted\\)`));
  });
});

describe("before the catalog SQL", () => {
  it("refuses to touch the catalog database when the operator was unpaused after phase 6 began", async () => {
    env = await startRestoreEnv({
      label: "unpaused_sql",
      sim: { overrides: { [NAMES.catalog]: { terminationDelayMs: 500 } } },
    });
    const e = env;
    const off = e.sim.on("change", ((ev: SimEvent) => {
      if (ev.type === "scale" && ev.component === NAMES.catalog && ev.to === 0) {
        off();
        e.sim.setPaused(false);
      }
    }) as (event: SimEvent) => void);
    e.startWorker();
    const { id } = await e.newRequest();
    await e.enqueue(id);
    expect(await e.waitForState(id, ["halted", "succeeded"], 60_000)).toBe("halted");
    const row = await requestRow(e.pool, id);
    expect(row.halted_phase).toBe("phase 7 — Restore the catalog database");
    expect(row.halted_reason).toMatch(/operator is not paused.*catalog database was not touched/);
    // Still the drifted catalog, not the snapshot.
    expect(await e.catalogEqualsSnapshot()).toBe(false);
  });
});
