/**
 * Restore runner benchmark: from the Approve click to the first phase message, and to done.
 *
 *   npm run bench:runner [-- --runs 3 --mb 10]
 *
 * Everything real but the outside world: the bot (signed HTTP from a Slack-like sender), the
 * worker (BullMQ on the local Redis), restorebot's database and a ~10 MB IOx-like catalog on
 * the local PostgreSQL, the Kubernetes API simulator with no pod delays, the S3 stand-in with
 * the catalog's snapshot, and the fake Slack Web API. Each run requests a restore with
 * `/restore prod latest …`, clicks Approve on the card as an approver, and measures
 *   - approval click → the first phase message in the card's thread (target < 1 s);
 *   - approval click → the request is `succeeded` (target < 5 s), and → the final message.
 * Not part of the test suite; needs PostgreSQL and Redis (scripts/ensure-services.sh).
 */
import { gunzipSync } from "node:zlib";
import pg from "pg";
import type { IoxCatalogSize } from "../src/kinds/influxdb-clustered/sandbox/catalog-builder.js";
import type { RecordedCall } from "../stand-ins/slack/fake-slack-api.js";
import { CHANNEL, driftCatalog, startRestoreEnv } from "../test/jobs/support/restore-env.js";

const HOUR = 3_600_000;

function parseOptions(argv: string[]): { runs: number; mb: number } {
  const options = { runs: 3, mb: 10 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--runs") options.runs = Number(argv[++i]);
    else if (arg === "--mb") options.mb = Number(argv[++i]);
    else throw new Error(`unknown option ${arg}; use --runs 3 --mb 10`);
  }
  if (!(options.runs >= 1) || !(options.mb > 0))
    throw new Error("--runs and --mb take positive numbers");
  return options;
}

/** ≈ 0.3 MB of plain dump per file per partition at this shape (4 × 10 tables × 30 partitions). */
function sizeFor(mb: number): IoxCatalogSize {
  return {
    namespaces: 4,
    tablesPerNamespace: 10,
    columnsPerTable: 8,
    partitionsPerTable: 30,
    filesPerPartition: Math.max(1, Math.round(mb / 0.31)),
  };
}

function ms(n: number): string {
  return `${Math.round(n)} ms`;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const pointTime = new Date(Math.floor(Date.now() / HOUR) * HOUR - HOUR);
  const env = await startRestoreEnv({
    label: "bench",
    catalogSize: sizeFor(options.mb),
    pointTime,
    sim: {
      timing: { startDelayMs: 0, readyDelayMs: 0, terminationDelayMs: 0 },
      overrides: { "iox-shared-ingester": { terminationDelayMs: 0 } },
    },
  });
  const results: Array<{ firstMessage: number; done: number; finalMessage: number }> = [];
  let pool: pg.Pool | undefined;
  try {
    const sqlBytes = gunzipSync(env.snapshot.dumpGzip).length;
    console.log(
      `catalog: ${(sqlBytes / 1e6).toFixed(1)} MB of SQL (pg_dump), snapshot ${(env.snapshot.dumpGzip.length / 1e6).toFixed(1)} MB gzipped; simulator without pod delays`,
    );
    const { sender } = await env.startBot();
    // Production pacing for narration (about one Slack call per second per channel).
    env.startWorker({ slackIntervalMs: 1_050 });
    pool = new pg.Pool({ connectionString: env.db.url, max: 2 });

    for (let run = 1; run <= options.runs; run++) {
      if (run > 1) {
        // Put the catalog back out of step with the snapshot, as before the first run.
        await driftCatalog(env.catalogDb.url);
      }
      await sender.slashCommand({
        command: "/restore",
        text: `prod latest benchmark run ${run} of the restore runner`,
        userId: "UREQUESTER",
        channelId: CHANNEL,
      });
      // The new request's card: the pending one with Approve and Reject.
      let found: { id: string; card_ts: string } | undefined;
      const asked = Date.now();
      while (!found) {
        found = (
          await pool.query<{ id: string; card_ts: string }>(
            "SELECT id, card_ts FROM restore_requests WHERE state = 'pending' AND card_ts IS NOT NULL",
          )
        ).rows[0];
        if (!found && Date.now() - asked > 15_000)
          throw new Error(`no request card: ${String(env.slack.responses().at(-1)?.body.text)}`);
        if (!found) await new Promise((r) => setTimeout(r, 20));
      }
      const id = found.id;
      const card = { ts: found.card_ts };

      let firstMessageAt = 0;
      let finalMessageAt = 0;
      const listener = (call: RecordedCall) => {
        const text = String(call.args.text ?? "");
        if (call.args.thread_ts !== card.ts || !call.response?.ok) return;
        if (!firstMessageAt && /1\/10 Check the recovery point\* started/.test(text))
          firstMessageAt = call.time;
        if (!finalMessageAt && /Restore of prod complete/.test(text)) finalMessageAt = call.time;
      };
      env.slack.on("call", listener);

      const clickedAt = Date.now();
      await sender.clickButton({
        userId: "UAPPROVER1",
        channelId: CHANNEL,
        messageTs: card.ts,
        actionId: "request_approve",
      });
      let doneAt = 0;
      for (;;) {
        const state = (
          await pool.query<{ state: string }>("SELECT state FROM restore_requests WHERE id = $1", [
            id,
          ])
        ).rows[0]?.state;
        if (state === "succeeded") {
          doneAt = Date.now();
          break;
        }
        if (state === "halted" || Date.now() - clickedAt > 60_000)
          throw new Error(`run ${run} ended ${state}`);
        await new Promise((r) => setTimeout(r, 5));
      }
      const deadline = Date.now() + 30_000;
      while ((!firstMessageAt || !finalMessageAt) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      env.slack.off("call", listener);
      const result = {
        firstMessage: firstMessageAt - clickedAt,
        done: doneAt - clickedAt,
        finalMessage: finalMessageAt - clickedAt,
      };
      results.push(result);
      const equal = await env.catalogEqualsSnapshot();
      console.log(
        `run ${run}: approval → first phase message ${ms(result.firstMessage)}, → done ${ms(result.done)}, → final message ${ms(result.finalMessage)}; catalog equals snapshot: ${equal}`,
      );
      const phases = await pool.query<{ phase: string; ms: number }>(
        "SELECT phase, round(extract(epoch FROM finished_at - started_at) * 1000)::int AS ms FROM phase_runs WHERE request_id = $1 ORDER BY phase_index",
        [id],
      );
      console.log(`  phases: ${phases.rows.map((p) => `${p.phase} ${p.ms} ms`).join(", ")}`);
    }
  } finally {
    await pool?.end();
    await env.close();
  }
  const median = (values: number[]) =>
    [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
  const first = median(results.map((r) => r.firstMessage));
  const done = median(results.map((r) => r.done));
  console.log(
    `\napproval click → first phase message: ${ms(first)} (median of ${results.length}; target < 1000 ms: ${first < 1_000 ? "met" : "MISSED"})`,
  );
  console.log(
    `approval click → done: ${ms(done)} (median; target < 5000 ms: ${done < 5_000 ? "met" : "MISSED"})`,
  );
  if (first >= 1_000 || done >= 5_000) process.exitCode = 1;
}

await main();
