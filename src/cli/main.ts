#!/usr/bin/env node
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { asCodedError, CodedError } from "../errors.js";
import type { Runtime } from "../runtime/runtime.js";

// Everything else is imported where a command needs it: `restore-catalog` (break-glass) must
// start without loading Bolt, BullMQ, the Kubernetes client or the AWS SDK.

const COMMANDS: Record<string, string> = {
  serve: "bot and worker in one process (the default for a single machine)",
  bot: "the Slack receiver only: HTTP on PORT (/slack/events, /healthz, /readyz, /metrics), or Socket Mode when SLACK_APP_TOKEN is set",
  worker:
    "the restore worker only (BullMQ; run several for availability); health endpoints on WORKER_PORT",
  migrate: "apply restorebot's database migrations and exit",
  "restore-catalog":
    "restore a catalog database from a pg_dump snapshot, without Slack (break-glass)",
  demo: "a local sandbox with a web console that stands in for Slack",
};

export const USAGE = `Usage: restorebot <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, text]) => `  ${name.padEnd(16)} ${text}`)
  .join("\n")}

Run "restorebot <command> --help" for a command's options.
Configuration comes from the environment (SLACK_*, DATABASE_URL, REDIS_URL, RESTOREBOT_CONFIG, …);
see the README.`;

export interface CliIo {
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream;
}

/** Runs until SIGTERM/SIGINT, then closes in order; the returned promise settles on exit. */
function waitForShutdown(runtime: Runtime, closers: Array<() => Promise<void>>): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      runtime.logger.info({ signal }, "shutting down");
      void (async () => {
        for (const close of closers)
          await close().catch((err: unknown) =>
            runtime.logger.warn({ err: String(err) }, "error while closing"),
          );
        await runtime.close();
        resolve(0);
      })();
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
}

async function runLongLived(role: "serve" | "bot" | "worker", io: CliIo): Promise<number> {
  const [
    { createRestoreProcessor },
    { startRestoreWorker },
    { startExpirySweeper },
    { healthRoutes, startHealthServer },
    { createRuntime },
    { startSlackBot },
    { slackRegistrations },
  ] = await Promise.all([
    import("../../jobs/restore-processor.js"),
    import("../../jobs/restore-worker.js"),
    import("../approvals/expiry-sweeper.js"),
    import("../http/health.js"),
    import("../runtime/runtime.js"),
    import("../slack/app.js"),
    import("../slack/registrations.js"),
  ]);
  const runtime = await createRuntime(role, io.env);
  const closers: Array<() => Promise<void>> = [];
  try {
    const routes = healthRoutes(runtime.healthChecks, runtime.metrics.registry);
    if (role === "serve" || role === "bot") {
      const bot = await startSlackBot({
        env: runtime.env,
        deps: runtime.deps,
        routes,
        registrations: slackRegistrations,
      });
      closers.push(() => bot.stop());
      // Expires unapproved requests past their TTL (updating cards, telling requesters) and
      // enqueues approved requests whose job went missing (e.g. Redis was down at approval).
      const sweeper = startExpirySweeper(runtime.deps, bot.app.client);
      closers.unshift(() => sweeper.stop());
      runtime.logger.info(
        { port: bot.port, mode: runtime.env.socketMode ? "socket" : "http" },
        "Slack bot listening",
      );
    }
    if (role === "worker") {
      // Bound before the worker takes any job, so a port conflict stops it with nothing started.
      // WORKER_PORT, not PORT: bot and worker on one machine share one environment (DESIGN.md).
      const health = await startHealthServer(routes, runtime.env.WORKER_PORT, "WORKER_PORT");
      closers.push(() => health.close());
      runtime.logger.info({ port: health.port }, "worker health endpoints listening");
    }
    if (role === "serve" || role === "worker") {
      const worker = startRestoreWorker({
        connection: runtime.redis.duplicate(),
        prefix: runtime.env.RESTOREBOT_QUEUE_PREFIX,
        processor: createRestoreProcessor(runtime),
        logger: runtime.logger,
      });
      // The worker closes first so a running phase reaches its boundary before connections go.
      closers.unshift(() => worker.close());
      runtime.logger.info(
        { prefix: runtime.env.RESTOREBOT_QUEUE_PREFIX },
        "restore worker started",
      );
    }
  } catch (err) {
    // A failed start (e.g. a port already taken) closes what it opened, then exits non-zero.
    for (const close of closers) await close().catch(() => undefined);
    await runtime.close();
    throw err;
  }
  return waitForShutdown(runtime, closers);
}

async function runMigrate(io: CliIo): Promise<number> {
  const [{ readEnv }, { migrate }, { createPool, describeDatabaseUrl }, { createLogger }] =
    await Promise.all([
      import("../config/env.js"),
      import("../db/migrate.js"),
      import("../db/pool.js"),
      import("../logging/logger.js"),
    ]);
  const env = readEnv(io.env, "migrate");
  const logger = createLogger(env.LOG_LEVEL, { role: "migrate" });
  const pool = createPool(env.DATABASE_URL, logger, 1, env);
  try {
    const result = await migrate(pool);
    io.stdout.write(
      result.applied.length
        ? `Applied ${result.applied.length} migration(s) to ${describeDatabaseUrl(env.DATABASE_URL)}: ${result.applied.join(", ")}\n`
        : `${describeDatabaseUrl(env.DATABASE_URL)} is up to date (${result.alreadyApplied} migration(s) applied earlier).\n`,
    );
    return 0;
  } catch (err) {
    throw new CodedError(
      "database_error",
      `DATABASE_URL: cannot migrate ${describeDatabaseUrl(env.DATABASE_URL)}: ${(err as Error).message}`,
    );
  } finally {
    await pool.end();
  }
}

const COMMAND_HELP: Record<string, string> = {
  serve: "Usage: restorebot serve\n\nRuns the Slack bot and the restore worker in one process.",
  bot: "Usage: restorebot bot\n\nRuns the Slack receiver only (HTTP on PORT, or Socket Mode when SLACK_APP_TOKEN is set).",
  worker:
    "Usage: restorebot worker\n\nRuns the restore worker only; /healthz, /readyz and /metrics on WORKER_PORT\n(default PORT + 1), so a bot and a worker on one machine can share one environment.",
  migrate:
    "Usage: restorebot migrate\n\nApplies restorebot's PostgreSQL migrations to DATABASE_URL and exits.",
};

export async function main(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    io.stdout.write(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  if (!(command in COMMANDS)) {
    io.stderr.write(`restorebot: unknown command "${command}".\n\n${USAGE}\n`);
    return 2;
  }
  if ((rest.includes("--help") || rest.includes("-h")) && COMMAND_HELP[command]) {
    io.stdout.write(`${COMMAND_HELP[command]}\n`);
    return 0;
  }
  try {
    switch (command) {
      case "serve":
      case "bot":
      case "worker":
        if (rest.length)
          throw new CodedError(
            "usage",
            `"${command}" takes no arguments (got "${rest.join(" ")}"); configure it with environment variables`,
          );
        return await runLongLived(command, io);
      case "migrate":
        return await runMigrate(io);
      case "demo": {
        const { runDemoCommand } = await import("../demo/cli.js");
        return await runDemoCommand(rest, io);
      }
      case "restore-catalog": {
        // Loaded on demand: the break-glass tool should not pay for Bolt and BullMQ.
        const { runRestoreCatalogCommand } = await import("../catalog-restore/cli.js");
        return await runRestoreCatalogCommand(rest, {
          env: io.env,
          stdout: io.stdout,
          stderr: io.stderr,
        });
      }
      default:
        return 2;
    }
  } catch (err) {
    const coded = asCodedError(err);
    io.stderr.write(`restorebot: ${coded.message}\n`);
    return coded.code === "env_invalid" || coded.code === "config_invalid" || coded.code === "usage"
      ? 2
      : 1;
  }
}

const invokedDirectly = (() => {
  try {
    return realpathSync(process.argv[1] ?? "") === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();

if (invokedDirectly) {
  main(process.argv.slice(2), {
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
  }).then(
    (code) => {
      // Exit explicitly: after a graceful shutdown, client retry timers (e.g. a Slack call
      // still backing off) must not keep a stopped process alive.
      process.exit(code);
    },
    (err: unknown) => {
      process.stderr.write(`restorebot: ${asCodedError(err).message}\n`);
      process.exitCode = 1;
    },
  );
}
