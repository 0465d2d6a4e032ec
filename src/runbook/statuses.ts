import type { Facts, PhaseRunRecord, PhaseStatus, RunbookPhase } from "./types.js";
import { CARD_NOTE_FACT } from "./types.js";

/** Checkpoint indexes: forward phases from 1, roll back steps from 101 (one table for both). */
export const FORWARD_BASE_INDEX = 1;
export const ROLLBACK_BASE_INDEX = 101;

/** The card's phase lines, from a phase list and the checkpoints of a run. */
export function buildStatuses(
  list: ReadonlyArray<Pick<RunbookPhase, "name" | "title">>,
  base: number,
  runs: readonly PhaseRunRecord[],
): PhaseStatus[] {
  return list.map((phase, i) => {
    const run = runs.find((r) => r.phaseIndex === base + i);
    const state =
      run?.state === "succeeded" || run?.state === "skipped"
        ? "succeeded"
        : run?.state === "failed"
          ? "failed"
          : "pending";
    return {
      index: base + i,
      name: phase.name,
      title: phase.title,
      state,
      ...(run && state !== "pending" ? { startedAt: run.startedAt } : {}),
      ...(run?.finishedAt && state !== "pending" ? { finishedAt: run.finishedAt } : {}),
      ...(run?.error && state === "failed" ? { detail: run.error } : {}),
      ...(run && state === "succeeded" && cardNoteOf(run.facts)
        ? { cardNote: cardNoteOf(run.facts) }
        : {}),
    };
  });
}

export function cardNoteOf(facts: Facts): string | undefined {
  const note = facts[CARD_NOTE_FACT];
  return typeof note === "string" && note ? note : undefined;
}
