import type { TargetKind } from "../../src/config/file.js";
import type { Runbook } from "../runner/types.js";
import { INFLUXDB_PHASES, INFLUXDB_ROLLBACK_STEPS } from "./influxdb-clustered/phase-list.js";
import type { InfluxdbRunbookDeps } from "./influxdb-clustered/phases.js";
import { createInfluxdbClusteredRunbook } from "./influxdb-clustered/runbook.js";

/**
 * Runbooks by target kind. The runner is generic: adding a system (the other seeds in
 * ../shared/seeds/) means adding its phases here under a new kind.
 */

/** What each kind's runbook is built from; one entry per kind. */
export interface RunbookDepsByKind {
  "influxdb-clustered": InfluxdbRunbookDeps;
}

const TITLES: Record<TargetKind, { phases: readonly string[]; rollback: readonly string[] }> = {
  "influxdb-clustered": {
    phases: INFLUXDB_PHASES.map((p) => p.title),
    rollback: INFLUXDB_ROLLBACK_STEPS.map((p) => p.title),
  },
};

/** Titles of the phases of a kind's runbook, in order (the approval card lists them). */
export function runbookPhaseTitles(kind: string): string[] {
  return [...(TITLES[kind as TargetKind]?.phases ?? [])];
}

export function rollbackStepTitles(kind: string): string[] {
  return [...(TITLES[kind as TargetKind]?.rollback ?? [])];
}

export function createRunbook<K extends TargetKind>(kind: K, deps: RunbookDepsByKind[K]): Runbook {
  switch (kind) {
    case "influxdb-clustered":
      return createInfluxdbClusteredRunbook(deps);
    default:
      throw new Error(`no runbook for targets of kind ${String(kind)}`);
  }
}
