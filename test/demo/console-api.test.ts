import type { AddressInfo } from "node:net";
import { App, LogLevel } from "@slack/bolt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDemoArgs } from "../../src/demo/cli.js";
import { type ConsoleServer, startConsoleServer } from "../../src/demo/console/console-server.js";
import { compareTs } from "../../src/demo/console/console-state.js";
import { DEMO_USERS } from "../../src/demo/demo-settings.js";
import { influxdbClusteredSimulator } from "../../src/kinds/influxdb-clustered/sandbox/simulated-cluster.js";
import {
  type KubernetesSimulator,
  startKubernetesSimulator,
} from "../../stand-ins/kubernetes/index.js";
import {
  FAKE_BOT_TOKEN,
  type FakeSlackApi,
  startFakeSlackApi,
} from "../../stand-ins/slack/fake-slack-api.js";
import { SlackRequestSender } from "../../stand-ins/slack/signer.js";

// The console's API against the Slack stand-in and a small Bolt app shaped like restorebot's
// listeners (ack first, then respond, post, update, open modals): what each person sees, and
// that every command, click and form reaches the app as a signed Slack request.

const SECRET = "console-test-signing-secret";
const CHANNEL = { id: "C0CONSOLE1", name: "restores" };
const [RILEY, AVERY] = DEMO_USERS as [(typeof DEMO_USERS)[0], (typeof DEMO_USERS)[0]];

let fake: FakeSlackApi;
let sim: KubernetesSimulator;
let bolt: App;
let consoleServer: ConsoleServer;
let base: string;

function buildApp(apiUrl: string): App {
  const app = new App({
    signingSecret: SECRET,
    token: FAKE_BOT_TOKEN,
    clientOptions: { slackApiUrl: apiUrl, retryConfig: { retries: 0 } },
    logLevel: LogLevel.ERROR,
  });
  app.command("/restore", async ({ ack, command, respond, client }) => {
    switch (command.text) {
      case "usage":
        await ack({ response_type: "ephemeral", text: "Usage: `/restore <target> <point>`" });
        return;
      case "list":
        await ack();
        await respond({
          response_type: "ephemeral",
          text: "points",
          blocks: [
            { type: "header", text: { type: "plain_text", text: "Recovery points" } },
            {
              type: "section",
              block_id: "point:1",
              text: { type: "mrkdwn", text: "*p1*" },
              accessory: {
                type: "button",
                action_id: "pick",
                value: "p1",
                text: { type: "plain_text", text: "Pick" },
              },
            },
          ],
        });
        return;
      case "card": {
        await ack();
        const posted = await client.chat.postMessage({
          channel: command.channel_id,
          text: "card",
          blocks: [
            { type: "section", text: { type: "mrkdwn", text: "Waiting for <@U0DEMOAPP1>" } },
            {
              type: "actions",
              block_id: "decision",
              elements: [
                {
                  type: "button",
                  action_id: "approve",
                  value: "req-1",
                  style: "primary",
                  text: { type: "plain_text", text: "Approve" },
                },
              ],
            },
          ],
        });
        const ts = posted.ts as string;
        await client.chat.postMessage({
          channel: command.channel_id,
          thread_ts: ts,
          text: "phase 1",
        });
        await client.chat.update({ channel: command.channel_id, ts, text: "card, updated" });
        await client.chat.postMessage({ channel: command.user_id, text: "a DM for you" });
        return;
      }
      case "form":
        await ack();
        await client.views.open({
          trigger_id: command.trigger_id,
          view: {
            type: "modal",
            callback_id: "reason_form",
            private_metadata: "prod",
            title: { type: "plain_text", text: "Restore prod" },
            submit: { type: "plain_text", text: "Request" },
            blocks: [
              {
                type: "input",
                block_id: "reason",
                label: { type: "plain_text", text: "Reason" },
                element: { type: "plain_text_input", action_id: "value", multiline: true },
              },
            ],
          },
        });
        return;
      default:
        await ack();
    }
  });
  app.action("pick", async ({ ack, respond, body }) => {
    await ack();
    const value =
      body.type === "block_actions" ? (body.actions[0] as { value?: string }).value : "";
    await respond({ replace_original: true, text: `picked ${value}` });
  });
  app.action("approve", async ({ ack, respond, body }) => {
    await ack();
    await respond({
      response_type: "ephemeral",
      replace_original: false,
      text: `approved by ${body.user.id}`,
    });
  });
  app.view("reason_form", async ({ ack, view, body, client }) => {
    const reason = view.state.values.reason?.value?.value ?? "";
    if (reason.length < 5) {
      await ack({
        response_action: "errors",
        errors: { reason: "Say why in 5 characters or more" },
      });
      return;
    }
    await ack();
    await client.chat.postEphemeral({
      channel: CHANNEL.id,
      user: body.user.id,
      text: `requested for ${view.private_metadata}: ${reason}`,
    });
  });
  return app;
}

interface StateItem {
  kind: "message" | "ephemeral";
  ts: string;
  text: string;
  source?: string;
  edited?: boolean;
  blocks: Array<{ type: string }>;
  replies?: StateItem[];
}

interface ConsoleState {
  slack: {
    me: string;
    timeline: StateItem[];
    directMessages: StateItem[];
    modal?: { viewId: string; view: { callback_id: string }; errors: Record<string, string> };
  };
  cluster: { components: Array<{ name: string; specReplicas: number }> };
  names: Record<string, string>;
}

async function state(user: string): Promise<ConsoleState> {
  const response = await fetch(`${base}/api/state?user=${user}`);
  expect(response.status).toBe(200);
  return (await response.json()) as ConsoleState;
}

async function post(
  path: string,
  body: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

/** Polls the state until `check` passes: the bot answers after its ack, asynchronously. */
async function eventually<T>(read: () => Promise<T>, check: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`condition not met; last: ${JSON.stringify(value).slice(0, 800)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

beforeAll(async () => {
  fake = await startFakeSlackApi();
  sim = await startKubernetesSimulator(influxdbClusteredSimulator());
  bolt = buildApp(fake.apiUrl);
  const server = (await bolt.start({ port: 0, host: "127.0.0.1" })) as { address(): AddressInfo };
  const sender = new SlackRequestSender({
    eventsUrl: `http://127.0.0.1:${server.address().port}/slack/events`,
    signingSecret: SECRET,
    fake,
  });
  consoleServer = await startConsoleServer({
    fake,
    sender,
    cluster: sim,
    users: DEMO_USERS,
    channel: CHANNEL,
    target: { name: "prod", namespace: sim.namespace },
    originalReplicas: Object.fromEntries(
      sim.snapshot().components.map((c) => [c.name, c.specReplicas]),
    ),
  });
  base = consoleServer.url.replace(/\/$/, "");
});

afterAll(async () => {
  await consoleServer?.close();
  await bolt?.stop();
  await sim?.close();
  await fake?.close();
});

describe("the console API", () => {
  it("serves the page and its modules", async () => {
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    const html = await page.text();
    expect(html).toContain('data-testid="user-switcher"');
    for (const asset of ["/app.js", "/block-kit.js", "/mrkdwn.js", "/styles.css"]) {
      expect((await fetch(`${base}${asset}`)).status, asset).toBe(200);
    }
    expect((await fetch(`${base}/../package.json`)).status).toBe(404);
  });

  it("shows an ack's message and the command echo to the person who typed it only", async () => {
    expect((await post("/api/command", { user: RILEY.id, text: "/restore usage" })).json.ok).toBe(
      true,
    );
    const riley = await state(RILEY.id);
    const mine = riley.slack.timeline.filter((i) => i.kind === "ephemeral");
    expect(mine.map((i) => [i.source, i.text])).toEqual([
      ["command", "/restore usage"],
      ["ack", "Usage: `/restore <target> <point>`"],
    ]);
    const avery = await state(AVERY.id);
    expect(avery.slack.timeline.filter((i) => i.text.includes("Usage"))).toEqual([]);
  });

  it("answers an unknown command and plain text itself, as Slack does, sending nothing", async () => {
    const before = fake.cursor();
    await post("/api/command", { user: AVERY.id, text: "/deploy prod" });
    await post("/api/command", { user: AVERY.id, text: "hello" });
    const texts = (await state(AVERY.id)).slack.timeline.map((i) => i.text);
    expect(texts.some((t) => t.includes("`/deploy` is not a valid command"))).toBe(true);
    expect(texts.some((t) => t.includes("sends slash commands"))).toBe(true);
    expect(fake.cursor()).toBe(before);
  });

  it("replaces an ephemeral when a click on it answers replace_original, as Slack does", async () => {
    await post("/api/command", { user: AVERY.id, text: "/restore list" });
    const listing = await eventually(
      () => state(AVERY.id),
      (s) => s.slack.timeline.some((i) => i.text === "points"),
    );
    const item = listing.slack.timeline.find((i) => i.text === "points") as StateItem;
    const click = await post("/api/action", {
      user: AVERY.id,
      messageTs: item.ts,
      ephemeral: true,
      actionId: "pick",
      blockId: "point:1",
      value: "p1",
    });
    expect(click.json.ok).toBe(true);
    const after = await eventually(
      () => state(AVERY.id),
      (s) => s.slack.timeline.some((i) => i.ts === item.ts && i.text === "picked p1"),
    );
    expect(after.slack.timeline.find((i) => i.ts === item.ts)?.blocks).toEqual([]);
  });

  it("shows channel messages with edits, threads and DMs; a click is signed as the chosen person", async () => {
    await post("/api/command", { user: RILEY.id, text: "/restore card" });
    const riley = await eventually(
      () => state(RILEY.id),
      (s) =>
        s.slack.directMessages.length > 0 &&
        s.slack.timeline.some((i) => i.kind === "message" && i.edited === true),
    );
    const card = riley.slack.timeline.find((i) => i.kind === "message") as StateItem;
    expect(card.text).toBe("card, updated");
    expect(card.replies?.map((r) => r.text)).toEqual(["phase 1"]);
    expect(riley.slack.directMessages.map((m) => m.text)).toEqual(["a DM for you"]);
    expect((await state(AVERY.id)).slack.directMessages).toEqual([]);
    expect(riley.names[AVERY.id]).toBe("Avery");

    await post("/api/action", {
      user: AVERY.id,
      messageTs: card.ts,
      actionId: "approve",
      blockId: "decision",
      value: "req-1",
    });
    const avery = await eventually(
      () => state(AVERY.id),
      (s) => s.slack.timeline.some((i) => i.text === `approved by ${AVERY.id}`),
    );
    const order = avery.slack.timeline.map((i) => i.ts);
    expect([...order].sort(compareTs)).toEqual(order);
  });

  it("opens a modal for its person, keeps it open with the app's errors, closes it on success", async () => {
    await post("/api/command", { user: RILEY.id, text: "/restore form" });
    const opened = await eventually(
      () => state(RILEY.id),
      (s) => s.slack.modal !== undefined,
    );
    const viewId = opened.slack.modal?.viewId as string;
    expect(opened.slack.modal?.view.callback_id).toBe("reason_form");
    expect((await state(AVERY.id)).slack.modal).toBeUndefined();

    const tooShort = await post("/api/view/submit", {
      user: RILEY.id,
      viewId,
      values: { reason: { value: "no" } },
    });
    expect(tooShort.json.errors).toEqual({ reason: "Say why in 5 characters or more" });
    expect((await state(RILEY.id)).slack.modal?.errors).toEqual({
      reason: "Say why in 5 characters or more",
    });

    const ok = await post("/api/view/submit", {
      user: RILEY.id,
      viewId,
      values: { reason: { value: "INC-7 bad migration" } },
    });
    expect(ok.json.ok).toBe(true);
    const after = await eventually(
      () => state(RILEY.id),
      (s) => s.slack.timeline.some((i) => i.text === "requested for prod: INC-7 bad migration"),
    );
    expect(after.slack.modal).toBeUndefined();
    // Submitting a form that is no longer open is refused.
    expect((await post("/api/view/submit", { user: RILEY.id, viewId, values: {} })).status).toBe(
      409,
    );
  });

  it("streams a change event when the cluster or the workspace changes", async () => {
    const controller = new AbortController();
    const response = await fetch(`${base}/api/events`, { signal: controller.signal });
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let seen = "";
    const read = async (pattern: RegExp) => {
      while (!pattern.test(seen)) {
        const { value, done } = await reader.read();
        if (done) break;
        seen += decoder.decode(value);
      }
      return pattern.test(seen);
    };
    expect(await read(/event: change/)).toBe(true);
    seen = "";
    sim.scale("global-router", 1);
    expect(await read(/event: change\ndata: \{"version":\d+/)).toBe(true);
    const cluster = (await state(RILEY.id)).cluster;
    expect(cluster.components.find((c) => c.name === "global-router")?.specReplicas).toBe(1);
    controller.abort();
    await reader.cancel().catch(() => undefined);
  });

  it("refuses foreign Host names, non-JSON posts and unknown people", async () => {
    const { request } = await import("node:http");
    const statusWithHost = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request(`${base}/api/state?user=${RILEY.id}`, { headers: { host } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
        req.end();
      });
    expect(await statusWithHost("attacker.example:80")).toBe(421);
    // A loopback name on any port is fine: that is an SSH tunnel or a forwarded port.
    expect(await statusWithHost("localhost:9999")).toBe(200);
    const form = await fetch(`${base}/api/command`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "user=U0DEMOREQ&text=/restore",
    });
    expect(form.status).toBe(415);
    expect((await post("/api/command", { user: "U0NOBODY", text: "/restore help" })).status).toBe(
      400,
    );
  });
});

describe("restorebot demo options", () => {
  it("parses --port, --fast and --no-open, and names a bad option", () => {
    expect(parseDemoArgs([])).toEqual({ port: 8080, fast: false, open: true });
    expect(parseDemoArgs(["--port", "9000", "--fast", "--no-open"])).toEqual({
      port: 9000,
      fast: true,
      open: false,
    });
    expect(parseDemoArgs(["--port=0"]).port).toBe(0);
    expect(() => parseDemoArgs(["--port", "http"])).toThrow(/--port needs a port number/);
    expect(() => parseDemoArgs(["--verbose"])).toThrow(/unknown option "--verbose"/);
  });

  it("parses --database, and refuses a name PostgreSQL would need quoting for", () => {
    expect(parseDemoArgs(["--database", "rb_demo2"]).database).toBe("rb_demo2");
    expect(parseDemoArgs(["--database=rb_demo3"]).database).toBe("rb_demo3");
    expect(parseDemoArgs([]).database).toBeUndefined();
    expect(() => parseDemoArgs(["--database", "Demo-2"])).toThrow(
      /--database needs a plain database name.*got "Demo-2"/,
    );
    expect(() => parseDemoArgs(["--database"])).toThrow(/got nothing/);
  });
});

describe("the console's mrkdwn", () => {
  // A browser module without types: loaded by path so the compiler does not look for them.
  const modulePath = "../../src/demo/console/static/mrkdwn.js";
  type Render = (text: string, ctx?: { names?: Record<string, string> }) => string;

  it("formats what restorebot writes and escapes everything else", async () => {
    const { renderMrkdwn } = (await import(modulePath)) as { renderMrkdwn: Render };
    const names = { U0DEMOAPP1: "Avery" };
    expect(renderMrkdwn("*Approved* by <@U0DEMOAPP1> :white_check_mark:", { names })).toBe(
      '<strong>Approved</strong> by <span class="mention" data-user="U0DEMOAPP1">@Avery</span> ✅',
    );
    expect(renderMrkdwn("run `/restore status` for _snake_case_names_")).toBe(
      "run <code>/restore status</code> for <em>snake_case_names</em>",
    );
    expect(renderMrkdwn("&gt; quoted &amp; said\nnext")).toBe(
      "<blockquote>quoted &amp; said</blockquote>next",
    );
    expect(renderMrkdwn("<https://example.com/x?a=1&amp;b=2|the docs>")).toBe(
      '<a href="https://example.com/x?a=1&amp;b=2" target="_blank" rel="noopener noreferrer">the docs</a>',
    );
    // Markup in a message is text, and only http(s) links become links.
    expect(renderMrkdwn("<script>alert(1)</script>")).not.toContain("<script");
    expect(renderMrkdwn("&lt;img src=x onerror=alert(1)&gt;")).toBe(
      "&lt;img src=x onerror=alert(1)&gt;",
    );
    expect(renderMrkdwn("<javascript:alert(1)|click>")).toBe("click");
  });
});
