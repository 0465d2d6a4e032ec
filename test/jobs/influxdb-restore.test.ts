import { afterEach, describe, expect, it } from "vitest";
import { createCompensationLog } from "../../src/runbook/compensations.js";
import { lastPodDeletedAt, orderingViolations } from "./support/ordering.js";
import { CHANNEL, DSN_ENV, type RestoreEnv, startRestoreEnv } from "./support/restore-env.js";
import { phaseRows, requestRow, resumeHalted } from "./support/run-fixtures.js";
import { replicasOf } from "./support/until.js";

const NAMES = { catalog: "iox-shared-catalog", ingester: "iox-shared-ingester" };

let env: RestoreEnv | undefined;

afterEach(async () => {
  await env?.close();
  env = undefined;
});

/** Thread replies under the card, as people read them. */
function threadTexts(e: RestoreEnv, cardTs: string): string[] {
  return e.slack
    .thread(CHANNEL, cardTs)
    .slice(1)
    .map((m) => m.text ?? "");
}

describe("InfluxDB Clustered restore, end to end", () => {
  it("runs the ten phases in the runbook's order and leaves the cluster as it was, on the snapshot's catalog", async () => {
    env = await startRestoreEnv({ label: "happy" });
    const e = env;
    const initial = e.sim.snapshot();
    const originals = replicasOf(initial);
    e.startWorker();
    const { id, cardTs } = await e.newRequest();
    await e.enqueue(id);
    expect(await e.waitForState(id, ["succeeded", "halted"], 30_000)).toBe("succeeded");

    const events = e.sim.events();
    expect(orderingViolations(initial, events, NAMES, originals)).toEqual([]);
    const final = e.sim.snapshot();
    expect(replicasOf(final)).toEqual(originals);
    expect(final.customResource?.paused).toBe(false);
    // Paused once, unpaused once at the very end.
    const pauses = events.filter((x) => x.type === "pause");
    expect(pauses.map((p) => p.type === "pause" && p.to)).toEqual([true, false]);
    expect(
      events.filter((x) => x.type === "scale").every((s) => s.seq < (pauses[1]?.seq ?? 0)),
    ).toBe(true);
    expect(await e.catalogEqualsSnapshot()).toBe(true);

    // The catalog database was not touched before the catalog pods were gone.
    const phases = await phaseRows(e.pool, id);
    expect(phases.map((p) => p.state)).toEqual(Array(10).fill("succeeded"));
    const restore = phases.find((p) => p.phase === "restore-catalog");
    const catalogGone = lastPodDeletedAt(events, NAMES.catalog) ?? 0;
    expect(new Date(String(restore?.facts.restoreStartedAt)).getTime()).toBeGreaterThanOrEqual(
      catalogGone,
    );

    // Each wait noticed its condition within a second (watches, not polling).
    const phaseEnd = (name: string) =>
      new Date(String(phases.find((p) => p.phase === name)?.finished_at)).getTime();
    const lastNonCatalogGone = Math.max(
      ...events
        .filter((x) => x.type === "pod-deleted" && x.component !== NAMES.catalog)
        .map((x) => x.at),
    );
    expect(phaseEnd("scale-down-workloads") - lastNonCatalogGone).toBeLessThan(1_000);
    expect(phaseEnd("scale-down-catalog") - catalogGone).toBeLessThan(1_000);
    const catalogUp = events.findIndex(
      (x) => x.type === "scale" && x.component === NAMES.catalog && x.to > 0,
    );
    const secondReady = events
      .slice(catalogUp)
      .filter((x) => x.type === "pod-ready" && x.component === NAMES.catalog)[1];
    const ingesterUp = events.find(
      (x) => x.type === "scale" && x.component === NAMES.ingester && x.to > 0,
    );
    expect((ingesterUp?.at ?? 0) - (secondReady?.at ?? 0)).toBeLessThan(1_000);

    // Recorded once, before anything was scaled, and equal to what the cluster had.
    const { rows: recorded } = await e.pool.query(
      "SELECT component, replicas, recorded_at FROM replica_records WHERE request_id = $1",
      [id],
    );
    expect(Object.fromEntries(recorded.map((r) => [r.component, r.replicas]))).toEqual(originals);
    const firstScale = events.find((x) => x.type === "scale");
    for (const r of recorded)
      expect((r.recorded_at as Date).getTime()).toBeLessThanOrEqual(firstScale?.at ?? 0);

    // Narration: each phase starts and ends in the thread; the card shows every phase done.
    await e.slack.waitForMessage(CHANNEL, (m) => /Restore of prod complete/.test(m.text ?? ""), {
      timeoutMs: 15_000,
    });
    const thread = threadTexts(e, cardTs).join("\n");
    for (const title of [
      "Check the recovery point",
      "Download and prepare the snapshot",
      "Pause the operator",
      "Record replica counts",
      "Scale down everything but the catalog",
      "Scale down the catalog",
      "Restore the catalog database",
      "Scale back up",
      "Verify every pod is ready",
      "Unpause the operator",
    ]) {
      expect(thread).toMatch(new RegExp(`${title}\\*? started`));
      expect(thread).toMatch(new RegExp(`${title}\\*? done in`));
    }
    expect(thread).toMatch(
      /recorded: global-gc 1, global-router 3, iox-shared-querier 2, iox-shared-compactor 1, iox-shared-ingester 3, iox-shared-catalog 3/,
    );
    expect(thread).toMatch(
      /\d+(\.\d)? (KiB|MiB) compressed \(\d+(\.\d)? (KiB|MiB) of SQL\), [\d,]+ rows, committed in one transaction/,
    );
    expect(thread).toMatch(/Total time \*[^*]+\* from approval to done \(the RTO achieved\)/);
    expect(thread).toMatch(/Data-loss window: what was written between 2024-08-12 14:00 UTC and/);
    const card = e.slack.message(CHANNEL, cardTs);
    const cardText = JSON.stringify(card?.blocks ?? []);
    expect(cardText).toContain("Restore succeeded");
    expect((cardText.match(/:white_check_mark: \d+\./g) ?? []).length).toBe(10);
    expect((await requestRow(e.pool, id)).state).toBe("succeeded");
    // Phases 5 and 6 scale through the step library: each recorded its undo before scaling,
    // and phase 8 settled every one by scaling back, so nothing is left for a roll back.
    const undo = await createCompensationLog(e.pool).list(id);
    expect(undo.map((c) => [c.description, c.settledBy])).toEqual([
      ["scale Deployment global-gc back to 1", "run"],
      ["scale Deployment global-router back to 3", "run"],
      ["scale Deployment iox-shared-querier back to 2", "run"],
      ["scale StatefulSet iox-shared-compactor back to 1", "run"],
      ["scale StatefulSet iox-shared-ingester back to 3", "run"],
      ["scale StatefulSet iox-shared-catalog back to 3", "run"],
    ]);
  });

  it("retries Kubernetes API 500s and 409s and still finishes", async () => {
    env = await startRestoreEnv({ label: "faults" });
    const e = env;
    const originals = replicasOf(e.sim.snapshot());
    e.sim.failNext({ resource: "statefulsets/scale", method: "PATCH", status: 500, count: 2 });
    e.sim.failNext({ resource: "deployments/scale", method: "PATCH", status: 409, count: 2 });
    e.sim.failNext({ resource: "appinstances", method: "PATCH", status: 500, count: 1 });
    e.sim.failNext({ resource: "pods", verb: "list", status: 500, count: 2 });
    e.startWorker();
    const { id } = await e.newRequest();
    await e.enqueue(id);
    expect(await e.waitForState(id, ["succeeded", "halted"], 30_000)).toBe("succeeded");
    expect(replicasOf(e.sim.snapshot())).toEqual(originals);
    expect(e.sim.requests().filter((r) => r.faulted).length).toBeGreaterThanOrEqual(7);
    expect(await e.catalogEqualsSnapshot()).toBe(true);
  });

  it("halts when pods never terminate, says what state the cluster is in, and Roll back restores the recorded replicas and unpauses", async () => {
    env = await startRestoreEnv({ label: "stuck", timeouts: { podsGone: "2s", podsReady: "10s" } });
    const e = env;
    const initial = e.sim.snapshot();
    const originals = replicasOf(initial);
    e.sim.neverTerminate(NAMES.ingester);
    e.startWorker();
    const { id, cardTs } = await e.newRequest();
    await e.enqueue(id);
    expect(await e.waitForState(id, ["halted", "succeeded"], 30_000)).toBe("halted");
    const row = await requestRow(e.pool, id);
    expect(row.halted_phase).toBe("phase 5 — Scale down everything but the catalog");
    expect(row.halted_reason).toMatch(/non-catalog pod/);

    const halt = await e.slack.waitForMessage(
      CHANNEL,
      (m) => m.threadTs === cardTs && /Restore stopped at phase 5\/10/.test(m.text ?? ""),
      { timeoutMs: 10_000 },
    );
    const text = halt.text ?? "";
    expect(text).toMatch(/Operator: \*paused\*/);
    expect(text).toMatch(/iox-shared-ingester \(StatefulSet\): 0 replicas \(recorded 3\)/);
    expect(text).toMatch(/terminating/);
    expect(text).toMatch(
      /iox-shared-catalog \(StatefulSet\): 3 replicas \(recorded 3\), 3 ready of 3 pods/,
    );
    expect(text).toMatch(/Catalog database: untouched/);
    const actions = JSON.stringify(halt.blocks ?? []);
    for (const id of ["run_control_retry", "run_control_rollback", "run_control_abandon"])
      expect(actions).toContain(id);
    // The catalog database was never touched.
    expect(await e.catalogEqualsSnapshot()).toBe(false);

    await resumeHalted(e.pool, id, "rollback");
    await e.enqueue(id);
    expect(await e.waitForState(id, ["rolled_back", "halted"], 30_000)).toBe("rolled_back");
    const final = e.sim.snapshot();
    expect(replicasOf(final)).toEqual(originals);
    expect(final.customResource?.paused).toBe(false);
    expect(orderingViolations(initial, e.sim.events(), NAMES, originals)).toEqual([]);
    await e.slack.waitForMessage(CHANNEL, (m) => /Rolled back prod/.test(m.text ?? ""), {
      timeoutMs: 10_000,
    });
  });

  it("stops at the boundary after the catalog restore when cancelled during it, and Roll back says the catalog stays restored", async () => {
    env = await startRestoreEnv({ label: "cancel" });
    const e = env;
    const originals = replicasOf(e.sim.snapshot());
    const { id, cardTs } = await e.newRequest();
    e.startWorker();
    // Cancel as soon as phase 7 (the SQL) has started.
    const cancelled = (async () => {
      for (;;) {
        const rows = await phaseRows(e.pool, id);
        if (rows.some((r) => r.phase === "restore-catalog")) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      await e.pool.query("UPDATE restore_requests SET cancel_requested = true WHERE id = $1", [id]);
    })();
    await e.enqueue(id);
    await cancelled;
    expect(await e.waitForState(id, ["halted", "succeeded"], 30_000)).toBe("halted");
    const rows = await phaseRows(e.pool, id);
    expect(rows.map((r) => `${r.phase}:${r.state}`).at(-1)).toBe("restore-catalog:succeeded");
    expect(await e.catalogEqualsSnapshot()).toBe(true);
    expect((await requestRow(e.pool, id)).halted_reason).toMatch(
      /Cancelled at the phase boundary before phase 8/,
    );
    const halt = await e.slack.waitForMessage(
      CHANNEL,
      (m) => m.threadTs === cardTs && /Restore stopped/.test(m.text ?? ""),
      { timeoutMs: 10_000 },
    );
    expect(halt.text).toMatch(/Catalog database: \*restored\*/);
    expect(halt.text).toMatch(/does \*not\* undo the catalog restore/);

    await resumeHalted(e.pool, id, "rollback");
    await e.enqueue(id);
    expect(await e.waitForState(id, ["rolled_back", "halted"], 30_000)).toBe("rolled_back");
    expect(replicasOf(e.sim.snapshot())).toEqual(originals);
    expect(e.sim.snapshot().customResource?.paused).toBe(false);
    expect(await e.catalogEqualsSnapshot()).toBe(true);
    // Every scale the run recorded was settled by the roll back.
    const undo = await createCompensationLog(e.pool).list(id);
    expect(undo).toHaveLength(6);
    expect(undo.every((c) => c.settledBy === "rollback")).toBe(true);
  });

  it("after a worker died inside the catalog SQL, a failing retry says the catalog may already be restored, not untouched", async () => {
    env = await startRestoreEnv({ label: "sql_unknown" });
    const e = env;
    // The state a worker killed during COMMIT of phase 7 leaves: phases 1-6 done, everything at
    // 0 and paused, counts recorded, phase 7 running with its SQL marked in flight.
    const initial = replicasOf(e.sim.snapshot());
    e.sim.setPaused(true);
    for (const name of Object.keys(initial)) e.sim.scale(name, 0);
    await expect
      .poll(() => e.sim.snapshot().components.every((c) => c.pods.length === 0), {
        timeout: 10_000,
      })
      .toBe(true);
    const { id, cardTs } = await e.newRequest();
    await e.pool.query(
      "UPDATE restore_requests SET state = 'running', started_at = now() WHERE id = $1",
      [id],
    );
    for (const [name, replicas] of Object.entries(initial)) {
      const kind = /global-|querier/.test(name) ? "Deployment" : "StatefulSet";
      await e.pool.query(
        "INSERT INTO replica_records (request_id, component, workload_kind, replicas) VALUES ($1, $2, $3, $4)",
        [id, name, kind, replicas],
      );
    }
    const names = [
      "check-recovery-point",
      "prepare-snapshot",
      "pause-operator",
      "record-replicas",
      "scale-down-workloads",
      "scale-down-catalog",
    ];
    for (const [i, name] of names.entries())
      await e.pool.query(
        "INSERT INTO phase_runs (request_id, phase_index, phase, state, finished_at) VALUES ($1, $2, $3, 'succeeded', now())",
        [id, i + 1, name],
      );
    await e.pool.query(
      `INSERT INTO phase_runs (request_id, phase_index, phase, state, facts)
       VALUES ($1, 7, 'restore-catalog', 'running', $2::jsonb)`,
      [
        id,
        JSON.stringify({
          restoreStartedAt: new Date().toISOString(),
          sqlInFlightSince: new Date().toISOString(),
        }),
      ],
    );
    // This worker cannot reach the catalog database, so its attempt fails cleanly.
    e.startWorker({ env: { [DSN_ENV]: "postgres://restorebot@127.0.0.1:1/catalog" } });
    await e.enqueue(id);
    expect(await e.waitForState(id, ["halted", "succeeded"], 30_000)).toBe("halted");
    const halt = await e.slack.waitForMessage(
      CHANNEL,
      (m) => m.threadTs === cardTs && /Restore stopped at phase 7\/10/.test(m.text ?? ""),
      { timeoutMs: 10_000 },
    );
    expect(halt.text).not.toMatch(/Catalog database: untouched/);
    expect(halt.text).toMatch(/either exactly the snapshot .* or exactly as before/);
  });

  it("does not wait for Slack: a 429 pauses narration for Retry-After while the restore goes on", async () => {
    env = await startRestoreEnv({ label: "ratelimit" });
    const e = env;
    // Long enough that even a restore slowed down by a busy machine ends inside the window: the
    // test asserts an order of events, never a time budget.
    const retryAfterMs = 30_000;
    e.startWorker();
    const { id, cardTs } = await e.newRequest();
    e.slack.failNext("*", { status: 429, retryAfterSeconds: retryAfterMs / 1000 });
    const started = Date.now();
    await e.enqueue(id);
    expect(await e.waitForState(id, ["succeeded", "halted"], retryAfterMs)).toBe("succeeded");
    const finished = Date.now();
    const limited = e.slack.calls().find((c) => c.httpStatus === 429);
    expect(limited).toBeDefined();
    // The whole restore ran inside the Retry-After window, and Slack was left alone meanwhile.
    expect(finished - started).toBeLessThan(retryAfterMs);
    const during = e.slack
      .calls()
      .filter(
        (c) => c.time > (limited?.time ?? 0) && c.time < (limited?.time ?? 0) + retryAfterMs - 100,
      );
    expect(during).toEqual([]);
    // Then the narration catches up, merged into few messages.
    await e.slack.waitForMessage(CHANNEL, (m) => /Restore of prod complete/.test(m.text ?? ""), {
      timeoutMs: retryAfterMs + 10_000,
    });
    expect(threadTexts(e, cardTs).join("\n")).toMatch(/10\/10 Unpause the operator\* done/);
  }, 120_000);

  it("refuses an incomplete recovery point before touching anything", async () => {
    env = await startRestoreEnv({ label: "nobloom" });
    const e = env;
    e.s3.deleteObjectDirect("influxdb-prod", `${e.snapshot.folder}bloom.bin.gz`);
    e.startWorker();
    const { id } = await e.newRequest();
    await e.enqueue(id);
    expect(await e.waitForState(id, ["halted", "succeeded"], 30_000)).toBe("halted");
    expect((await requestRow(e.pool, id)).halted_reason).toMatch(
      /incomplete: .*bloom\.bin\.gz, written last, is missing/,
    );
    expect(e.sim.events().filter((x) => x.type === "scale" || x.type === "pause")).toEqual([]);
  });

  it("Roll back after a halt before phase 3 leaves an operator someone else paused alone", async () => {
    env = await startRestoreEnv({ label: "rb_nopause" });
    const e = env;
    // Paused by people finishing an earlier restore by hand; restorebot never paused it.
    e.sim.setPaused(true);
    e.s3.deleteObjectDirect("influxdb-prod", `${e.snapshot.folder}bloom.bin.gz`);
    e.startWorker();
    const { id, cardTs } = await e.newRequest();
    await e.enqueue(id);
    expect(await e.waitForState(id, ["halted", "succeeded"], 30_000)).toBe("halted");
    const halt = await e.slack.waitForMessage(
      CHANNEL,
      (m) => m.threadTs === cardTs && /Restore stopped at phase 1\/10/.test(m.text ?? ""),
      { timeoutMs: 10_000 },
    );
    expect(halt.text).toMatch(/Roll back\*: nothing was changed/);

    await resumeHalted(e.pool, id, "rollback");
    await e.enqueue(id);
    expect(await e.waitForState(id, ["rolled_back", "halted"], 30_000)).toBe("rolled_back");
    expect(e.sim.snapshot().customResource?.paused).toBe(true);
    expect(
      e.sim
        .events()
        .filter((x) => (x.type === "scale" || x.type === "pause") && x.source === "api"),
    ).toEqual([]);
    await e.slack.waitForMessage(
      CHANNEL,
      (m) => /Rolled back prod\*: nothing had been changed/.test(m.text ?? ""),
      { timeoutMs: 10_000 },
    );
  });
});
