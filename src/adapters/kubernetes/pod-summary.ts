import type { PodSummary, WorkloadStatus } from "./cluster-port.js";

/**
 * The parts of a Pod we read. Both client-node's deserialised `V1Pod` and the raw JSON of a
 * watch event fit (deletionTimestamp is a Date in one and a string in the other).
 */
export interface PodLike {
  metadata?: {
    name?: string;
    labels?: Record<string, string>;
    deletionTimestamp?: unknown;
    ownerReferences?: Array<{ kind?: string; name?: string }>;
  };
  status?: {
    phase?: string;
    reason?: string;
    conditions?: Array<{ type?: string; status?: string }>;
  };
}

/**
 * Which of `components` a pod belongs to: its `app` label, or else its owner — the StatefulSet
 * or ReplicationController of that name, or a ReplicaSet `<deployment>-<pod-template-hash>` of that Deployment. A pod
 * someone relabelled is still its workload's, and may still be using the catalog.
 */
export function componentOfPod(pod: PodLike, components: readonly string[]): string | undefined {
  const app = pod.metadata?.labels?.app;
  if (app !== undefined && components.includes(app)) return app;
  for (const owner of pod.metadata?.ownerReferences ?? []) {
    if (
      (owner.kind === "StatefulSet" || owner.kind === "ReplicationController") &&
      owner.name &&
      components.includes(owner.name)
    )
      return owner.name;
    const deployment =
      owner.kind === "ReplicaSet" ? /^(.+)-[a-z0-9]{1,10}$/.exec(owner.name ?? "")?.[1] : undefined;
    if (deployment && components.includes(deployment)) return deployment;
  }
  return undefined;
}

/** A pod whose containers have all stopped for good (Failed, e.g. Evicted, or Succeeded). */
export function isTerminalPod(pod: Pick<PodSummary, "phase">): boolean {
  return pod.phase === "Failed" || pod.phase === "Succeeded";
}

export function summarizePod(pod: PodLike, components?: readonly string[]): PodSummary | undefined {
  const name = pod.metadata?.name;
  if (!name) return undefined;
  const app = pod.metadata?.labels?.app ?? "";
  const component = components ? componentOfPod(pod, components) : app;
  if (component === undefined) return undefined;
  const reason = pod.status?.reason;
  const terminating =
    pod.metadata?.deletionTimestamp !== undefined && pod.metadata?.deletionTimestamp !== null;
  const phase = pod.status?.phase ?? "Unknown";
  const readyCondition = pod.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
  return {
    name,
    component,
    ...(app !== component ? { mislabelled: app } : {}),
    phase,
    ...(reason ? { reason } : {}),
    // A terminating pod may still report Ready until its containers stop; it is leaving, so not ready here.
    ready: phase === "Running" && readyCondition && !terminating,
    terminating,
  };
}

export function sortPods(pods: Iterable<PodSummary>): PodSummary[] {
  return [...pods].sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }));
}

/**
 * How a pod stands, as people read it: leaving, ready, or running but not ready; `undefined`
 * for any other phase (Pending, Failed, …), which then speaks for itself.
 */
export function podReadiness(pod: PodSummary): "terminating" | "ready" | "not ready" | undefined {
  if (pod.terminating) return "terminating";
  if (pod.ready) return "ready";
  return pod.phase === "Running" ? "not ready" : undefined;
}

/** `store-0 (Running, terminating), db-1 (Pending)`, at most `max` of them. */
export function describePods(pods: readonly PodSummary[], max = 10): string {
  const shown = pods
    .slice(0, max)
    .map(
      (p) =>
        `${p.name} (${[p.phase, p.reason, podReadiness(p), labelNote(p)].filter(Boolean).join(", ")})`,
    );
  const more = pods.length > max ? ` and ${pods.length - max} more` : "";
  return `${shown.join(", ")}${more}`;
}

/** Label selector for the pods of these components: `app in (a,b)`. */
export function componentSelector(components: readonly string[]): string {
  return `app in (${[...components].join(",")})`;
}

/** "labelled app=debug, owned by store", for a pod whose label is not its workload's. */
export function labelNote(pod: PodSummary): string | undefined {
  return pod.mislabelled !== undefined
    ? `labelled app=${pod.mislabelled || "(none)"}, owned by ${pod.component}`
    : undefined;
}

/** Whether the controller has acted on the workload's latest spec (its counts are current). */
export function statusObserved(w: WorkloadStatus): boolean {
  return w.observedGeneration >= w.generation;
}

/**
 * "StatefulSet db reports 1 replica (0 ready)", adding "but has not yet acted on
 * the latest scale (generation 3, observed 2)" when its status is older than its spec.
 */
export function describeWorkloadStatus(w: WorkloadStatus): string {
  const counts = `${w.kind} ${w.name} reports ${w.replicas} ${w.replicas === 1 ? "replica" : "replicas"} (${w.readyReplicas} ready)`;
  return statusObserved(w)
    ? counts
    : `${counts} but has not yet acted on the latest scale (generation ${w.generation}, observed ${w.observedGeneration})`;
}

/** A workload status from the API object (client-node's V1Deployment/V1StatefulSet or raw JSON). */
export function workloadStatusOf(
  kind: WorkloadStatus["kind"],
  name: string,
  object: {
    metadata?: { generation?: number };
    status?: { observedGeneration?: number; replicas?: number; readyReplicas?: number };
  },
): WorkloadStatus {
  return {
    kind,
    name,
    generation: object.metadata?.generation ?? 0,
    // An absent observedGeneration means the controller has observed nothing yet.
    observedGeneration: object.status?.observedGeneration ?? -1,
    replicas: object.status?.replicas ?? 0,
    readyReplicas: object.status?.readyReplicas ?? 0,
  };
}
