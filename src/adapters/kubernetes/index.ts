export type { ClusterPort, PodSummary, WaitForPodsOptions, WorkloadKind } from "./cluster-port.js";
export { createKubernetesCluster, type KubernetesClusterOptions } from "./kubernetes-cluster.js";
export { KUBERNETES_RBAC_RULES, type RbacRule } from "./rbac.js";
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from "./retry.js";
