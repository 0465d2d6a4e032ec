import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { ControlCall, ControlReply, ReadyMessage, S3StandInControl } from "./process.js";

export interface S3StandInProcessOptions {
  buckets?: string[];
  /** Delay before the first byte of every answer, in ms (off when 0 or omitted). */
  latencyMs?: number;
  /** Each CopyObject also takes size ÷ this many bytes per second (off when omitted). */
  copyRate?: number;
  /** How long to wait for the ready signal (default 30 s: tsx compiles the server first). */
  readyTimeoutMs?: number;
}

type Control = {
  [K in keyof S3StandInControl]: (
    ...args: Parameters<S3StandInControl[K]>
  ) => Promise<ReturnType<S3StandInControl[K]>>;
};

export interface S3StandInProcess extends Control {
  /** `http://127.0.0.1:<port>`, for `endpoint` with `forcePathStyle: true`. */
  readonly endpoint: string;
  readonly pid: number;
  /** Stops the process and waits until it has exited. */
  close(): Promise<void>;
}

/**
 * Starts the S3 stand-in (stand-ins/s3/process.ts) as a child Node process, through tsx, and
 * resolves once it has sent its ready message (never on a timer). Control calls go over IPC.
 */
export async function startS3StandInProcess(
  opts: S3StandInProcessOptions = {},
): Promise<S3StandInProcess> {
  const args = (opts.buckets ?? []).flatMap((b) => ["--bucket", b]);
  if (opts.latencyMs !== undefined) args.push(`--latency-ms=${opts.latencyMs}`);
  if (opts.copyRate !== undefined) args.push(`--copy-rate=${opts.copyRate}`);
  const child: ChildProcess = fork(fileURLToPath(new URL("./process.ts", import.meta.url)), args, {
    // Resolved from here, so the child loads TypeScript whatever its working directory.
    execArgv: ["--import", import.meta.resolve("tsx")],
    stdio: ["ignore", "inherit", "pipe", "ipc"],
  });
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (d: string) => {
    stderr = (stderr + d).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  const ready = await new Promise<ReadyMessage>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(
        new Error(
          `the S3 stand-in process sent no ready signal within ${opts.readyTimeoutMs ?? 30_000} ms: ${stderr.trim()}`,
        ),
      );
    }, opts.readyTimeoutMs ?? 30_000);
    const onMessage = (m: unknown) => {
      if ((m as ReadyMessage | undefined)?.type !== "ready") return;
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
      resolve(m as ReadyMessage);
    };
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(
        new Error(
          `the S3 stand-in process exited (code ${code}) before it was ready: ${stderr.trim()}`,
        ),
      );
    };
    child.on("message", onMessage);
    child.once("exit", onExit);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });

  let nextId = 0;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  child.on("message", (m: unknown) => {
    const reply = m as ControlReply;
    const waiter = pending.get(reply.id);
    if (waiter === undefined) return;
    pending.delete(reply.id);
    if (reply.ok) waiter.resolve(reply.result);
    else waiter.reject(new Error(`S3 stand-in: ${reply.error}`));
  });
  child.once("exit", (code) => {
    for (const waiter of pending.values())
      waiter.reject(new Error(`the S3 stand-in process exited (code ${code}): ${stderr.trim()}`));
    pending.clear();
  });

  function call<K extends keyof S3StandInControl>(
    name: K,
    callArgs: Parameters<S3StandInControl[K]>[0],
  ): Promise<ReturnType<S3StandInControl[K]>> {
    return new Promise((resolve, reject) => {
      if (!child.connected) {
        reject(new Error(`the S3 stand-in process has exited; ${name} cannot be called`));
        return;
      }
      const id = ++nextId;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.send({ id, call: name, args: callArgs } as ControlCall, (err) => {
        if (err) {
          pending.delete(id);
          reject(err);
        }
      });
    });
  }

  return {
    endpoint: ready.endpoint,
    pid: child.pid ?? 0,
    putGenerated: (a) => call("putGenerated", a),
    deletePrefix: (a) => call("deletePrefix", a),
    setLatency: (a) => call("setLatency", a),
    setCopyRate: (a) => call("setCopyRate", a),
    takeRequestCounts: () => call("takeRequestCounts", undefined),
    memoryUsage: () => call("memoryUsage", undefined),
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      await exited;
    },
  };
}
