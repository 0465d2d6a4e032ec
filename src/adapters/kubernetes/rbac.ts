/**
 * Exactly the Kubernetes API access the adapter uses, as Role rules in the target namespace.
 * The Helm chart's Role must grant these and nothing more (a test compares them), so any new
 * API call in the adapter must be added here first. The adapter's tests check every request it
 * makes against these rules, and that each rule is used.
 *
 * Replica counts are read and written through the scale subresource only (as `kubectl scale`
 * does); the workloads themselves are only read, for their status (observedGeneration,
 * replicas, readyReplicas), which the pod waits cross-check. Pods are listed and watched, never
 * read one by one.
 */
export interface RbacRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

export const KUBERNETES_RBAC_RULES: readonly RbacRule[] = [
  {
    apiGroups: ["apps"],
    resources: ["deployments/scale", "statefulsets/scale"],
    verbs: ["get", "patch"],
  },
  { apiGroups: ["apps"], resources: ["deployments", "statefulsets"], verbs: ["get"] },
  { apiGroups: [""], resources: ["pods"], verbs: ["list", "watch"] },
  { apiGroups: ["kubecfg.dev"], resources: ["appinstances"], verbs: ["get", "patch"] },
];
