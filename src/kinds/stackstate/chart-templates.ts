import { parse } from "yaml";
import { CodedError } from "../../errors.js";

/** The label the chart puts on its ConfigMap of backup and restore scripts and templates. */
export const BACKUP_SCRIPTS_LABEL = "stackstate.com/backup-scripts";

/** The shape of a ConfigMap this module reads (a V1ConfigMap fits). */
export interface ConfigMapLike {
  metadata?: { name?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
}

/**
 * The chart's restore templates and the Helm value that puts each in the ConfigMap. The
 * placeholders are the chart's own (templates/configmap-backup-restore-scripts.yaml), replaced
 * the way its restore/*.sh scripts replace them.
 */
export type RestoreTemplate =
  | { template: "stackgraph-restore-backup"; backupFile: string; force: boolean }
  | { template: "victoria-metrics-restore-backup"; instance: string; s3Prefix: string }
  | { template: "elasticsearch-restore-snapshot"; snapshot: string; indices: readonly string[] };

const ENABLE_HINT: Record<RestoreTemplate["template"], (t: RestoreTemplate) => string> = {
  "stackgraph-restore-backup": () => "backup.enabled and backup.stackGraph.restore.enabled",
  "victoria-metrics-restore-backup": (t) =>
    `backup.enabled and ${(t as { instance: string }).instance}.restore.enabled`,
  "elasticsearch-restore-snapshot": () => "backup.enabled and backup.elasticsearch.restore.enabled",
};

const HAS_PVC: ReadonlySet<string> = new Set(["stackgraph-restore-backup"]);

function placeholders(t: RestoreTemplate): Array<[string, string]> {
  switch (t.template) {
    case "stackgraph-restore-backup":
      // The chart's script passes "-force" exactly, or nothing.
      return [
        ["REPLACE_ME_BACKUP_FILE_REPLACE_ME", t.backupFile],
        ["REPLACE_ME_FORCE_DELETE_REPLACE_ME", t.force ? "-force" : ""],
      ];
    case "victoria-metrics-restore-backup":
      return [
        ["REPLACE_ME_VICTORIA_METRICS_INSTANCE_NAME", t.instance],
        ["REPLACE_ME_VICTORIA_METRICS_S3_PREFIX", t.s3Prefix],
      ];
    case "elasticsearch-restore-snapshot":
      return [
        ["REPLACE_ME_SNAPSHOT_NAME_REPLACE_ME", t.snapshot],
        ["REPLACE_ME_INDICES_TO_RESTORE_REPLACE_ME", t.indices.join(",")],
      ];
  }
}

// Values go into YAML text (an env value, an arg, a claim name): only characters that backup
// names really use, so no value can end a string or add a key.
const SAFE_VALUE = /^[A-Za-z0-9._:/,+-]*$/;

export interface RenderedRestore {
  configMap: string;
  jobName: string;
  /** The Job manifest as the chart renders it, placeholders replaced. */
  job: Record<string, unknown>;
  /** The PVC the Job mounts (StackGraph's temporary download space); undefined for the others. */
  pvc: Record<string, unknown> | undefined;
}

/** The ConfigMap labelled `stackstate.com/backup-scripts=true`, or a refusal saying how to get one. */
export function findBackupScriptsConfigMap(
  configMaps: readonly ConfigMapLike[],
  namespace: string,
): ConfigMapLike {
  const labelled = configMaps.filter(
    (cm) => cm.metadata?.labels?.[BACKUP_SCRIPTS_LABEL] === "true",
  );
  if (labelled.length === 0) {
    throw new CodedError(
      "precondition_failed",
      `No ConfigMap labelled ${BACKUP_SCRIPTS_LABEL}=true in namespace ${namespace}: the StackState chart creates it only when backups are enabled. Set backup.enabled (and the store's restore.enabled) in the chart's values, upgrade the release, and request again.`,
    );
  }
  if (labelled.length > 1) {
    throw new CodedError(
      "precondition_failed",
      `${labelled.length} ConfigMaps in namespace ${namespace} are labelled ${BACKUP_SCRIPTS_LABEL}=true (${labelled.map((c) => c.metadata?.name).join(", ")}); restorebot cannot tell which release's templates to use. Remove the label from the stale one.`,
    );
  }
  return labelled[0]!;
}

/**
 * Renders a restore Job (and its PVC) from the chart's ConfigMap the way the chart's scripts
 * do — `job-<template>.yaml` / `pvc-<template>.yaml`, the template's name replaced by
 * `jobName`, the `REPLACE_ME_…` placeholders by the request's values — and refuses clearly
 * when the chart has restores of that store turned off (the key is absent). Pure.
 */
export function renderRestoreManifests(
  configMap: ConfigMapLike,
  request: RestoreTemplate,
  jobName: string,
): RenderedRestore {
  const cmName = configMap.metadata?.name ?? "(unnamed)";
  const hint = ENABLE_HINT[request.template](request);
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(jobName)) {
    throw new CodedError("internal", `"${jobName}" is not a valid Kubernetes Job name.`);
  }
  if (request.template === "victoria-metrics-restore-backup") {
    // The chart records per instance whether its restore is on; its script checks this key.
    const enabled = configMap.data?.[`restore-${request.instance}-enabled`];
    if (enabled !== "true") {
      throw new CodedError(
        "precondition_failed",
        `Restores of ${request.instance} are not enabled in the StackState chart (ConfigMap ${cmName} has restore-${request.instance}-enabled: ${enabled === undefined ? "absent" : JSON.stringify(enabled)}). Set ${hint} to true in the chart's values, upgrade the release, and request again.`,
      );
    }
  }
  const values = placeholders(request);
  for (const [, value] of values) {
    if (!SAFE_VALUE.test(value)) {
      throw new CodedError(
        "usage",
        `"${value}" has characters a StackState backup name never has; check the point's name.`,
      );
    }
  }
  const render = (kind: "job" | "pvc"): Record<string, unknown> | undefined => {
    const key = `${kind}-${request.template}.yaml`;
    const text = configMap.data?.[key];
    if (text === undefined || text.trim() === "") {
      if (kind === "pvc" && !HAS_PVC.has(request.template)) return undefined;
      throw new CodedError(
        "precondition_failed",
        `Restores are not enabled in the StackState chart: ConfigMap ${cmName} has no ${key}. Set ${hint} to true in the chart's values, upgrade the release, and request again.`,
      );
    }
    let out = text.split(request.template).join(jobName);
    for (const [placeholder, value] of values) out = out.split(placeholder).join(value);
    const left = /REPLACE_ME_[A-Z0-9_]+/.exec(out);
    if (left !== null) {
      throw new CodedError(
        "precondition_failed",
        `${key} in ConfigMap ${cmName} has a placeholder restorebot does not know (${left[0]}): the chart is newer than this restorebot. Upgrade restorebot, or restore with the chart's own script.`,
      );
    }
    const manifest = parse(out) as Record<string, unknown> | null;
    if (manifest === null || typeof manifest !== "object") {
      throw new CodedError(
        "precondition_failed",
        `${key} in ConfigMap ${cmName} is not a Kubernetes manifest.`,
      );
    }
    const expected = kind === "job" ? "Job" : "PersistentVolumeClaim";
    if (manifest.kind !== expected) {
      throw new CodedError(
        "precondition_failed",
        `${key} in ConfigMap ${cmName} is a ${String(manifest.kind)}, not a ${expected}.`,
      );
    }
    return manifest;
  };
  const job = render("job")!;
  const pvc = render("pvc");
  return { configMap: cmName, jobName, job, pvc };
}
