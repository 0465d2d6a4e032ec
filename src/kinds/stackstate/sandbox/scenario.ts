import {
  type ElasticsearchStandIn,
  startElasticsearchStandIn,
} from "../../../../stand-ins/elasticsearch/server.js";
import {
  containerShell,
  type KubernetesSimulator,
  startKubernetesSimulator,
} from "../../../../stand-ins/kubernetes/index.js";
import type {
  KubernetesSimulatorOptions,
  PodTiming,
} from "../../../../stand-ins/kubernetes/types.js";
import type { S3StandIn } from "../../../../stand-ins/s3/server.js";
import type { SandboxSetup } from "../../../demo/scenario.js";
import { VMBACKUP_COMPLETE_MARKER } from "../metrics-points.js";
import { sandboxBackupScriptsConfigMap } from "../sandbox-chart.js";

export const STS_TARGET = "sts";
export const STS_NAMESPACE = "stackstate";
/** The kubeconfig context the sandbox's StackState target names (its own simulated cluster). */
export const STS_CONTEXT = "stackstate";
export const STS_BUCKETS = {
  stackgraph: "sts-stackgraph-backup",
  metrics: "sts-victoria-metrics-backup",
  clickhouse: "sts-clickhouse-backup",
} as const;
const ES_REPOSITORY = "sts-backup";
const DAY = 86_400_000;

const compact = (d: Date) => d.toISOString().replace(/[-:T]/g, "").slice(0, 14);
const stamp = (d: Date) => `${d.toISOString().slice(0, 10).replace(/-/g, "")}-0300`;

/** The target's lines in the generated restorebot.yaml. */
export function stackstateTargetYaml(s3Endpoint: string, kubeContext = STS_CONTEXT): string {
  return `  - name: ${STS_TARGET}
    kind: stackstate
    namespace: ${STS_NAMESPACE}
    kubeContext: ${kubeContext}
    release: stackstate
    backupStore: { endpoint: ${s3Endpoint}, region: us-east-1, forcePathStyle: true }
    stores:
      stackgraph: { bucket: ${STS_BUCKETS.stackgraph} }
      metrics: { bucket: ${STS_BUCKETS.metrics}, instances: [victoria-metrics-0, victoria-metrics-1] }
      clickhouse: { bucket: ${STS_BUCKETS.clickhouse}, pod: stackstate-clickhouse-shard0-0, container: backup }
      elasticsearch: { service: stackstate-elasticsearch-master, port: 9200, repository: ${ES_REPOSITORY} }
    timeouts: { podsGone: 5m, podsReady: 5m }
`;
}

export interface StackStateSandbox {
  simulator: KubernetesSimulator;
  elasticsearch: ElasticsearchStandIn;
  close(): Promise<void>;
}

/**
 * A StackState install for the sandbox: its own simulated cluster (namespace `stackstate`) with
 * the chart's workloads and its backup-scripts ConfigMap, a week of backups of StackGraph,
 * Victoria Metrics and ClickHouse in the S3 stand-in, Elasticsearch snapshots behind the
 * simulator's service proxy, and restore Jobs / clickhouse-backup that print what the real
 * tools print and succeed.
 */
export async function startStackStateSandbox(options: {
  s3: S3StandIn;
  timing: PodTiming;
  now: Date;
}): Promise<StackStateSandbox> {
  const simulator = await startKubernetesSimulator({
    ...STS_SIMULATOR,
    timing: options.timing,
  });
  try {
    const seeded = await seedStackStateSandbox({ simulator, s3: options.s3, now: options.now });
    return {
      simulator,
      elasticsearch: seeded.elasticsearch,
      async close() {
        await simulator.close();
        await seeded.close();
      },
    };
  } catch (err) {
    await simulator.close();
    throw err;
  }
}

/** The chart's workloads, as the scenario's simulator serves them (namespace `stackstate`). */
export const STS_SIMULATOR: KubernetesSimulatorOptions = {
  namespace: STS_NAMESPACE,
  components: [
    {
      name: "stackstate-server",
      kind: "Deployment",
      replicas: 1,
      labels: { "stackstate.com/connects-to-stackgraph": "true" },
    },
    {
      name: "stackstate-api",
      kind: "Deployment",
      replicas: 2,
      labels: { "stackstate.com/connects-to-stackgraph": "true" },
    },
    { name: "stackstate-e2es", kind: "Deployment", replicas: 1 },
    { name: "stackstate-trace2es", kind: "Deployment", replicas: 1 },
    { name: "stackstate-victoria-metrics-0", kind: "StatefulSet", replicas: 1 },
    { name: "stackstate-victoria-metrics-1", kind: "StatefulSet", replicas: 1 },
    {
      name: "stackstate-otel-collector",
      kind: "StatefulSet",
      replicas: 2,
      podManagementPolicy: "Parallel",
    },
    {
      name: "stackstate-clickhouse-shard0",
      kind: "StatefulSet",
      replicas: 1,
      containers: ["clickhouse", "backup"],
    },
  ],
};

/**
 * Fills a simulator started from `STS_SIMULATOR`: the backup-scripts ConfigMap, the
 * Elasticsearch stand-in behind the service proxy, a week of backups, and the restore Jobs and
 * clickhouse-backup exec answers.
 */
export async function seedStackStateSandbox(options: {
  simulator: KubernetesSimulator;
  s3: S3StandIn;
  now: Date;
}): Promise<{ elasticsearch: ElasticsearchStandIn; close(): Promise<void> }> {
  const { simulator, s3, now } = options;
  const elasticsearch = await startElasticsearchStandIn();
  simulator.resources.putObject(
    { apiGroup: "", plural: "configmaps" },
    sandboxBackupScriptsConfigMap("stackstate"),
  );
  simulator.resources.registerService({
    name: "stackstate-elasticsearch-master",
    port: 9200,
    localPort: Number(new URL(elasticsearch.url).port),
  });
  for (const bucket of Object.values(STS_BUCKETS)) s3.createBucket(bucket);
  for (let d = 7; d >= 1; d--) {
    const day = new Date(
      Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - d, 3),
    );
    s3.putObjectDirect(
      STS_BUCKETS.stackgraph,
      `sts-backup-${stamp(day)}.graph`,
      `graph of ${day.toISOString()}`,
    );
    const full = `full_${day.toISOString().slice(0, 19).replace(/:/g, "-")}`;
    s3.putObjectDirect(
      STS_BUCKETS.clickhouse,
      `${full}/shadow/otel/otel_traces/default.tar`,
      "tar",
    );
    s3.putObjectDirect(
      STS_BUCKETS.clickhouse,
      `${full}/metadata.json`,
      JSON.stringify({ backup_name: full, creation_date: day.toISOString(), data_format: "tar" }),
    );
    elasticsearch.addSnapshot(ES_REPOSITORY, {
      snapshot: `sts-backup-${stamp(day)}-demo${d}`,
      indices: [
        `sts_internal_events-${day.toISOString().slice(0, 10).replace(/-/g, ".")}`,
        `sts_multi_metrics-${day.toISOString().slice(0, 10).replace(/-/g, ".")}`,
      ],
      startTime: day,
    });
  }
  for (const instance of ["victoria-metrics-0", "victoria-metrics-1"]) {
    const version = `${instance}/${instance}-${compact(new Date(now.getTime() - 2 * DAY))}`;
    s3.putObjectDirect(STS_BUCKETS.metrics, `${version}/data/small/part-1/index.bin`, "vm");
    s3.putObjectDirect(STS_BUCKETS.metrics, `${version}/${VMBACKUP_COMPLETE_MARKER}`, "");
  }
  simulator.onJobPod({ job: /^stackgraph-restore-backup-/ }, async (run) => {
    run.log(
      `=== Downloading StackGraph backup "${run.env.BACKUP_FILE}" from bucket "${STS_BUCKETS.stackgraph}"...\n`,
    );
    run.log(`=== Importing StackGraph data from "${run.env.BACKUP_FILE}"...\n`);
    return 0;
  });
  simulator.onJobPod({ job: /^victoria-metrics-restore-backup-/ }, (run) => {
    run.log(
      "info VictoriaMetrics/lib/backup/actions/restore.go:194 restored 1204539 bytes from backup\n",
    );
    return 0;
  });
  // The backup container runs restorebot's script for real; its clickhouse-backup prints what
  // the tool prints for a restore and succeeds.
  const backupContainer = containerShell(simulator, {
    pod: "stackstate-clickhouse-shard0-0",
    container: "backup",
    tools: {
      "clickhouse-backup": `name=""; for a in "$@"; do name=$a; done
echo "info download backup=$name operation=restore_remote version=2.5.13"
echo "info done backup=$name duration=167ms operation=restore version=2.5.13"`,
    },
  });
  return {
    elasticsearch,
    close: async () => {
      backupContainer.close();
      await elasticsearch.close();
    },
  };
}

/** The sandbox's StackState target (`sts`): an install with all four stores and their backups. */
export const stackstateSandbox: SandboxSetup = {
  targetName: STS_TARGET,
  cluster: { namespace: STS_NAMESPACE, simulator: STS_SIMULATOR },
  buckets: Object.values(STS_BUCKETS),
  databases: [],
  async seed({ simulator, s3, now }) {
    const seeded = await seedStackStateSandbox({ simulator, s3, now });
    return {
      targetYaml: ({ s3Endpoint, kubeContext }) => stackstateTargetYaml(s3Endpoint, kubeContext),
      env: {},
      ready: [
        `/recovery-points ${STS_TARGET} — a week of StackGraph, Elasticsearch and ClickHouse backups, and Victoria Metrics (--store stackgraph for one store)`,
        `/restore ${STS_TARGET} stackgraph:latest --force INC-104 topology lost after an upgrade`,
      ],
      close: seeded.close,
    };
  },
};
