import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const FIXTURE = fileURLToPath(new URL("../fixtures/worker-process.ts", import.meta.url));

export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  /** Everything the process wrote, for a failure message. */
  output(): string;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts `test/jobs/fixtures/worker-process.ts` under tsx and waits for its "ready" line, or
 * for it to exit. There is no deadline of its own: compiling and connecting can take many
 * seconds on a busy machine, and the test's timeout already bounds a worker that never starts.
 */
export async function startWorkerProcess(env: NodeJS.ProcessEnv): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", FIXTURE], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (/^ready \d+$/m.test(out)) resolve();
    };
    child.stdout?.on("data", check);
    child.once("exit", (code, signal) => {
      reject(new Error(`worker exited (${signal ?? code}) before it was ready:\n${out}`));
    });
  });
  return {
    child,
    pid: child.pid ?? 0,
    output: () => out,
    async kill9() {
      child.kill("SIGKILL");
      await exited;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
