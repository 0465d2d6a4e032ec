import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import pg from "pg";
import {
  createRestoreProcessor,
  type RestoreProcessorOptions,
  type RestoreProcessorWithClose,
} from "../../../jobs/restore-processor.js";
import { type RestoreWorker, startRestoreWorker } from "../../../jobs/restore-worker.js";
import { createKubernetesCluster } from "../../../src/adapters/kubernetes/kubernetes-cluster.js";
import type { AppDeps } from "../../../src/app-deps.js";
import { readEnv } from "../../../src/config/env.js";
import { type Config, parseConfig, type Target } from "../../../src/config/file.js";
import { migrate } from "../../../src/db/migrate.js";
import { INFLUXDB_CLUSTERED_RBAC_RULES } from "../../../src/kinds/influxdb-clustered/runbook/rbac.js";
import {
  buildIoxCatalog,
  type IoxCatalogSize,
  pgDump,
} from "../../../src/kinds/influxdb-clustered/sandbox/catalog-builder.js";
import { influxdbClusteredSimulator } from "../../../src/kinds/influxdb-clustered/sandbox/simulated-cluster.js";
import {
  standInObjectStore,
  type WrittenSnapshot,
  writeSnapshot,
} from "../../../src/kinds/influxdb-clustered/sandbox/snapshot-writer.js";
import { DEFAULT_KINDS } from "../../../src/kinds/registry.js";
import { type Logger, silentLogger } from "../../../src/logging/logger.js";
import { createMetrics } from "../../../src/observability/metrics.js";
import {
  createRestoreQueue,
  RESTORE_QUEUE_NAME,
  type RestoreQueue,
} from "../../../src/queue/restore-queue.js";
import { buildRuntime } from "../../../src/runtime/runtime.js";
import { startSlackBot } from "../../../src/slack/app.js";
import { slackRegistrations } from "../../../src/slack/registrations.js";
import {
  type KubernetesSimulator,
  type KubernetesSimulatorOptions,
  kubeconfigFor,
  startKubernetesSimulator,
  writeKubeconfig,
} from "../../../stand-ins/kubernetes/index.js";
import { type S3StandIn, startS3StandIn } from "../../../stand-ins/s3/server.js";
import {
  FAKE_BOT_TOKEN,
  type FakeSlackApi,
  startFakeSlackApi,
} from "../../../stand-ins/slack/fake-slack-api.js";
import { SlackRequestSender } from "../../../stand-ins/slack/signer.js";
import { comparableDump } from "../../catalog-restore/support.js";
import { createTestDatabase, type TestDatabase } from "../../support/postgres.js";
import { REDIS_TEST_URL, uniqueQueuePrefix } from "../../support/redis.js";
import { insertApprovedRequest } from "./run-fixtures.js";

/**
 * Everything a restore runs against, for real, on this machine: restorebot's database and a
 * catalog database on the real PostgreSQL, a queue on the real Redis, the Kubernetes API
 * simulator, the S3 stand-in holding a snapshot of the catalog, and the fake Slack Web API.
 */

export const BUCKET = "influxdb-prod";
export const CHANNEL = "C0RESTORE1";
export const POINT = new Date("2024-08-12T14:00:00Z");
export const DSN_ENV = "PROD_CATALOG_DSN";
const SIGNING_SECRET = "run-controls-signing-secret-0123456789";

export const SMALL_CATALOG: IoxCatalogSize = {
  namespaces: 2,
  tablesPerNamespace: 3,
  columnsPerTable: 4,
  partitionsPerTable: 3,
  filesPerPartition: 4,
};

export interface RestoreEnvOptions {
  sim?: KubernetesSimulatorOptions;
  catalogSize?: IoxCatalogSize;
  timeouts?: { podsGone: string; podsReady: string };
  label?: string;
  /** The snapshot's time (on the hour); default 2024-08-12 14:00 UTC. */
  pointTime?: Date;
}

export interface RestoreEnv {
  sim: KubernetesSimulator;
  s3: S3StandIn;
  slack: FakeSlackApi;
  db: TestDatabase;
  pool: pg.Pool;
  catalogDb: TestDatabase;
  snapshot: WrittenSnapshot;
  /** The snapshot's dump, as comparable text. */
  snapshotDump: string;
  config: Config;
  target: Target;
  configYaml: string;
  prefix: string;
  redis: Redis;
  queue: RestoreQueue;
  /** An approved request for the snapshot, with its card posted in the fake Slack. */
  newRequest(overrides?: { approvedAt?: Date }): Promise<{ id: string; cardTs: string }>;
  enqueue(id: string): Promise<void>;
  processor(options?: RestoreProcessorOptions): RestoreProcessorWithClose;
  startWorker(
    options?: RestoreProcessorOptions & { lockDurationMs?: number; stalledIntervalMs?: number },
  ): RestoreWorker & { processor: RestoreProcessorWithClose };
  /** Resolves with the request's state once it is one of `states`. */
  waitForState(id: string, states: string[], timeoutMs?: number): Promise<string>;
  catalogEqualsSnapshot(): Promise<boolean>;
  /** The real bot (signed HTTP) on the same database, queue and fake Slack, for button clicks. */
  startBot(): Promise<{ sender: SlackRequestSender; deps: AppDeps }>;
  /** Environment for a worker in another process (KUBECONFIG, DSN, config file…). */
  childEnv(): Promise<NodeJS.ProcessEnv>;
  close(): Promise<void>;
}

/** The live catalog moves on after the snapshot: the restore must undo all of this. */
export async function driftCatalog(url: string): Promise<void> {
  const drift = new pg.Client({ connectionString: url });
  await drift.connect();
  try {
    await drift.query(`
      DELETE FROM iox_catalog.parquet_file WHERE id % 3 = 0;
      CREATE TABLE iox_catalog.created_after_snapshot (id int PRIMARY KEY);
      INSERT INTO iox_catalog.created_after_snapshot VALUES (1), (2);
      SELECT setval('iox_catalog.parquet_file_id_seq', 999999);
    `);
  } finally {
    await drift.end();
  }
}

export async function startRestoreEnv(options: RestoreEnvOptions = {}): Promise<RestoreEnv> {
  const label = options.label ?? "run";
  const pointTime = options.pointTime ?? POINT;
  const sim = await startKubernetesSimulator({
    ...influxdbClusteredSimulator(),
    rbacRules: INFLUXDB_CLUSTERED_RBAC_RULES,
    ...options.sim,
  });
  const s3 = await startS3StandIn({ buckets: [BUCKET] });
  const slack = await startFakeSlackApi();
  const db = await createTestDatabase(`${label}_bot`);
  const pool = new pg.Pool({ connectionString: db.url, max: 10 });
  // pool.end() resolves before its connections have closed; dropping the database at the end
  // of a test then terminates them, which must not surface as an uncaught error (as the
  // runtime's own pool, src/db/pool.ts, also listens).
  pool.on("error", () => undefined);
  await migrate(pool);
  const catalogDb = await createTestDatabase(`${label}_cat`);
  await buildIoxCatalog(catalogDb.url, options.catalogSize ?? SMALL_CATALOG, { seed: 3 });
  const snapshot = await writeSnapshot(s3, {
    bucket: BUCKET,
    asOf: pointTime,
    catalogUrl: catalogDb.url,
  });
  const snapshotDump = comparableDump(gunzipSync(snapshot.dumpGzip).toString("utf8"));
  await driftCatalog(catalogDb.url);

  const timeouts = options.timeouts ?? { podsGone: "20s", podsReady: "20s" };
  const configYaml = `
policy:
  requesters: ["*"]
  approvers: [UAPPROVER1, UAPPROVER2, SONCALL]
targets:
  - name: prod
    kind: influxdb-clustered
    namespace: ${sim.namespace}
    appInstance: influxdb
    catalog: { dsnEnv: ${DSN_ENV} }
    snapshots: { bucket: ${BUCKET}, endpoint: "${s3.endpoint}", forcePathStyle: true, region: us-east-1 }
    timeouts: { podsGone: ${timeouts.podsGone}, podsReady: ${timeouts.podsReady} }
`;
  const config = parseConfig(configYaml);
  const target = config.targets[0] as Target;
  const prefix = uniqueQueuePrefix(label);
  const redis = new Redis(REDIS_TEST_URL, { maxRetriesPerRequest: null });
  const queue = createRestoreQueue(redis, prefix);
  const workers: Array<RestoreWorker & { processor: RestoreProcessorWithClose }> = [];
  const tempDirs: string[] = [];
  const closers: Array<() => Promise<void>> = [];
  const head = await standInObjectStore(s3).head(BUCKET, snapshot.dumpKey);

  const logger: Logger = process.env.TEST_LOG
    ? (await import("../../../src/logging/logger.js")).createLogger("debug")
    : silentLogger;

  const env: RestoreEnv = {
    sim,
    s3,
    slack,
    db,
    pool,
    catalogDb,
    snapshot,
    snapshotDump,
    config,
    target,
    configYaml,
    prefix,
    redis,
    queue,
    async newRequest(overrides = {}) {
      const card = await fetch(`${slack.apiUrl}chat.postMessage`, {
        method: "POST",
        headers: { authorization: `Bearer ${FAKE_BOT_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ channel: CHANNEL, text: "Restore request (approval card)" }),
      }).then((r) => r.json() as Promise<{ ts: string }>);
      const id = await insertApprovedRequest(pool, {
        target: "prod",
        pointTime,
        pointPrefix: snapshot.folder,
        dumpKey: snapshot.dumpKey,
        dumpEtag: head?.etag ?? null,
        dumpSize: head?.size ?? null,
        channelId: CHANNEL,
        cardTs: card.ts,
        ...(overrides.approvedAt ? { approvedAt: overrides.approvedAt } : {}),
      });
      return { id, cardTs: card.ts };
    },
    async enqueue(id) {
      await queue.enqueueRestore({ requestId: id, target: "prod" });
    },
    processor(processorOptions = {}) {
      return createRestoreProcessor(
        {
          env: { SLACK_BOT_TOKEN: FAKE_BOT_TOKEN, SLACK_API_URL: slack.apiUrl },
          config,
          pool,
          queue,
          logger,
          metrics: createMetrics(),
          deps: {
            kinds: DEFAULT_KINDS,
            objectStoreFor: () => standInObjectStore(s3),
            clusterFor: (t) =>
              createKubernetesCluster({
                namespace: t.namespace,
                kubeConfig: kubeconfigFor(sim),
                retry: { initialDelayMs: 20, maxDelayMs: 100 },
                requestTimeoutMs: 5_000,
              }),
          },
        },
        {
          env: { [DSN_ENV]: catalogDb.url },
          workDir: join(tmpdir(), `rb-snapshots-${prefix}`),
          slackIntervalMs: 100,
          reconcileIntervalMs: 0,
          ...processorOptions,
        },
      );
    },
    startWorker(workerOptions = {}) {
      const { lockDurationMs, stalledIntervalMs, ...processorOptions } = workerOptions;
      const processor = env.processor(processorOptions);
      const worker = startRestoreWorker({
        connection: new Redis(REDIS_TEST_URL, { maxRetriesPerRequest: null }),
        prefix,
        processor,
        logger,
        lockDurationMs: lockDurationMs ?? 5_000,
        stalledIntervalMs: stalledIntervalMs ?? 2_000,
      });
      const handle = Object.assign(worker, { processor });
      workers.push(handle);
      return handle;
    },
    async waitForState(id, states, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        // Tests that drop every connection of the database (pg_terminate_backend) may drop
        // this pool's too, between two polls: a dropped connection is polled again.
        const rows = await pool
          .query<{ state: string }>("SELECT state FROM restore_requests WHERE id = $1", [id])
          .then(
            (r) => r.rows,
            (err: unknown) => {
              if ((err as { code?: string }).code === "57P01") return undefined;
              throw err;
            },
          );
        const state = rows ? (rows[0]?.state ?? "missing") : "unknown (connection dropped)";
        if (states.includes(state)) return state;
        if (Date.now() > deadline)
          throw new Error(
            `request ${id} is ${state}, not ${states.join("/")}, after ${timeoutMs} ms`,
          );
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async catalogEqualsSnapshot() {
      return comparableDump(await pgDump(catalogDb.url)) === snapshotDump;
    },
    async startBot() {
      const botEnv = readEnv(
        {
          SLACK_BOT_TOKEN: FAKE_BOT_TOKEN,
          SLACK_SIGNING_SECRET: SIGNING_SECRET,
          SLACK_API_URL: slack.apiUrl,
          PORT: "0",
          DATABASE_URL: db.url,
          REDIS_URL: REDIS_TEST_URL,
          RESTOREBOT_QUEUE_PREFIX: prefix,
          LOG_LEVEL: "silent",
        },
        "bot",
      );
      const runtime = await buildRuntime({
        role: "bot",
        env: botEnv,
        config,
        logger,
        objectStoreFor: () => standInObjectStore(s3),
        clusterFor: (t) =>
          createKubernetesCluster({
            namespace: t.namespace,
            kubeConfig: kubeconfigFor(sim),
            retry: { initialDelayMs: 20, maxDelayMs: 100 },
            requestTimeoutMs: 3_000,
          }),
      });
      const bot = await startSlackBot({
        env: botEnv,
        deps: runtime.deps,
        routes: [],
        registrations: slackRegistrations,
      });
      closers.push(async () => {
        await bot.stop().catch(() => undefined);
        await runtime.close();
      });
      const sender = new SlackRequestSender({
        eventsUrl: `http://127.0.0.1:${bot.port}/slack/events`,
        signingSecret: SIGNING_SECRET,
        fake: slack,
      });
      return { sender, deps: runtime.deps };
    },
    async childEnv() {
      const dir = await mkdtemp(join(tmpdir(), "rb-child-"));
      tempDirs.push(dir);
      const configPath = join(dir, "restorebot.yaml");
      await writeFile(configPath, configYaml);
      return {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        USER: process.env.USER,
        PGUSER: process.env.PGUSER,
        DATABASE_URL: db.url,
        REDIS_URL: REDIS_TEST_URL,
        RESTOREBOT_QUEUE_PREFIX: prefix,
        RESTOREBOT_CONFIG: configPath,
        KUBECONFIG: await writeKubeconfig(sim, { dir }),
        SLACK_BOT_TOKEN: FAKE_BOT_TOKEN,
        SLACK_API_URL: slack.apiUrl,
        [DSN_ENV]: catalogDb.url,
        AWS_ACCESS_KEY_ID: "AKIDWORKER",
        AWS_SECRET_ACCESS_KEY: "stand-in",
        AWS_REGION: "us-east-1",
        LOG_LEVEL: process.env.TEST_LOG ? "debug" : "warn",
        RESTOREBOT_SNAPSHOT_DIR: join(dir, "snapshots"),
      };
    },
    async close() {
      for (const close of closers) await close();
      for (const w of workers) {
        // Queued narration is dropped rather than flushed: the test is over.
        await w.processor.close(100).catch(() => undefined);
        await w.close().catch(() => undefined);
        await (w.worker.opts.connection as Redis).quit?.().catch(() => undefined);
      }
      const q = new Queue(RESTORE_QUEUE_NAME, { connection: redis, prefix });
      await q.obliterate({ force: true }).catch(() => undefined);
      await q.close().catch(() => undefined);
      await queue.close().catch(() => undefined);
      redis.disconnect();
      await pool.end().catch(() => undefined);
      await sim.close().catch(() => undefined);
      await s3.close().catch(() => undefined);
      await slack.close().catch(() => undefined);
      await db.drop().catch(() => undefined);
      await catalogDb.drop().catch(() => undefined);
      for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
      await rm(join(tmpdir(), `rb-snapshots-${prefix}`), { recursive: true, force: true });
    },
  };
  return env;
}
