import type { ClusterPort } from "../adapters/kubernetes/cluster-port.js";
import type { ObjectStore } from "../adapters/s3/object-store.js";
import type { Target } from "../config/file.js";
import type { Queryable } from "../db/database.js";
import type { KindRegistry } from "../kinds/registry.js";
import type { Logger } from "../logging/logger.js";
import { recoveryPointSourceFor } from "../recovery-points/sources.js";
import { CardPublisher } from "./card-updates.js";
import { createSourcePointResolver, type PointResolver } from "./point-resolver.js";
import { UserGroupCache } from "./user-groups.js";

/**
 * Per-process state of the approval flow, shared by every handler of one process: the user
 * group cache, the card publisher (which serialises redraws of one card) and the recovery-point
 * resolver. Built once by the composition root (`buildRuntime`, or a test) and carried in
 * `AppDeps.approvals`, so two bots in one test process never share a cache.
 */
export interface ApprovalServices {
  groups: UserGroupCache;
  cards: CardPublisher;
  points: PointResolver;
}

export function createApprovalServices(options: {
  db: Queryable;
  logger: Logger;
  clock: () => Date;
  kinds: KindRegistry;
  objectStoreFor: (target: Target) => ObjectStore;
  /** For kinds whose points are read through the cluster (e.g. a service proxy). */
  clusterFor?: (target: Target) => ClusterPort;
}): ApprovalServices {
  const { db, logger, clock, kinds, objectStoreFor, clusterFor } = options;
  return {
    groups: new UserGroupCache({ ttlMs: 60_000, now: () => clock().getTime(), logger }),
    cards: new CardPublisher(db, logger, clock, kinds),
    points: createSourcePointResolver(
      (target) => recoveryPointSourceFor({ kinds, objectStoreFor }, target),
      kinds,
      { objectStoreFor, clock, ...(clusterFor ? { clusterFor } : {}) },
    ),
  };
}
