import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runRestore } from "../../jobs/runner/runner.js";
import { tryAcquireTargetLock } from "../../jobs/runner/target-lock.js";
import { silentLogger } from "../../src/logging/logger.js";
import { listPhaseRuns, savePhaseProgress } from "../../src/runbook/run-store.js";
import type {
  HaltAccount,
  PhaseContext,
  Runbook,
  RunbookPhase,
  RunEvent,
} from "../../src/runbook/types.js";
import {
  createRunnerDatabase,
  insertApprovedRequest,
  phaseRows,
  type RunnerDatabase,
  requestRow,
  resumeHalted,
} from "./support/run-fixtures.js";

/** A runbook of in-memory phases that record what ran, in order. */
function fakeRunbook(
  log: string[],
  overrides: Partial<Record<string, (ctx: PhaseContext) => Promise<void>>> = {},
  options: { names?: string[]; mutating?: string[] } = {},
): Runbook {
  const names = options.names ?? ["check", "pause", "scale", "restore", "unpause"];
  const mutating = new Set(options.mutating ?? ["pause", "scale", "restore", "unpause"]);
  const phase = (name: string): RunbookPhase => ({
    name,
    title: `Phase ${name}`,
    mutates: mutating.has(name),
    async run(ctx) {
      log.push(`${name}#${ctx.attempt}`);
      const custom = overrides[name];
      if (custom) await custom(ctx);
    },
    summarize: (facts) => (facts.note ? String(facts.note) : undefined),
  });
  const account: HaltAccount = { state: ["fake cluster: fine"], rollback: "scales back up" };
  return {
    kind: "fake",
    phases: names.map(phase),
    rollback: [phase("rb-scale"), phase("rb-unpause")],
    describeHalt: async () => account,
    describeFinish: (request) => [`done ${request.id}`],
  };
}

let db: RunnerDatabase;

beforeAll(async () => {
  db = await createRunnerDatabase("runner");
});

afterAll(async () => {
  await db?.close();
});

function run(
  requestId: string,
  runbook: Runbook,
  events: RunEvent[] = [],
  signal: AbortSignal = new AbortController().signal,
  extra: { progressIntervalMs?: number } = {},
) {
  return runRestore({
    db: db.pool,
    requestId,
    runbookFor: () => runbook,
    narrate: (e) => events.push(e),
    signal,
    logger: silentLogger,
    lockRetryMs: 50,
    ...extra,
  });
}

describe("runRestore", () => {
  it("runs every phase once, in order, checkpointing each, and ends succeeded", async () => {
    const id = await insertApprovedRequest(db.pool, { target: "t-order" });
    const log: string[] = [];
    const events: RunEvent[] = [];
    const result = await run(
      id,
      fakeRunbook(log, { scale: async (ctx) => void (await ctx.fact("note", "scaled 3")) }),
      events,
    );
    expect(result.outcome).toBe("succeeded");
    expect(log).toEqual(["check#1", "pause#1", "scale#1", "restore#1", "unpause#1"]);
    expect((await requestRow(db.pool, id)).state).toBe("succeeded");
    const rows = await phaseRows(db.pool, id);
    expect(rows.map((r) => [r.phase_index, r.phase, r.state])).toEqual([
      [1, "check", "succeeded"],
      [2, "pause", "succeeded"],
      [3, "scale", "succeeded"],
      [4, "restore", "succeeded"],
      [5, "unpause", "succeeded"],
    ]);
    expect(rows[2]?.facts).toEqual({ note: "scaled 3" });
    const types = events.map((e) => e.type).filter((t) => t !== "status-tick");
    expect(types[0]).toBe("run-started");
    expect(types.at(-1)).toBe("run-finished");
    const scaled = events.find((e) => e.type === "phase-succeeded" && e.phase.name === "scale");
    expect(scaled?.type === "phase-succeeded" && scaled.summary).toBe("scaled 3");
    const audit = await db.pool.query(
      "SELECT event FROM audit_events WHERE request_id = $1 ORDER BY id",
      [id],
    );
    expect(audit.rows.map((r) => r.event)).toEqual([
      "started",
      ...Array.from({ length: 5 }, () => ["phase_started", "phase_succeeded"]).flat(),
      "finished",
    ]);
  });

  it("halts at a failing phase with its reason and the account, and Retry resumes at that phase", async () => {
    const id = await insertApprovedRequest(db.pool, { target: "t-halt" });
    const log: string[] = [];
    let fail = true;
    const runbook = fakeRunbook(log, {
      scale: async () => {
        if (fail) throw new Error("pods never terminated");
      },
    });
    const events: RunEvent[] = [];
    const first = await run(id, runbook, events);
    expect(first.outcome).toBe("halted");
    expect(log).toEqual(["check#1", "pause#1", "scale#1"]);
    const row = await requestRow(db.pool, id);
    expect(row.state).toBe("halted");
    expect(row.halted_reason).toBe("pods never terminated");
    expect(row.halted_phase).toContain("Phase scale");
    const halted = events.find((e) => e.type === "run-halted");
    expect(halted?.type === "run-halted" && halted.account.state).toEqual(["fake cluster: fine"]);
    expect(halted?.type === "run-halted" && halted.status.controls).toEqual([
      "retry",
      "rollback",
      "abandon",
    ]);
    expect((await phaseRows(db.pool, id)).map((r) => r.state)).toEqual([
      "succeeded",
      "succeeded",
      "failed",
    ]);

    // A halted request is not run again by a stray job.
    expect((await run(id, runbook)).outcome).toBe("not-runnable");

    fail = false;
    await resumeHalted(db.pool, id, "forward");
    const second = await run(id, runbook);
    expect(second.outcome).toBe("succeeded");
    expect(log).toEqual(["check#1", "pause#1", "scale#1", "scale#2", "restore#1", "unpause#1"]);
  });

  it("rolls back with the rollback steps when asked, and ends rolled_back", async () => {
    const id = await insertApprovedRequest(db.pool, { target: "t-rollback" });
    const log: string[] = [];
    const runbook = fakeRunbook(log, {
      restore: async () => {
        throw new Error("catalog refused");
      },
    });
    expect((await run(id, runbook)).outcome).toBe("halted");
    await resumeHalted(db.pool, id, "rollback");
    const events: RunEvent[] = [];
    expect((await run(id, runbook, events)).outcome).toBe("rolled_back");
    expect(log.slice(-2)).toEqual(["rb-scale#1", "rb-unpause#1"]);
    expect((await requestRow(db.pool, id)).state).toBe("rolled_back");
    const indexes = (await phaseRows(db.pool, id)).map((r) => r.phase_index);
    expect(indexes).toEqual([1, 2, 3, 4, 101, 102]);
    const finished = events.find((e) => e.type === "run-finished");
    expect(finished?.status.state).toBe("rolled_back");
  });

  it("stops at the next phase boundary when cancelled, never inside a phase", async () => {
    const id = await insertApprovedRequest(db.pool, { target: "t-cancel" });
    const log: string[] = [];
    const runbook = fakeRunbook(log, {
      scale: async () => {
        // /restore cancel lands while this phase runs; the phase still finishes.
        await db.pool.query("UPDATE restore_requests SET cancel_requested = true WHERE id = $1", [
          id,
        ]);
        await db.pool.query(
          "INSERT INTO audit_events (request_id, target, actor, event) VALUES ($1, 't-cancel', 'UCANCELLER', 'cancel_requested')",
          [id],
        );
        await new Promise((r) => setTimeout(r, 50));
        log.push("scale finished");
      },
    });
    const events: RunEvent[] = [];
    const result = await run(id, runbook, events);
    expect(result.outcome).toBe("halted");
    expect(log).toEqual(["check#1", "pause#1", "scale#1", "scale finished"]);
    const row = await requestRow(db.pool, id);
    expect(row.state).toBe("halted");
    expect(row.cancel_requested).toBe(false);
    expect(row.halted_reason).toMatch(
      /Cancelled by <@UCANCELLER> at the phase boundary before phase 4/,
    );
    const halted = events.find((e) => e.type === "run-halted");
    expect(halted?.type === "run-halted" && halted.cancelledBy).toBe("UCANCELLER");
    expect(halted?.status.controls).toContain("rollback");
  });

  it("honours a cancel during a roll back at the next step boundary, offering Roll back and Abandon", async () => {
    const id = await insertApprovedRequest(db.pool, { target: "t-cancel-rb" });
    const log: string[] = [];
    const runbook = fakeRunbook(log, {
      restore: async () => {
        throw new Error("catalog refused");
      },
      "rb-scale": async () => {
        await db.pool.query("UPDATE restore_requests SET cancel_requested = true WHERE id = $1", [
          id,
        ]);
      },
    });
    expect((await run(id, runbook)).outcome).toBe("halted");
    await resumeHalted(db.pool, id, "rollback");
    const events: RunEvent[] = [];
    expect((await run(id, runbook, events)).outcome).toBe("halted");
    expect(log.slice(-1)).toEqual(["rb-scale#1"]);
    const row = await requestRow(db.pool, id);
    expect(row.cancel_requested).toBe(false);
    expect(row.halted_reason).toMatch(/before roll back step 2 \(Phase rb-unpause\)/);
    const halted = events.find((e) => e.type === "run-halted");
    expect(halted?.status.controls).toEqual(["rollback", "abandon"]);
  });

  it("ends cancelled, with nothing to undo, when cancelled before any phase changed the target", async () => {
    const id = await insertApprovedRequest(db.pool, { target: "t-cancel-early" });
    const log: string[] = [];
    const runbook = fakeRunbook(log, {
      check: async () => {
        await db.pool.query("UPDATE restore_requests SET cancel_requested = true WHERE id = $1", [
          id,
        ]);
      },
    });
    const result = await run(id, runbook);
    expect(result.outcome).toBe("cancelled");
    expect(log).toEqual(["check#1"]);
    expect((await requestRow(db.pool, id)).state).toBe("cancelled");
  });

  it("leaves an interrupted phase unfinished on shutdown; the next run repeats it with its saved facts", async () => {
    const id = await insertApprovedRequest(db.pool, { target: "t-shutdown" });
    const log: string[] = [];
    const controller = new AbortController();
    const seen: unknown[] = [];
    const runbook = fakeRunbook(log, {
      scale: async (ctx) => {
        seen.push(ctx.facts.before);
        if (ctx.facts.before === undefined) await ctx.fact("before", 3);
        if (ctx.attempt === 1) {
          controller.abort();
          ctx.signal.throwIfAborted();
        }
      },
    });
    const first = await run(id, runbook, [], controller.signal);
    expect(first.outcome).toBe("suspended");
    expect((await requestRow(db.pool, id)).state).toBe("running");
    expect((await phaseRows(db.pool, id)).map((r) => r.state)).toEqual([
      "succeeded",
      "succeeded",
      "running",
    ]);
    const second = await run(id, runbook);
    expect(second.outcome).toBe("succeeded");
    expect(log).toEqual(["check#1", "pause#1", "scale#1", "scale#2", "restore#1", "unpause#1"]);
    // The second attempt saw what the first recorded before it was interrupted.
    expect(seen).toEqual([undefined, 3]);
  });

  it("never runs two phases of one target at once: a second worker waits for the target lock", async () => {
    const id = await insertApprovedRequest(db.pool, { target: "t-lock" });
    const log: string[] = [];
    let active = 0;
    let maxActive = 0;
    const slow = async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise((r) => setTimeout(r, 40));
      active--;
    };
    const runbook = fakeRunbook(log, {
      check: slow,
      pause: slow,
      scale: slow,
      restore: slow,
      unpause: slow,
    });
    const [a, b] = await Promise.all([run(id, runbook), run(id, runbook)]);
    expect([a.outcome, b.outcome].sort()).toEqual(["not-runnable", "succeeded"]);
    expect(maxActive).toBe(1);
    expect(log).toEqual(["check#1", "pause#1", "scale#1", "restore#1", "unpause#1"]);
  });

  it("frees the target lock when the holder's connection dies", async () => {
    const lock = await tryAcquireTargetLock(db.pool, "t-lockdeath");
    expect(lock).toBeDefined();
    expect(await tryAcquireTargetLock(db.pool, "t-lockdeath")).toBeUndefined();
    // Kill the holder's backend, as a kill -9 of the worker closes its connection.
    await db.pool.query(
      `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = hashtext('t-lockdeath')::oid AND granted`,
    );
    await expect.poll(() => lock?.lost.aborted, { timeout: 8_000 }).toBe(true);
    const again = await tryAcquireTargetLock(db.pool, "t-lockdeath");
    expect(again).toBeDefined();
    await again?.release();
    await lock?.release();
  });

  it("narrates progress at most once per interval and always gets the latest text out", async () => {
    const id = await insertApprovedRequest(db.pool, { target: "t-progress" });
    const events: RunEvent[] = [];
    const runbook = fakeRunbook([], {
      scale: async (ctx) => {
        for (let i = 1; i <= 30; i++) {
          ctx.progress(`step ${i}`);
          await new Promise((r) => setTimeout(r, 10));
        }
        await new Promise((r) => setTimeout(r, 150));
      },
    });
    const times: number[] = [];
    await runRestore({
      db: db.pool,
      requestId: id,
      runbookFor: () => runbook,
      narrate: (e) => {
        events.push(e);
        if (e.type === "phase-progress") times.push(performance.now());
      },
      signal: new AbortController().signal,
      logger: silentLogger,
      progressIntervalMs: 100,
    });
    const progress = events.filter((e) => e.type === "phase-progress");
    expect(progress.length).toBeGreaterThanOrEqual(3);
    // The throttle is the point: a busy machine may stretch the phase, never shrink the gaps
    // (a timer may fire a millisecond early, hence the margin).
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(95);
    expect(progress[0]?.type === "phase-progress" && progress[0].text).toBe("step 1");
    expect(progress.at(-1)?.type === "phase-progress" && progress.at(-1)).toMatchObject({
      text: "step 30",
    });
  });

  it("keeps a running phase's latest progress line in its checkpoint, for /restore status", async () => {
    const id = await insertApprovedRequest(db.pool, { target: "t-progress-row" });
    const seen: Array<string | null> = [];
    const runbook = fakeRunbook([], {
      scale: async (ctx) => {
        ctx.progress("2 of 3 pods gone");
        // What /restore status reads while the phase is still running.
        await expect
          .poll(async () => (await listPhaseRuns(db.pool, id)).find((r) => r.phase === "scale"))
          .toMatchObject({ state: "running", progress: "2 of 3 pods gone" });
        const row = (await listPhaseRuns(db.pool, id)).find((r) => r.phase === "scale");
        seen.push(row?.progressAt ? "dated" : null);
      },
    });
    await runRestore({
      db: db.pool,
      requestId: id,
      runbookFor: () => runbook,
      narrate: () => undefined,
      signal: new AbortController().signal,
      logger: silentLogger,
      progressIntervalMs: 10,
    });
    expect(seen).toEqual(["dated"]);
    // A write arriving after the phase ended cannot decorate a finished checkpoint.
    await savePhaseProgress(db.pool, id, 3, "late line");
    const scale = (await listPhaseRuns(db.pool, id)).find((r) => r.phase === "scale");
    expect(scale).toMatchObject({ state: "succeeded", progress: "2 of 3 pods gone" });
  });

  it("halts with a clear reason when the runbook cannot be built (e.g. a missing DSN)", async () => {
    const id = await insertApprovedRequest(db.pool, { target: "t-nobook" });
    const result = await runRestore({
      db: db.pool,
      requestId: id,
      runbookFor: () => {
        throw new Error("environment variable PROD_CATALOG_DSN is not set on this worker");
      },
      narrate: () => undefined,
      signal: new AbortController().signal,
      logger: silentLogger,
    });
    expect(result.outcome).toBe("halted");
    expect((await requestRow(db.pool, id)).halted_reason).toMatch(/PROD_CATALOG_DSN is not set/);
  });
});
