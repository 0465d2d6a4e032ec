import type { PodWorkPort } from "./pod-work-port.js";
import type { RbacRule } from "./rbac.js";

/**
 * The Kubernetes access each `PodWorkPort` method needs, as Role rules in the target namespace,
 * so a kind's Role is generated from the methods its steps use (`podWorkRbacRules`). The adapter's
 * tests run each method against a simulator enforcing exactly its rules.
 *
 * Exec needs both verbs on `pods/exec`: the WebSocket upgrade is a GET, which API servers before
 * 1.35 authorise as `get`… and since 1.35 as `create` (as the POST form always was).
 */
export const POD_WORK_RBAC_RULES: Readonly<Record<keyof PodWorkPort, readonly RbacRule[]>> = {
  createJob: [{ apiGroups: ["batch"], resources: ["jobs"], verbs: ["create", "get"] }],
  getJob: [{ apiGroups: ["batch"], resources: ["jobs"], verbs: ["get"] }],
  listJobPods: [{ apiGroups: [""], resources: ["pods"], verbs: ["list"] }],
  waitJob: [
    { apiGroups: ["batch"], resources: ["jobs"], verbs: ["list", "watch"] },
    { apiGroups: [""], resources: ["pods"], verbs: ["list"] },
  ],
  followJobLogs: [
    { apiGroups: ["batch"], resources: ["jobs"], verbs: ["get"] },
    { apiGroups: [""], resources: ["pods"], verbs: ["list"] },
    { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
  ],
  deleteJob: [{ apiGroups: ["batch"], resources: ["jobs"], verbs: ["delete"] }],
  createPvc: [{ apiGroups: [""], resources: ["persistentvolumeclaims"], verbs: ["create"] }],
  deletePvc: [{ apiGroups: [""], resources: ["persistentvolumeclaims"], verbs: ["delete"] }],
  createPod: [{ apiGroups: [""], resources: ["pods"], verbs: ["create"] }],
  execInPod: [{ apiGroups: [""], resources: ["pods/exec"], verbs: ["create", "get"] }],
};

/** The merged rules for a set of methods: one rule per (apiGroup, resource), verbs sorted. */
export function podWorkRbacRules(methods: readonly (keyof PodWorkPort)[]): RbacRule[] {
  const verbs = new Map<string, Set<string>>();
  for (const method of methods) {
    for (const rule of POD_WORK_RBAC_RULES[method]) {
      for (const group of rule.apiGroups) {
        for (const resource of rule.resources) {
          const key = `${group}|${resource}`;
          const set = verbs.get(key) ?? new Set<string>();
          for (const verb of rule.verbs) set.add(verb);
          verbs.set(key, set);
        }
      }
    }
  }
  return [...verbs.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, set]) => {
      const [group = "", resource = ""] = key.split("|");
      return { apiGroups: [group], resources: [resource], verbs: [...set].sort() };
    });
}
