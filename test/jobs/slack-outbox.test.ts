import { LogLevel, WebClient } from "@slack/web-api";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/logging/logger.js";
import {
  SlackOutbox,
  type SlackWriter,
  slackWriterFromWebClient,
} from "../../src/narration/slack-outbox.js";
import {
  FAKE_BOT_TOKEN,
  type FakeSlackApi,
  startFakeSlackApi,
} from "../../stand-ins/slack/fake-slack-api.js";
import { countingFailures } from "./support/counting-writer.js";
import { until } from "./support/until.js";

let slack: FakeSlackApi;
let outbox: SlackOutbox;

function realWriter(): SlackWriter {
  const client = new WebClient(FAKE_BOT_TOKEN, {
    slackApiUrl: slack.apiUrl,
    rejectRateLimitedCalls: true,
    retryConfig: { retries: 0 },
    timeout: 5_000,
    logLevel: LogLevel.ERROR,
  });
  return slackWriterFromWebClient(client);
}

function newOutbox(
  minIntervalMs: number,
  options: { writer?: SlackWriter; maxBackoffMs?: number; maxQueuedItems?: number } = {},
): SlackOutbox {
  outbox = new SlackOutbox({
    writer: options.writer ?? realWriter(),
    logger: silentLogger,
    minIntervalMs,
    ...(options.maxBackoffMs ? { maxBackoffMs: options.maxBackoffMs } : {}),
    ...(options.maxQueuedItems ? { maxQueuedItems: options.maxQueuedItems } : {}),
  });
  return outbox;
}

/** The real writer, counting the calls that failed (Slack cannot record what never reached it). */
function countingWriter(): SlackWriter & { failures: number } {
  const inner = realWriter();
  return countingFailures(inner);
}

const blocks = (text: string) => [{ type: "section", text: { type: "mrkdwn", text } }];

beforeEach(async () => {
  slack = await startFakeSlackApi();
});

afterEach(async () => {
  outbox?.close();
  await slack.close();
});

describe("SlackOutbox", () => {
  it("keeps to one call per interval in a channel, while another channel goes its own pace", async () => {
    const box = newOutbox(250);
    const started = Date.now();
    for (let i = 0; i < 4; i++) box.post("C0AAAAAAA1", { text: `a${i}`, blocks: blocks(`a${i}`) });
    box.post("C0BBBBBBB1", { text: "b0", blocks: blocks("b0") });
    expect(Date.now() - started).toBeLessThan(20);
    expect(await box.flush(5_000)).toBe(true);
    const calls = slack.calls("chat.postMessage");
    const a = calls.filter((c) => c.args.channel === "C0AAAAAAA1").map((c) => c.time);
    expect(a).toHaveLength(4);
    for (let i = 1; i < a.length; i++)
      expect((a[i] ?? 0) - (a[i - 1] ?? 0)).toBeGreaterThanOrEqual(240);
    const b = calls.find((c) => c.args.channel === "C0BBBBBBB1");
    expect((b?.time ?? 0) - (a[0] ?? 0)).toBeLessThan(200);
    expect(slack.messages("C0AAAAAAA1").map((m) => m.text)).toEqual(["a0", "a1", "a2", "a3"]);
  });

  it("merges a burst of plain thread posts into one message, in order", async () => {
    const box = newOutbox(200);
    const parent = await new WebClient(FAKE_BOT_TOKEN, {
      slackApiUrl: slack.apiUrl,
    }).chat.postMessage({
      channel: "C0AAAAAAA1",
      text: "card",
    });
    const threadTs = parent.ts as string;
    for (let i = 0; i < 12; i++) box.post("C0AAAAAAA1", { text: `line ${i}` }, { threadTs });
    await box.flush(5_000);
    const replies = slack.thread("C0AAAAAAA1", threadTs).slice(1);
    expect(replies.length).toBeLessThanOrEqual(2);
    expect(replies.map((m) => m.text).join("\n")).toBe(
      Array.from({ length: 12 }, (_, i) => `line ${i}`).join("\n"),
    );
  });

  it("honours Retry-After on a 429 and sends the same message afterwards, never throwing", async () => {
    const box = newOutbox(50);
    slack.failNext("chat.postMessage", { status: 429, retryAfterSeconds: 1 });
    const started = Date.now();
    box.post("C0AAAAAAA1", { text: "first", blocks: blocks("first") });
    box.post("C0AAAAAAA1", { text: "second", blocks: blocks("second") });
    expect(Date.now() - started).toBeLessThan(20);
    await box.flush(5_000);
    const calls = slack.calls("chat.postMessage");
    expect(calls.map((c) => c.httpStatus)).toEqual([429, 200, 200]);
    expect((calls[1]?.time ?? 0) - (calls[0]?.time ?? 0)).toBeGreaterThanOrEqual(950);
    expect(slack.messages("C0AAAAAAA1").map((m) => m.text)).toEqual(["first", "second"]);
  });

  it("posts a progress line once and then edits it, keeping only the latest text while queued", async () => {
    const box = newOutbox(150);
    for (let i = 1; i <= 20; i++)
      box.upsert("C0AAAAAAA1", "progress:1", { text: `${i} pods left` });
    await box.flush(5_000);
    for (let i = 21; i <= 30; i++)
      box.upsert("C0AAAAAAA1", "progress:1", { text: `${i} pods left` });
    await box.flush(5_000);
    const messages = slack.messages("C0AAAAAAA1");
    expect(messages).toHaveLength(1);
    expect(messages[0]?.text).toBe("30 pods left");
    expect(slack.calls().length).toBeLessThanOrEqual(4);
  });

  it("renders a coalesced card update once, from the latest state", async () => {
    const box = newOutbox(200);
    const card = await new WebClient(FAKE_BOT_TOKEN, {
      slackApiUrl: slack.apiUrl,
    }).chat.postMessage({
      channel: "C0AAAAAAA1",
      text: "card v0",
    });
    box.post("C0AAAAAAA1", { text: "busy", blocks: blocks("busy") });
    let renders = 0;
    for (let i = 1; i <= 10; i++)
      box.update("C0AAAAAAA1", "card", card.ts as string, () => {
        renders++;
        return { text: `card v${i}` };
      });
    await box.flush(5_000);
    expect(renders).toBe(1);
    expect(slack.message("C0AAAAAAA1", card.ts as string)?.text).toBe("card v10");
  });

  it("retries a Slack outage and drops what Slack refuses, without stopping later messages", async () => {
    const box = newOutbox(20);
    slack.failNext("chat.postMessage", { status: 500, times: 2 });
    box.post("C0AAAAAAA1", { text: "after an outage", blocks: blocks("x") });
    await box.flush(10_000);
    expect(slack.messages("C0AAAAAAA1").map((m) => m.text)).toEqual(["after an outage"]);
    slack.failNext("chat.postMessage", { error: "channel_not_found" });
    box.post("C0AAAAAAA1", { text: "refused", blocks: blocks("x") });
    box.post("C0AAAAAAA1", { text: "next", blocks: blocks("y") });
    await box.flush(5_000);
    expect(slack.messages("C0AAAAAAA1").map((m) => m.text)).toEqual(["after an outage", "next"]);
  });

  it("never gives up the card: through 429, 500s and Slack unreachable, its newest state lands once Slack is back", async () => {
    const writer = countingWriter();
    const box = newOutbox(50, { writer, maxBackoffMs: 1_500 });
    const card = await new WebClient(FAKE_BOT_TOKEN, {
      slackApiUrl: slack.apiUrl,
    }).chat.postMessage({ channel: "C0AAAAAAA1", text: "card: running" });
    const cardTs = card.ts as string;
    slack.failNext("*", { status: 429, retryAfterSeconds: 1 });
    slack.failNext("*", { status: 500, times: 3 });
    box.update("C0AAAAAAA1", "card", cardTs, () => ({ text: "card: phase 9 of 10" }));
    await until(() => writer.failures >= 3, "three failed attempts (500s)", 20_000);
    await slack.unreachable();
    // The run goes on meanwhile: a thread message and the finished state are queued.
    box.post("C0AAAAAAA1", { text: "Restore of prod complete" }, { threadTs: cardTs });
    box.update("C0AAAAAAA1", "card", cardTs, () => ({ text: "card: Restore succeeded" }));
    await until(() => writer.failures >= 6, "three attempts while Slack is unreachable", 30_000);
    await slack.reachable();
    await until(
      () => slack.message("C0AAAAAAA1", cardTs)?.text === "card: Restore succeeded",
      "the card shows the finished state",
      30_000,
    );
    // The thread message is not given up after a few attempts either.
    await until(
      () => slack.thread("C0AAAAAAA1", cardTs).some((m) => m.text === "Restore of prod complete"),
      "the thread message",
      30_000,
    );
    const updates = slack.calls("chat.update").filter((c) => c.httpStatus === 200);
    expect(updates.at(-1)?.args.text).toBe("card: Restore succeeded");
  });

  it("never drops a queued card edit to keep the backlog short", async () => {
    const box = newOutbox(20, { maxQueuedItems: 3 });
    const card = await new WebClient(FAKE_BOT_TOKEN, {
      slackApiUrl: slack.apiUrl,
    }).chat.postMessage({ channel: "C0AAAAAAA1", text: "card v0" });
    slack.setLatency("chat.update", 300);
    box.update("C0AAAAAAA1", "other", card.ts as string, () => ({ text: "card v0" }));
    box.update("C0AAAAAAA1", "card", card.ts as string, () => ({ text: "card v1" }));
    for (let i = 0; i < 5; i++) box.post("C0AAAAAAA1", { text: `halt ${i}`, blocks: blocks("x") });
    expect(await box.flush(15_000)).toBe(true);
    expect(slack.message("C0AAAAAAA1", card.ts as string)?.text).toBe("card v1");
  });
});
