import type { ComponentConfig, PodTiming } from "./types.js";

/** Fast enough for tests, slow enough that every intermediate pod state is observable. */
export const DEFAULT_TIMING: PodTiming = {
  startDelayMs: 20,
  readyDelayMs: 60,
  terminationDelayMs: 50,
};

/**
 * The InfluxDB Clustered workloads, with the replica counts of a small production install.
 * Ingesters take three times as long to terminate: they flush their WAL first.
 * Each call returns fresh objects, so callers may change them.
 */
export function influxdbClusteredComponents(): ComponentConfig[] {
  return [
    { name: "global-gc", kind: "Deployment", replicas: 1 },
    { name: "global-router", kind: "Deployment", replicas: 3 },
    { name: "iox-shared-querier", kind: "Deployment", replicas: 2 },
    { name: "iox-shared-compactor", kind: "StatefulSet", replicas: 1 },
    { name: "iox-shared-ingester", kind: "StatefulSet", replicas: 3, terminationDelayFactor: 3 },
    // The catalog pods run PostgreSQL next to a sidecar, hence 2/2 in the READY column.
    {
      name: "iox-shared-catalog",
      kind: "StatefulSet",
      replicas: 3,
      containers: ["postgres", "exporter"],
    },
  ];
}
