import { execFile } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "./chart-fixture.js";

// jobs/ (the worker) builds on src/ (the bot and the domain), never the reverse. The rule lives
// in biome.json; these tests plant files in src/ and prove the lint that `npm test` runs
// refuses an import of jobs/ and accepts the same file without it.
const run = promisify(execFile);
const PROBE_DIR = join(REPO_ROOT, "src", `layering-probe-${process.pid}`);
const BIOME = join(REPO_ROOT, "node_modules", ".bin", "biome");

async function lint(file: string): Promise<{ ok: boolean; output: string }> {
  try {
    const { stdout, stderr } = await run(BIOME, ["lint", file], { cwd: REPO_ROOT });
    return { ok: true, output: stdout + stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, output: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

function plant(name: string, text: string): string {
  mkdirSync(PROBE_DIR, { recursive: true });
  const file = join(PROBE_DIR, name);
  writeFileSync(file, text);
  return file;
}

afterAll(() => rmSync(PROBE_DIR, { recursive: true, force: true }));

describe("layering lint", () => {
  it("fails on an import of jobs/ from src/", async () => {
    const file = plant(
      "imports-runner.ts",
      'import { runRestore } from "../../jobs/runner/runner.js";\n\nexport const runner = runRestore;\n',
    );
    const result = await lint(file);
    expect(result.ok).toBe(false);
    expect(result.output).toContain("noRestrictedImports");
    expect(result.output).toContain("src/ must not import jobs/");
  });

  it("passes the same file importing from src/ instead", async () => {
    const file = plant(
      "imports-statuses.ts",
      'import { buildStatuses } from "../runbook/statuses.js";\n\nexport const statuses = buildStatuses;\n',
    );
    const result = await lint(file);
    expect(result.output).not.toContain("noRestrictedImports");
    expect(result.ok).toBe(true);
  });
});
