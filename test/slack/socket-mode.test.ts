import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readEnv } from "../../src/config/env.js";
import { parseConfig } from "../../src/config/file.js";
import { healthRoutes } from "../../src/http/health.js";
import { silentLogger } from "../../src/logging/logger.js";
import { buildRuntime, type Runtime } from "../../src/runtime/runtime.js";
import { type SlackBot, startSlackBot } from "../../src/slack/app.js";
import {
  FAKE_BOT_TOKEN,
  type FakeSlackApi,
  startFakeSlackApi,
} from "../../stand-ins/slack/fake-slack-api.js";
import { FakeSocketModeServer } from "../../stand-ins/slack/fake-socket-mode.js";
import { DEFAULT_TEST_CONFIG } from "../support/bot-harness.js";
import { createTestDatabase, type TestDatabase } from "../support/postgres.js";
import { REDIS_TEST_URL, uniqueQueuePrefix } from "../support/redis.js";

const APP_TOKEN = "xapp-1-A0FAKEAPP1-0000-fake";

describe("the bot in Socket Mode (SLACK_APP_TOKEN set)", () => {
  let fake: FakeSlackApi;
  let socket: FakeSocketModeServer;
  let database: TestDatabase;
  let runtime: Runtime;
  let bot: SlackBot;

  beforeAll(async () => {
    fake = await startFakeSlackApi();
    socket = new FakeSocketModeServer();
    await socket.start();
    fake.attachSocketMode(APP_TOKEN, () => socket.newConnectionUrl());
    database = await createTestDatabase("socket");
    // No signing secret: Socket Mode needs none, and no inbound Slack port.
    const env = readEnv(
      {
        SLACK_BOT_TOKEN: FAKE_BOT_TOKEN,
        SLACK_APP_TOKEN: APP_TOKEN,
        SLACK_API_URL: fake.apiUrl,
        PORT: "0",
        DATABASE_URL: database.url,
        REDIS_URL: REDIS_TEST_URL,
        RESTOREBOT_QUEUE_PREFIX: uniqueQueuePrefix("socket"),
      },
      "bot",
    );
    expect(env.socketMode).toBe(true);
    runtime = await buildRuntime({
      role: "bot",
      env,
      config: parseConfig(DEFAULT_TEST_CONFIG),
      logger: silentLogger,
    });
    bot = await startSlackBot({
      env,
      deps: runtime.deps,
      routes: healthRoutes(runtime.healthChecks, runtime.metrics.registry),
    });
    await socket.waitForConnection();
  });

  afterAll(async () => {
    await bot?.stop();
    await runtime?.close();
    await socket?.close();
    await fake?.close();
    await database?.drop();
  });

  it("opens the connection with the app-level token", () => {
    const opens = fake.calls("apps.connections.open");
    expect(opens.length).toBeGreaterThanOrEqual(1);
    expect(opens[0]?.response).toMatchObject({ ok: true });
    expect(socket.connections).toBe(1);
  });

  it("acknowledges /restore help over the socket with the usage", async () => {
    const ack = await socket.sendSlashCommand({
      command: "/restore",
      text: "help",
      userId: "UREQUESTER",
      channelId: "CRESTORES",
    });
    expect(ack.payload).toMatchObject({ response_type: "ephemeral" });
    expect(String(ack.payload?.text)).toContain(
      "/restore &lt;target&gt; &lt;point|latest&gt; &lt;reason…&gt;",
    );
  });

  it("refuses a malformed command over the socket with what was wrong", async () => {
    const ack = await socket.sendSlashCommand({
      command: "/restore",
      text: "prod latest",
      userId: "UREQUESTER",
      channelId: "CRESTORES",
    });
    expect(String(ack.payload?.text)).toContain("A reason is mandatory");
  });

  it("refuses to start when PORT is taken, naming PORT, without opening a second connection", async () => {
    const connectionsBefore = socket.connections;
    const env = readEnv(
      {
        SLACK_BOT_TOKEN: FAKE_BOT_TOKEN,
        SLACK_APP_TOKEN: APP_TOKEN,
        SLACK_API_URL: fake.apiUrl,
        // The port the running bot's health server holds.
        PORT: String(bot.port),
      },
      "bot",
    );
    await expect(
      startSlackBot({
        env,
        deps: runtime.deps,
        routes: healthRoutes(runtime.healthChecks, runtime.metrics.registry),
      }),
    ).rejects.toThrow(new RegExp(`^PORT: port ${bot.port} is already in use.*set PORT`));
    expect(socket.connections).toBe(connectionsBefore);
  });

  it("still serves the health endpoints on PORT", async () => {
    const ready = await fetch(`http://127.0.0.1:${bot.port}/readyz`);
    expect(ready.status).toBe(200);
    expect(
      (await fetch(`http://127.0.0.1:${bot.port}/slack/events`, { method: "POST" })).status,
    ).toBe(404);
  });
});
