import type { Redis } from "ioredis";
import type pg from "pg";
import type { ClusterPort } from "../adapters/kubernetes/cluster-port.js";
import { createKubernetesCluster } from "../adapters/kubernetes/kubernetes-cluster.js";
import type { ObjectStore } from "../adapters/s3/object-store.js";
import { createS3Client, createS3ObjectStore } from "../adapters/s3/s3-object-store.js";
import type { AppDeps } from "../app-deps.js";
import { createApprovalServices } from "../approvals/services.js";
import {
  type Env,
  kubernetesEnv,
  type ProcessRole,
  readConfigVariables,
  readEnv,
} from "../config/env.js";
import { type Config, loadConfig, type Target } from "../config/file.js";
import { migrate } from "../db/migrate.js";
import { createPool, describeDatabaseUrl } from "../db/pool.js";
import { CodedError } from "../errors.js";
import type { HealthChecks } from "../http/health.js";
import { DEFAULT_KINDS, type KindRegistry } from "../kinds/registry.js";
import { createLogger, type Logger } from "../logging/logger.js";
import { createMetrics, type Metrics } from "../observability/metrics.js";
import { createRedisConnection } from "../queue/redis-connection.js";
import { createRestoreQueue, type RestoreQueue } from "../queue/restore-queue.js";

/** Everything a long-running process shares; built only by the CLI's composition roots. */
export interface Runtime {
  env: Env;
  config: Config;
  logger: Logger;
  pool: pg.Pool;
  redis: Redis;
  queue: RestoreQueue;
  metrics: Metrics;
  deps: AppDeps;
  healthChecks: HealthChecks;
  close(): Promise<void>;
}

/**
 * Reads the environment once (the variables the config names included) and builds the
 * runtime; nothing after this reads the process environment.
 */
export async function createRuntime(
  role: ProcessRole,
  rawEnv: NodeJS.ProcessEnv,
  kinds: KindRegistry = DEFAULT_KINDS,
): Promise<Runtime> {
  const base = readEnv(rawEnv, role);
  const config = await loadConfig(base.RESTOREBOT_CONFIG, { kinds });
  const env = readConfigVariables(base, rawEnv, config, {
    required: role === "worker" || role === "serve",
  });
  return buildRuntime({ role, env, config, kinds });
}

/**
 * Builds the shared clients from an already validated environment and config: the CLI's
 * composition roots and the integration-test harness both come through here.
 */
export async function buildRuntime(options: {
  role: ProcessRole;
  env: Env;
  config: Config;
  logger?: Logger;
  clock?: () => Date;
  /** The kinds of target this process knows; default the ones restorebot ships. */
  kinds?: KindRegistry;
  /** Object stores and clusters to use instead of real clients (tests, stand-ins). */
  objectStoreFor?: (target: Target) => ObjectStore;
  clusterFor?: (target: Target) => ClusterPort;
}): Promise<Runtime> {
  const kinds = options.kinds ?? DEFAULT_KINDS;
  const { role, env, config } = options;
  const logger = options.logger ?? createLogger(env.LOG_LEVEL, { role });
  const pool = createPool(env.DATABASE_URL, logger, 10, env);
  try {
    const result = await migrate(pool);
    if (result.applied.length)
      logger.info({ applied: result.applied }, "database migrations applied");
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new CodedError(
      "database_error",
      `DATABASE_URL: cannot prepare restorebot's database at ${describeDatabaseUrl(env.DATABASE_URL)}: ${(err as Error).message}`,
    );
  }
  const redis = createRedisConnection(env.REDIS_URL, logger, role);
  const queue = createRestoreQueue(redis, env.RESTOREBOT_QUEUE_PREFIX, logger);
  const metrics = createMetrics({ queueDepth: () => queue.depth() });
  const clock = options.clock ?? (() => new Date());
  const objectStoreFor = options.objectStoreFor ?? objectStoresByTarget(kinds);
  const clusterFor = options.clusterFor ?? clustersByTarget(kubernetesEnv(env), logger);
  const deps: AppDeps = {
    config,
    kinds,
    db: pool,
    queue,
    logger,
    metrics,
    clock,
    objectStoreFor,
    clusterFor,
    approvals: createApprovalServices({
      db: pool,
      logger,
      clock,
      kinds,
      objectStoreFor,
      clusterFor,
    }),
    variables: env.variables,
  };
  const healthChecks: HealthChecks = {
    postgres: async () => {
      await pool.query("SELECT 1");
    },
    redis: async () => {
      await redis.ping();
    },
  };
  return {
    env,
    config,
    logger,
    pool,
    redis,
    queue,
    metrics,
    deps,
    healthChecks,
    async close() {
      await queue.close().catch(() => undefined);
      redis.disconnect();
      await pool.end().catch(() => undefined);
    },
  };
}

/** One S3 client per target (endpoint, region and path style are per target), built on first use. */
function objectStoresByTarget(kinds: KindRegistry): (target: Target) => ObjectStore {
  const stores = new Map<string, ObjectStore>();
  return (target) => {
    let store = stores.get(target.name);
    if (!store) {
      const settings = kinds.of(target).config.objectStore(target);
      if (!settings)
        throw new Error(
          `targets of kind ${target.kind} keep no recovery points in an object store`,
        );
      const { endpoint, region, forcePathStyle } = settings;
      const client = createS3Client({ ...(endpoint ? { endpoint } : {}), region, forcePathStyle });
      store = createS3ObjectStore(client, { ...(endpoint ? { endpoint } : {}), region });
      stores.set(target.name, store);
    }
    return store;
  };
}

/** One Kubernetes client per target (namespace and kube context are per target), built on first use. */
function clustersByTarget(
  kubeEnv: Record<string, string>,
  logger: Logger,
): (target: Target) => ClusterPort {
  const clusters = new Map<string, ClusterPort>();
  return (target) => {
    let cluster = clusters.get(target.name);
    if (!cluster) {
      cluster = createKubernetesCluster({
        namespace: target.namespace,
        ...(target.kubeContext ? { kubeContext: target.kubeContext } : {}),
        env: kubeEnv,
        logger,
      });
      clusters.set(target.name, cluster);
    }
    return cluster;
  };
}
