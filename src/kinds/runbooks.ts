import type { TargetKind } from "../config/file.js";
import type { Runbook } from "../runbook/types.js";
import {
  INFLUXDB_PHASES,
  INFLUXDB_ROLLBACK_STEPS,
} from "./influxdb-clustered/runbook/phase-list.js";
import type { InfluxdbRunbookDeps } from "./influxdb-clustered/runbook/phases.js";
import { createInfluxdbClusteredRunbook } from "./influxdb-clustered/runbook/runbook.js";

/**
 * Runbooks by target kind. The runner is generic: adding a system (the other seeds in
 * ../shared/seeds/) means adding its phases here under a new kind.
 */

/** What each kind's runbook is built from; one entry per kind. */
export interface RunbookDepsByKind {
  "influxdb-clustered": InfluxdbRunbookDeps;
}

/** A phase by name and title, without its clients. */
export interface PhaseOutline {
  name: string;
  title: string;
  mutates: boolean;
}

const OUTLINES: Record<
  TargetKind,
  {
    phases: readonly PhaseOutline[];
    rollback: readonly PhaseOutline[];
    /** The phase that replaces the target's data: before it starts, nothing is lost. */
    replacesData: string;
    /** The phase that takes the target down: once it started, a stop leaves it down. */
    takesDown: string;
    /** The phase that brings it back up: once it succeeded, the target is up again. */
    bringsUp: string;
  }
> = {
  "influxdb-clustered": {
    phases: INFLUXDB_PHASES,
    rollback: INFLUXDB_ROLLBACK_STEPS,
    replacesData: "restore-catalog",
    takesDown: "scale-down-workloads",
    bringsUp: "scale-up",
  },
};

/** Name of the phase of a kind's runbook that takes the target down; undefined if unknown. */
export function takingDownPhase(kind: string): string | undefined {
  return OUTLINES[kind as TargetKind]?.takesDown;
}

/** Name of the phase of a kind's runbook that brings the target back up; undefined if unknown. */
export function bringingUpPhase(kind: string): string | undefined {
  return OUTLINES[kind as TargetKind]?.bringsUp;
}

/** Name of the phase of a kind's runbook that replaces the data; undefined for an unknown kind. */
export function dataReplacingPhase(kind: string): string | undefined {
  return OUTLINES[kind as TargetKind]?.replacesData;
}

/** The phases (forward) or roll back steps of a kind's runbook, in order. */
export function runbookOutline(
  kind: string,
  mode: "forward" | "rollback" = "forward",
): PhaseOutline[] {
  const outline = OUTLINES[kind as TargetKind];
  if (!outline) return [];
  return [...(mode === "forward" ? outline.phases : outline.rollback)];
}

/** Titles of the phases of a kind's runbook, in order (the approval card lists them). */
export function runbookPhaseTitles(kind: string): string[] {
  return runbookOutline(kind).map((p) => p.title);
}

export function createRunbook<K extends TargetKind>(kind: K, deps: RunbookDepsByKind[K]): Runbook {
  switch (kind) {
    case "influxdb-clustered":
      return createInfluxdbClusteredRunbook(deps);
    default:
      throw new Error(`no runbook for targets of kind ${String(kind)}`);
  }
}
