import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/**
 * vitest's global setup: prints the Node.js version the tests run on and stops the run unless it
 * is the project's (scripts/check-node.mjs), so `npx vitest run` never silently tests on the
 * system Node. The test workers are forked from this process's executable, so they run on it too.
 */
export default function checkNodeVersion(): void {
  const script = fileURLToPath(new URL("../../scripts/check-node.mjs", import.meta.url));
  const result = spawnSync(process.execPath, [script, "vitest"], { encoding: "utf8" });
  if (result.status !== 0) {
    throw new Error(result.stderr.trim() || `scripts/check-node.mjs exited with ${result.status}`);
  }
  process.stdout.write(result.stdout);
}
