import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import type { ClusterSnapshot, SimEvent } from "../../stand-ins/kubernetes/index.js";
import { orderingViolations } from "./support/ordering.js";
import { type RestoreEnv, startRestoreEnv } from "./support/restore-env.js";
import { phaseRows } from "./support/run-fixtures.js";
import { replicasOf, until } from "./support/until.js";

/**
 * restorebot's own database drops its connections in the middle of a run (a failover, a
 * restart: pg_terminate_backend here), during phase 4's write and through phase 5. The phase's checkpoint writes reconnect and retry; the
 * phase is never failed for it, and the restore finishes as if nothing had happened.
 */

const NAMES = { catalog: "iox-shared-catalog", ingester: "iox-shared-ingester" };

let env: RestoreEnv | undefined;

afterEach(async () => {
  await env?.close();
  env = undefined;
});

async function expectFinishedCleanly(e: RestoreEnv, id: string, initial: ClusterSnapshot) {
  const originals = replicasOf(initial);
  expect(await e.waitForState(id, ["succeeded", "halted", "rolled_back"], 120_000)).toBe(
    "succeeded",
  );
  const { rows } = await e.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM audit_events WHERE request_id = $1 AND event IN ('phase_failed', 'halted')",
    [id],
  );
  expect(rows[0]?.n).toBe(0);
  expect((await phaseRows(e.pool, id)).map((p) => p.state)).toEqual(Array(10).fill("succeeded"));
  expect(orderingViolations(initial, e.sim.events(), NAMES, originals)).toEqual([]);
  expect(replicasOf(e.sim.snapshot())).toEqual(originals);
  expect(e.sim.snapshot().customResource?.paused).toBe(false);
  expect(await e.catalogEqualsSnapshot()).toBe(true);
}

describe("restorebot's database drops its connections mid-run", { timeout: 300_000 }, () => {
  it("a checkpoint write cut off mid-statement is retried on a new connection; the phase does not fail", async () => {
    env = await startRestoreEnv({ label: "botdb_cut" });
    const e = env;
    const initial = e.sim.snapshot();
    // Phase 4's write of the replica counts is held until its connection is dropped under it:
    // every connection of restorebot's database but this one and the session holding the
    // target lock (which the next test drops too) is terminated while the write is in flight.
    const blocker = new pg.Client({ connectionString: e.db.url });
    blocker.on("error", () => undefined);
    await blocker.connect();
    const admin = new pg.Client({ connectionString: e.db.url });
    admin.on("error", () => undefined);
    await admin.connect();
    e.startWorker();
    const { id } = await e.newRequest();
    try {
      await blocker.query("BEGIN");
      await blocker.query("LOCK TABLE replica_records IN EXCLUSIVE MODE");
      await e.enqueue(id);
      // Watched from another session: inside its transaction, the blocker's view of
      // pg_stat_activity is a snapshot that never changes.
      await until(async () => {
        const { rows } = await admin.query(
          "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO replica_records%'",
        );
        return rows.length > 0 || undefined;
      }, "phase 4's write to wait on the table");
      const { rows } = await admin.query<{ n: number }>(
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> $1
           AND pid NOT IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)`,
        [(blocker as unknown as { processID: number }).processID],
      );
      expect(rows[0]?.n).toBeGreaterThan(0);
      await blocker.query("ROLLBACK");
    } finally {
      await blocker.end();
      await admin.end();
    }

    await expectFinishedCleanly(e, id, initial);
    const phases = await phaseRows(e.pool, id);
    expect(phases.find((p) => p.phase === "record-replicas")?.attempt).toBe(1);
  });

  it("every connection, the target lock's included, dropped again and again: the run stops and resumes, never fails", async () => {
    env = await startRestoreEnv({
      label: "botdb_all",
      sim: { overrides: { [NAMES.ingester]: { terminationDelayMs: 1_500 } } },
    });
    const e = env;
    const initial = e.sim.snapshot();
    e.startWorker();
    const { id } = await e.newRequest();
    let scaledDown = false;
    const off = e.sim.on("change", ((ev: SimEvent) => {
      if (ev.type === "scale" && ev.component === NAMES.ingester && ev.to === 0) scaledDown = true;
    }) as (event: SimEvent) => void);
    await e.enqueue(id);
    await until(() => scaledDown || undefined, "phase 5 to scale the ingesters down");
    off();
    // Until the ingesters are gone and a moment after: the phase's end falls inside.
    const admin = new pg.Client({ connectionString: e.db.url });
    admin.on("error", () => undefined);
    await admin.connect();
    let rounds = 0;
    try {
      const gone = () =>
        e.sim.snapshot().components.every((c) => c.name === NAMES.catalog || c.pods.length === 0);
      let after = 0;
      while (after < 20) {
        await admin.query(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
        );
        rounds++;
        if (gone()) after++;
        await new Promise((r) => setTimeout(r, 25));
      }
    } finally {
      await admin.end();
    }
    expect(rounds).toBeGreaterThan(20);
    await expectFinishedCleanly(e, id, initial);
  });
});
