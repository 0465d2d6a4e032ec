import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_KINDS } from "../../src/kinds/registry.js";
import { cardFromDatabase } from "../../src/narration/approval-card.js";
import {
  createRunnerDatabase,
  insertApprovedRequest,
  type RunnerDatabase,
} from "../jobs/support/run-fixtures.js";

/**
 * "No data lost" on a finished card is a fact read from the run's checkpoints (the catalog
 * restore phase never started), never a guess: a checkpoint of that phase, whatever became of
 * it, keeps the warning.
 */

let db: RunnerDatabase;

beforeAll(async () => {
  db = await createRunnerDatabase("card_ckpt");
});

afterAll(async () => {
  await db?.close();
});

async function finishedRun(state: string, phases: Array<[number, string, string]>) {
  const id = await insertApprovedRequest(db.pool, { cardTs: "1723482720.000100" });
  await db.pool.query(
    "UPDATE restore_requests SET state = $2, started_at = now() - interval '5 minutes', finished_at = now(), run_mode = $3 WHERE id = $1",
    [id, state, state === "rolled_back" ? "rollback" : "forward"],
  );
  for (const [index, phase, phaseState] of phases)
    await db.pool.query(
      "INSERT INTO phase_runs (request_id, phase_index, phase, state, finished_at) VALUES ($1, $2, $3, $4, now())",
      [id, index, phase, phaseState],
    );
  const card = await cardFromDatabase(db.pool, DEFAULT_KINDS, id, new Date());
  return JSON.stringify(card?.blocks ?? []);
}

const BEFORE_CATALOG: Array<[number, string, string]> = [
  [1, "check-recovery-point", "succeeded"],
  [2, "prepare-snapshot", "succeeded"],
  [3, "pause-operator", "succeeded"],
  [4, "record-replicas", "succeeded"],
  [5, "scale-down-workloads", "succeeded"],
  [6, "scale-down-catalog", "succeeded"],
];

describe("the data-loss warning on a finished card, from the checkpoints", () => {
  it("is replaced by 'No data lost' when the catalog restore never started", async () => {
    for (const state of ["rolled_back", "abandoned", "cancelled"]) {
      const card = await finishedRun(state, [
        ...BEFORE_CATALOG,
        [101, "rollback-scale-up", "succeeded"],
      ]);
      expect(card).not.toContain("Data loss:*");
      expect(card).toContain("No data lost");
    }
  });

  it("stays once the catalog restore started, even if it failed or was interrupted", async () => {
    for (const phaseState of ["succeeded", "failed", "running"]) {
      const card = await finishedRun("rolled_back", [
        ...BEFORE_CATALOG,
        [7, "restore-catalog", phaseState],
      ]);
      expect(card).toContain(":warning: *Data loss:*");
      expect(card).not.toContain("No data lost");
    }
  });
});
