import type { WorkloadKind } from "./cluster-port.js";
import type { PodWorkPort } from "./pod-work-port.js";
import { POD_WORK_RBAC_RULES } from "./pod-work-rbac.js";

/**
 * A Role rule in a target's namespace. A kind's rules are generated from the operations of the
 * steps and adapter methods it uses (`rbacRulesFor`), never kept by hand; the chart's Role is
 * every registered kind's rules merged (`rbacRulesOf`, src/kinds/registry.ts).
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

/**
 * One kind of API access a step performs. A kind lists the operations of the steps it uses and
 * `rbacRulesFor` turns them into its Role, so the Role follows from the runbook, not from a list
 * kept by hand.
 */
export type KubernetesOperation =
  /** Read and set replicas through the scale subresource; read the workload's status. */
  | { type: "scale"; kind: WorkloadKind }
  /** Find workloads of a kind by label selector. */
  | { type: "listWorkloads"; kind: WorkloadKind }
  /** List and watch pods (the watch-based waits). */
  | { type: "watchPods" }
  /** Read one pod and delete it (restart through its controller). */
  | { type: "deletePod" }
  | { type: "getResource"; group: string; plural: string }
  | { type: "patchResource"; group: string; plural: string }
  | { type: "readConfigMap" }
  /** List ConfigMaps by label (a chart's templates, found by their label). */
  | { type: "listConfigMaps" }
  | { type: "replaceConfigMap" }
  /** HTTP through the service proxy, by the methods used (GET → get, POST → create, …). */
  /** A pod-work method (Jobs, their logs, PVCs, exec): its rules from POD_WORK_RBAC_RULES. */
  | { type: "podWork"; method: keyof PodWorkPort }
  | {
      type: "serviceProxy";
      methods: ReadonlyArray<"GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD">;
    };

const WORKLOAD_RESOURCE: Record<WorkloadKind, { group: string; plural: string }> = {
  Deployment: { group: "apps", plural: "deployments" },
  StatefulSet: { group: "apps", plural: "statefulsets" },
  ReplicationController: { group: "", plural: "replicationcontrollers" },
};

const PROXY_VERB = {
  GET: "get",
  HEAD: "get",
  POST: "create",
  PUT: "update",
  DELETE: "delete",
  PATCH: "patch",
} as const;

/**
 * The Role rules implied by `operations`: one rule per API group and set of verbs, resources
 * and verbs sorted, so equal needs give equal rules whatever order the steps list them in.
 */
export function rbacRulesFor(operations: readonly KubernetesOperation[]): RbacRule[] {
  const grants = new Map<string, Map<string, Set<string>>>(); // group → resource → verbs
  const grant = (group: string, resource: string, ...verbs: string[]) => {
    const resources = grants.get(group) ?? new Map<string, Set<string>>();
    grants.set(group, resources);
    const set = resources.get(resource) ?? new Set<string>();
    resources.set(resource, set);
    for (const v of verbs) set.add(v);
  };
  for (const op of operations) {
    switch (op.type) {
      case "scale": {
        const w = WORKLOAD_RESOURCE[op.kind];
        grant(w.group, `${w.plural}/scale`, "get", "patch");
        grant(w.group, w.plural, "get");
        break;
      }
      case "listWorkloads": {
        const w = WORKLOAD_RESOURCE[op.kind];
        grant(w.group, w.plural, "list");
        break;
      }
      case "watchPods":
        grant("", "pods", "list", "watch");
        break;
      case "deletePod":
        grant("", "pods", "get", "delete");
        break;
      case "getResource":
        grant(op.group, op.plural, "get");
        break;
      case "patchResource":
        grant(op.group, op.plural, "get", "patch");
        break;
      case "readConfigMap":
        grant("", "configmaps", "get");
        break;
      case "listConfigMaps":
        grant("", "configmaps", "list");
        break;
      case "replaceConfigMap":
        grant("", "configmaps", "get", "update");
        break;
      case "serviceProxy":
        grant("", "services/proxy", ...op.methods.map((m) => PROXY_VERB[m]));
        break;
      case "podWork":
        for (const rule of POD_WORK_RBAC_RULES[op.method])
          for (const group of rule.apiGroups)
            for (const resource of rule.resources) grant(group, resource, ...rule.verbs);
        break;
    }
  }
  const rules: RbacRule[] = [];
  for (const [group, resources] of [...grants].sort(([a], [b]) => a.localeCompare(b))) {
    const byVerbs = new Map<string, string[]>();
    for (const [resource, verbs] of resources) {
      const key = [...verbs].sort().join(",");
      byVerbs.set(key, [...(byVerbs.get(key) ?? []), resource]);
    }
    for (const [verbs, list] of [...byVerbs].sort(([a], [b]) => a.localeCompare(b))) {
      rules.push({ apiGroups: [group], resources: list.sort(), verbs: verbs.split(",") });
    }
  }
  return rules;
}
