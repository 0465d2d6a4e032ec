import { defineConfig } from "vitest/config";
import { SlowFirstSequencer } from "./test/support/sequencer.js";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Prints the Node.js version and fails the run unless it is the project's (Node 24).
    globalSetup: ["test/support/node-version.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests share one PostgreSQL and one Redis; each test uses its own database
    // names and queue prefixes, so files can run in parallel on the two cores.
    pool: "forks",
    maxWorkers: 2,
    // The slowest files start first, so neither worker is left with a long file at the end.
    sequence: { sequencer: SlowFirstSequencer },
  },
});
