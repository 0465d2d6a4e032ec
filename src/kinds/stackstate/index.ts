import { asCodedError } from "../../errors.js";
import type { Kind, PlanText } from "../kind.js";
import {
  completeStackStateTarget,
  type StackStateTarget,
  stackstateTargetShape,
} from "./config.js";
import { frozenLabel, frozenStackStatePoint } from "./frozen-point.js";
import { configuredStores } from "./list-stackstate-points.js";
import { stackstateNamedPoints } from "./named-points.js";
import { stackstateOptionsOf, stackstateRestoreOptions } from "./options.js";
import {
  asKubernetesCluster,
  createStackStateRunbook,
  STACKGRAPH_LABEL,
  STACKSTATE_OUTLINE,
  STACKSTATE_RBAC,
  workloadsToStop,
} from "./runbook.js";
import { STACKSTATE_RESTORE_WORDS } from "./wording.js";

const NO_TIME_SOURCE = {
  location: "",
  dataLocation: "",
  listPoints: async () => ({ points: [], skipped: [] }),
  describePoints: async () => new Map(),
  verifyPoint: async () => {
    throw new Error(
      "StackState points are verified by name: /recovery-points verify <target> <store>:<name>",
    );
  },
};

/** StackState: four stores backed up by the chart, each restored on its own. */
export const stackstate: Kind<StackStateTarget> = {
  id: "stackstate",
  label: "StackState",
  config: {
    shape: stackstateTargetShape,
    complete: completeStackStateTarget,
    problems(target) {
      return configuredStores(target.stores).length === 0
        ? [
            {
              key: "stores",
              message:
                "configure at least one store (stackgraph, metrics, clickhouse, elasticsearch)",
            },
          ]
        : [];
    },
    envVars: () => [],
    describe: (target) =>
      `the chart's backups of ${configuredStores(target.stores).join(", ")} (points are \`<store>:<name>\`)`,
    objectStore: ({ backupStore: { endpoint, region, forcePathStyle } }) => ({
      ...(endpoint ? { endpoint } : {}),
      region,
      forcePathStyle,
    }),
  },
  points: {
    // Points are named by store (`named`); the time-named source lists none.
    source: (target) => ({ ...NO_TIME_SOURCE, location: `StackState target ${target.name}` }),
    freeze: () => ({
      ok: false,
      message: "A StackState point is <store>:<name>, e.g. `stackgraph:latest`.",
      final: true,
    }),
    cardLines(point) {
      const frozen = frozenStackStatePoint(point);
      // The card's point field names the backup (`wording.restore.point`); these add to it.
      const lines: string[] = [];
      if (frozen.store === "clickhouse" && (frozen.chain?.length ?? 0) > 1)
        lines.push(`Chain: ${frozen.chain!.join(" → ")}`);
      if (frozen.store === "elasticsearch") {
        const indices = frozen.indices ?? [];
        lines.push(
          `Indices deleted and restored (every one in the snapshot unless --indices narrows them): ${indices.slice(0, 30).join(", ")}${indices.length > 30 ? `, and ${indices.length - 30} more` : ""}`,
        );
      }
      return lines;
    },
    reportLine: (point) => `\`${frozenLabel(frozenStackStatePoint(point))}\``,
    named: stackstateNamedPoints,
  },
  restoreOptions: stackstateRestoreOptions,
  outline: STACKSTATE_OUTLINE,
  runbooks: {
    restore: (deps) => createStackStateRunbook(deps),
  },
  async plan({ target, point, cluster, activeRequest }): Promise<PlanText> {
    const frozen = frozenStackStatePoint(point.point);
    const warnings: string[] = [];
    if (activeRequest)
      warnings.push(`Request ${activeRequest.id} (${activeRequest.state}) must finish first.`);
    const what = workloadsToStop(target, frozen);
    let stop: string;
    try {
      const live = asKubernetesCluster(cluster());
      const names =
        "names" in what
          ? what.names
          : "labelSelector" in what
            ? await live.listWorkloads("Deployment", what.labelSelector)
            : what.indexers === "suffix-2es"
              ? (await live.listWorkloads("Deployment", "")).filter((n) => n.endsWith("2es"))
              : what.indexers;
      const counts = await Promise.all(
        names.map(async (n) => `${n} (${await live.getReplicas(what.kind, n)} replicas now)`),
      );
      stop = counts.length ? `${what.kind}s ${counts.join(", ")}` : `no ${what.kind}s found`;
      if (frozen.store === "stackgraph" && names.length === 0)
        warnings.push(`No Deployment is labelled ${STACKGRAPH_LABEL}.`);
    } catch (err) {
      stop = `(could not read the cluster: ${asCodedError(err).message})`;
    }
    const label = frozenLabel(frozen);
    const restoreLine =
      frozen.store === "clickhouse"
        ? `exec \`clickhouse-backup restore_remote ${frozen.name}\` in ${target.stores.clickhouse?.pod}/${target.stores.clickhouse?.container}; the collector is scaled back even if it fails`
        : frozen.store === "elasticsearch"
          ? `delete the ${frozen.indices?.length ?? 0} indices the snapshot holds, restore them through the snapshot API, wait for their recovery`
          : `run the chart's ${frozen.store === "stackgraph" ? "stackgraph-restore-backup" : "victoria-metrics-restore-backup"} Job (from the ConfigMap labelled stackstate.com/backup-scripts=true), its log in the thread`;
    void stackstateOptionsOf;
    return {
      phases: [
        `1. Check that ${label} is still there and unchanged, and render the restore from the chart's templates`,
        `2. Record replica counts, then stop ${stop}; wait until their pods are gone`,
        `3. ${restoreLine}`,
        "4. Scale back to the recorded counts; wait until ready",
        "5. Delete the restore Job and its volume (when there is one)",
      ],
      warnings,
      summary: `Restore ${label} of ${target.name}.`,
    };
  },
  wording: {
    restore: STACKSTATE_RESTORE_WORDS,
    abandoned: (request, _runs, userId) =>
      `:heavy_multiplication_x: <@${userId}> abandoned this restore. restorebot changes nothing more: what was scaled down stays down and a restore Job, if any, stays; see the account above and finish by hand.${request.haltedPhase ? ` (stopped at ${request.haltedPhase})` : ""}`,
    rollbackPressed: (_request, runs, userId) =>
      runs.some((r) => r.phase === "scale-down")
        ? `:leftwards_arrow_with_hook: <@${userId}> pressed *Roll back*: the restore Job and its volume are deleted and everything scaled down goes back to its recorded count. Data the restore already replaced is *not* put back.`
        : `:leftwards_arrow_with_hook: <@${userId}> pressed *Roll back*: restorebot had changed nothing, so nothing is undone.`,
  },
  rbac: STACKSTATE_RBAC,
  sandbox: {
    describe:
      "a StackState install (Kubernetes simulator) with StackGraph, Victoria Metrics and ClickHouse backups in the S3 stand-in and Elasticsearch snapshots",
    load: async () => (await import("./sandbox/scenario.js")).stackstateSandbox,
  },
};
