import type {
  ClusterPort,
  OperatorResource,
  WorkloadKind,
} from "../../../adapters/kubernetes/cluster-port.js";
import { CodedError } from "../../../errors.js";
import { type Db, listReplicaRecords, type ReplicaRecord } from "../../../runbook/run-store.js";
import type { InfluxComponentRole, InfluxTarget as Target } from "../config.js";

/**
 * The InfluxDB Clustered workloads and the order the vendor runbook scales them in
 * (DESIGN.md, "storage layout and runbook"): down in three steps with the catalog last, up in
 * reverse with readiness waits for the catalog and the ingesters.
 */

/** InfluxDB Clustered runs no ReplicationControllers. */
type InfluxWorkloadKind = Exclude<WorkloadKind, "ReplicationController">;

export interface Component {
  role: InfluxComponentRole;
  /** Workload name; its pods carry `app=<name>`. */
  name: string;
  kind: InfluxWorkloadKind;
}

export const ROLE_KINDS: Record<InfluxComponentRole, InfluxWorkloadKind> = {
  gc: "Deployment",
  router: "Deployment",
  querier: "Deployment",
  compactor: "StatefulSet",
  ingester: "StatefulSet",
  catalog: "StatefulSet",
};

/** Shutdown step 1, in the vendor's order; startup runs them in reverse, after the ingesters. */
export const SHUTDOWN_STEP_1: readonly InfluxComponentRole[] = [
  "gc",
  "router",
  "querier",
  "compactor",
];

/** The custom resource the InfluxDB Clustered operator (kubecfg) reads `spec.pause` from. */
export const APP_INSTANCE = {
  group: "kubecfg.dev",
  version: "v1alpha1",
  plural: "appinstances",
  kind: "AppInstance",
} as const;

/** The target's AppInstance, as the cluster port's pause methods take it. */
export function appInstanceOf(target: Pick<Target, "appInstance">): OperatorResource {
  return { ...APP_INSTANCE, name: target.appInstance };
}

/** Snapshot layout: the dump, and the bloom filter written last (its absence = incomplete). */
export const DUMP_FILE = "pg_dump.gz";
export const BLOOM_FILE = "bloom.bin.gz";

/** Every component of the target, in shutdown order (step 1, ingester, catalog). */
export function targetComponents(target: Pick<Target, "components">): Component[] {
  const roles: InfluxComponentRole[] = [...SHUTDOWN_STEP_1, "ingester", "catalog"];
  return roles.map((role) => ({ role, name: target.components[role], kind: ROLE_KINDS[role] }));
}

export function componentOf(
  target: Pick<Target, "components">,
  role: InfluxComponentRole,
): Component {
  return { role, name: target.components[role], kind: ROLE_KINDS[role] };
}

/** Ready pods the startup sequence waits for before the next step: at least min(2, n). */
export function readyQuorum(replicas: number): number {
  return Math.min(2, replicas);
}

/**
 * The replica counts recorded in phase 4, for every component. Scaling without them could
 * never be undone correctly, so their absence is an error, never a reason to read the cluster.
 */
export async function requireRecordedCounts(
  db: Db,
  requestId: string,
  components: readonly Component[],
): Promise<Map<string, number>> {
  const records: ReplicaRecord[] = await listReplicaRecords(db, requestId);
  const byName = new Map(records.map((r) => [r.component, r.replicas]));
  const missing = components.filter((c) => !byName.has(c.name)).map((c) => c.name);
  if (missing.length) {
    throw new CodedError(
      "precondition_failed",
      `No replica count is recorded for ${missing.join(", ")}; refusing to scale anything without a recorded way back. Roll back, or retry from phase 4 after checking the cluster.`,
    );
  }
  return byName;
}

export async function assertOperatorPaused(
  cluster: ClusterPort,
  appInstance: OperatorResource,
): Promise<void> {
  if (!(await cluster.getOperatorPaused(appInstance))) {
    throw new CodedError(
      "precondition_failed",
      `The operator is not paused (AppInstance ${appInstance.name} has no spec.pause: true): someone unpaused it, and it would undo any scaling. Nothing was scaled in this phase. Pause it again (spec.pause: true) and press Retry phase, or Roll back.`,
    );
  }
}

/** "iox-shared-ingester-0 (terminating), iox-shared-catalog-1 (Pending)", at most `max` named. */
/** The step library's pod list ("x-0 (terminating), y (Failed: Evicted)"), as narrated. */
export { describePodList } from "../../../steps/wait-pods.js";

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
