import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * The slowest test files, slowest first (measured in full runs on two cores). Vitest orders files
 * by the durations it cached in earlier runs; a fresh clone has none, so these would start
 * wherever discovery put them, and a minute-long file starting last leaves one core idle while it
 * finishes. Starting them first keeps both workers busy to the end. Order only: every file runs.
 */
const SLOW_FIRST = [
  "test/catalog-restore/object-classes.test.ts",
  "test/jobs/influxdb-restore.test.ts",
  "test/kinds/pachyderm/kill-9-copy.test.ts",
  "test/ship/sdk-imports-lint.test.ts",
  "test/jobs/kill-9.test.ts",
  "test/jobs/card-after-outage.test.ts",
  "test/ship/layering-lint.test.ts",
  "test/kinds/pachyderm/runbooks.test.ts",
  "test/jobs/pod-matching.test.ts",
  "test/jobs/run-controls.test.ts",
  "test/demo/npm-start.test.ts",
  "test/kinds/pachyderm/kill-9-dump-upload.test.ts",
  "test/kinds/pachyderm/kill-9-paused.test.ts",
  "test/cli/processes.test.ts",
  "test/jobs/slack-outbox.test.ts",
  "test/kinds/stackstate/restore-runbook.test.ts",
  "test/jobs/left-as-found.test.ts",
  "test/jobs/bot-db-connection-loss.test.ts",
];

function rank(spec: TestSpecification): number {
  const path = spec.moduleId.replaceAll("\\", "/");
  const i = SLOW_FIRST.findIndex((p) => path.endsWith(`/${p}`));
  return i < 0 ? SLOW_FIRST.length : i;
}

export class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    // Array.prototype.sort is stable: the rest keep the base sequencer's order.
    return [...sorted].sort((a, b) => rank(a) - rank(b));
  }
}
