import { afterEach, describe, expect, it } from "vitest";
import type { ClusterSnapshot, SimEvent } from "../../stand-ins/kubernetes/index.js";
import { orderingViolations } from "./support/ordering.js";
import { type RestoreEnv, startRestoreEnv } from "./support/restore-env.js";
import { phaseRows } from "./support/run-fixtures.js";
import { replicasOf, until } from "./support/until.js";
import { startWorkerProcess, type WorkerProcess } from "./support/worker-process.js";

/**
 * A worker process killed with SIGKILL at the worst moments, then replaced by a new one: the
 * restore resumes at the unfinished phase with the replica counts recorded before the kill,
 * and ends exactly as an uninterrupted run would.
 */

const NAMES = { catalog: "iox-shared-catalog", ingester: "iox-shared-ingester" };
// Enough catalog for the SQL to take a moment, so the kill lands inside it.
const MEDIUM_CATALOG = {
  namespaces: 4,
  tablesPerNamespace: 10,
  columnsPerTable: 8,
  partitionsPerTable: 20,
  filesPerPartition: 10,
};

let env: RestoreEnv | undefined;
const processes: WorkerProcess[] = [];

afterEach(async () => {
  for (const p of processes.splice(0)) await p.stop().catch(() => undefined);
  await env?.close();
  env = undefined;
});

/**
 * Runs a restore in worker A and kills it with SIGKILL when `arm` says so. Worker B is started
 * once A has taken the job (so it is a new worker, not one that raced A for it) and finishes
 * the restore; its start overlaps A's run only to keep the test short.
 */
async function restoreWithKill(
  e: RestoreEnv,
  arm: (kill: () => void, requestId: string) => Promise<void> | void,
): Promise<{ id: string; initial: ClusterSnapshot; originals: Record<string, number> }> {
  const initial = e.sim.snapshot();
  const originals = replicasOf(initial);
  const childEnv = await e.childEnv();
  const a = await startWorkerProcess(childEnv);
  processes.push(a);
  const { id } = await e.newRequest();
  const kill = () => {
    if (a.child.signalCode === null && a.child.exitCode === null) a.child.kill("SIGKILL");
  };
  const armed = arm(kill, id);
  await e.enqueue(id);
  await until(
    async () => ((await phaseRows(e.pool, id)).length > 0 ? true : undefined),
    "worker A to start the run",
  );
  const b = startWorkerProcess(childEnv).then((w) => {
    processes.push(w);
    return w;
  });
  await armed;
  await until(() => (a.child.signalCode === "SIGKILL" ? true : undefined), "worker A to die");
  const worker = await b;
  const state = await e.waitForState(id, ["succeeded", "halted", "rolled_back"], 180_000);
  expect(state, `worker B output:\n${worker.output()}`).toBe("succeeded");
  return { id, initial, originals };
}

async function expectRestoredCorrectly(
  e: RestoreEnv,
  run: { id: string; initial: ClusterSnapshot; originals: Record<string, number> },
): Promise<void> {
  expect(orderingViolations(run.initial, e.sim.events(), NAMES, run.originals)).toEqual([]);
  const final = e.sim.snapshot();
  expect(replicasOf(final)).toEqual(run.originals);
  expect(final.customResource?.paused).toBe(false);
  expect(await e.catalogEqualsSnapshot()).toBe(true);
  // The counts recorded before the kill are what the cluster was scaled back to.
  const { rows } = await e.pool.query(
    "SELECT component, replicas FROM replica_records WHERE request_id = $1",
    [run.id],
  );
  expect(Object.fromEntries(rows.map((r) => [r.component, r.replicas]))).toEqual(run.originals);
  const phases = await phaseRows(e.pool, run.id);
  expect(phases.map((p) => p.state)).toEqual(Array(10).fill("succeeded"));
}

const scaleEvent = (events: readonly SimEvent[], component: string, to: number) =>
  events.find((x) => x.type === "scale" && x.component === component && x.to === to);

describe("kill -9 of the worker", { timeout: 300_000 }, () => {
  it("during the wait for non-catalog pods to go: a new worker resumes the wait and finishes", async () => {
    env = await startRestoreEnv({
      label: "kill_wait",
      sim: { overrides: { [NAMES.ingester]: { terminationDelayMs: 700 } } },
    });
    const e = env;
    const run = await restoreWithKill(e, async (kill) => {
      await until(() => scaleEvent(e.sim.events(), NAMES.ingester, 0), "ingesters scaled to 0");
      kill();
    });
    await expectRestoredCorrectly(e, run);
    const phase5 = (await phaseRows(e.pool, run.id)).find(
      (p) => p.phase === "scale-down-workloads",
    );
    expect(phase5?.attempt).toBe(2);
    // The catalog went down only once, after the ingesters were gone, whoever scaled it.
    expect(
      e.sim
        .events()
        .filter((x) => x.type === "scale" && x.component === NAMES.catalog && x.to === 0),
    ).toHaveLength(1);
  });

  it("right after the catalog was scaled down: the new worker waits for its pods before touching the catalog", async () => {
    env = await startRestoreEnv({
      label: "kill_cat",
      sim: { overrides: { [NAMES.catalog]: { terminationDelayMs: 300 } } },
    });
    const e = env;
    const run = await restoreWithKill(e, (kill, _id) => {
      const off = e.sim.on("change", ((ev: SimEvent) => {
        if (ev.type === "scale" && ev.component === NAMES.catalog && ev.to === 0) {
          kill();
          off();
        }
      }) as (event: SimEvent) => void);
    });
    await expectRestoredCorrectly(e, run);
    const phases = await phaseRows(e.pool, run.id);
    expect(phases.find((p) => p.phase === "scale-down-catalog")?.attempt).toBe(2);
    const restore = phases.find((p) => p.phase === "restore-catalog");
    const catalogGone =
      e.sim
        .events()
        .filter((x) => x.type === "pod-deleted" && x.component === NAMES.catalog)
        .at(-1)?.at ?? 0;
    expect(new Date(String(restore?.facts.restoreStartedAt)).getTime()).toBeGreaterThanOrEqual(
      catalogGone,
    );
  });

  it("in the middle of the catalog SQL: nothing is committed, and the new worker restores it exactly", async () => {
    env = await startRestoreEnv({ label: "kill_sql", catalogSize: MEDIUM_CATALOG });
    const e = env;
    const catalog = await import("pg").then(
      (m) => new m.default.Pool({ connectionString: e.catalogDb.url, max: 2 }),
    );
    try {
      const run = await restoreWithKill(e, async (kill) => {
        // Killed once the restore's transaction has loaded some rows.
        await until(async () => {
          const { rows } = await catalog.query(
            "SELECT state FROM pg_stat_activity WHERE application_name = 'restorebot restore-catalog' AND datname = current_database() AND xact_start IS NOT NULL",
          );
          return rows.length ? true : undefined;
        }, "the catalog restore transaction");
        await new Promise((r) => setTimeout(r, 150));
        kill();
        // PostgreSQL rolls the dead client's transaction back: the catalog is as it was.
        await until(async () => {
          const { rows } = await catalog.query(
            "SELECT 1 FROM pg_stat_activity WHERE application_name = 'restorebot restore-catalog' AND datname = current_database()",
          );
          return rows.length === 0 ? true : undefined;
        }, "the dead restore's session to end");
        const { rows } = await catalog.query(
          "SELECT to_regclass('iox_catalog.created_after_snapshot') AS t",
        );
        expect(rows[0]?.t).toBe("iox_catalog.created_after_snapshot");
      });
      await expectRestoredCorrectly(e, run);
      expect(
        (await phaseRows(e.pool, run.id)).find((p) => p.phase === "restore-catalog")?.attempt,
      ).toBe(2);
    } finally {
      await catalog.end();
    }
  });
});
