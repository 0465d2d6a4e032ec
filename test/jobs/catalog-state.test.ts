import { describe, expect, it } from "vitest";
import type { RestoreRequest } from "../../src/approvals/request-store.js";
import { catalogState } from "../../src/kinds/influxdb-clustered/runbook/runbook.js";
import type { PhaseRunRecord } from "../../src/runbook/types.js";

const REQUEST = {
  id: "rb-k3m9x2qa",
  target: "prod",
  pointTime: new Date("2024-08-12T14:00:00Z"),
} as RestoreRequest;

function restoreRun(
  state: PhaseRunRecord["state"],
  facts: PhaseRunRecord["facts"] = {},
): PhaseRunRecord {
  return {
    phaseIndex: 7,
    phase: "restore-catalog",
    state,
    attempt: 1,
    startedAt: new Date("2024-08-12T17:00:00Z"),
    finishedAt: null,
    facts,
    error: null,
    progress: null,
    progressAt: null,
  };
}

/** What the halt account says about the catalog, for each way phase 7 can have ended. */
describe("catalogState", () => {
  it.each<[string, PhaseRunRecord[], { restored: boolean; maybeRestored?: boolean }, RegExp]>([
    ["phase 7 never started", [], { restored: false }, /untouched \(phase 7 never started\)/],
    [
      "committed",
      [restoreRun("succeeded", { committedAt: "2024-08-12T17:05:00Z" })],
      { restored: true },
      /\*restored\* to the snapshot/,
    ],
    [
      "rolled back",
      [restoreRun("failed")],
      { restored: false },
      /untouched — the restore ran in one transaction, which was rolled back/,
    ],
    [
      "connection lost during COMMIT",
      [restoreRun("failed", { commitOutcomeUnknown: true })],
      { restored: false, maybeRestored: true },
      /lost while committing, so the catalog is either exactly the snapshot .* or exactly as before/,
    ],
    [
      "an earlier attempt died inside its transaction",
      [restoreRun("failed", { interruptedInSql: true })],
      { restored: false, maybeRestored: true },
      /either exactly the snapshot \(if that commit landed\) or exactly as before/,
    ],
  ])("%s", (_label, runs, expected, line) => {
    const state = catalogState(REQUEST, runs);
    expect(state).toMatchObject(expected);
    expect(state.maybeRestored ?? false).toBe(expected.maybeRestored ?? false);
    expect(state.line).toMatch(line);
  });
});
