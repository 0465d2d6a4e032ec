import type { PodSummary } from "./cluster-port.js";

/**
 * The parts of a Pod we read. Both client-node's deserialised `V1Pod` and the raw JSON of a
 * watch event fit (deletionTimestamp is a Date in one and a string in the other).
 */
export interface PodLike {
  metadata?: { name?: string; labels?: Record<string, string>; deletionTimestamp?: unknown };
  status?: { phase?: string; conditions?: Array<{ type?: string; status?: string }> };
}

export function summarizePod(pod: PodLike): PodSummary | undefined {
  const name = pod.metadata?.name;
  if (!name) return undefined;
  const terminating =
    pod.metadata?.deletionTimestamp !== undefined && pod.metadata?.deletionTimestamp !== null;
  const phase = pod.status?.phase ?? "Unknown";
  const readyCondition = pod.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
  return {
    name,
    component: pod.metadata?.labels?.app ?? "",
    phase,
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

/** `iox-shared-ingester-0 (Running, terminating), iox-shared-catalog-1 (Pending)`, at most `max` of them. */
export function describePods(pods: readonly PodSummary[], max = 10): string {
  const shown = pods
    .slice(0, max)
    .map((p) => `${p.name} (${[p.phase, podReadiness(p)].filter(Boolean).join(", ")})`);
  const more = pods.length > max ? ` and ${pods.length - max} more` : "";
  return `${shown.join(", ")}${more}`;
}

/** Label selector for the pods of these components: `app in (a,b)`. */
export function componentSelector(components: readonly string[]): string {
  return `app in (${[...components].join(",")})`;
}
