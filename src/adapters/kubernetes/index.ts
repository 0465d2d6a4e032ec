export type { ClusterPort, PodSummary, WaitForPodsOptions, WorkloadKind } from "./cluster-port.js";
export {
  createKubernetesCluster,
  type KubernetesCluster,
  type KubernetesClusterOptions,
} from "./kubernetes-cluster.js";
export type * from "./pod-work-port.js";
export { POD_WORK_RBAC_RULES, rbacRulesFor } from "./pod-work-rbac.js";
export { KUBERNETES_RBAC_RULES, type RbacRule } from "./rbac.js";
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from "./retry.js";
