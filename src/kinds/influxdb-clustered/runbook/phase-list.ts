/**
 * The ten phases of an InfluxDB Clustered restore (DESIGN.md, "Runbook phases"), and the two
 * steps of its roll back, by name and title only: the approval card and `/restore plan` show
 * them without building any client.
 */
export const INFLUXDB_PHASES = [
  { name: "check-recovery-point", title: "Check the recovery point", mutates: false },
  { name: "prepare-snapshot", title: "Download and prepare the snapshot", mutates: false },
  { name: "pause-operator", title: "Pause the operator", mutates: true },
  { name: "record-replicas", title: "Record replica counts", mutates: false },
  { name: "scale-down-workloads", title: "Scale down everything but the catalog", mutates: true },
  { name: "scale-down-catalog", title: "Scale down the catalog", mutates: true },
  { name: "restore-catalog", title: "Restore the catalog database", mutates: true },
  { name: "scale-up", title: "Scale back up", mutates: true },
  { name: "verify-pods", title: "Verify every pod is ready", mutates: false },
  { name: "unpause-operator", title: "Unpause the operator", mutates: true },
] as const;

export type InfluxdbPhaseName = (typeof INFLUXDB_PHASES)[number]["name"];

export const INFLUXDB_ROLLBACK_STEPS = [
  { name: "rollback-scale-up", title: "Scale back up to the recorded counts", mutates: true },
  { name: "rollback-unpause", title: "Unpause the operator", mutates: true },
] as const;

export type InfluxdbRollbackStepName = (typeof INFLUXDB_ROLLBACK_STEPS)[number]["name"];
