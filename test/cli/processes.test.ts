import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IMAGE_NODE_FLAGS } from "../../scripts/bundle.mjs";
import {
  FAKE_BOT_TOKEN,
  type FakeSlackApi,
  startFakeSlackApi,
} from "../../stand-ins/slack/fake-slack-api.js";
import { DEFAULT_TEST_CONFIG, TEST_SIGNING_SECRET } from "../support/bot-harness.js";
import { createTestDatabase, type TestDatabase } from "../support/postgres.js";
import { uniqueQueuePrefix } from "../support/redis.js";

// The image's entry point, the bundled CLI with the image's node flag, when it is up to date
// (npm test builds first); otherwise the sources via tsx.
const CLI = (() => {
  const built = "dist/bundle/restorebot.mjs";
  const fresh = existsSync(built) && statSync(built).mtimeMs >= statSync("src/cli/main.ts").mtimeMs;
  return fresh ? [...IMAGE_NODE_FLAGS, built] : ["--import", "tsx", "src/cli/main.ts"];
})();

function run(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...CLI, ...args], {
      env: { PATH: process.env.PATH ?? "", ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

/** A port with nothing listening on it and, when `pair`, the next one free too. */
async function freePort(pair = false): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const taken = await Promise.all(
      (pair ? [port, port + 1] : [port]).map((p) =>
        occupy(p).then(
          (s) => closeServer(s),
          () => true,
        ),
      ),
    );
    if (taken.every((t) => t !== true)) return port;
  }
}

function occupy(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, () => resolve(server));
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Polls GET url until it answers 200 or the (generous) deadline passes. */
async function waitUntilReady(url: string, timeoutMs = 40_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await fetch(url).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

function startProcess(command: string, env: Record<string, string>) {
  const child: ChildProcess = spawn(process.execPath, [...CLI, command], {
    env: { PATH: process.env.PATH ?? "", ...env },
  });
  let output = "";
  child.stdout?.on("data", (d) => {
    output += d;
  });
  child.stderr?.on("data", (d) => {
    output += d;
  });
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      exitCode = code;
      resolve(code);
    }),
  );
  return {
    child,
    exited,
    output: () => output,
    running: () => exitCode === undefined,
  };
}

describe("restorebot CLI", () => {
  it("bot in HTTP mode without SLACK_SIGNING_SECRET exits non-zero with one line naming it", async () => {
    const { code, stderr } = await run(["bot"], { SLACK_BOT_TOKEN: "xoxb-test" });
    expect(code).not.toBe(0);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toMatch(/^restorebot: SLACK_SIGNING_SECRET is not set/);
  });

  it("a bad config stops the process naming the key, without a stack trace", async () => {
    const dir = await mkdtemp(join(tmpdir(), "rb-cli-"));
    const file = join(dir, "restorebot.yaml");
    await writeFile(file, DEFAULT_TEST_CONFIG.replace("name: prod", "name: latest"));
    const { code, stderr } = await run(["bot"], {
      SLACK_BOT_TOKEN: "xoxb-test",
      SLACK_SIGNING_SECRET: "s",
      RESTOREBOT_CONFIG: file,
    });
    expect(code).toBe(2);
    expect(stderr).toMatch(/targets\[0\]\.name: is a reserved word/);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it("--help lists the commands; an unknown command is refused with the usage", async () => {
    const help = await run(["--help"], {});
    expect(help.code).toBe(0);
    for (const command of ["serve", "bot", "worker", "migrate", "restore-catalog", "demo"])
      expect(help.stdout).toContain(command);
    const unknown = await run(["frobnicate"], {});
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
  });

  it("restore-catalog restores a real pg_dump into a catalog named by --dsn-env, and explains itself", async () => {
    const help = await run(["restore-catalog", "--help"], {});
    expect(help.code).toBe(0);
    expect(help.stdout + help.stderr).toContain("--dsn-env");
    const catalog = await createTestDatabase("cli_catalog");
    try {
      const missing = await run(
        [
          "restore-catalog",
          "--snapshot",
          "../shared/fixtures/pagila.pg_dump.gz",
          "--dsn-env",
          "CATALOG_DSN",
        ],
        {},
      );
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toContain("CATALOG_DSN");
      const ok = await run(
        [
          "restore-catalog",
          "--snapshot",
          "../shared/fixtures/pagila.pg_dump.gz",
          "--dsn-env",
          "CATALOG_DSN",
        ],
        {
          CATALOG_DSN: catalog.url,
        },
      );
      expect(ok.code).toBe(0);
      expect(ok.stdout + ok.stderr).not.toContain(catalog.url);
      const client = new pg.Client({ connectionString: catalog.url });
      await client.connect();
      try {
        const films = await client.query<{ n: string }>("SELECT count(*) AS n FROM public.film");
        expect(Number(films.rows[0]?.n)).toBe(1000);
      } finally {
        await client.end();
      }
    } finally {
      await catalog.drop();
    }
  }, 60_000);

  describe("serve and migrate against real PostgreSQL and Redis", () => {
    let db: TestDatabase;
    let fake: FakeSlackApi;
    let env: Record<string, string>;
    beforeAll(async () => {
      db = await createTestDatabase("cli");
      fake = await startFakeSlackApi();
      const dir = await mkdtemp(join(tmpdir(), "rb-cli-"));
      await writeFile(join(dir, "restorebot.yaml"), DEFAULT_TEST_CONFIG);
      env = {
        SLACK_BOT_TOKEN: FAKE_BOT_TOKEN,
        SLACK_SIGNING_SECRET: TEST_SIGNING_SECRET,
        SLACK_API_URL: fake.apiUrl,
        DATABASE_URL: db.url,
        RESTOREBOT_QUEUE_PREFIX: uniqueQueuePrefix("cli"),
        RESTOREBOT_CONFIG: join(dir, "restorebot.yaml"),
        PROD_CATALOG_DSN: "postgres://127.0.0.1:5432/nothing",
        PORT: String(20_000 + Math.floor(Math.random() * 20_000)),
        LOG_LEVEL: "info",
      };
    });
    afterAll(async () => {
      await fake?.close();
      await db?.drop();
    });

    it("migrate applies the schema, then reports it up to date", async () => {
      const first = await run(["migrate"], env);
      expect(first.code).toBe(0);
      expect(first.stdout).toMatch(/Applied \d+ migration\(s\)|is up to date/);
      const second = await run(["migrate"], env);
      expect(second.stdout).toMatch(/is up to date/);
      expect(second.stdout).not.toContain("postgres://");
    });

    it("bot and worker run side by side on one machine with one identical environment", async () => {
      const port = await freePort(true);
      const shared = { ...env, PORT: String(port) };
      const bot = startProcess("bot", shared);
      const worker = startProcess("worker", shared);
      try {
        // The bot serves PORT; the worker's health endpoints default to PORT + 1.
        expect(await waitUntilReady(`http://127.0.0.1:${port}/readyz`)).toBe(true);
        expect(await waitUntilReady(`http://127.0.0.1:${port + 1}/readyz`)).toBe(true);
        const metrics = await fetch(`http://127.0.0.1:${port + 1}/metrics`);
        expect(metrics.status).toBe(200);
        expect(bot.running()).toBe(true);
        expect(worker.running()).toBe(true);
        expect(worker.output()).toContain("restore worker started");
        expect(worker.output()).not.toContain("EADDRINUSE");
      } finally {
        bot.child.kill("SIGTERM");
        worker.child.kill("SIGTERM");
      }
      expect(await bot.exited).toBe(0);
      expect(await worker.exited).toBe(0);
    }, 60_000);

    it("a port already taken stops bot or worker with one line naming the setting, no stack trace", async () => {
      const blocker = await occupy(await freePort());
      const taken = String((blocker.address() as { port: number }).port);
      try {
        const worker = await run(["worker"], { ...env, WORKER_PORT: taken });
        expect(worker.code).not.toBe(0);
        const workerErrors = worker.stderr.trim().split("\n");
        expect(workerErrors).toHaveLength(1);
        expect(workerErrors[0]).toMatch(
          new RegExp(`^restorebot: WORKER_PORT: port ${taken} is already in use.*set WORKER_PORT`),
        );
        expect(worker.stdout + worker.stderr).not.toMatch(/\n\s+at /);

        const bot = await run(["bot"], { ...env, PORT: taken });
        expect(bot.code).not.toBe(0);
        const botErrors = bot.stderr.trim().split("\n");
        expect(botErrors).toHaveLength(1);
        expect(botErrors[0]).toMatch(
          new RegExp(`^restorebot: PORT: port ${taken} is already in use.*set PORT`),
        );
        expect(bot.stdout + bot.stderr).not.toMatch(/\n\s+at /);
      } finally {
        await closeServer(blocker);
      }
    }, 60_000);

    it("serve becomes ready, logs JSON without secrets, and exits 0 on SIGTERM", async () => {
      const child: ChildProcess = spawn(process.execPath, [...CLI, "serve"], {
        env: { PATH: process.env.PATH ?? "", ...env },
      });
      let output = "";
      child.stdout?.on("data", (d) => {
        output += d;
      });
      child.stderr?.on("data", (d) => {
        output += d;
      });
      const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
      const deadline = Date.now() + 20_000;
      let ready = false;
      while (Date.now() < deadline && !ready) {
        ready = await fetch(`http://127.0.0.1:${env.PORT}/readyz`).then(
          (r) => r.status === 200,
          () => false,
        );
        if (!ready) await new Promise((r) => setTimeout(r, 200));
      }
      expect(ready).toBe(true);
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      const lines = output.trim().split("\n").filter(Boolean);
      for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
      expect(output).toContain("Slack bot listening");
      expect(output).toContain("shutting down");
      expect(output).not.toContain(TEST_SIGNING_SECRET);
      expect(output).not.toContain(FAKE_BOT_TOKEN);
    }, 40_000);
  });
});
