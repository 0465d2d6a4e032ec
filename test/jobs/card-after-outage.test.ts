import { LogLevel, WebClient } from "@slack/web-api";
import { afterEach, describe, expect, it } from "vitest";
import { type SlackWriter, slackWriterFromWebClient } from "../../src/narration/slack-outbox.js";
import { FAKE_BOT_TOKEN } from "../../stand-ins/slack/fake-slack-api.js";
import { countingFailures } from "./support/counting-writer.js";
import { CHANNEL, type RestoreEnv, startRestoreEnv } from "./support/restore-env.js";
import { until } from "./support/until.js";

/**
 * The card is the one place people look: whatever Slack did during a restore (429, 500s, down
 * for a while), once it is back the card shows how the run ended — and a worker started after
 * an outage draws the cards of recent runs again.
 */

let env: RestoreEnv | undefined;

afterEach(async () => {
  await env?.close();
  env = undefined;
});

/** The worker's real Slack writer, counting failed calls (Slack cannot record what never reached it). */
function countingWriter(apiUrl: string): SlackWriter & { failures: number } {
  const inner = slackWriterFromWebClient(
    new WebClient(FAKE_BOT_TOKEN, {
      slackApiUrl: apiUrl,
      rejectRateLimitedCalls: true,
      retryConfig: { retries: 0 },
      timeout: 5_000,
      logLevel: LogLevel.ERROR,
    }),
  );
  return countingFailures(inner);
}

function cardText(e: RestoreEnv, cardTs: string): string {
  return JSON.stringify(e.slack.message(CHANNEL, cardTs)?.blocks ?? []);
}

/** A restore long enough for the outage to cover its end: the ingester takes 6 s to stop. */
const SLOW_SCALE_DOWN = { overrides: { "iox-shared-ingester": { terminationDelayMs: 6_000 } } };

describe("the card after a Slack outage", () => {
  it("shows the finished state once Slack is back, after 429, 500s and Slack unreachable", {
    timeout: 150_000,
  }, async () => {
    env = await startRestoreEnv({ label: "outage", sim: SLOW_SCALE_DOWN });
    const e = env;
    const writer = countingWriter(e.slack.apiUrl);
    e.startWorker({ slack: writer, slackMaxBackoffMs: 500 });
    const { id, cardTs } = await e.newRequest();
    e.slack.failNext("*", { status: 429, retryAfterSeconds: 1 });
    e.slack.failNext("*", { status: 500, times: 3 });
    await e.enqueue(id);
    await until(() => writer.failures >= 4, "429 and three 500s", 30_000);
    await e.slack.unreachable();
    expect(await e.waitForState(id, ["running"], 1_000)).toBe("running");
    expect(await e.waitForState(id, ["succeeded", "halted"], 60_000)).toBe("succeeded");
    // Slack stays down well past the few attempts a message used to get before being dropped.
    const failedBefore = writer.failures;
    await until(
      () => writer.failures >= failedBefore + 20,
      "twenty more failed calls while Slack is unreachable",
      60_000,
    );
    await e.slack.reachable();
    await until(
      () => cardText(e, cardTs).includes("Restore succeeded"),
      "the card showing the finished state",
      30_000,
    );
    await e.slack.waitForMessage(CHANNEL, (m) => /Restore of prod complete/.test(m.text ?? ""), {
      timeoutMs: 30_000,
    });
    const lastUpdate = e.slack
      .calls("chat.update")
      .filter((c) => c.httpStatus === 200 && c.args.ts === cardTs)
      .at(-1);
    expect(JSON.stringify(lastUpdate?.args.blocks)).toContain("Restore succeeded");
    expect(
      (JSON.stringify(lastUpdate?.args.blocks).match(/:white_check_mark: \d+\./g) ?? []).length,
    ).toBe(10);
  });

  it("is drawn again by a worker started after the one that ran it stopped during the outage", {
    timeout: 150_000,
  }, async () => {
    env = await startRestoreEnv({ label: "redraw", sim: SLOW_SCALE_DOWN });
    const e = env;
    const first = e.startWorker({ slackMaxBackoffMs: 1_000 });
    const { id, cardTs } = await e.newRequest();
    await e.enqueue(id);
    await e.waitForState(id, ["running"], 30_000);
    await e.slack.waitForMessage(CHANNEL, (m) => /started/.test(m.text ?? ""), {
      timeoutMs: 30_000,
    });
    await e.slack.unreachable();
    expect(await e.waitForState(id, ["succeeded", "halted"], 60_000)).toBe("succeeded");
    // The worker stops while Slack is still down: what it had queued is lost with it.
    await first.processor.close(200);
    await first.close();
    await e.slack.reachable();
    expect(cardText(e, cardTs)).not.toContain("Restore succeeded");
    e.startWorker();
    await until(
      () => cardText(e, cardTs).includes("Restore succeeded"),
      "the new worker redrawing the card",
      30_000,
    );
    expect((cardText(e, cardTs).match(/:white_check_mark: \d+\./g) ?? []).length).toBe(10);
  });
});
