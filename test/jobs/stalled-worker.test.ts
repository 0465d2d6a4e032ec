import { afterEach, describe, expect, it } from "vitest";
import type { SimEvent } from "../../stand-ins/kubernetes/index.js";
import { orderingViolations } from "./support/ordering.js";
import { type RestoreEnv, startRestoreEnv } from "./support/restore-env.js";
import { phaseRows } from "./support/run-fixtures.js";
import { replicasOf, until } from "./support/until.js";
import { startWorkerProcess, type WorkerProcess } from "./support/worker-process.js";

/**
 * The BullMQ lock is short (so a killed worker's run resumes within seconds), which means a
 * worker that is merely frozen — a long GC, a stalled VM; here SIGSTOP — loses it, and another
 * worker picks the job up. That second worker must not act while the first still holds the
 * per-target lock: the run is never executed twice at the same time.
 */

const NAMES = { catalog: "iox-shared-catalog", ingester: "iox-shared-ingester" };

let env: RestoreEnv | undefined;
const processes: WorkerProcess[] = [];

afterEach(async () => {
  for (const p of processes.splice(0)) {
    if (p.child.signalCode === null && p.child.exitCode === null) p.child.kill("SIGCONT");
    await p.stop().catch(() => undefined);
  }
  await env?.close();
  env = undefined;
});

describe("a worker frozen past its BullMQ lock", { timeout: 300_000 }, () => {
  it("keeps the run: the worker that picks the job up waits for the target lock and never starts a phase", async () => {
    env = await startRestoreEnv({
      label: "stall",
      sim: { overrides: { [NAMES.ingester]: { terminationDelayMs: 500 } } },
    });
    const e = env;
    const initial = e.sim.snapshot();
    const originals = replicasOf(initial);
    // Both workers with the production lock settings (the fixture's defaults).
    const childEnv = await e.childEnv();
    const a = await startWorkerProcess(childEnv);
    processes.push(a);
    const { id } = await e.newRequest();
    // Frozen in the middle of phase 5, the moment the ingesters are told to go.
    let frozen = false;
    const off = e.sim.on("change", ((ev: SimEvent) => {
      if (ev.type === "scale" && ev.component === NAMES.ingester && ev.to === 0 && !frozen) {
        frozen = true;
        a.child.kill("SIGSTOP");
        off();
      }
    }) as (event: SimEvent) => void);
    await e.enqueue(id);
    await until(
      async () => ((await phaseRows(e.pool, id)).length > 0 ? true : undefined),
      "worker A to start the run",
    );
    // B starts once A has the job, so it is a second worker, not one that raced A for it.
    const b = await startWorkerProcess(childEnv);
    processes.push(b);
    await until(() => frozen || undefined, "worker A to reach phase 5");
    const phasesAtFreeze = await phaseRows(e.pool, id);
    // A's BullMQ lock expires and B takes the job: it must find the target lock held by A and
    // wait. Watched for together with any checkpoint moving, which only B could cause now.
    const snapshotOf = (rows: Awaited<ReturnType<typeof phaseRows>>) =>
      JSON.stringify(rows.map((p) => [p.phase, p.state, p.attempt]));
    await until(
      async () =>
        /another worker holds this target's lock/.test(b.output()) ||
        snapshotOf(await phaseRows(e.pool, id)) !== snapshotOf(phasesAtFreeze) ||
        undefined,
      () => `worker B to take the job; B:\n${b.output()}`,
    );
    // While A is frozen, nothing moved: no phase began or ended.
    expect(snapshotOf(await phaseRows(e.pool, id))).toBe(snapshotOf(phasesAtFreeze));
    a.child.kill("SIGCONT");

    const state = await e.waitForState(id, ["succeeded", "halted", "rolled_back"], 180_000);
    expect(state, `A:\n${a.output()}\nB:\n${b.output()}`).toBe("succeeded");
    // Every phase ran exactly once: B never started one while A held the run.
    const phases = await phaseRows(e.pool, id);
    expect(phases.map((p) => [p.phase, p.attempt])).toEqual(phases.map((p) => [p.phase, 1]));
    expect(phases.map((p) => p.state)).toEqual(Array(10).fill("succeeded"));
    const { rows } = await e.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM audit_events WHERE request_id = $1 AND event = 'phase_started'",
      [id],
    );
    expect(rows[0]?.n).toBe(10);
    expect(orderingViolations(initial, e.sim.events(), NAMES, originals)).toEqual([]);
    expect(replicasOf(e.sim.snapshot())).toEqual(originals);
    expect(await e.catalogEqualsSnapshot()).toBe(true);
  });
});
