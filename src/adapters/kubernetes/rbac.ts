/**
 * Exactly the Kubernetes API access the adapter uses, as Role rules in the target namespace.
 * The Helm chart's Role must grant these and nothing more (a test compares them), so any new
 * API call in the adapter must be added here first.
 */
export interface RbacRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

export const KUBERNETES_RBAC_RULES: readonly RbacRule[] = [
  { apiGroups: ["apps"], resources: ["deployments", "statefulsets"], verbs: ["get", "list"] },
  {
    apiGroups: ["apps"],
    resources: ["deployments/scale", "statefulsets/scale"],
    verbs: ["get", "patch"],
  },
  { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
  { apiGroups: ["kubecfg.dev"], resources: ["appinstances"], verbs: ["get", "patch"] },
];
