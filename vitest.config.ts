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
    // Each of the two worker processes runs file after file with one module cache: the
    // Kubernetes client, the AWS SDK and the rest are loaded twice per run, not once per file
    // (imports fell from about 130 s to 14 s of worker time). This is safe because no test
    // replaces a module (no vi.mock) and every test that changes process.env puts it back.
    isolate: false,
    // The slowest files start first, so neither worker is left with a long file at the end.
    sequence: { sequencer: SlowFirstSequencer },
  },
});
