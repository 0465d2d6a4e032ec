import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { configVariableNames, readConfigVariables, readEnv } from "../../src/config/env.js";
import { parseConfig } from "../../src/config/file.js";
import { createRuntime } from "../../src/runtime/runtime.js";
import { REPO_ROOT } from "./chart-fixture.js";

/**
 * The environment is read once, at start, by src/config/env.ts (DESIGN.md, "Environment"):
 * after that, code receives what it needs. Only the entry points hand the process environment
 * to it: the CLI (src/cli/), the sandbox (src/demo/, which also sets it up for the stand-ins).
 */
const ENTRY_POINTS = ["src/config/env.ts", "src/cli/", "src/demo/"];

function tsFilesUnder(dir: string): string[] {
  return readdirSync(join(REPO_ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts"))
    .map((e) => relative(REPO_ROOT, join(e.parentPath, e.name)));
}

/** Lines of `file` that read `process.env` in code (comments and strings do not count). */
function processEnvReads(file: string): number[] {
  const text = readFileSync(join(REPO_ROOT, file), "utf8");
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const lines: number[] = [];
  const visit = (node: ts.Node): void => {
    if (
      ts.isPropertyAccessExpression(node) &&
      node.name.text === "env" &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === "process"
    )
      lines.push(source.getLineAndCharacterOfPosition(node.getStart()).line + 1);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return lines;
}

const CONFIG = `
policy:
  requesters: ["*"]
  approvers: [UAPP1]
targets:
  - name: prod
    kind: influxdb-clustered
    namespace: influxdb
    appInstance: influxdb
    catalog: { dsnEnv: PROD_CATALOG_DSN }
    snapshots: { bucket: influxdb-prod }
  - name: staging
    kind: influxdb-clustered
    namespace: influxdb
    appInstance: influxdb
    catalog: { dsnEnv: STAGING_CATALOG_DSN }
    snapshots: { bucket: influxdb-staging }
`;
const SECRET_DSN = "postgres://catalog:hunter2-not-for-logs@db.internal:5432/catalog";

describe("the environment is read once", () => {
  it("nothing in src/ or jobs/ reads process.env outside env.ts and the entry points", () => {
    const files = ["src", "jobs"].flatMap(tsFilesUnder);
    const offending = files
      .filter((f) => !ENTRY_POINTS.some((e) => f === e || (e.endsWith("/") && f.startsWith(e))))
      .flatMap((f) => processEnvReads(f).map((line) => `${f}:${line}`));
    expect(offending).toEqual([]);
    // The scan sees a read where there is one.
    expect(
      processEnvReads("src/config/env.ts").length + processEnvReads("src/cli/main.ts").length,
    ).toBeGreaterThan(0);
  });

  it("finds every DSN variable the config names", () => {
    const names = configVariableNames({
      ...parseConfig(CONFIG),
      // A kind's branch may name its DSN variable under another key ending in DsnEnv.
      extra: [{ metadataDsnEnv: "PACH_METADATA_DSN" }],
    });
    expect(names).toEqual([
      { name: "PROD_CATALOG_DSN", path: "targets[0].catalog.dsnEnv" },
      { name: "STAGING_CATALOG_DSN", path: "targets[1].catalog.dsnEnv" },
      { name: "PACH_METADATA_DSN", path: "extra[0].metadataDsnEnv" },
    ]);
  });

  it("keeps the values read at start; later changes to the environment do not reach it", () => {
    const raw: NodeJS.ProcessEnv = {
      SLACK_BOT_TOKEN: "xoxb-1",
      PROD_CATALOG_DSN: SECRET_DSN,
      STAGING_CATALOG_DSN: "postgres://staging",
    };
    const env = readConfigVariables(readEnv(raw, "worker"), raw, parseConfig(CONFIG), {
      required: true,
    });
    raw.PROD_CATALOG_DSN = "postgres://changed-later";
    expect(env.variables).toEqual({
      PROD_CATALOG_DSN: SECRET_DSN,
      STAGING_CATALOG_DSN: "postgres://staging",
    });
  });

  it("a missing DSN variable stops start-up, naming the variable and never a value", async () => {
    const dir = await mkdtemp(join(tmpdir(), "rb-env-"));
    try {
      const configPath = join(dir, "restorebot.yaml");
      await writeFile(configPath, CONFIG);
      const start = createRuntime("worker", {
        SLACK_BOT_TOKEN: "xoxb-1",
        RESTOREBOT_CONFIG: configPath,
        // Unreachable on purpose: start-up must stop before it connects to anything.
        DATABASE_URL: "postgres://127.0.0.1:1/restorebot",
        REDIS_URL: "redis://127.0.0.1:1",
        PROD_CATALOG_DSN: SECRET_DSN,
      });
      const err = await start.then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(err?.message).toMatch(
        /^environment variable STAGING_CATALOG_DSN is not set: restorebot.yaml names it at targets\[1\]\.catalog\.dsnEnv/,
      );
      expect(err?.message).not.toContain("hunter2");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("the bot, which never connects to a catalog, starts without the DSN variables", () => {
    const raw: NodeJS.ProcessEnv = { SLACK_BOT_TOKEN: "xoxb-1", SLACK_SIGNING_SECRET: "s" };
    const env = readConfigVariables(readEnv(raw, "bot"), raw, parseConfig(CONFIG), {
      required: false,
    });
    expect(env.variables).toEqual({});
  });
});
