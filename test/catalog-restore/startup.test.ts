import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * `restorebot restore-catalog` is break-glass: it must start quickly and load only what a
 * restore needs. The packages a process has loaded are read from Node's module cache when it
 * exits (the CommonJS packages below all load through it, also when imported from ESM).
 */
const NOT_FOR_A_RESTORE = [
  "@slack/bolt",
  "@slack/web-api",
  "bullmq",
  "ioredis",
  "@kubernetes/client-node",
  "@aws-sdk/client-s3",
  "pino",
  "prom-client",
];

describe("restore-catalog start-up", () => {
  let dir: string;
  let preload: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "rb-startup-"));
    preload = join(dir, "record-packages.cjs");
    await writeFile(
      preload,
      `const { writeFileSync } = require("node:fs");
process.on("exit", () => {
  const names = new Set();
  for (const key of Object.keys(require.cache)) {
    if (!key.includes("node_modules")) continue;
    const parts = key.split("node_modules").pop().replaceAll("\\\\", "/").split("/").filter(Boolean);
    names.add(parts[0].startsWith("@") ? parts[0] + "/" + parts[1] : parts[0]);
  }
  writeFileSync(process.env.RECORD_PACKAGES_TO, JSON.stringify([...names].sort()));
});
`,
    );
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function loadedPackages(
    args: string[],
  ): Promise<{ code: number | null; packages: string[] }> {
    const out = join(dir, `packages-${args.length}.json`);
    const child = spawn(
      process.execPath,
      ["--require", preload, "--import", "tsx", "src/cli/main.ts", ...args],
      {
        env: {
          ...process.env,
          RECORD_PACKAGES_TO: out,
          CATALOG_DSN: "postgres://x@127.0.0.1:1/db",
        },
        stdio: ["ignore", "ignore", "ignore"],
      },
    );
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    return { code, packages: JSON.parse(await readFile(out, "utf8")) as string[] };
  }

  it("loads the PostgreSQL client and none of the bot's, worker's or cloud packages", async () => {
    const missingFile = join(dir, "no-such-snapshot.gz");
    const { code, packages } = await loadedPackages([
      "restore-catalog",
      "--snapshot",
      missingFile,
      "--dsn-env",
      "CATALOG_DSN",
    ]);
    expect(code).toBe(2); // the snapshot does not exist: a usage error, after loading the command
    expect(packages).toContain("pg");
    expect(packages).toContain("pg-copy-streams");
    expect(packages.filter((p) => NOT_FOR_A_RESTORE.includes(p))).toEqual([]);
  });
});
