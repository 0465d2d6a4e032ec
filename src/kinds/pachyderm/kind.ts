import { rbacRulesFor } from "../../adapters/kubernetes/rbac.js";
import { poolEntry } from "../../backups/index.js";
import type { Kind } from "../kind.js";
import {
  completePachydermTarget,
  configuredDatabases,
  type PachydermTarget,
  pachydermConfigProblems,
  pachydermTargetShape,
} from "./config.js";
import { OBJECT_MANIFEST, readObjectManifest } from "./object-manifest.js";
import { describePachydermPlan } from "./plan.js";
import {
  backupLocation,
  createPachydermSource,
  freezePachydermPoint,
  pachydermCardLines,
  pachydermPointOf,
  pachydermReportLine,
} from "./points.js";
import { BACKUP_PHASES, createPachydermBackupRunbook, ROLLBACK_STEPS } from "./runbook-backup.js";
import { pachydermOperations } from "./runbook-common.js";
import { createPachydermRestoreRunbook, RESTORE_PHASES } from "./runbook-restore.js";
import { PACHYDERM_POINT_WORDS } from "./wording.js";

/** The Role rules both runbooks need (the target's own names do not change the rules). */
const RBAC = rbacRulesFor(
  pachydermOperations({
    pachd: "pachd",
    workerSelector: "suite=pachyderm,component=worker",
  } as PachydermTarget),
);

/** Pachyderm: both databases and the object store, backed up and restored by restorebot. */
export const pachyderm: Kind<PachydermTarget> = {
  id: "pachyderm",
  label: "Pachyderm",
  config: {
    shape: pachydermTargetShape,
    complete: completePachydermTarget,
    problems: pachydermConfigProblems,
    envVars: (target) => configuredDatabases(target).map((d) => d.dsnEnv),
    describe: (target) =>
      `restorebot's backups in \`s3://${target.backups.bucket}/${target.backups.prefix}points/\` (of \`s3://${target.objectStore.bucket}/${target.objectStore.prefix}\` and ${configuredDatabases(
        target,
      )
        .map((d) => `"${d.name}"`)
        .join(" and ")})`,
    objectStore: ({ backups: { endpoint, region, forcePathStyle } }) => ({
      ...(endpoint ? { endpoint } : {}),
      region,
      forcePathStyle,
    }),
  },
  points: {
    source: createPachydermSource,
    freeze: freezePachydermPoint,
    cardLines: pachydermCardLines,
    reportLine: pachydermReportLine,
  },
  outline: {
    phases: RESTORE_PHASES,
    rollback: ROLLBACK_STEPS,
    replacesData: "restore-databases",
    takesDown: "scale-down",
    bringsUp: "scale-up",
  },
  runbooks: {
    restore: createPachydermRestoreRunbook,
    backup: createPachydermBackupRunbook,
  },
  backups: {
    location: backupLocation,
    outline: { phases: BACKUP_PHASES, rollback: ROLLBACK_STEPS },
    async *poolEntriesOf(target, store, point) {
      const file = point.manifest?.files.find((f) => f.name === OBJECT_MANIFEST);
      if (!file) return;
      for await (const o of readObjectManifest(store, backupLocation(target), point.asOf, file))
        yield poolEntry(o.key, o.etag);
    },
  },
  plan: (input) => describePachydermPlan(input),
  wording: {
    points: PACHYDERM_POINT_WORDS,
    restore: {
      lost: "everything written to Pachyderm",
      replaces: (point, time) => {
        const p = pachydermPointOf(point);
        return `its ${p.databases.map((d) => `\`${d}\``).join(" and ")} database${p.databases.length === 1 ? "" : "s"} with the point of ${time} and copies back the point's objects`;
      },
      downtime: () =>
        "pachd and every pipeline worker are scaled to 0 from phase 2 until pachd is ready again at the end (it recreates its workers): Pachyderm is unavailable while the databases are restored and the point's objects copied back. Live objects the point does not list are left as they are.",
      untouched: "its databases and objects were never touched",
      replacing: "the restore of the databases",
      point: (point) => ({ label: "Point", name: pachydermPointOf(point).asOf }),
    },
    abandoned: (request, _runs, userId) =>
      `:heavy_multiplication_x: <@${userId}> abandoned this ${request.operation === "backup" ? "backup" : "restore"}. restorebot changes nothing more: pachd and the pipeline workers stay as described above. Scale pachd back by hand (\`kubectl scale deployment pachd --replicas N\`) when ready; docs/pachyderm.md says how.`,
    rollbackPressed: (request, runs, userId) =>
      runs.some((r) => r.phase === "scale-down")
        ? `:leftwards_arrow_with_hook: <@${userId}> pressed *Roll back*: pachd and every pipeline worker go back to their recorded counts.${request.operation === "backup" ? " The unfinished point stays incomplete (never restorable)." : " Restored databases and copied objects are *not* undone."}`
        : `:leftwards_arrow_with_hook: <@${userId}> pressed *Roll back*: nothing was scaled, so nothing is undone.`,
  },
  rbac: RBAC,
  sandbox: {
    describe:
      "a Pachyderm install (pachd and worker RCs in the Kubernetes simulator), its two databases, live and backup buckets in the S3 stand-in",
    load: async () => (await import("./sandbox/scenario.js")).pachydermSandbox,
  },
};
