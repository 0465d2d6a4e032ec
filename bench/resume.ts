/**
 * Resume after kill -9: how long a restore stands still (cluster scaled down, nothing narrated)
 * once its worker dies, until another worker has resumed it.
 *
 *   npm run bench:resume [-- --runs 3 --no-baseline --only wait|sql]
 *
 * Two worker processes as `restorebot worker` runs them (test/jobs/fixtures/worker-process.ts):
 * A takes the run and is killed with SIGKILL, at two points — during the wait for the
 * non-catalog pods to go (phase 5) and inside the catalog SQL (phase 7) — while B is idle.
 * Measured from the kill to
 *   - the resumed checkpoint (B's `resumed` audit event, written once it holds the run), and
 *   - the first message B posts in the card's thread (the fake Slack Web API's record).
 * Each kill point is run with the current BullMQ lock settings (jobs/restore-worker.ts) and,
 * alternating in the same run, with the old ones (lockDuration 30 s, stalledInterval 15 s) as
 * the baseline. Everything else is real and local: PostgreSQL, Redis, the Kubernetes API
 * simulator, the S3 stand-in. Not part of the test suite; needs PostgreSQL and Redis.
 */
import pg from "pg";
import { DEFAULT_LOCK_DURATION_MS, DEFAULT_STALLED_INTERVAL_MS } from "../jobs/restore-worker.js";
import type { SimEvent } from "../stand-ins/kubernetes/index.js";
import { type RestoreEnv, startRestoreEnv } from "../test/jobs/support/restore-env.js";
import { until } from "../test/jobs/support/until.js";
import { startWorkerProcess, type WorkerProcess } from "../test/jobs/support/worker-process.js";

const BASELINE = { lockDurationMs: 30_000, stalledIntervalMs: 15_000 };
const CURRENT = {
  lockDurationMs: DEFAULT_LOCK_DURATION_MS,
  stalledIntervalMs: DEFAULT_STALLED_INTERVAL_MS,
};
type Settings = typeof BASELINE;
type KillPoint = "wait" | "sql";

function parseOptions(argv: string[]): {
  runs: number;
  baseline: boolean;
  only: KillPoint | undefined;
} {
  const options: { runs: number; baseline: boolean; only: KillPoint | undefined } = {
    runs: 3,
    baseline: true,
    only: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--runs") options.runs = Number(argv[++i]);
    else if (arg === "--no-baseline") options.baseline = false;
    else if (arg === "--only" && (argv[i + 1] === "wait" || argv[i + 1] === "sql"))
      options.only = argv[++i] as KillPoint;
    else throw new Error(`unknown option ${arg}; use --runs 3 [--no-baseline] [--only wait|sql]`);
  }
  if (!(options.runs >= 1)) throw new Error("--runs takes a positive number");
  return options;
}

async function oneRun(
  env: RestoreEnv,
  point: KillPoint,
  settings: Settings,
  catalog: pg.Pool,
): Promise<{ resumedMs: number; narratedMs: number }> {
  const childEnv = {
    ...(await env.childEnv()),
    TEST_LOCK_DURATION_MS: String(settings.lockDurationMs),
    TEST_STALLED_INTERVAL_MS: String(settings.stalledIntervalMs),
  };
  const processes: WorkerProcess[] = [];
  try {
    const a = await startWorkerProcess(childEnv);
    processes.push(a);
    const { id, cardTs } = await env.newRequest();
    let killedAt = 0;
    const kill = () => {
      if (killedAt) return;
      killedAt = Date.now();
      a.child.kill("SIGKILL");
    };
    let scaledDown = false;
    const off = env.sim.on("change", ((ev: SimEvent) => {
      if (ev.type === "scale" && ev.component === "iox-shared-ingester" && ev.to === 0)
        scaledDown = true;
    }) as (event: SimEvent) => void);
    await env.enqueue(id);
    await until(async () => {
      const { rows } = await env.pool.query("SELECT 1 FROM phase_runs WHERE request_id = $1", [id]);
      return rows.length > 0 || undefined;
    }, "worker A to start the run");
    const b = await startWorkerProcess(childEnv);
    processes.push(b);
    if (point === "wait") {
      // Killed in phase 5's wait (ingesters flushing), once B is ready: B's own start-up is
      // not part of what is measured.
      await until(() => scaledDown || undefined, "the ingesters to be scaled down");
      const phase5 = await env.pool.query<{ state: string }>(
        "SELECT state FROM phase_runs WHERE request_id = $1 AND phase = 'scale-down-workloads'",
        [id],
      );
      if (phase5.rows[0]?.state !== "running")
        throw new Error("phase 5 ended before worker B was ready; make the ingesters slower");
      kill();
    }
    if (point === "sql") {
      await until(async () => {
        const state = (
          await env.pool.query<{ state: string; halted_reason: string | null }>(
            "SELECT state, halted_reason FROM restore_requests WHERE id = $1",
            [id],
          )
        ).rows[0];
        if (state?.state !== "running")
          throw new Error(`run ${id} is ${state?.state} (${state?.halted_reason}) before its SQL`);
        const { rows } = await catalog.query(
          "SELECT 1 FROM pg_stat_activity WHERE application_name = 'restorebot restore-catalog' AND datname = current_database() AND xact_start IS NOT NULL",
        );
        return rows.length > 0 || undefined;
      }, "the catalog restore transaction");
      kill();
    }
    await until(() => killedAt || undefined, "the kill");
    off();
    // Where the time goes: the job handed back to the queue (stalled), then taken by B.
    const lockKey = `${env.prefix}:restores:${id}:lock`;
    let expiredAt = 0;
    let takenAt = 0;
    while (!takenAt) {
      const owner = await env.redis.get(lockKey);
      if (!owner && !expiredAt) expiredAt = Date.now();
      if (owner && expiredAt) takenAt = Date.now();
      await new Promise((r) => setTimeout(r, 10));
    }
    console.log(
      `  (A's lock gone ${((expiredAt - killedAt) / 1000).toFixed(1)} s after the kill, job locked by B at ${((takenAt - killedAt) / 1000).toFixed(1)} s)`,
    );
    const resumedAt = await until(async () => {
      const { rows } = await env.pool.query<{ at: Date }>(
        "SELECT at FROM audit_events WHERE request_id = $1 AND event = 'resumed' ORDER BY at LIMIT 1",
        [id],
      );
      return rows[0]?.at.getTime();
    }, "the run to be resumed");
    const narratedAt = await until(
      () =>
        env.slack
          .calls("chat.postMessage")
          .find((c) => c.args.thread_ts === cardTs && c.time >= killedAt && c.response?.ok)?.time,
      "the new worker's first message in the thread",
    );
    const state = await env.waitForState(id, ["succeeded", "halted", "rolled_back"], 300_000);
    if (state !== "succeeded") throw new Error(`run ${id} ended ${state}:\n${b.output()}`);
    return { resumedMs: resumedAt - killedAt, narratedMs: narratedAt - killedAt };
  } finally {
    for (const p of processes) await p.stop().catch(() => undefined);
  }
}

function stats(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  const max = sorted.at(-1) ?? 0;
  return `median ${(median / 1000).toFixed(1)} s, max ${(max / 1000).toFixed(1)} s`;
}

function medianOf(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const configs: Array<[string, Settings]> = [
    [
      `current (lock ${CURRENT.lockDurationMs} ms, stalled check ${CURRENT.stalledIntervalMs} ms)`,
      CURRENT,
    ],
    ...(options.baseline
      ? ([
          [
            `baseline (lock ${BASELINE.lockDurationMs} ms, stalled check ${BASELINE.stalledIntervalMs} ms)`,
            BASELINE,
          ],
        ] as Array<[string, Settings]>)
      : []),
  ];
  let missed = false;
  for (const point of options.only ? [options.only] : (["wait", "sql"] as const)) {
    const env = await startRestoreEnv({
      label: `bench_resume_${point}`,
      // The wait: ingesters flushing their WAL for a while. The SQL: a catalog big enough for
      // the kill to land inside the transaction.
      ...(point === "wait"
        ? { sim: { overrides: { "iox-shared-ingester": { terminationDelayMs: 4_000 } } } }
        : {
            // Catalog pods that take a while to go, so B is ready before the SQL starts.
            sim: { overrides: { "iox-shared-catalog": { terminationDelayMs: 4_000 } } },
            catalogSize: {
              namespaces: 4,
              tablesPerNamespace: 10,
              columnsPerTable: 8,
              partitionsPerTable: 20,
              filesPerPartition: 10,
            },
          }),
      timeouts: { podsGone: "5m", podsReady: "5m" },
    });
    const catalog = new pg.Pool({ connectionString: env.catalogDb.url, max: 2 });
    const results = new Map<string, Array<{ resumedMs: number; narratedMs: number }>>();
    try {
      for (let run = 1; run <= options.runs; run++) {
        // Alternating, so load on the machine falls on both alike.
        for (const [name, settings] of run % 2 ? configs : [...configs].reverse()) {
          const r = await oneRun(env, point, settings, catalog);
          results.set(name, [...(results.get(name) ?? []), r]);
          console.log(
            `${point} run ${run}, ${name}: kill → resumed ${(r.resumedMs / 1000).toFixed(1)} s, → first message ${(r.narratedMs / 1000).toFixed(1)} s`,
          );
        }
      }
    } finally {
      await catalog.end();
      await env.close();
    }
    console.log(
      `\nkill -9 ${point === "wait" ? "during the phase 5 wait" : "inside the catalog SQL"}:`,
    );
    for (const [name, rs] of results) {
      console.log(
        `  ${name}: kill → resumed ${stats(rs.map((r) => r.resumedMs))}; → first message ${stats(rs.map((r) => r.narratedMs))}`,
      );
    }
    const current = results.get(configs[0]?.[0] ?? "") ?? [];
    const baseline = configs[1] ? results.get(configs[1][0]) : undefined;
    if (baseline) {
      const ratio =
        medianOf(baseline.map((r) => r.narratedMs)) / medianOf(current.map((r) => r.narratedMs));
      console.log(`  baseline / current (median kill → first message): ${ratio.toFixed(1)}×`);
    }
    const worst = Math.max(...current.map((r) => r.narratedMs));
    console.log(`  target < 10 s (max, current): ${worst < 10_000 ? "met" : "MISSED"}\n`);
    if (worst >= 10_000) missed = true;
  }
  if (missed) process.exitCode = 1;
}

await main();
