import { Redis } from "ioredis";
import {
  createRestoreProcessor,
  type RestoreProcessorOptions,
  type RestoreProcessorWithClose,
} from "../../jobs/restore-processor.js";
import { type RestoreWorker, startRestoreWorker } from "../../jobs/restore-worker.js";
import type { KubernetesCluster } from "../../src/adapters/kubernetes/kubernetes-cluster.js";
import type { ObjectStore } from "../../src/adapters/s3/object-store.js";
import { readEnv } from "../../src/config/env.js";
import { type Config, parseConfig, type Target } from "../../src/config/file.js";
import { healthRoutes } from "../../src/http/health.js";
import type { KindRegistry } from "../../src/kinds/registry.js";
import { silentLogger } from "../../src/logging/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import { buildRuntime, type Runtime } from "../../src/runtime/runtime.js";
import { type SlackBot, startSlackBot } from "../../src/slack/app.js";
import { slackRegistrations } from "../../src/slack/registrations.js";
import {
  FAKE_BOT_TOKEN,
  type FakeSlackApi,
  type FakeSlackApiOptions,
  startFakeSlackApi,
} from "../../stand-ins/slack/fake-slack-api.js";
import { SlackRequestSender, type SlackSendResult } from "../../stand-ins/slack/signer.js";
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
  /** The in-process restore worker, when `worker` was given; stopped first by `close`. */
  worker?: HarnessWorker;
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
    /** Object stores to use instead of real S3 clients (the S3 stand-in). */
    objectStoreFor?: (target: Target) => ObjectStore;
    customize?: (runtime: Runtime) => void | Promise<void>;
    /** The kinds the bot knows; default the ones restorebot ships. */
    kinds?: KindRegistry;
    /** Starts a restore worker in this process too (`startHarnessWorker`). */
    worker?: HarnessWorkerDeps & { options?: RestoreProcessorOptions };
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
    ...(options.objectStoreFor ? { objectStoreFor: options.objectStoreFor } : {}),
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
  const harness: BotHarness = {
    bot,
    runtime,
    fake,
    sender,
    database,
    baseUrl,
    eventsUrl,
    async close() {
      await harness.worker?.close();
      await bot.stop().catch(() => undefined);
      await runtime.close();
      await fake.close();
      await database.drop();
    },
  };
  if (options.worker)
    harness.worker = startHarnessWorker(harness, options.worker, options.worker.options);
  return harness;
}

/** What a worker's runs reach besides the harness's database, queue and fake Slack. */
export interface HarnessWorkerDeps {
  objectStoreFor: (target: Target) => ObjectStore;
  clusterFor: (target: Target) => KubernetesCluster;
  /** Default the kinds the harness's bot knows. */
  kinds?: KindRegistry;
}

/**
 * The worker's processor on the harness's config, database, queue and fake Slack, narrating
 * quickly (50 ms between Slack calls), reconciling nothing and redrawing no cards at start;
 * `options` overrides any of that.
 */
export function harnessProcessor(
  h: BotHarness,
  deps: HarnessWorkerDeps,
  options: RestoreProcessorOptions = {},
): RestoreProcessorWithClose {
  return createRestoreProcessor(
    {
      env: { SLACK_BOT_TOKEN: FAKE_BOT_TOKEN, SLACK_API_URL: h.fake.apiUrl },
      config: h.runtime.config,
      pool: h.runtime.pool,
      queue: h.runtime.queue,
      logger: silentLogger,
      metrics: createMetrics(),
      deps: {
        kinds: deps.kinds ?? h.runtime.deps.kinds,
        objectStoreFor: deps.objectStoreFor,
        clusterFor: deps.clusterFor,
      },
    },
    { slackIntervalMs: 50, reconcileIntervalMs: 0, redrawCardsWithinMs: 0, ...options },
  );
}

export interface HarnessWorker {
  worker: RestoreWorker;
  processor: RestoreProcessorWithClose;
  /** Stops the worker (which flushes the processor's narration) and its Redis connection. */
  close(): Promise<void>;
}

/** A restore worker in this process, on the harness's queue, running `harnessProcessor`. */
export function startHarnessWorker(
  h: BotHarness,
  deps: HarnessWorkerDeps,
  options: RestoreProcessorOptions = {},
): HarnessWorker {
  const processor = harnessProcessor(h, deps, options);
  const connection = new Redis(REDIS_TEST_URL, { maxRetriesPerRequest: null });
  const worker = startRestoreWorker({
    connection,
    prefix: h.runtime.env.RESTOREBOT_QUEUE_PREFIX,
    processor,
    logger: silentLogger,
  });
  return {
    worker,
    processor,
    async close() {
      await worker.close();
      connection.disconnect();
    },
  };
}

/**
 * The private answer to a slash command or a click, posted to its response URL; its text and
 * its blocks as JSON text. With `inAck` (the default) a text in the ack itself is the answer:
 * the bot refuses there; without it only the response URL counts (for answers the bot acks
 * with a placeholder first, as `/recovery-points verify` does).
 */
export async function answerTo(
  h: BotHarness,
  res: SlackSendResult,
  options: { timeoutMs?: number; inAck?: boolean } = {},
): Promise<{ text: string; blocks: string }> {
  const acked = res.json as { text?: string; blocks?: unknown } | undefined;
  if ((options.inAck ?? true) && acked?.text)
    return { text: acked.text, blocks: JSON.stringify(acked.blocks ?? []) };
  const id = res.responseUrlId;
  if (!id) throw new Error("no response URL was issued");
  const response = await h.fake.waitForResponse((r) => r.responseUrlId === id, {
    timeoutMs: options.timeoutMs ?? 15_000,
    label: `the answer to ${id}`,
  });
  return { text: response.body.text ?? "", blocks: JSON.stringify(response.body.blocks ?? []) };
}
