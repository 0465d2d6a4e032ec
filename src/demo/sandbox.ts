import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRestoreProcessor } from "../../jobs/restore-processor.js";
import { startRestoreWorker } from "../../jobs/restore-worker.js";
import { buildIoxCatalog } from "../../stand-ins/iox-catalog.js";
import {
  type KubernetesSimulator,
  startKubernetesSimulator,
  writeKubeconfig,
} from "../../stand-ins/kubernetes/index.js";
import { type S3StandIn, startS3StandIn } from "../../stand-ins/s3/server.js";
import {
  FAKE_BOT_TOKEN,
  type FakeSlackApi,
  startFakeSlackApi,
} from "../../stand-ins/slack/fake-slack-api.js";
import { SlackRequestSender } from "../../stand-ins/slack/signer.js";
import { startExpirySweeper } from "../approvals/expiry-sweeper.js";
import { readConfigVariables, readEnv } from "../config/env.js";
import { loadConfig } from "../config/file.js";
import { CodedError } from "../errors.js";
import { healthRoutes } from "../http/health.js";
import type { Logger } from "../logging/logger.js";
import { buildRuntime, type Runtime } from "../runtime/runtime.js";
import { startSlackBot } from "../slack/app.js";
import { slackRegistrations } from "../slack/registrations.js";
import { type ConsoleServer, startConsoleServer } from "./console/console-server.js";
import {
  catalogSummaryReader,
  claimSandboxDatabases,
  DEFAULT_DEMO_POSTGRES_URL,
  recreateDatabase,
} from "./demo-databases.js";
import {
  DEMO_BUCKET,
  DEMO_CATALOG_DSN_ENV,
  DEMO_CATALOG_SIZE,
  DEMO_CHANNEL,
  DEMO_TARGET,
  DEMO_USERS,
  demoConfigYaml,
  demoPodTiming,
} from "./demo-settings.js";
import {
  PACH_COMPONENTS,
  PACH_CONTEXT,
  PACH_DB_DSN_ENV,
  PACH_DEX_DSN_ENV,
  PACH_NAMESPACE,
  pachydermConfigYaml,
  seedPachydermSandbox,
} from "./pachyderm-sandbox.js";
import { type DemoHistory, seedDemoHistory } from "./snapshot-history.js";

export interface SandboxOptions {
  logger: Logger;
  /** Port of the web console; default 8080. */
  port?: number;
  /** When the port is taken, use a free one (default true). */
  fallbackToFreePort?: boolean;
  /** Short pod delays and quick narration (tests). */
  fast?: boolean;
  /** A database on the PostgreSQL server to use; its database part is ignored. */
  postgresUrl?: string;
  redisUrl?: string;
  /** restorebot's own database; rebuilt at every start. Default `restorebot_demo`. */
  databaseName?: string;
  /** The scratch catalog the restore replaces; rebuilt at every start. */
  catalogDatabaseName?: string;
  /** BullMQ key prefix; its keys are cleared at start. Default `restorebot-demo`. */
  queuePrefix?: string;
  /** Told each step of the start-up, for a person watching it. */
  onStep?: (step: string) => void;
}

export interface Sandbox {
  consoleUrl: string;
  consolePort: number;
  /** Milliseconds from the call to a ready console. */
  startupMs: number;
  history: DemoHistory;
  /** For tests: the stand-ins behind the console. */
  fake: FakeSlackApi;
  simulator: KubernetesSimulator;
  s3: S3StandIn;
  runtime: Runtime;
  /** Stops everything it started, in order; safe to call twice. */
  stop(): Promise<void>;
}

/** Cleanups registered as each part starts, run newest first (on stop, or when start-up fails). */
class Teardown {
  private readonly steps: Array<() => Promise<unknown>> = [];
  add(step: () => Promise<unknown>): void {
    this.steps.unshift(step);
  }
  async run(logger: Logger): Promise<void> {
    for (const step of this.steps.splice(0)) {
      await step().catch((err: unknown) =>
        logger.warn({ err: String(err) }, "error while stopping the sandbox"),
      );
    }
  }
}

/**
 * Brings the whole sandbox up on this machine: the Slack, Kubernetes and S3 stand-ins, a
 * catalog and its snapshot history, restorebot's bot and worker — composed exactly as
 * `restorebot serve` composes them, with the environment pointing at the stand-ins — and the
 * web console that plays Slack's part.
 */
export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  const started = performance.now();
  const { logger } = options;
  const step = (text: string) => options.onStep?.(text);
  const fast = options.fast === true;
  const postgresUrl = options.postgresUrl ?? DEFAULT_DEMO_POSTGRES_URL;
  const databaseName = options.databaseName ?? "restorebot_demo";
  const catalogDatabaseName = options.catalogDatabaseName ?? "restorebot_demo_catalog";
  const queuePrefix = options.queuePrefix ?? "restorebot-demo";
  const teardown = new Teardown();
  // The S3 SDK reads credentials from the process environment; the stand-in accepts any.
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: "AKIDRESTOREBOTDEMO",
    AWS_SECRET_ACCESS_KEY: "restorebot-demo",
    AWS_REGION: "us-east-1",
    AWS_EC2_METADATA_DISABLED: "true",
  });

  try {
    const workDir = await mkdtemp(join(tmpdir(), "restorebot-demo-"));
    teardown.add(() => rm(workDir, { recursive: true, force: true }));

    const claim = await claimSandboxDatabases(postgresUrl, databaseName);
    teardown.add(() => claim.release());

    step("starting the Slack, Kubernetes and S3 stand-ins; preparing the databases");
    const [fake, simulator, s3, databaseUrl, catalogUrl, pachSimulator, pachUrl, dexUrl] =
      await Promise.all([
        startFakeSlackApi({
          users: DEMO_USERS.map((u) => ({ id: u.id, name: u.handle, realName: u.name })),
        }),
        startKubernetesSimulator({ timing: demoPodTiming(fast) }),
        startS3StandIn({ buckets: [DEMO_BUCKET] }),
        recreateDatabase(postgresUrl, databaseName),
        recreateDatabase(postgresUrl, catalogDatabaseName),
        startKubernetesSimulator({
          namespace: PACH_NAMESPACE,
          components: PACH_COMPONENTS,
          timing: demoPodTiming(fast),
        }),
        recreateDatabase(postgresUrl, `${catalogDatabaseName}_pachyderm`),
        recreateDatabase(postgresUrl, `${catalogDatabaseName}_dex`),
      ]);
    teardown.add(() => fake.close());
    teardown.add(() => simulator.close());
    teardown.add(() => pachSimulator.close());
    teardown.add(() => s3.close());

    step("building the catalog and its snapshot history");
    await buildIoxCatalog(catalogUrl, DEMO_CATALOG_SIZE, { seed: 7 });
    const history = await seedDemoHistory({
      s3,
      bucket: DEMO_BUCKET,
      catalogUrl,
      now: new Date(),
    });
    // Pachyderm: its databases, buckets and a history of restorebot's own backups.
    await seedPachydermSandbox({ s3, urls: { pachyderm: pachUrl, dex: dexUrl }, now: new Date() });
    // The live catalog moves on after the snapshots (new namespace, rows, a dropped index…),
    // so restoring visibly changes it back.
    await recreateDatabase(postgresUrl, catalogDatabaseName);
    await buildIoxCatalog(catalogUrl, DEMO_CATALOG_SIZE, { seed: 7, variant: "drifted" });

    const configPath = join(workDir, "restorebot.yaml");
    await writeFile(
      configPath,
      demoConfigYaml({ s3Endpoint: s3.endpoint }) + pachydermConfigYaml(s3.endpoint),
    );
    const kubeconfig = await writeKubeconfig(
      { simulator, [PACH_CONTEXT]: pachSimulator },
      { dir: workDir, currentContext: "simulator" },
    );
    const signingSecret = randomBytes(24).toString("hex");
    // What `restorebot serve` would be started with, pointed at the stand-ins. It becomes this
    // process's environment too: any code reading process.env (as serve's does) must find the
    // stand-ins, never a real cluster, bucket or workspace from the caller's shell.
    const standInEnv: Record<string, string> = {
      SLACK_BOT_TOKEN: FAKE_BOT_TOKEN,
      SLACK_SIGNING_SECRET: signingSecret,
      SLACK_API_URL: fake.apiUrl,
      SLACK_APP_TOKEN: "",
      PORT: "0",
      DATABASE_URL: databaseUrl,
      REDIS_URL: options.redisUrl ?? process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
      RESTOREBOT_QUEUE_PREFIX: queuePrefix,
      RESTOREBOT_CONFIG: configPath,
      KUBECONFIG: kubeconfig,
      [DEMO_CATALOG_DSN_ENV]: catalogUrl,
      [PACH_DB_DSN_ENV]: pachUrl,
      [PACH_DEX_DSN_ENV]: dexUrl,
    };
    Object.assign(process.env, standInEnv);
    const rawEnv: NodeJS.ProcessEnv = { ...process.env };
    step("starting restorebot (bot and worker)");
    const config = await loadConfig(configPath);
    const env = readConfigVariables(readEnv(rawEnv, "serve"), rawEnv, config, { required: true });
    const runtime = await buildRuntime({ role: "serve", env, config, logger });
    teardown.add(() => runtime.close());
    // The queue's connection retries for ever (as it should in serve); here a Redis that is
    // not there must stop the start-up with a clear message instead.
    await withTimeout(
      clearQueueKeys(runtime, queuePrefix),
      5_000,
      new CodedError(
        "internal",
        `Redis is not answering at ${env.REDIS_URL}; "npm start" starts it (scripts/ensure-services.sh)`,
      ),
    );

    const bot = await startSlackBot({
      env,
      deps: runtime.deps,
      routes: healthRoutes(runtime.healthChecks, runtime.metrics.registry),
      registrations: slackRegistrations,
      // The sandbox is for the person at this machine: nothing of it listens beyond loopback.
      host: "127.0.0.1",
    });
    teardown.add(() => bot.stop());
    // As in `serve`: expires unapproved requests past their TTL and enqueues approved ones
    // whose job went missing.
    const sweeper = startExpirySweeper(runtime.deps, bot.app.client);
    teardown.add(() => sweeper.stop());

    const processor = createRestoreProcessor(runtime, {
      workDir: join(workDir, "snapshots"),
      // A person watches the demo: report progress often. Tests (--fast) also narrate quickly;
      // the stand-in does not rate-limit, so the outbox need not keep Slack's 1 s pace.
      progressIntervalMs: fast ? 300 : 2_000,
      statusTickMs: fast ? 500 : 2_000,
      ...(fast ? { slackIntervalMs: 100 } : {}),
    });
    const workerConnection = runtime.redis.duplicate();
    teardown.add(async () => workerConnection.disconnect());
    const worker = startRestoreWorker({
      connection: workerConnection,
      prefix: env.RESTOREBOT_QUEUE_PREFIX,
      processor,
      logger,
    });
    // The worker closes first (and then the processor: narration flushed, reconciler stopped)
    // so a running phase reaches its boundary before the rest goes.
    teardown.add(() => worker.close());

    step("starting the web console");
    const sender = new SlackRequestSender({
      eventsUrl: `http://127.0.0.1:${bot.port}/slack/events`,
      signingSecret,
      fake,
    });
    const catalog = catalogSummaryReader(catalogUrl);
    const originalReplicas = Object.fromEntries(
      simulator.snapshot().components.map((c) => [c.name, c.specReplicas]),
    );
    const consoleServer: ConsoleServer = await startConsoleServer({
      fake,
      sender,
      cluster: simulator,
      catalog,
      users: DEMO_USERS,
      channel: DEMO_CHANNEL,
      target: { name: DEMO_TARGET, namespace: simulator.namespace },
      originalReplicas,
      port: options.port ?? 8080,
      fallbackToFreePort: options.fallbackToFreePort ?? true,
      logger,
    });
    // The console goes first: nobody can click while the rest shuts down.
    teardown.add(() => consoleServer.close());

    let stopped: Promise<void> | undefined;
    return {
      consoleUrl: consoleServer.url,
      consolePort: consoleServer.port,
      startupMs: Math.round(performance.now() - started),
      history,
      fake,
      simulator,
      s3,
      runtime,
      stop() {
        stopped ??= teardown.run(logger);
        return stopped;
      },
    };
  } catch (err) {
    await teardown.run(logger);
    throw err;
  }
}

/** Forgets jobs of an earlier session: they name requests of a database rebuilt since. */
async function clearQueueKeys(runtime: Runtime, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await runtime.redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
    if (keys.length) await runtime.redis.del(...keys);
    cursor = next;
  } while (cursor !== "0");
}

/** `work`, or a rejection with `error` when it takes longer than `ms`. */
async function withTimeout<T>(work: Promise<T>, ms: number, error: Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(error), ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}
