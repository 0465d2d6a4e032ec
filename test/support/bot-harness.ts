import { readEnv } from "../../src/config/env.js";
import { type Config, parseConfig } from "../../src/config/file.js";
import { healthRoutes } from "../../src/http/health.js";
import type { KindRegistry } from "../../src/kinds/registry.js";
import { silentLogger } from "../../src/logging/logger.js";
import { buildRuntime, type Runtime } from "../../src/runtime/runtime.js";
import { type SlackBot, startSlackBot } from "../../src/slack/app.js";
import { slackRegistrations } from "../../src/slack/registrations.js";
import {
  FAKE_BOT_TOKEN,
  type FakeSlackApi,
  type FakeSlackApiOptions,
  startFakeSlackApi,
} from "../../stand-ins/slack/fake-slack-api.js";
import { SlackRequestSender } from "../../stand-ins/slack/signer.js";
import { createTestDatabase, type TestDatabase } from "./postgres.js";
import { REDIS_TEST_URL, uniqueQueuePrefix } from "./redis.js";

export const TEST_SIGNING_SECRET = "test-signing-secret-0123456789abcdef";

export const DEFAULT_TEST_CONFIG = `
policy:
  requesters: ["*"]
  approvers: [UAPPROVER1, UAPPROVER2]
  requiredApprovals: 1
  requestTtl: 30m
targets:
  - name: prod
    kind: influxdb-clustered
    namespace: influxdb
    appInstance: influxdb
    catalog: { dsnEnv: PROD_CATALOG_DSN }
    snapshots: { bucket: influxdb-prod, endpoint: "http://127.0.0.1:1", forcePathStyle: true }
`;

export interface BotHarness {
  bot: SlackBot;
  runtime: Runtime;
  fake: FakeSlackApi;
  sender: SlackRequestSender;
  database: TestDatabase;
  /** Base URL of the bot's HTTP server (events and health routes). */
  baseUrl: string;
  eventsUrl: string;
  close(): Promise<void>;
}

/**
 * The real bot in HTTP mode on a free port, with real PostgreSQL (a fresh database) and Redis
 * (a queue prefix of its own), talking to the fake Slack Web API; `sender` signs requests as
 * Slack does. `customize` may add to the dependencies (object stores, clusters) before start.
 */
export async function startBotHarness(
  options: {
    configYaml?: string;
    config?: Config;
    fakeOptions?: FakeSlackApiOptions;
    env?: Record<string, string>;
    clock?: () => Date;
    customize?: (runtime: Runtime) => void | Promise<void>;
    /** The kinds the bot knows; default the ones restorebot ships. */
    kinds?: KindRegistry;
  } = {},
): Promise<BotHarness> {
  const fake = await startFakeSlackApi(options.fakeOptions);
  const database = await createTestDatabase("bot");
  const env = readEnv(
    {
      SLACK_BOT_TOKEN: FAKE_BOT_TOKEN,
      SLACK_SIGNING_SECRET: TEST_SIGNING_SECRET,
      SLACK_API_URL: fake.apiUrl,
      PORT: "0",
      DATABASE_URL: database.url,
      REDIS_URL: REDIS_TEST_URL,
      RESTOREBOT_QUEUE_PREFIX: uniqueQueuePrefix("bot"),
      LOG_LEVEL: "silent",
      ...options.env,
    },
    "bot",
  );
  const config =
    options.config ??
    parseConfig(options.configYaml ?? DEFAULT_TEST_CONFIG, {
      ...(options.kinds ? { kinds: options.kinds } : {}),
    });
  const runtime = await buildRuntime({
    role: "bot",
    env,
    config,
    logger: silentLogger,
    clock: options.clock,
    ...(options.kinds ? { kinds: options.kinds } : {}),
  });
  await options.customize?.(runtime);
  const routes = healthRoutes(runtime.healthChecks, runtime.metrics.registry);
  const bot = await startSlackBot({
    env,
    deps: runtime.deps,
    routes,
    registrations: slackRegistrations,
  });
  const baseUrl = `http://127.0.0.1:${bot.port}`;
  const eventsUrl = `${baseUrl}/slack/events`;
  const sender = new SlackRequestSender({ eventsUrl, signingSecret: TEST_SIGNING_SECRET, fake });
  return {
    bot,
    runtime,
    fake,
    sender,
    database,
    baseUrl,
    eventsUrl,
    async close() {
      await bot.stop().catch(() => undefined);
      await runtime.close();
      await fake.close();
      await database.drop();
    },
  };
}
