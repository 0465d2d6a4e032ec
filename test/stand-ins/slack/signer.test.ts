import type { AddressInfo } from "node:net";
import { App, type BlockButtonAction, isValidSlackRequest, LogLevel } from "@slack/bolt";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  FAKE_BOT_TOKEN,
  type FakeSlackApi,
  startFakeSlackApi,
} from "../../../stand-ins/slack/fake-slack-api.js";
import {
  encodeSlackForm,
  SlackRequestSender,
  signSlackRequest,
} from "../../../stand-ins/slack/signer.js";
import { approvalCard } from "./test-fixtures.js";

const SIGNING_SECRET = "test-signing-secret-0123456789";
const CHANNEL = "C0RESTORES";
const ALICE = "U0ALICE001";
const BOB = "U0BOB00001";

/** What the handlers of the Bolt app under test saw, so tests assert outcomes. */
interface Seen {
  commands: Array<{ command: string; text: string; user: string; channel: string }>;
  actions: Array<{ actionId: string; value?: string; blockId: string; user: string }>;
  submissions: Array<{ callbackId: string; reason: string; metadata: string }>;
}

let fake: FakeSlackApi;
let app: App;
let sender: SlackRequestSender;
let seen: Seen;

/** A small Bolt app in the shape of restorebot's listeners: ack first, then do the work. */
function buildApp(apiUrl: string): App {
  const bolt = new App({
    signingSecret: SIGNING_SECRET,
    token: FAKE_BOT_TOKEN,
    clientOptions: { slackApiUrl: apiUrl, retryConfig: { retries: 0 } },
    logLevel: LogLevel.ERROR,
  });

  bolt.command("/restore", async ({ ack, command, respond, client }) => {
    await ack();
    seen.commands.push({
      command: command.command,
      text: command.text,
      user: command.user_id,
      channel: command.channel_id,
    });
    if (command.text === "form") {
      await client.views.open({
        trigger_id: command.trigger_id,
        view: {
          type: "modal",
          callback_id: "restore_reason",
          private_metadata: "prod",
          title: { type: "plain_text", text: "Restore prod" },
          submit: { type: "plain_text", text: "Request" },
          blocks: [
            {
              type: "input",
              block_id: "reason",
              label: { type: "plain_text", text: "Reason" },
              element: { type: "plain_text_input", action_id: "value" },
            },
          ],
        },
      });
      return;
    }
    await respond({
      response_type: "ephemeral",
      text: `Usage: /restore <target> (got "${command.text}")`,
    });
  });

  bolt.action<BlockButtonAction>("approve", async ({ ack, body, action, client }) => {
    await ack();
    seen.actions.push({
      actionId: action.action_id,
      value: action.value,
      blockId: action.block_id,
      user: body.user.id,
    });
    const ts = body.message?.ts as string;
    await client.chat.update({
      channel: body.channel?.id as string,
      ts,
      text: `Approved by <@${body.user.id}>`,
      blocks: [],
    });
  });

  bolt.action<BlockButtonAction>("reject", async ({ ack, body, action, respond }) => {
    await ack();
    seen.actions.push({
      actionId: action.action_id,
      value: action.value,
      blockId: action.block_id,
      user: body.user.id,
    });
    await respond({ replace_original: true, text: `Rejected by <@${body.user.id}>` });
  });

  bolt.view("restore_reason", async ({ ack, view }) => {
    const reason = view.state.values.reason?.value?.value ?? "";
    if (reason.trim() === "") {
      await ack({ response_action: "errors", errors: { reason: "A reason is required." } });
      return;
    }
    // Recorded before ack() so the test sees it as soon as the HTTP answer arrives.
    seen.submissions.push({
      callbackId: view.callback_id,
      reason,
      metadata: view.private_metadata,
    });
    await ack();
  });
  return bolt;
}

beforeAll(async () => {
  fake = await startFakeSlackApi();
  app = buildApp(fake.apiUrl);
  const server = await app.start({ port: 0, host: "127.0.0.1" });
  const { port } = server.address() as AddressInfo;
  sender = new SlackRequestSender({
    eventsUrl: `http://127.0.0.1:${port}/slack/events`,
    signingSecret: SIGNING_SECRET,
    fake,
  });
});

afterAll(async () => {
  await app.stop();
  await fake.close();
});

beforeEach(() => {
  fake.reset();
  seen = { commands: [], actions: [], submissions: [] };
});

describe("signSlackRequest", () => {
  it("reproduces the worked example of Slack's request-verification guide", () => {
    // docs.slack.dev/authentication/verifying-requests-from-slack
    const body = encodeSlackForm([
      ["token", "xyzz0WbapA4vBCDEFasx0q6G"],
      ["team_id", "T1DC2JH3J"],
      ["team_domain", "testteamnow"],
      ["channel_id", "G8PSS9T3V"],
      ["channel_name", "foobar"],
      ["user_id", "U2CERLKJA"],
      ["user_name", "roadrunner"],
      ["command", "/webhook-collect"],
      ["text", ""],
      [
        "response_url",
        "https://hooks.slack.com/commands/T1DC2JH3J/397700885554/96rGlfmibIGlgcZRskXaIFfN",
      ],
      ["trigger_id", "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"],
    ]);
    expect(body).toBe(
      "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
    );
    expect(signSlackRequest("8f742231b10e8888abcd99yyyzzz85a5", body, 1531420618)).toEqual({
      "X-Slack-Request-Timestamp": "1531420618",
      "X-Slack-Signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
    });
  });

  it("produces headers Bolt's own verifier accepts, and only for the signed body", () => {
    const now = Date.now();
    const headers = signSlackRequest(SIGNING_SECRET, "text=hello", Math.floor(now / 1000));
    const check = (body: string) =>
      isValidSlackRequest({
        signingSecret: SIGNING_SECRET,
        body,
        headers: {
          "x-slack-signature": headers["X-Slack-Signature"],
          "x-slack-request-timestamp": Number(headers["X-Slack-Request-Timestamp"]),
        },
        nowMilliseconds: now,
      });
    expect(check("text=hello")).toBe(true);
    expect(check("text=hellO")).toBe(false);
  });
});

describe("SlackRequestSender against a real Bolt app", () => {
  it("delivers a signed slash command; respond() lands in the fake's response URL record", async () => {
    const result = await sender.slashCommand({
      command: "/restore",
      text: "prod latest disk failure",
      userId: ALICE,
      channelId: CHANNEL,
    });
    expect(result.status).toBe(200);
    expect(result.elapsedMs).toBeLessThan(3000);

    const response = await fake.waitForResponse((r) => r.responseUrlId === result.responseUrlId, {
      timeoutMs: 3000,
    });
    expect(response).toMatchObject({
      effect: "posted_ephemeral",
      body: {
        response_type: "ephemeral",
        text: 'Usage: /restore <target> (got "prod latest disk failure")',
      },
      context: { channel: CHANNEL, user: ALICE, source: "slash_command" },
    });
    expect(fake.ephemerals(CHANNEL, ALICE)).toHaveLength(1);
    expect(seen.commands).toEqual([
      { command: "/restore", text: "prod latest disk failure", user: ALICE, channel: CHANNEL },
    ]);
  });

  it("hands Bolt a trigger_id that opens a modal through app.client", async () => {
    const result = await sender.slashCommand({
      command: "/restore",
      text: "form",
      userId: ALICE,
      channelId: CHANNEL,
    });
    expect(result.status).toBe(200);
    const call = await fake.waitForCall("views.open", undefined, { timeoutMs: 3000 });
    expect(call.response).toMatchObject({ ok: true, view: { callback_id: "restore_reason" } });
    expect(call.args.trigger_id).toBe(result.triggerId);
  });

  it("is refused with 401 when the signature is forged, and the handler never runs", async () => {
    const result = await sender.slashCommand(
      { command: "/restore", text: "prod latest x", userId: ALICE, channelId: CHANNEL },
      { forgeSignature: true },
    );
    expect(result.status).toBe(401);
    expect(seen.commands).toEqual([]);
    expect(fake.responses()).toEqual([]);
  });

  it("is refused with 401 when the timestamp is 10 minutes old, or the signature missing", async () => {
    const stale = await sender.slashCommand(
      { command: "/restore", text: "prod latest x", userId: ALICE, channelId: CHANNEL },
      { timestampOffsetSeconds: -600 },
    );
    const unsigned = await sender.slashCommand(
      { command: "/restore", text: "prod latest x", userId: ALICE, channelId: CHANNEL },
      { omitSignature: true },
    );
    expect([stale.status, unsigned.status]).toEqual([401, 401]);
    expect(seen.commands).toEqual([]);
  });

  it("clicks a button on a card the app posted; app.action updates the card", async () => {
    const card = await app.client.chat.postMessage({
      channel: CHANNEL,
      text: "Restore pending",
      blocks: approvalCard,
    });
    const result = await sender.clickButton({
      userId: BOB,
      channelId: CHANNEL,
      messageTs: card.ts as string,
      actionId: "approve",
    });
    expect(result.status).toBe(200);

    const updated = await fake.waitForMessage(CHANNEL, (m) => m.text === `Approved by <@${BOB}>`, {
      timeoutMs: 3000,
    });
    expect(updated.ts).toBe(card.ts);
    expect(updated.blocks).toEqual([]);
    expect(seen.actions).toEqual([
      { actionId: "approve", value: "req-1", blockId: "decision", user: BOB },
    ]);
  });

  it("delivers explicit block_actions; respond(replace_original) replaces the card", async () => {
    const card = await app.client.chat.postMessage({
      channel: CHANNEL,
      text: "Restore pending",
      blocks: approvalCard,
    });
    const result = await sender.blockActions({
      userId: BOB,
      channelId: CHANNEL,
      actions: [{ action_id: "reject", block_id: "decision", value: "req-1" }],
      message: { ts: card.ts as string },
    });
    expect(result.status).toBe(200);

    const response = await fake.waitForResponse((r) => r.responseUrlId === result.responseUrlId, {
      timeoutMs: 3000,
    });
    expect(response).toMatchObject({ effect: "replaced_original", messageTs: card.ts });
    expect(fake.message(CHANNEL, card.ts as string)?.text).toBe(`Rejected by <@${BOB}>`);
    expect(seen.actions).toEqual([
      { actionId: "reject", value: "req-1", blockId: "decision", user: BOB },
    ]);
  });

  it("refuses a forged block_actions payload before any handler runs", async () => {
    const result = await sender.blockActions(
      {
        userId: BOB,
        channelId: CHANNEL,
        actions: [{ action_id: "approve", block_id: "decision", value: "req-1" }],
      },
      { forgeSignature: true },
    );
    expect(result.status).toBe(401);
    expect(seen.actions).toEqual([]);
  });

  it("delivers view_submission to app.view; validation errors come back in the HTTP answer", async () => {
    const empty = await sender.viewSubmission({
      userId: ALICE,
      view: {
        callback_id: "restore_reason",
        private_metadata: "prod",
        state: { values: { reason: { value: { type: "plain_text_input", value: "" } } } },
      },
    });
    expect(empty.status).toBe(200);
    expect(empty.json).toEqual({
      response_action: "errors",
      errors: { reason: "A reason is required." },
    });

    const filled = await sender.viewSubmission({
      userId: ALICE,
      view: {
        callback_id: "restore_reason",
        private_metadata: "prod",
        state: {
          values: { reason: { value: { type: "plain_text_input", value: "disk failure" } } },
        },
      },
    });
    expect(filled.status).toBe(200);
    expect(filled.body).toBe("");
    expect(seen.submissions).toEqual([
      { callbackId: "restore_reason", reason: "disk failure", metadata: "prod" },
    ]);
  });
});
