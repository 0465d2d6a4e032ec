import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { REPO_ROOT } from "./chart-fixture.js";

/**
 * SDK clients (Kubernetes, S3, PostgreSQL, Redis/BullMQ, Slack) are imported only by the
 * adapters and the entry points; biome.json's `noRestrictedImports` override enforces it, and
 * `npm test` runs the linter. These tests prove the rule bites where it must and that the
 * tree as it stands obeys it.
 */

const run = promisify(execFile);
const BIOME = join(REPO_ROOT, "node_modules", ".bin", "biome");

async function lint(...paths: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(BIOME, ["lint", "--colors=off", ...paths], {
      cwd: REPO_ROOT,
    });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, output: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

const planted: string[] = [];
afterEach(async () => {
  for (const file of planted.splice(0)) await rm(file, { force: true });
});

/** A file inside the project tree (so biome.json's overrides apply), removed after the test. */
async function plant(dir: string, source: string): Promise<string> {
  const file = join(REPO_ROOT, dir, `planted-${randomBytes(4).toString("hex")}.ts`);
  planted.push(file);
  await writeFile(file, source);
  return file;
}

describe("SDK imports stay in the adapters", () => {
  it.each([
    ["src/approvals", 'import pg from "pg";\nexport const pool = new pg.Pool();\n', "pg"],
    [
      "src/approvals",
      'import { S3Client } from "@aws-sdk/client-s3";\nexport const s3 = new S3Client({});\n',
      "@aws-sdk/client-s3",
    ],
    [
      "src/recovery-points",
      'import type { WebClient } from "@slack/web-api";\nexport type C = WebClient;\n',
      "@slack/web-api",
    ],
    [
      "jobs/runner",
      'import { KubeConfig } from "@kubernetes/client-node";\nexport const kc = new KubeConfig();\n',
      "@kubernetes/client-node",
    ],
    ["src/narration", 'import { Queue } from "bullmq";\nexport const Q = Queue;\n', "bullmq"],
  ])("refuses an import in %s (%#)", async (dir, source, sdk) => {
    const file = await plant(dir, source);
    const result = await lint(file);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain("lint/style/noRestrictedImports");
    expect(result.output).toContain(sdk);
    expect(result.output).toContain("Use the port the adapter exports");
  });

  it("allows it in an adapter", async () => {
    const file = await plant("src/db", 'import pg from "pg";\nexport const Pool = pg.Pool;\n');
    expect(await lint(file)).toMatchObject({ code: 0 });
  });

  it("the tree as it stands passes", async () => {
    const result = await lint("src", "jobs");
    expect(result.output).not.toContain("noRestrictedImports");
    expect(result.code).toBe(0);
  });
});
