import { type KubernetesOperation, rbacRulesFor } from "../../../adapters/kubernetes/rbac.js";
import { patchOperations } from "../../../steps/patch-resource.js";
import { scaleOperations } from "../../../steps/scale-workloads.js";
import { WAIT_OPERATIONS } from "../../../steps/wait-pods.js";
import { APP_INSTANCE, ROLE_KINDS } from "./components.js";

const WORKLOAD_KINDS = [...new Set(Object.values(ROLE_KINDS))];

/**
 * What an InfluxDB Clustered run and its plan do in the target's namespace: scale every
 * component through the scale subresource (phases 4, 5, 6 and 8, roll back, the plan), watch
 * its pods and read the workloads' status (the waits of phases 5, 6, 8 and 9), and read and
 * patch `spec.pause` on the AppInstance (phases 3 and 10).
 */
export const INFLUXDB_CLUSTERED_OPERATIONS: readonly KubernetesOperation[] = [
  ...scaleOperations(WORKLOAD_KINDS.map((kind) => ({ kind, names: [] }))),
  ...WAIT_OPERATIONS(WORKLOAD_KINDS.map((kind) => ({ kind, name: "" }))),
  ...patchOperations({ ...APP_INSTANCE, name: "" }),
];

/** The kind's Role rules, generated from its operations. */
export const INFLUXDB_CLUSTERED_RBAC_RULES = rbacRulesFor(INFLUXDB_CLUSTERED_OPERATIONS);
