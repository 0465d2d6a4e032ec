import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import type { CliIo } from "../cli/main.js";
import { CodedError } from "../errors.js";
import type { Logger } from "../logging/logger.js";
import { formatDuration } from "../text/format.js";
import { DEMO_USERS } from "./demo-settings.js";
import { type Sandbox, startSandbox } from "./sandbox.js";

export const DEMO_USAGE = `Usage: restorebot demo [--port 8080] [--fast] [--no-open] [--database restorebot_demo]

Starts the local sandbox: PostgreSQL and Redis must answer on 127.0.0.1 (npm start sees to
that), then a Kubernetes API simulator, an S3 stand-in with a snapshot history, a scratch
catalog database, restorebot's bot and worker, and a web console that stands in for Slack.

Options:
  --port <n>   port of the web console (default 8080; a free port when it is taken)
  --fast       short pod delays and quick narration (for tests)
  --no-open    do not open a browser
  --database <name>
               restorebot's database (default restorebot_demo); the scratch catalog is
               <name>_catalog and the queue prefix <name>, so two sandboxes with two names
               can run side by side
  --help       this text

Both databases (restorebot_demo and restorebot_demo_catalog by default) are rebuilt at every
start. Ctrl-C (SIGINT) or SIGTERM stops everything; a second one forces it.`;

export interface DemoOptions {
  port: number;
  fast: boolean;
  open: boolean;
  /** restorebot's database; the catalog and queue prefix are named after it. */
  database?: string;
}

/** Parses the demo's options; throws a usage error naming the bad one. */
export function parseDemoArgs(argv: readonly string[]): DemoOptions {
  const options: DemoOptions = { port: 8080, fast: false, open: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    const [name, inline] = arg.startsWith("--") && arg.includes("=") ? arg.split("=", 2) : [arg];
    switch (name) {
      case "--fast":
        options.fast = true;
        break;
      case "--no-open":
        options.open = false;
        break;
      case "--port": {
        const value = inline ?? argv[++i];
        const port = Number(value);
        if (value === undefined || !/^\d+$/.test(value) || port > 65_535) {
          throw new CodedError(
            "usage",
            `--port needs a port number between 0 and 65535 (got ${value === undefined ? "nothing" : `"${value}"`})`,
          );
        }
        options.port = port;
        break;
      }
      case "--database": {
        const value = inline ?? argv[++i];
        // Room for the "_catalog_pachyderm" suffix within PostgreSQL's 63-byte names.
        if (value === undefined || !/^[a-z][a-z0-9_]{0,44}$/.test(value)) {
          throw new CodedError(
            "usage",
            `--database needs a plain database name: a lower-case letter, then up to 44 of a-z, 0-9 and _ (got ${value === undefined ? "nothing" : `"${value}"`}), e.g. --database restorebot_demo2`,
          );
        }
        options.database = value;
        break;
      }
      default:
        throw new CodedError("usage", `demo: unknown option "${arg}" (see restorebot demo --help)`);
    }
  }
  return options;
}

/**
 * Bot and worker logs go to a file, so the terminal keeps the summary readable; errors are
 * also shown on stderr.
 */
function demoLogger(level: string, file: string): Logger {
  return pino(
    {
      level,
      base: { service: "restorebot", role: "demo" },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ["token", "*.token", "dsn", "*.dsn", "connectionString", "*.connectionString"],
        censor: "***",
      },
    },
    pino.multistream([
      { level: "trace", stream: createWriteStream(file, { flags: "w" }) },
      { level: "error", stream: process.stderr },
    ]),
  );
}

export function readySummary(sandbox: Sandbox, seconds: number, logFile: string): string {
  const [requester, approver] = [
    DEMO_USERS.find((u) => u.role === "requester"),
    DEMO_USERS.find((u) => u.role === "approver"),
  ];
  const tries = sandbox.targets.flatMap((t) => t.ready);
  const approve = tries.length + 1;
  return `
restorebot sandbox ready in ${formatDuration(seconds * 1000)}

  Open ${sandbox.consoleUrl}

  The console stands in for Slack's #restores channel. Try it, as ${requester?.name ?? "the requester"}:
${tries.map((line, i) => `    ${i + 1}. ${line}\n`).join("")}    ${approve}. Approve your own request: refused, a second person must approve
    ${approve + 1}. switch to ${approver?.name ?? "an approver"} and Approve: every phase is narrated in the card's
       thread while the cluster panel shows pods stopping and starting

  Bot and worker logs: ${logFile}
  Ctrl-C stops everything.
`;
}

function openBrowser(url: string): void {
  const command =
    process.platform === "darwin" ? "open" : process.platform === "win32" ? "explorer" : "xdg-open";
  if (process.platform === "linux" && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) return;
  try {
    const child = spawn(command, [url], { detached: true, stdio: "ignore" });
    child.on("error", () => undefined);
    child.unref();
  } catch {
    // No browser here; the URL is printed.
  }
}

/**
 * `restorebot demo`: starts the sandbox, prints where to go, and runs until Ctrl-C (or
 * `control.stop`), then stops everything it started.
 */
export async function runDemoCommand(
  argv: readonly string[],
  io: CliIo,
  control: { stop?: AbortSignal } = {},
): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.stdout.write(`${DEMO_USAGE}\n`);
    return 0;
  }
  const options = parseDemoArgs(argv);
  const logFile = join(
    tmpdir(),
    options.database === undefined
      ? "restorebot-demo.log"
      : `restorebot-demo-${options.database}.log`,
  );
  const logger = demoLogger(io.env.LOG_LEVEL ?? "info", logFile);
  io.stdout.write("Starting the restorebot sandbox…\n");
  const sandbox = await startSandbox({
    logger,
    port: options.port,
    fast: options.fast,
    ...(options.database === undefined
      ? {}
      : {
          databaseName: options.database,
          queuePrefix: options.database,
        }),
    onStep: (text) => io.stdout.write(`  · ${text}\n`),
  }).catch((err: unknown) => {
    if (err instanceof CodedError) throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw new CodedError(
      "internal",
      /ECONNREFUSED.*(5432|6379)|connect ECONNREFUSED/.test(message)
        ? `demo: PostgreSQL or Redis is not answering on 127.0.0.1 (${message}); run "npm start", which starts them`
        : `demo: could not start the sandbox: ${message}`,
    );
  });
  if (options.port !== 0 && sandbox.consolePort !== options.port) {
    io.stdout.write(`  · port ${options.port} is taken; the console uses ${sandbox.consolePort}\n`);
  }
  io.stdout.write(readySummary(sandbox, process.uptime(), logFile));
  if (options.open && io.stdout.isTTY) openBrowser(sandbox.consoleUrl);

  await new Promise<void>((resolve) => {
    const onSignal = () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      resolve();
    };
    // Once only: after the first Ctrl-C a second one falls through to Node and ends the process.
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    control.stop?.addEventListener("abort", onSignal, { once: true });
  });
  io.stdout.write("\nStopping the sandbox (a second Ctrl-C forces it)…\n");
  await sandbox.stop();
  io.stdout.write("Stopped.\n");
  return 0;
}
