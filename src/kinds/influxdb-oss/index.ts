import { backupsObjectStore } from "../../config/schema-parts.js";
import type { Kind } from "../kind.js";
import { archiveLocation } from "./archive-point.js";
import {
  completeInfluxdbOssTarget,
  type InfluxdbOssTarget,
  influxdbOssTargetShape,
} from "./config.js";
import { createInfluxdbOssSource, freezeOssPoint, ossCardLines, ossReportLine } from "./points.js";
import {
  BACKUP_PHASES,
  BACKUP_ROLLBACK_STEPS,
  createInfluxdbOssBackupRunbook,
  createInfluxdbOssRestoreRunbook,
  INFLUXDB_OSS_RBAC,
  RESTORE_PHASES,
  ROLLBACK_STEPS,
} from "./runbooks.js";
import { OSS_POINT_WORDS, OSS_RESTORE_WORDS } from "./wording.js";

/** InfluxDB OSS 1.x, one node: file-level archives of meta/, data/ and wal/ (DESIGN.md). */
export const influxdbOss: Kind<InfluxdbOssTarget> = {
  id: "influxdb-oss",
  label: "InfluxDB OSS 1.x",
  config: {
    shape: influxdbOssTargetShape,
    complete: completeInfluxdbOssTarget,
    problems: () => [],
    envVars: () => [],
    describe: (t) => `archives in \`s3://${t.backups.bucket}/${t.backups.prefix}\``,
    objectStore: backupsObjectStore,
  },
  points: {
    source: createInfluxdbOssSource,
    freeze: freezeOssPoint,
    cardLines: ossCardLines,
    reportLine: ossReportLine,
  },
  outline: {
    phases: RESTORE_PHASES,
    rollback: ROLLBACK_STEPS,
    replacesData: "extract",
    takesDown: "stop-node",
    bringsUp: "start-node",
  },
  runbooks: {
    restore: createInfluxdbOssRestoreRunbook,
    backup: createInfluxdbOssBackupRunbook,
  },
  async plan({ target, point, cluster, activeRequest }) {
    const warnings: string[] = [];
    let live: string;
    try {
      const replicas = await cluster().getReplicas("StatefulSet", target.statefulset);
      const pods = await cluster().listPods([target.statefulset]);
      live = `StatefulSet ${target.statefulset}: ${replicas} replica${replicas === 1 ? "" : "s"}, ${pods.filter((p) => p.ready).length} ready`;
      if (replicas !== 1)
        warnings.push(
          `StatefulSet ${target.statefulset} has ${replicas} replicas; this kind restores a single node (it is scaled back to ${replicas} afterwards).`,
        );
    } catch (err) {
      live = `StatefulSet ${target.statefulset}: could not be read (${err instanceof Error ? err.message : String(err)})`;
      warnings.push("The cluster could not be read; the restore would fail at its first change.");
    }
    if (activeRequest)
      warnings.push(
        `Request ${activeRequest.id} (${activeRequest.state}) holds this target; a restore waits for it.`,
      );
    warnings.push(
      `InfluxDB is down from phase 2 until phase 6; the old directories stay in ${target.dataDir}/.restorebot-old-<request>/ until the restored node answers.`,
    );
    return {
      phases: RESTORE_PHASES.map((p, i) => `${i + 1}. ${p.title}`),
      warnings,
      summary: `Restore ${target.name} from archive ${point.id} (helper pod ${target.helperImage} on PVC ${target.pvc}). ${live}.`,
    };
  },
  wording: {
    restore: OSS_RESTORE_WORDS,
    points: OSS_POINT_WORDS,
    abandoned: (_request, _runs, userId) =>
      `:heavy_multiplication_x: <@${userId}> abandoned this run. restorebot changes nothing more: the node and its data directory stay as described above; delete any helper pod and move the old directories back by hand if needed (docs/influxdb-1x.md).`,
    rollbackPressed: (request, _runs, userId) =>
      request.operation === "backup"
        ? `:leftwards_arrow_with_hook: <@${userId}> pressed *Roll back*: the helper pod is deleted and InfluxDB is scaled back to its recorded count; an incomplete point stays incomplete and is never offered for a restore.`
        : `:leftwards_arrow_with_hook: <@${userId}> pressed *Roll back*: the old data directories go back in place (if they were moved), the helper pod is deleted and InfluxDB is scaled back to its recorded count.`,
  },
  backups: {
    location: (target) => archiveLocation(target.backups),
    outline: { phases: BACKUP_PHASES, rollback: BACKUP_ROLLBACK_STEPS },
  },
  rbac: INFLUXDB_OSS_RBAC,
  sandbox: {
    describe:
      "an InfluxDB OSS 1.x node (StatefulSet with a PVC-backed data directory, Kubernetes simulator) and its archives in the S3 stand-in",
    load: async () => (await import("./sandbox/scenario.js")).influxdbOssSandbox,
  },
};
