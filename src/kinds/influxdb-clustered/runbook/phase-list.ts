import { outlineOf } from "../../../runbook/types.js";
import { INFLUXDB_PHASE_DEFINITIONS, INFLUXDB_ROLLBACK_DEFINITIONS } from "./phases.js";

/**
 * The phases of an InfluxDB Clustered restore and the steps of its roll back, by name and title
 * only (derived from the phase objects in phases.ts): the approval card and `/restore plan`
 * show them without building any client.
 */
export const INFLUXDB_PHASES = outlineOf(INFLUXDB_PHASE_DEFINITIONS);

export type InfluxdbPhaseName = (typeof INFLUXDB_PHASE_DEFINITIONS)[number]["name"];

export const INFLUXDB_ROLLBACK_STEPS = outlineOf(INFLUXDB_ROLLBACK_DEFINITIONS);

export type InfluxdbRollbackStepName = (typeof INFLUXDB_ROLLBACK_DEFINITIONS)[number]["name"];
