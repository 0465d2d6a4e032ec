import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRestoreProcessor } from "../../jobs/restore-processor.js";
import { startRestoreWorker } from "../../jobs/restore-worker.js";
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
import { DEFAULT_KINDS, type KindRegistry } from "../kinds/registry.js";
import type { Logger } from "../logging/logger.js";
import { buildRuntime, type Runtime } from "../runtime/runtime.js";
import { startSlackBot } from "../slack/app.js";
import { slackRegistrations } from "../slack/registrations.js";
import { type ConsoleServer, startConsoleServer } from "./console/console-server.js";
import {
  claimSandboxDatabases,
  DEFAULT_DEMO_POSTGRES_URL,
  recreateDatabase,
} from "./demo-databases.js";
import { DEMO_CHANNEL, DEMO_USERS, demoConfigYaml, demoPodTiming } from "./demo-settings.js";
import { type Rehearsal, refusedScales } from "./rehearsal.js";
import type { SandboxSeed, SandboxSetup } from "./scenario.js";

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
  /**
   * The scenarios' scratch databases by role (e.g. `catalog`); rebuilt at every start.
   * Default `<databaseName>_<role>`.
   */
  scenarioDatabaseNames?: Record<string, string>;
  /** The kinds whose sandbox scenarios are set up (default: every registered kind that has one). */
  kinds?: KindRegistry;
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
  /** Each kind's target in the sandbox: what to try first and the scenario's own details. */
  targets: SandboxTarget[];
  /** For tests: the stand-ins behind the console. */
  fake: FakeSlackApi;
  /** The first scenario's simulated cluster (the one the console shows). */
  simulator: KubernetesSimulator;
  /** Every scenario's simulated cluster, by kind (also its kubeconfig context). */
  simulators: Record<string, KubernetesSimulator>;
  s3: S3StandIn;
  runtime: Runtime;
  /** The failure the console switches on and off. */
  rehearsal: Rehearsal;
  /** Stops everything it started, in order; safe to call twice. */
  stop(): Promise<void>;
}

export interface SandboxTarget {
  name: string;
  kind: string;
  ready: string[];
  details: unknown;
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
 * Brings the whole sandbox up on this machine: the Slack, Kubernetes and S3 stand-ins, what
 * each registered kind's sandbox scenario puts in them, restorebot's bot and worker — composed exactly as
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

    step("loading the sandbox scenarios of the registered kinds");
    const scenarios: Array<{ kind: string; setup: SandboxSetup }> = [];
    for (const kind of (options.kinds ?? DEFAULT_KINDS).all)
      if (kind.sandbox) scenarios.push({ kind: kind.id, setup: await kind.sandbox.load() });
    if (scenarios.length === 0)
      throw new CodedError("internal", "no registered kind has a sandbox scenario");
    const dbName = (role: string) =>
      options.scenarioDatabaseNames?.[role] ?? `${databaseName}_${role}`;
    const roles = [...new Set(scenarios.flatMap((s) => s.setup.databases))];

    step("starting the Slack, Kubernetes and S3 stand-ins; preparing the databases");
    const [fake, s3, databaseUrl, ...scratchUrls] = await Promise.all([
      startFakeSlackApi({
        users: DEMO_USERS.map((u) => ({ id: u.id, name: u.handle, realName: u.name })),
      }),
      startS3StandIn({ buckets: [...new Set(scenarios.flatMap((s) => s.setup.buckets))] }),
      recreateDatabase(postgresUrl, databaseName),
      ...roles.map((role) => recreateDatabase(postgresUrl, dbName(role))),
    ]);
    teardown.add(() => fake.close());
    teardown.add(() => s3.close());
    // One simulated cluster per scenario, each with its own options (workloads, localExec…);
    // the kubeconfig has one context per scenario, named after its kind.
    const simulators: Record<string, KubernetesSimulator> = {};
    for (const { kind, setup } of scenarios) {
      const simulator = await startKubernetesSimulator({
        ...setup.cluster.simulator,
        timing: demoPodTiming(fast),
      });
      teardown.add(() => simulator.close());
      simulators[kind] = simulator;
    }
    const databaseUrls = Object.fromEntries(
      roles.map((role, i) => [role, scratchUrls[i] as string]),
    );

    step("filling the stand-ins and databases of each scenario");
    const seeds: Array<{ kind: string; setup: SandboxSetup; seed: SandboxSeed }> = [];
    for (const { kind, setup } of scenarios) {
      const seed = await setup.seed({
        s3,
        simulator: simulators[kind] as KubernetesSimulator,
        databaseUrls,
        recreateDatabase: (role) => recreateDatabase(postgresUrl, dbName(role)),
        now: new Date(),
        fast,
      });
      const close = seed.close;
      if (close) teardown.add(() => close());
      seeds.push({ kind, setup, seed });
    }

    const configPath = join(workDir, "restorebot.yaml");
    await writeFile(
      configPath,
      demoConfigYaml(
        seeds.map((s) => s.seed.targetYaml({ s3Endpoint: s3.endpoint, kubeContext: s.kind })),
      ),
    );
    const kubeconfig = await writeKubeconfig(simulators, { dir: workDir });
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
      ...Object.assign({}, ...seeds.map((s) => s.seed.env)),
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
    // The console shows the first scenario's cluster (the other targets answer in the chat).
    const shown = seeds[0] as (typeof seeds)[number];
    const simulator = simulators[shown.kind] as KubernetesSimulator;
    const originalReplicas = Object.fromEntries(
      simulator.snapshot().components.map((c) => [c.name, c.specReplicas]),
    );
    // Switched on and off from the console, to rehearse a halted run and its Roll back.
    const rehearsal = refusedScales(Object.values(simulators));
    const consoleServer: ConsoleServer = await startConsoleServer({
      fake,
      sender,
      cluster: simulator,
      ...(shown.seed.summary ? { catalog: shown.seed.summary } : {}),
      users: DEMO_USERS,
      channel: DEMO_CHANNEL,
      target: { name: shown.setup.targetName, namespace: simulator.namespace },
      originalReplicas,
      rehearsal,
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
      targets: seeds.map((s) => ({
        name: s.setup.targetName,
        kind: s.kind,
        ready: s.seed.ready,
        details: s.seed.details,
      })),
      fake,
      simulator,
      simulators,
      s3,
      runtime,
      rehearsal,
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
