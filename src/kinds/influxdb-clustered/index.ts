import type { ClusterPort } from "../../adapters/kubernetes/cluster-port.js";
import { CodedError } from "../../errors.js";
import type { Kind } from "../kind.js";
import { settleWithin } from "../plan-reads.js";
import { completeInfluxTarget, type InfluxTarget, influxdbTargetShape } from "./config.js";
import { CLUSTERED_POINT_WORDS, CLUSTERED_RESTORE_WORDS } from "./point-words.js";
import { freezeInfluxPoint, influxPointOf } from "./points.js";
import { appInstanceOf, targetComponents } from "./runbook/components.js";
import { INFLUXDB_PHASES, INFLUXDB_ROLLBACK_STEPS } from "./runbook/phase-list.js";
import { snapshotDir } from "./runbook/phases.js";
import { describeInfluxdbPlan, type LiveCluster } from "./runbook/plan.js";
import { INFLUXDB_CLUSTERED_RBAC_RULES } from "./runbook/rbac.js";
import { catalogState, createInfluxdbClusteredRunbook } from "./runbook/runbook.js";
import { removeSnapshotFiles, removeStaleSnapshots } from "./runbook/snapshot-file.js";
import { createInfluxDbS3Source } from "./s3-source.js";

/** Snapshot folders older than this on a worker's disk belong to runs that ended elsewhere. */
const STALE_SNAPSHOT_MS = 7 * 86_400_000;
const PLAN_READ_TIMEOUT_MS = 10_000;
const settle = <T>(work: Promise<T>) => settleWithin(work, PLAN_READ_TIMEOUT_MS);

/** The live state the plan shows, each part read independently so one failure hides nothing else. */
export async function readLiveCluster(
  cluster: ClusterPort,
  target: InfluxTarget,
): Promise<LiveCluster> {
  const components = targetComponents(target);
  const [replicas, pods, operatorPaused] = await Promise.all([
    Promise.all(
      components.map(
        async (c) => [c.name, await settle(cluster.getReplicas(c.kind, c.name))] as const,
      ),
    ),
    settle(cluster.listPods(components.map((c) => c.name))),
    settle(cluster.getOperatorPaused(appInstanceOf(target))),
  ]);
  return { replicas: Object.fromEntries(replicas), pods, operatorPaused };
}

/** InfluxDB Clustered: the catalog restored from the vendor's snapshots in S3. */
export const influxdbClustered: Kind<InfluxTarget> = {
  id: "influxdb-clustered",
  label: "InfluxDB Clustered",
  config: {
    shape: influxdbTargetShape,
    complete: completeInfluxTarget,
    problems(target, { env, requireSecrets }) {
      if (requireSecrets && !env[target.catalog.dsnEnv])
        return [
          {
            key: "catalog.dsnEnv",
            message: `environment variable ${target.catalog.dsnEnv} is not set; it must hold the catalog's PostgreSQL DSN`,
          },
        ];
      return [];
    },
    envVars: (target) => [target.catalog.dsnEnv],
    describe: (target) =>
      `snapshots in \`s3://${target.snapshots.bucket}/${target.snapshots.prefix}\``,
    objectStore: ({ snapshots: { endpoint, region, forcePathStyle } }) => ({
      ...(endpoint ? { endpoint } : {}),
      region,
      forcePathStyle,
    }),
  },
  points: {
    source: (target, objectStore) =>
      createInfluxDbS3Source(objectStore(), {
        bucket: target.snapshots.bucket,
        prefix: target.snapshots.prefix,
      }),
    freeze: freezeInfluxPoint,
    cardLines(point) {
      const { dumpEtag } = influxPointOf(point);
      return dumpEtag ? [`ETag \`${dumpEtag.replace(/"/g, "")}\``] : [];
    },
    reportLine(point) {
      const { dumpKey, dumpEtag } = influxPointOf(point);
      return `\`${dumpKey}\`${dumpEtag ? ` (ETag \`${dumpEtag.replace(/"/g, "")}\`)` : ""}`;
    },
  },
  outline: {
    phases: INFLUXDB_PHASES,
    rollback: INFLUXDB_ROLLBACK_STEPS,
    replacesData: "restore-catalog",
    takesDown: "scale-down-workloads",
    bringsUp: "scale-up",
  },
  runbooks: {
    restore(deps) {
      const { target, env } = deps;
      const dsn = env[target.catalog.dsnEnv];
      if (!dsn) {
        throw new CodedError(
          "config_invalid",
          `environment variable ${target.catalog.dsnEnv} (the catalog DSN of ${target.name}) is not set on this worker`,
        );
      }
      return createInfluxdbClusteredRunbook({
        ...deps,
        objectStore: deps.objectStore(),
        catalogConnection: dsn,
      });
    },
    prepareWorker: (workDir) => removeStaleSnapshots(workDir, STALE_SNAPSHOT_MS),
    cleanUpRun: (workDir, requestId) => removeSnapshotFiles(snapshotDir({ workDir }, requestId)),
  },
  async plan({ target, point, cluster, now, activeRequest }) {
    const live = await readLiveCluster(cluster(), target);
    return describeInfluxdbPlan({
      target,
      point,
      live,
      now,
      ...(activeRequest ? { activeRequest } : {}),
    });
  },
  wording: {
    restore: CLUSTERED_RESTORE_WORDS,
    points: CLUSTERED_POINT_WORDS,
    abandoned(request, runs, userId) {
      const catalog = catalogState(request, runs);
      return `:heavy_multiplication_x: <@${userId}> abandoned this restore. restorebot changes nothing more: the cluster stays as described above (${request.haltedPhase ? `stopped at ${request.haltedPhase}` : "halted"}); the operator is left as it is, and ${catalog.line.charAt(0).toLowerCase()}${catalog.line.slice(1)} Finish by hand from the runbook (docs/runbook.md).`;
    },
    rollbackPressed(request, runs, userId) {
      if (!runs.some((r) => r.phase === "pause-operator"))
        return `:leftwards_arrow_with_hook: <@${userId}> pressed *Roll back*: restorebot had changed nothing, so nothing is undone and the operator is left as it is.`;
      return `:leftwards_arrow_with_hook: <@${userId}> pressed *Roll back*: every component goes back up to its recorded count and the operator is unpaused.${
        catalogState(request, runs).restored
          ? " The committed catalog restore is *not* undone."
          : ""
      }`;
    },
  },
  rbac: INFLUXDB_CLUSTERED_RBAC_RULES,
  sandbox: {
    describe:
      "an InfluxDB Clustered install (Kubernetes simulator), its catalog database and hourly snapshots in the S3 stand-in",
    load: async () => (await import("./sandbox/scenario.js")).influxdbClusteredSandbox,
  },
};
