import type {
  ComponentConfig,
  CustomResourceConfig,
  KubernetesSimulatorOptions,
} from "../../../../stand-ins/kubernetes/index.js";
import { APP_INSTANCE } from "../runbook/components.js";

/**
 * The InfluxDB Clustered workloads, with the replica counts of a small production install.
 * Ingesters take three times as long to terminate: they flush their WAL first.
 * Each call returns fresh objects, so callers may change them.
 */
export function influxdbClusteredComponents(): ComponentConfig[] {
  return [
    { name: "global-gc", kind: "Deployment", replicas: 1, containers: ["gc"] },
    { name: "global-router", kind: "Deployment", replicas: 3, containers: ["router"] },
    { name: "iox-shared-querier", kind: "Deployment", replicas: 2, containers: ["querier"] },
    { name: "iox-shared-compactor", kind: "StatefulSet", replicas: 1, containers: ["compactor"] },
    {
      name: "iox-shared-ingester",
      kind: "StatefulSet",
      replicas: 3,
      terminationDelayFactor: 3,
      containers: ["ingester"],
    },
    // The catalog pods run PostgreSQL next to a sidecar, hence 2/2 in the READY column.
    {
      name: "iox-shared-catalog",
      kind: "StatefulSet",
      replicas: 3,
      containers: ["postgres", "exporter"],
    },
  ];
}

/** The AppInstance the InfluxDB Clustered operator (kubecfg) reads `spec.pause` from. */
export function influxdbClusteredAppInstance(name = "influxdb"): CustomResourceConfig {
  return {
    ...APP_INSTANCE,
    name,
    pausedField: "pause",
    spec: {
      package: {
        image: "registry.example/influxdb-clustered/package:simulated",
        apiVersion: "influxdata.com/v1alpha1",
      },
    },
  };
}

/**
 * A simulated InfluxDB Clustered install: namespace `influxdb`, its six workloads and the
 * AppInstance `influxdb`. Spread it into the simulator's options and override what a test needs.
 */
export function influxdbClusteredSimulator(
  options: { namespace?: string; appInstance?: string } = {},
): KubernetesSimulatorOptions {
  return {
    namespace: options.namespace ?? "influxdb",
    customResource: influxdbClusteredAppInstance(options.appInstance),
    components: influxdbClusteredComponents(),
  };
}
