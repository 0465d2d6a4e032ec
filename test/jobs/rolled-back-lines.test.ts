import { describe, expect, it } from "vitest";
import { pachydermRolledBackLines } from "../../src/kinds/pachyderm/runbook-restore.js";
import {
  type PhaseRunRecord,
  type RunRequest,
  rolledBackLines,
  rolledBackRestoreLines,
} from "../../src/runbook/types.js";

const AT = new Date("2026-12-03T10:00:00Z");

function run(phaseIndex: number, phase: string, facts: Record<string, unknown>): PhaseRunRecord {
  return {
    phaseIndex,
    phase,
    state: "succeeded",
    attempt: 1,
    startedAt: AT,
    finishedAt: AT,
    facts,
    error: null,
    progress: null,
    progressAt: null,
  };
}

const request = (operation: "backup" | "restore") =>
  ({ target: "influx1", operation }) as unknown as RunRequest;

describe("the closing lines of a rolled-back run", () => {
  it("say what the roll back steps recorded undoing, and nothing the forward run would have claimed", () => {
    const runs = [
      // The forward phase's own facts (a point it stored) are not the roll back's to report.
      run(2, "archive", { asOf: "2026-12-03T09:59:00Z", size: 51200 }),
      run(101, "rollback-delete-helper", {}),
      run(102, "rollback-undo-recorded", {
        undone: ["scale StatefulSet influxdb back to 1", "patch ConfigMap influxdb-data back"],
      }),
    ];
    const lines = rolledBackLines(request("backup"), runs);
    expect(lines[0]).toBe(
      "*Rolled back influx1* after the backup stopped: undone: scale StatefulSet influxdb back to 1; patch ConfigMap influxdb-data back.",
    );
    expect(lines.join("\n")).not.toMatch(/2026-12-03T09:59:00Z|51200|stored|restored/);
    // Read in the thread and in a direct message alike: no "above".
    expect(lines[1]).toBe(
      "Every roll back step finished; the run's thread has each one's result, and its halt message names what Roll back does not undo.",
    );
  });

  it("say so when nothing had been recorded to undo", () => {
    const lines = rolledBackLines(request("restore"), [
      run(101, "rollback-undo-recorded", { undone: [] }),
    ]);
    expect(lines[0]).toBe(
      "*Rolled back influx1* after the restore stopped: there was no recorded change to undo.",
    );
  });

  it("name what a restore leaves only once the phase that writes the data had started", () => {
    const before = [run(1, "check-set", {}), run(101, "rollback-undo-recorded", { undone: [] })];
    const after = [...before, run(4, "restore", {})];
    const note =
      "*Not undone:* data `influxd-ctl restore` may already have written is not put back.";
    expect(rolledBackRestoreLines(request("restore"), before, "restore", note)).not.toContain(note);
    expect(rolledBackRestoreLines(request("restore"), after, "restore", note).at(-1)).toBe(note);
  });

  it("Pachyderm: the databases its phase recorded as committed, and copied objects", () => {
    const rollback = run(101, "rollback-undo-recorded", {
      undone: ["scale Deployment pachd back to 2"],
    });
    expect(
      pachydermRolledBackLines(request("restore"), [
        run(3, "restore-databases", { committed: ["pachyderm", "dex"] }),
        run(4, "restore-objects", {}),
        rollback,
      ]).at(-1),
    ).toBe(
      "*Not undone:* the databases the restore had committed (pachyderm, dex) stay restored; objects it had copied back stay in the pool.",
    );
    expect(
      pachydermRolledBackLines(request("restore"), [
        run(3, "restore-databases", { committed: [] }),
        rollback,
      ]).join("\n"),
    ).not.toContain("Not undone");
  });
});
