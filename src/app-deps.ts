import type { ClusterPort } from "./adapters/kubernetes/cluster-port.js";
import type { ObjectStore } from "./adapters/s3/object-store.js";
import type { ApprovalServices } from "./approvals/services.js";
import type { Config, Target } from "./config/file.js";
import type { DatabasePool } from "./db/database.js";
import type { KindRegistry } from "./kinds/registry.js";
import type { Logger } from "./logging/logger.js";
import type { Metrics } from "./observability/metrics.js";
import type { RestoreQueue } from "./queue/restore-queue.js";

/**
 * What the bot's handlers and the worker receive. Only the composition roots (the CLI's
 * `serve`, `bot`, `worker` and `demo`) build real clients; tests pass their own.
 */
export interface AppDeps {
  config: Config;
  /** The kinds of target this process knows; the core reaches a kind only through it. */
  kinds: KindRegistry;
  db: DatabasePool;
  queue: RestoreQueue;
  logger: Logger;
  metrics: Metrics;
  /** Injected so expiry, ages and retention can be tested at fixed times. */
  clock: () => Date;
  /** The object store holding a target's snapshots (recovery points, frozen points). */
  objectStoreFor: (target: Target) => ObjectStore;
  /** The Kubernetes API of a target's cluster (the worker's runbook, `/restore plan`). */
  clusterFor: (target: Target) => ClusterPort;
  /** The approval flow's per-process services (group cache, card publisher, point resolver). */
  approvals: ApprovalServices;
  /** The variables the config names (DSNs), read once at start, when this process holds them. */
  variables?: Readonly<Record<string, string>>;
}
