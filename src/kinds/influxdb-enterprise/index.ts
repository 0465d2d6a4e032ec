import { backupsObjectStore } from "../../config/schema-parts.js";
import { asCodedError } from "../../errors.js";
import type { Kind, PlanText } from "../kind.js";
import { isAntiEntropyEnabled } from "./anti-entropy.js";
import {
  createEnterpriseBackupRunbook,
  ENTERPRISE_BACKUP_PHASES,
  ENTERPRISE_BACKUP_ROLLBACK,
} from "./backup-runbook.js";
import {
  completeEnterpriseTarget,
  type EnterpriseTarget,
  enterpriseTargetShape,
} from "./config.js";
import { enterpriseBackupOptions, enterpriseRestoreOptions } from "./options-hook.js";
import {
  createEnterpriseSource,
  describeSet,
  enterpriseCardLines,
  enterprisePointOf,
  freezeEnterprisePoint,
  locationOf,
} from "./points.js";
import {
  asEnterpriseCluster,
  copyDirectory,
  createEnterpriseRunbook,
  ENTERPRISE_OUTLINE,
  ENTERPRISE_RBAC,
} from "./runbook.js";
import { ENTERPRISE_POINT_WORDS, ENTERPRISE_RESTORE_WORDS } from "./wording.js";

/** InfluxDB Enterprise 1.7: backup sets restored with `influxd-ctl restore` from a meta pod. */
export const influxdbEnterprise: Kind<EnterpriseTarget> = {
  id: "influxdb-enterprise",
  label: "InfluxDB Enterprise",
  config: {
    shape: enterpriseTargetShape,
    complete: completeEnterpriseTarget,
    problems: () => [],
    envVars: () => [],
    describe: (target) =>
      `influxd-ctl backup sets in s3://${target.backups.bucket}/${target.backups.prefix}`,
    objectStore: backupsObjectStore,
  },
  points: {
    source: (target, objectStore) => createEnterpriseSource(objectStore(), target),
    freeze: freezeEnterprisePoint,
    cardLines: enterpriseCardLines,
    reportLine: (point) => describeSet(enterprisePointOf(point)),
  },
  restoreOptions: enterpriseRestoreOptions,
  backupOptions: enterpriseBackupOptions,
  outline: ENTERPRISE_OUTLINE,
  runbooks: {
    restore: (deps) => createEnterpriseRunbook(deps),
    backup: (deps) => createEnterpriseBackupRunbook(deps),
  },
  backups: {
    location: locationOf,
    outline: { phases: ENTERPRISE_BACKUP_PHASES, rollback: ENTERPRISE_BACKUP_ROLLBACK },
  },
  async plan({ target, point, cluster, activeRequest }): Promise<PlanText> {
    const set = enterprisePointOf(point.point);
    const warnings: string[] = [];
    if (activeRequest)
      warnings.push(`Request ${activeRequest.id} (${activeRequest.state}) must finish first.`);
    let nodes: string;
    let antiEntropy: string;
    try {
      const live = asEnterpriseCluster(cluster());
      const pods = await live.listPods([target.data.statefulset]);
      nodes = pods.length
        ? pods.map((p) => `${p.name}${p.ready ? "" : " (not Ready)"}`).join(", ")
        : "no data pods found";
      if (pods.length === 0)
        warnings.push(`StatefulSet ${target.data.statefulset} has no data pods.`);
      const cm = await live.getConfigMap(target.data.configMap);
      const text = cm?.data[target.data.configKey];
      if (text === undefined) {
        antiEntropy = `(ConfigMap ${target.data.configMap} has no key ${target.data.configKey})`;
        warnings.push(
          `ConfigMap ${target.data.configMap} has no key ${target.data.configKey}: the restore would stop at phase 2.`,
        );
      } else antiEntropy = isAntiEntropyEnabled(text) ? "on" : "off";
    } catch (err) {
      nodes = `(could not read the cluster: ${asCodedError(err).message})`;
      antiEntropy = "(unknown)";
    }
    const rps = set.retentionPolicies.map((r) => `${r.database}.${r.retentionPolicy}`).join(", ");
    const aeLine =
      antiEntropy === "off"
        ? "2. Anti-entropy is already off in the ConfigMap: no data node is restarted"
        : `2. Turn anti-entropy off in ConfigMap ${target.data.configMap} (now ${antiEntropy}), then restart each data node one at a time: ${nodes}`;
    return {
      phases: [
        `1. Check that the ${describeSet(set)} is still there and unchanged`,
        aeLine,
        `3. Stream the set's ${set.files.length} files into the first Ready pod of ${target.meta.statefulset} (${copyDirectory(target, "<request>")}) and check their sizes`,
        `4. \`influxd-ctl restore\`${set.full ? ` -full <manifest>` : ""}: without --db it overwrites ${rps || "nothing listed"}; --db/--rp narrow it, --newdb/--newrp restore beside the live data`,
        "5. Remove the copy from the meta pod",
        `6. Put anti-entropy back as it was, restarting each data node one at a time`,
      ],
      warnings,
      summary: `Restore the ${describeSet(set)} into ${target.name}.`,
    };
  },
  wording: {
    restore: ENTERPRISE_RESTORE_WORDS,
    points: ENTERPRISE_POINT_WORDS,
    abandoned: (request, _runs, userId) =>
      `:heavy_multiplication_x: <@${userId}> abandoned this ${request.operation === "backup" ? "backup" : "restore"}. restorebot changes nothing more: anti-entropy stays as the account above says and a copy of the set may stay in the meta pod; finish by hand.${request.haltedPhase ? ` (stopped at ${request.haltedPhase})` : ""}`,
    rollbackPressed: (request, runs, userId) =>
      request.operation === "backup"
        ? `:leftwards_arrow_with_hook: <@${userId}> pressed *Roll back*: restorebot now does what the halt message above says Roll back does. A set without complete.json is never offered for a restore.`
        : runs.some((r) => r.phase === "anti-entropy-off")
          ? `:leftwards_arrow_with_hook: <@${userId}> pressed *Roll back*: the copy of the set is removed from the meta pod and the data nodes' config goes back as it was found, each node restarted one at a time. Data \`influxd-ctl restore\` already wrote is *not* put back.`
          : `:leftwards_arrow_with_hook: <@${userId}> pressed *Roll back*: restorebot had changed nothing, so nothing is undone.`,
  },
  rbac: ENTERPRISE_RBAC,
  sandbox: {
    describe:
      "an InfluxDB Enterprise 1.7 cluster (meta and data StatefulSets, influxd-ctl in the meta pod, Kubernetes simulator) and its backup sets in the S3 stand-in",
    load: async () => (await import("./sandbox/scenario.js")).influxdbEnterpriseSandbox,
  },
};
