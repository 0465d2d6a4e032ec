import { afterEach, describe, expect, it } from "vitest";
import type { SimEvent } from "../../stand-ins/kubernetes/index.js";
import { type RestoreEnv, startRestoreEnv } from "./support/restore-env.js";
import { phaseRows, requestRow } from "./support/run-fixtures.js";

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
      // A wait of a few seconds, so its progress line reaches the thread (Slack is paced at
      // about one call a second, and a line not yet sent when the phase ends is dropped).
      sim: { overrides: { [NAMES.ingester]: { terminationDelayMs: 1_000 } } },
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

describe("each wait cross-checks the workload's own status", () => {
  it("holds 'every catalog pod gone' until the StatefulSet reports 0 replicas at the latest scale, though a pod lost its label and owner", async () => {
    env = await startRestoreEnv({
      label: "wl_gone",
      sim: { overrides: { [NAMES.catalog]: { terminationDelayMs: 300 } } },
    });
    const e = env;
    // Nothing on catalog-0 names its workload any more; only the StatefulSet still knows it.
    expect(e.sim.relabelPod(`${NAMES.catalog}-0`, "debug", { dropOwner: true })).toBe(true);
    // A controller lagging behind: its status stays at 3 replicas, from before the scale.
    e.sim.freezeWorkloadStatus(NAMES.catalog);
    e.startWorker({ progressIntervalMs: 100 });
    const { id } = await e.newRequest();
    await e.enqueue(id);
    await e.sim.waitFor(
      (snap) =>
        snap.components.find((c) => c.name === NAMES.catalog)?.specReplicas === 0 &&
        snap.components.find((c) => c.name === NAMES.catalog)?.pods.length === 0,
      60_000,
    );
    await expect
      .poll(() => everythingSaid(e), { timeout: 30_000, interval: 200 })
      .toMatch(
        /pods gone, but StatefulSet iox-shared-catalog still reports 3 replicas \(3 ready\) and has not yet acted on the latest scale \(generation \d+, observed \d+\)/,
      );
    // Every pod is gone, yet the catalog database was not touched while the workload disagreed.
    const phases = await phaseRows(e.pool, id);
    expect(phases.map((p) => p.phase)).not.toContain("restore-catalog");
    expect(phases.find((p) => p.phase === "scale-down-catalog")?.state).toBe("running");
    e.sim.releaseWorkloadStatus(NAMES.catalog);
    expect(
      await e.waitForState(id, ["succeeded", "halted"], 60_000),
      JSON.stringify(await requestRow(e.pool, id)),
    ).toBe("succeeded");
    expect(await e.catalogEqualsSnapshot()).toBe(true);
  });

  it("holds a 'ready' wait until the StatefulSet itself reports the pods ready at the latest scale", async () => {
    env = await startRestoreEnv({ label: "wl_ready" });
    const e = env;
    // Once the catalog is down, its controller stops updating the status (at 0 replicas).
    const off = e.sim.on("change", ((ev: SimEvent) => {
      if (ev.type !== "pod-deleted" || ev.component !== NAMES.catalog) return;
      const catalog = e.sim.snapshot().components.find((c) => c.name === NAMES.catalog);
      if (catalog?.specReplicas === 0 && catalog.pods.length === 0) {
        off();
        e.sim.freezeWorkloadStatus(NAMES.catalog);
      }
    }) as (event: SimEvent) => void);
    e.startWorker({ progressIntervalMs: 100 });
    const { id } = await e.newRequest();
    await e.enqueue(id);
    await expect
      .poll(() => everythingSaid(e), { timeout: 60_000, interval: 200 })
      .toMatch(
        /iox-shared-catalog: \d of \d needed pods ready, but StatefulSet iox-shared-catalog still reports 0 replicas \(0 ready\) and has not yet acted on the latest scale/,
      );
    const phases = await phaseRows(e.pool, id);
    expect(phases.find((p) => p.phase === "scale-up")?.state).toBe("running");
    // The rest of the install is not scaled up while the catalog's own status disagrees.
    const ingesterUp = e.sim
      .events()
      .some((x) => x.type === "scale" && x.component === NAMES.ingester && x.to > 0);
    expect(ingesterUp).toBe(false);
    e.sim.releaseWorkloadStatus(NAMES.catalog);
    expect(
      await e.waitForState(id, ["succeeded", "halted"], 60_000),
      JSON.stringify(await requestRow(e.pool, id)),
    ).toBe("succeeded");
  });
});
