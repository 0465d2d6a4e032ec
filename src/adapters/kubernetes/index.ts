export type {
  ClusterPort,
  KubeObject,
  OperatorResource,
  PodDetails,
  PodSummary,
  ResourcePort,
  ResourceRef,
  ServiceProxyRequest,
  ServiceProxyResponse,
  StepCluster,
  WaitForPodsOptions,
  WorkloadKind,
  WorkloadRef,
} from "./cluster-port.js";
export {
  createKubernetesCluster,
  type KubernetesCluster,
  type KubernetesClusterOptions,
} from "./kubernetes-cluster.js";
export type * from "./pod-work-port.js";
export { POD_WORK_RBAC_RULES, podWorkRbacRules } from "./pod-work-rbac.js";
export {
  type KubernetesOperation,
  type RbacRule,
  rbacRulesFor,
} from "./rbac.js";
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from "./retry.js";
