import { ErrorCode, type Logger, LogLevel, WebClient, WebClientEvent } from "@slack/web-api";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  FAKE_BOT,
  FAKE_BOT_TOKEN,
  type FakeSlackApi,
  startFakeSlackApi,
} from "../../../stand-ins/slack/fake-slack-api.js";
import { approvalCard } from "./test-fixtures.js";

const CHANNEL = "C0RESTORES";
const ALICE = "U0ALICE001";

let fake: FakeSlackApi;

/** WebClient logs Slack's refusal messages at ERROR; the tests assert them instead. */
const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  setLevel: () => {},
  getLevel: () => LogLevel.ERROR,
  setName: () => {},
};

/** A WebClient as the bot builds it, without retries unless a test asks for them. */
function client(options: { token?: string; retries?: number } = {}): WebClient {
  return new WebClient(options.token ?? FAKE_BOT_TOKEN, {
    slackApiUrl: fake.apiUrl,
    logger: silentLogger,
    retryConfig: { retries: options.retries ?? 0, minTimeout: 10, maxTimeout: 20 },
  });
}

function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected the call to fail");
    },
    (error: unknown) => error,
  );
}

beforeAll(async () => {
  fake = await startFakeSlackApi({
    users: [{ id: ALICE, name: "alice", realName: "Alice Approver", email: "alice@example.com" }],
    userGroups: { S0APPROVERS: [ALICE, "U0BOB00001"] },
  });
});

afterAll(async () => {
  await fake.close();
});

beforeEach(() => {
  fake.reset();
});

describe("fake Slack Web API, driven by the real WebClient", () => {
  it("answers auth.test with the bot identity", async () => {
    const result = await client().auth.test();
    expect(result).toMatchObject({ ok: true, user_id: FAKE_BOT.userId, bot_id: FAKE_BOT.botId });
  });

  it("refuses an unknown token with invalid_auth and a missing one with not_authed", async () => {
    const error = await failureOf(
      client({ token: "xoxb-wrong" }).chat.postMessage({ channel: CHANNEL, text: "hi" }),
    );
    expect(error).toMatchObject({ code: ErrorCode.PlatformError, data: { error: "invalid_auth" } });

    const anonymous = await fetch(`${fake.apiUrl}auth.test`, { method: "POST" });
    expect(anonymous.status).toBe(200);
    expect(await anonymous.json()).toEqual({ ok: false, error: "not_authed" });
    expect(fake.messages(CHANNEL)).toEqual([]);
  });

  it("posts messages with unique, increasing ts and parses blocks sent as JSON strings", async () => {
    const slack = client();
    const first = await slack.chat.postMessage({
      channel: CHANNEL,
      text: "card",
      blocks: approvalCard,
    });
    const second = await slack.chat.postMessage({ channel: CHANNEL, text: "second" });

    expect(first).toMatchObject({ ok: true, channel: CHANNEL, message: { text: "card" } });
    expect(first.ts).toMatch(/^\d{10}\.\d{6}$/);
    expect(Number(second.ts)).toBeGreaterThan(Number(first.ts));

    const stored = fake.messages(CHANNEL);
    expect(stored.map((m) => m.text)).toEqual(["card", "second"]);
    expect(stored[0]?.blocks).toEqual(approvalCard);
    expect(fake.calls("chat.postMessage")[0]).toMatchObject({
      encoding: "form",
      args: { channel: CHANNEL, blocks: approvalCard },
    });
    // The token is never recorded: the recordings feed a UI.
    expect(JSON.stringify(fake.calls())).not.toContain(FAKE_BOT_TOKEN);
  });

  it("keeps threads: replies carry thread_ts and thread() returns parent then replies", async () => {
    const slack = client();
    const card = await slack.chat.postMessage({ channel: CHANNEL, text: "card" });
    const cardTs = card.ts as string;
    await slack.chat.postMessage({ channel: CHANNEL, thread_ts: cardTs, text: "phase 1 done" });
    const reply = await slack.chat.postMessage({
      channel: CHANNEL,
      thread_ts: cardTs,
      text: "phase 2 done",
    });
    await slack.chat.postMessage({ channel: CHANNEL, text: "unrelated" });

    expect(reply.message?.thread_ts).toBe(cardTs);
    const thread = fake.thread(CHANNEL, cardTs);
    expect(thread.map((m) => m.text)).toEqual(["card", "phase 1 done", "phase 2 done"]);
    expect(thread[0]).toMatchObject({ replyCount: 2, latestReply: reply.ts });
  });

  it("updates a message, keeps its edit history, and refuses an unknown ts", async () => {
    const slack = client();
    const card = await slack.chat.postMessage({
      channel: CHANNEL,
      text: "Pending",
      blocks: approvalCard,
    });
    const ts = card.ts as string;
    const updated = await slack.chat.update({ channel: CHANNEL, ts, text: "Approved by alice" });

    expect(updated).toMatchObject({ ok: true, ts, text: "Approved by alice" });
    const stored = fake.message(CHANNEL, ts);
    expect(stored?.text).toBe("Approved by alice");
    // chat.update keeps blocks that the update leaves out, as Slack does.
    expect(stored?.blocks).toEqual(approvalCard);
    expect(stored?.revisions.map((r) => [r.via, r.text])).toEqual([
      ["chat.postMessage", "Pending"],
      ["chat.update", "Approved by alice"],
    ]);

    const error = await failureOf(
      slack.chat.update({ channel: CHANNEL, ts: "1.000001", text: "x" }),
    );
    expect(error).toMatchObject({ data: { error: "message_not_found" } });
  });

  it("records ephemerals apart from the channel history", async () => {
    const result = await client().chat.postEphemeral({
      channel: CHANNEL,
      user: ALICE,
      text: "Usage: /restore …",
    });
    expect(result.ok).toBe(true);
    expect(result.message_ts).toMatch(/^\d+\.\d{6}$/);
    expect(fake.ephemerals(CHANNEL, ALICE)).toMatchObject([
      { channel: CHANNEL, user: ALICE, text: "Usage: /restore …", via: "chat.postEphemeral" },
    ]);
    expect(fake.ephemerals(CHANNEL, "U0SOMEONE1")).toEqual([]);
    expect(fake.messages(CHANNEL)).toEqual([]);
  });

  it("deletes messages and builds permalinks", async () => {
    const slack = client();
    const card = await slack.chat.postMessage({ channel: CHANNEL, text: "card" });
    const ts = card.ts as string;
    const link = await slack.chat.getPermalink({ channel: CHANNEL, message_ts: ts });
    expect(link.permalink).toBe(
      `https://fake.slack.com/archives/${CHANNEL}/p${ts.replace(".", "")}`,
    );

    await slack.chat.delete({ channel: CHANNEL, ts });
    expect(fake.messages(CHANNEL)).toEqual([]);
    expect(fake.messages(CHANNEL, { includeDeleted: true })[0]?.deleted).toBe(true);
    const error = await failureOf(slack.chat.delete({ channel: CHANNEL, ts }));
    expect(error).toMatchObject({ data: { error: "message_not_found" } });
  });

  it("opens one DM channel per user, and posting to a user ID lands there", async () => {
    const slack = client();
    const opened = await slack.conversations.open({ users: ALICE });
    const again = await slack.conversations.open({ users: ALICE });
    const dm = opened.channel?.id as string;
    expect(dm).toMatch(/^D[A-Z0-9]+$/);
    expect(again).toMatchObject({ channel: { id: dm }, already_open: true });

    const posted = await slack.chat.postMessage({ channel: ALICE, text: "your restore finished" });
    expect(posted.channel).toBe(dm);
    expect(fake.messages(dm).map((m) => m.text)).toEqual(["your restore finished"]);
  });

  it("opens, updates and pushes views; trigger IDs work once", async () => {
    const slack = client();
    const modal = {
      type: "modal" as const,
      callback_id: "restore_reason",
      title: { type: "plain_text" as const, text: "Restore prod" },
      blocks: [
        {
          type: "input",
          block_id: "reason",
          label: { type: "plain_text" as const, text: "Reason" },
          element: { type: "plain_text_input", action_id: "value" },
        },
      ],
    };
    const triggerId = fake.newTriggerId();
    const opened = await slack.views.open({ trigger_id: triggerId, view: modal });
    const viewId = opened.view?.id as string;
    expect(viewId).toMatch(/^V[A-Z0-9]+$/);
    expect(opened.view).toMatchObject({ callback_id: "restore_reason", root_view_id: viewId });

    const reuse = await failureOf(slack.views.open({ trigger_id: triggerId, view: modal }));
    expect(reuse).toMatchObject({ data: { error: "exchanged_trigger_id" } });

    const title = { type: "plain_text" as const, text: "Restore staging" };
    await slack.views.update({ view_id: viewId, view: { ...modal, title } });
    expect(fake.view(viewId)?.view.title).toEqual(title);
    const stale = await failureOf(
      slack.views.update({ view_id: viewId, hash: opened.view?.hash as string, view: modal }),
    );
    expect(stale).toMatchObject({ data: { error: "hash_conflict" } });

    const pushed = await slack.views.push({
      trigger_id: fake.newTriggerId({ viewId }),
      view: modal,
    });
    expect(pushed.view).toMatchObject({ root_view_id: viewId, previous_view_id: viewId });
    expect(fake.views()).toHaveLength(2);
  });

  it("refuses what Slack refuses: a 25-character modal title, 51 blocks", async () => {
    const slack = client();
    const longTitle = await failureOf(
      slack.views.open({
        trigger_id: fake.newTriggerId(),
        view: { type: "modal", title: { type: "plain_text", text: "x".repeat(25) }, blocks: [] },
      }),
    );
    expect(longTitle).toMatchObject({
      data: {
        error: "invalid_arguments",
        response_metadata: {
          messages: ["[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"],
        },
      },
    });

    const divider = { type: "divider" };
    const tooMany = await failureOf(
      slack.chat.postMessage({ channel: CHANNEL, text: "x", blocks: Array(51).fill(divider) }),
    );
    expect(tooMany).toMatchObject({ data: { error: "invalid_blocks" } });
    expect(fake.messages(CHANNEL)).toEqual([]);
  });

  it("lists user-group members and describes users", async () => {
    const slack = client();
    const group = await slack.usergroups.users.list({ usergroup: "S0APPROVERS" });
    expect(group.users).toEqual([ALICE, "U0BOB00001"]);
    const missing = await failureOf(slack.usergroups.users.list({ usergroup: "S0NOPE0001" }));
    expect(missing).toMatchObject({ data: { error: "no_such_subteam" } });

    const alice = await slack.users.info({ user: ALICE });
    expect(alice.user).toMatchObject({ id: ALICE, name: "alice", real_name: "Alice Approver" });
    const someone = await slack.users.info({ user: "U0CAROL001" });
    expect(someone.user).toMatchObject({ id: "U0CAROL001", deleted: false, is_bot: false });
  });

  it("answers unknown_method for methods it does not implement", async () => {
    const error = await failureOf(client().apiCall("admin.nonsense.do"));
    expect(error).toMatchObject({ data: { error: "unknown_method" } });
  });

  it("accepts JSON bodies with a bearer token, as Slack does", async () => {
    const response = await fetch(`${fake.apiUrl}chat.postMessage`, {
      method: "POST",
      headers: {
        "content-type": "application/json; charset=utf-8",
        authorization: `Bearer ${FAKE_BOT_TOKEN}`,
      },
      body: JSON.stringify({ channel: CHANNEL, text: "from json", blocks: approvalCard }),
    });
    expect(await response.json()).toMatchObject({ ok: true, channel: CHANNEL });
    expect(fake.messages(CHANNEL)[0]).toMatchObject({ text: "from json", blocks: approvalCard });
  });
});

describe("fault injection", () => {
  it("answers 429 with Retry-After; WebClient waits that long, retries and succeeds", async () => {
    fake.failNext("chat.postMessage", { status: 429, retryAfterSeconds: 1 });
    const slack = client({ retries: 2 });
    const rateLimited: number[] = [];
    slack.on(WebClientEvent.RATE_LIMITED, (seconds: number) => rateLimited.push(seconds));

    const started = Date.now();
    const result = await slack.chat.postMessage({ channel: CHANNEL, text: "narration" });
    const elapsed = Date.now() - started;

    expect(result.ok).toBe(true);
    expect(rateLimited).toEqual([1]);
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    expect(fake.calls("chat.postMessage").map((c) => c.httpStatus)).toEqual([429, 200]);
    // The refused attempt left nothing behind: exactly one message.
    expect(fake.messages(CHANNEL)).toHaveLength(1);
  });

  it("sends the Retry-After header on the wire", async () => {
    fake.failNext("chat.update", { status: 429, retryAfterSeconds: 7 });
    const response = await fetch(`${fake.apiUrl}chat.update`, {
      method: "POST",
      headers: { authorization: `Bearer ${FAKE_BOT_TOKEN}` },
    });
    expect(response.status).toBe(429);
    expect(response.headers.get("retry-after")).toBe("7");
    expect(await response.json()).toEqual({ ok: false, error: "ratelimited" });
  });

  it("surfaces a rate limit at once to a client that rejects rate-limited calls", async () => {
    fake.failNext("chat.postMessage", { status: 429, retryAfterSeconds: 30 });
    const slack = new WebClient(FAKE_BOT_TOKEN, {
      slackApiUrl: fake.apiUrl,
      logger: silentLogger,
      rejectRateLimitedCalls: true,
    });
    const error = await failureOf(slack.chat.postMessage({ channel: CHANNEL, text: "x" }));
    expect(error).toMatchObject({ code: ErrorCode.RateLimitedError, retryAfter: 30 });
  });

  it("fails with HTTP 500 as many times as asked, then recovers", async () => {
    fake.failNext("chat.postMessage", { status: 500, times: 2 });
    const slack = client();
    const first = await failureOf(slack.chat.postMessage({ channel: CHANNEL, text: "a" }));
    expect(first).toMatchObject({ code: ErrorCode.HTTPError, statusCode: 500 });
    await failureOf(slack.chat.postMessage({ channel: CHANNEL, text: "b" }));
    await slack.chat.postMessage({ channel: CHANNEL, text: "c" });
    expect(fake.messages(CHANNEL).map((m) => m.text)).toEqual(["c"]);

    // A retrying client rides over a single 500.
    fake.failNext("chat.postMessage", { status: 503 });
    await client({ retries: 1 }).chat.postMessage({ channel: CHANNEL, text: "d" });
    expect(fake.messages(CHANNEL).map((m) => m.text)).toEqual(["c", "d"]);
  });

  it("injects Slack error codes, on one method or on any ('*')", async () => {
    fake.failNext("chat.postMessage", { error: "channel_not_found" });
    fake.failNext("*", { error: "team_access_not_granted" });
    const slack = client();
    const first = await failureOf(slack.chat.postMessage({ channel: CHANNEL, text: "a" }));
    expect(first).toMatchObject({
      code: ErrorCode.PlatformError,
      data: { error: "channel_not_found" },
    });
    const second = await failureOf(slack.auth.test());
    expect(second).toMatchObject({ data: { error: "team_access_not_granted" } });
    expect((await slack.auth.test()).ok).toBe(true);
  });

  it("drops the connection when asked", async () => {
    fake.failNext("chat.postMessage", { disconnect: true });
    const error = await failureOf(client().chat.postMessage({ channel: CHANNEL, text: "a" }));
    expect(error).toMatchObject({ code: ErrorCode.RequestError });
    expect(fake.calls("chat.postMessage")[0]).toMatchObject({ httpStatus: 0, response: null });
  });

  it("delays answers by the configured latency", async () => {
    fake.setLatency("chat.postMessage", 150);
    const started = Date.now();
    await client().chat.postMessage({ channel: CHANNEL, text: "slow" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    await client().auth.test();
    // Server-side durations, so a busy test machine cannot blur the comparison.
    expect(fake.calls("chat.postMessage")[0]?.durationMs).toBeGreaterThanOrEqual(140);
    expect(fake.calls("auth.test")[0]?.durationMs).toBeLessThan(100);
  });
});

describe("response URLs", () => {
  it("records POSTs and applies them: ephemeral by default, in_channel, replace_original", async () => {
    const card = await client().chat.postMessage({
      channel: CHANNEL,
      text: "Pending",
      blocks: approvalCard,
    });
    const cardTs = card.ts as string;

    const commandUrl = fake.newResponseUrl({
      channel: CHANNEL,
      user: ALICE,
      source: "slash_command",
    });
    expect(commandUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/response\/[\w-]+$/);
    const post = (url: string, body: unknown) =>
      fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });

    const answer = await post(commandUrl, { text: "Usage: /restore <target> <point> <reason>" });
    expect(answer.status).toBe(200);
    expect(await answer.text()).toBe("ok");
    await post(commandUrl, { response_type: "in_channel", text: "alice asked for a restore" });

    const actionUrl = fake.newResponseUrl({ channel: CHANNEL, user: ALICE, messageTs: cardTs });
    await post(actionUrl, { replace_original: true, text: "Approved" });

    const commandId = commandUrl.split("/").pop() as string;
    expect(fake.responses(commandId).map((r) => r.effect)).toEqual([
      "posted_ephemeral",
      "posted_in_channel",
    ]);
    expect(fake.responses(actionUrl)).toMatchObject([
      {
        effect: "replaced_original",
        messageTs: cardTs,
        body: { replace_original: true, text: "Approved" },
      },
    ]);
    expect(fake.ephemerals(CHANNEL, ALICE)[0]?.via).toBe("response_url");
    const messages = fake.messages(CHANNEL);
    expect(messages.map((m) => m.text)).toEqual(["Approved", "alice asked for a restore"]);
    // A replacement is a whole message: the buttons are gone.
    expect(messages[0]?.blocks).toEqual([]);
  });

  it("refuses unknown response URLs and bodies that are not JSON", async () => {
    const unknown = await fetch(`${fake.url}/response/nope`, { method: "POST", body: "{}" });
    expect(unknown.status).toBe(404);
    const url = fake.newResponseUrl({ channel: CHANNEL, user: ALICE });
    const bad = await fetch(url, { method: "POST", body: "text=hi" });
    expect(bad.status).toBe(400);
    expect(fake.responses(url)).toMatchObject([{ effect: "rejected", error: "invalid_payload" }]);
  });
});

describe("waiting and streaming", () => {
  it("waitFor resolves on an event that happens later, without polling", async () => {
    const slack = client();
    const waiting = fake.waitForCall("chat.update", (c) => c.args.text === "Done", {
      timeoutMs: 2000,
    });
    const card = await slack.chat.postMessage({ channel: CHANNEL, text: "Running" });
    setTimeout(() => {
      void slack.chat.update({ channel: CHANNEL, ts: card.ts as string, text: "Done" });
    }, 20);
    const call = await waiting;
    expect(call.response).toMatchObject({ ok: true, text: "Done" });
  });

  it("waitFor sees events already recorded, and `since` limits it to new ones", async () => {
    const slack = client();
    await slack.chat.postMessage({ channel: CHANNEL, text: "first" });
    const past = await fake.waitForCall("chat.postMessage");
    expect(past.args.text).toBe("first");

    const since = fake.cursor();
    const next = fake.waitForCall("chat.postMessage", undefined, { since, timeoutMs: 2000 });
    await slack.chat.postMessage({ channel: CHANNEL, text: "second" });
    expect((await next).args.text).toBe("second");
  });

  it("waitForMessage resolves when a message reaches the wanted state", async () => {
    const slack = client();
    const card = await slack.chat.postMessage({ channel: CHANNEL, text: "Pending" });
    const approved = fake.waitForMessage(CHANNEL, (m) => m.text === "Approved", {
      timeoutMs: 2000,
    });
    await slack.chat.update({ channel: CHANNEL, ts: card.ts as string, text: "Approved" });
    expect((await approved).ts).toBe(card.ts);
  });

  it("waitFor rejects after the timeout, naming what it waited for and what happened", async () => {
    await client().auth.test();
    const error = await failureOf(fake.waitForCall("views.open", undefined, { timeoutMs: 50 }));
    expect(String(error)).toMatch(
      /timed out after 50 ms waiting for a views.open call.*auth\.test → ok/,
    );
  });

  it("streams every call to on('call') listeners", async () => {
    const seen: string[] = [];
    const listener = (call: { method: string }) => seen.push(call.method);
    fake.on("call", listener);
    const slack = client();
    await slack.auth.test();
    await slack.chat.postMessage({ channel: CHANNEL, text: "x" });
    fake.off("call", listener);
    await slack.auth.test();
    expect(seen).toEqual(["auth.test", "chat.postMessage"]);
  });
});
