import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { connect } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { dropDatabase } from "../../src/demo/demo-databases.js";
import { ADMIN_URL } from "../support/postgres.js";

// `npm start` as a person runs it: npm, scripts/start.sh, the sandbox's node and whatever that
// starts. Each case sends one signal to the `npm start` process itself (as a process manager
// or `kill` would) or, for Ctrl-C, SIGINT to every process of npm's group (as a terminal
// does), then checks that every process under npm is gone and every port it listened on is
// closed. Each sandbox has databases of its own (--database), so the cases run side by side.
// Linux only: processes and sockets are read from /proc.

const databases: string[] = [];

afterAll(async () => {
  for (const name of databases) {
    await dropDatabase(ADMIN_URL, name).catch(() => undefined);
    await dropDatabase(ADMIN_URL, `${name}_catalog`).catch(() => undefined);
    for (const suffix of ["pachyderm", "dex"])
      await dropDatabase(ADMIN_URL, `${name}_catalog_${suffix}`).catch(() => undefined);
  }
});

interface Started {
  npm: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startNpm(database: string): Started {
  // detached: npm leads a process group of its own, as in a terminal, so the Ctrl-C case can
  // signal that group without reaching vitest.
  const npm = spawn(
    "npm",
    ["start", "--", "--fast", "--no-open", "--port", "0", "--database", database],
    {
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, LOG_LEVEL: "warn" },
    },
  );
  let output = "";
  npm.stdout?.on("data", (d) => {
    output += d;
  });
  npm.stderr?.on("data", (d) => {
    output += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    npm.on("exit", (code, signal) => resolve({ code, signal })),
  );
  return { npm, output: () => output, exited };
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Fields of /proc/<pid>/stat after the command name: [state, ppid, …]; undefined once gone. */
function statOf(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** A process that is gone, or a zombie (exited, not yet reaped by whoever adopted it). */
function isGone(pid: number): boolean {
  const stat = statOf(pid);
  return stat === undefined || stat[0] === "Z";
}

/** Every live process below `root`. */
function descendantsOf(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = Number(statOf(Number(entry))?.[1]);
    if (!Number.isInteger(ppid)) continue;
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift() as number) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found.filter((pid) => !isGone(pid));
}

interface Listener {
  address: string;
  port: number;
}

/** The TCP sockets the given processes listen on, from /proc/net/tcp{,6}. */
function listenersOf(pids: number[]): Listener[] {
  const inodes = new Set<string>();
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (match?.[1]) inodes.add(match[1]);
      } catch {
        // closed meanwhile
      }
    }
  }
  const listeners: Listener[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      // local_address is HEX_IP:HEX_PORT; st 0A is LISTEN; the inode is column 10.
      if (cols[3] !== "0A" || !inodes.has(cols[9] ?? "")) continue;
      const [ip, port] = (cols[1] ?? "").split(":");
      listeners.push({ address: hexToAddress(ip ?? ""), port: Number.parseInt(port ?? "", 16) });
    }
  }
  return listeners;
}

function hexToAddress(hex: string): string {
  if (hex.length === 8) {
    // IPv4, little-endian.
    return [6, 4, 2, 0].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)).join(".");
  }
  if (hex === "0".repeat(32)) return "::";
  if (hex === "00000000000000000000000001000000") return "::1";
  if (hex.startsWith("0000000000000000FFFF0000")) return `::ffff:${hexToAddress(hex.slice(24))}`;
  return hex;
}

function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", (err: NodeJS.ErrnoException) => resolve(err.code === "ECONNREFUSED"));
  });
}

async function stopsCleanly(send: (npm: ChildProcess) => void): Promise<void> {
  const database = `rb_start_${randomBytes(4).toString("hex")}`;
  databases.push(database);
  const started = startNpm(database);
  const npmPid = started.npm.pid as number;
  let processes: number[] = [];
  try {
    await until(
      "the sandbox to be ready",
      () => {
        if (started.output().includes("sandbox ready")) return true;
        if (started.npm.exitCode !== null) {
          throw new Error(`npm start exited early:\n${started.output()}`);
        }
        return undefined;
      },
      150_000,
    );
    expect(started.output()).toMatch(/\[node\] npm start runs on Node\.js v24\./);
    processes = descendantsOf(npmPid);
    const listeners = listenersOf(processes);
    // The console, the bot and the Slack, Kubernetes and S3 stand-ins, all on loopback only.
    expect(listeners.length).toBeGreaterThanOrEqual(5);
    for (const l of listeners) expect(l.address, `port ${l.port}`).toBe("127.0.0.1");
    const consolePort = Number(/http:\/\/127\.0\.0\.1:(\d+)\//.exec(started.output())?.[1]);
    expect(listeners.map((l) => l.port)).toContain(consolePort);

    send(started.npm);
    const exit = await Promise.race([
      started.exited,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`npm start did not exit:\n${started.output()}`)), 90_000),
      ),
    ]);
    expect(exit).toEqual({ code: 0, signal: null });
    // Stopped through its teardown, not killed.
    expect(started.output()).toContain("Stopped.");
    await until(
      "every process npm started to be gone",
      () => (processes.every(isGone) ? true : undefined),
      30_000,
    );
    for (const { port } of listeners)
      expect(await refusesConnections(port), `port ${port}`).toBe(true);
  } finally {
    // Whatever went wrong above, leave no sandbox running (orphans included: those that
    // outlived npm are no longer below it).
    for (const pid of new Set([npmPid, ...processes, ...descendantsOf(npmPid)])) {
      if (!isGone(pid)) process.kill(pid, "SIGKILL");
    }
  }
}

describe.concurrent("npm start stops cleanly and listens on loopback only", () => {
  it("on SIGINT to the npm process", { timeout: 300_000 }, () =>
    stopsCleanly((npm) => npm.kill("SIGINT")),
  );
  it("on SIGTERM to the npm process", { timeout: 300_000 }, () =>
    stopsCleanly((npm) => npm.kill("SIGTERM")),
  );
  it("on Ctrl-C in its terminal (SIGINT to npm's whole process group)", { timeout: 300_000 }, () =>
    stopsCleanly((npm) => process.kill(-(npm.pid as number), "SIGINT")),
  );
});
