/**
 * How soon the card shows a run's end once Slack is back after an outage.
 *
 *   npm run bench:card-delay [-- --runs 3]
 *
 * Everything real but the outside world (as in bench/runner.ts): the worker on BullMQ and the
 * local Redis, restorebot's database and a small catalog on the local PostgreSQL, the
 * Kubernetes API simulator (the ingester's pods take 2 s each to stop, so the run ends inside the
 * outage), the S3 stand-in and the fake Slack Web API, with production pacing (one Slack call
 * per 1.05 s per channel) and the production retry settings.
 *
 * Each outage shape: Slack answers 429, then three 500s, then is unreachable for `outage`
 * seconds; the run finishes inside the outage. Measured: from Slack being
 * reachable again to the card showing "Restore succeeded". The baseline, run alternately in the
 * same process, is a healthy Slack: from the run's end (the request `succeeded`) to the card
 * showing it. Not part of the test suite; needs PostgreSQL and Redis (scripts/ensure-services.sh).
 */
import { CHANNEL, type RestoreEnv, startRestoreEnv } from "../test/jobs/support/restore-env.js";

const SHAPES = [
  { name: "Slack unreachable 10 s", outageMs: 10_000 },
  { name: "Slack unreachable 30 s", outageMs: 30_000 },
];

function parseRuns(argv: string[]): number {
  let runs = 3;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--runs") runs = Number(argv[++i]);
    else throw new Error(`unknown option ${argv[i]}; use --runs 3`);
  }
  if (!(runs >= 1)) throw new Error("--runs takes a positive number");
  return runs;
}

async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 180_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function cardShowsSuccess(env: RestoreEnv, cardTs: string): boolean {
  return JSON.stringify(env.slack.message(CHANNEL, cardTs)?.blocks ?? []).includes(
    "Restore succeeded",
  );
}

async function state(env: RestoreEnv, id: string): Promise<string | undefined> {
  const { rows } = await env.pool.query<{ state: string }>(
    "SELECT state FROM restore_requests WHERE id = $1",
    [id],
  );
  return rows[0]?.state;
}

/** One restore; returns the card's delay in ms (after Slack is back, or after the run's end). */
async function measure(env: RestoreEnv, outageMs: number | undefined): Promise<number> {
  const { id, cardTs } = await env.newRequest();
  if (outageMs !== undefined) {
    env.slack.failNext("*", { status: 429, retryAfterSeconds: 1 });
    env.slack.failNext("*", { status: 500, times: 3 });
  }
  await env.enqueue(id);
  await until(async () => (await state(env, id)) === "running", "the run to start");
  let downAt = 0;
  if (outageMs !== undefined) {
    // The 429 and the 500s go first; then Slack is gone.
    const before = env.slack.calls().filter((c) => c.fault).length;
    await until(
      () => env.slack.calls().filter((c) => c.fault).length >= before + 4,
      "the first faults",
    );
    await env.slack.unreachable();
    downAt = Date.now();
  }
  await until(async () => {
    const s = await state(env, id);
    if (s === "halted") {
      const { rows } = await env.pool.query<{ halted_reason: string }>(
        "SELECT halted_reason FROM restore_requests WHERE id = $1",
        [id],
      );
      throw new Error(`run ${id} halted: ${rows[0]?.halted_reason}`);
    }
    return s === "succeeded";
  }, "the run to succeed");
  const endedAt = Date.now();
  if (outageMs === undefined) {
    await until(() => cardShowsSuccess(env, cardTs), "the card");
    return Date.now() - endedAt;
  }
  if (endedAt - downAt >= outageMs)
    console.warn(`  (the run ended ${endedAt - downAt} ms into the outage, after its planned end)`);
  await until(() => Date.now() - downAt >= outageMs, "the outage to end");
  await env.slack.reachable();
  const backAt = Date.now();
  await until(() => cardShowsSuccess(env, cardTs), "the card");
  return Date.now() - backAt;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

async function main(): Promise<void> {
  const runs = parseRuns(process.argv.slice(2));
  const env = await startRestoreEnv({
    label: "cardbench",
    sim: { overrides: { "iox-shared-ingester": { terminationDelayMs: 2_000 } } },
    timeouts: { podsGone: "90s", podsReady: "90s" },
  });
  try {
    env.startWorker({ slackIntervalMs: 1_050 });
    for (const shape of SHAPES) {
      const outage: number[] = [];
      const healthy: number[] = [];
      for (let run = 1; run <= runs; run++) {
        // Alternate, so both see the same machine load.
        const a = await measure(env, shape.outageMs);
        const b = await measure(env, undefined);
        outage.push(a);
        healthy.push(b);
        console.log(
          `${shape.name}, run ${run}: card final ${a} ms after Slack came back; healthy Slack: ${b} ms after the run ended`,
        );
      }
      const m = median(outage);
      const base = median(healthy);
      console.log(
        `${shape.name}: median ${m} ms after Slack came back (baseline, healthy Slack: ${base} ms after the run ended; ratio ${(m / Math.max(base, 1)).toFixed(1)}×) over ${runs} runs\n`,
      );
    }
  } finally {
    await env.close();
  }
}

await main();
