import { spawn } from "node:child_process";
import type { Readable } from "node:stream";
import type { ExecIo, HelperExec } from "../../../../src/kinds/influxdb-oss/helper-exec.js";

/**
 * A `HelperExec` that runs the command on this machine (the helper pod's scripts are plain sh).
 * `loseStatusAfterStdin` reproduces exec with stdin against a v4-only API server: the session
 * ends when stdin does, the command keeps running, and its status and later output never
 * arrive.
 */
export function localExec(opts: { loseStatusAfterStdin?: boolean } = {}): HelperExec {
  return (command: string[], io: ExecIo) =>
    new Promise<number | undefined>((resolve, reject) => {
      const [file, ...args] = command;
      if (!file) {
        reject(new Error("empty command"));
        return;
      }
      const child = spawn(file, args, {
        stdio: ["pipe", "pipe", "pipe"],
        ...(io.signal ? { signal: io.signal } : {}),
      });
      if (!io.stdin) child.stdin.end();
      let settled = false;
      const settle = (fn: () => void) => {
        if (!settled) {
          settled = true;
          fn();
        }
      };
      child.once("error", (err) => settle(() => reject(err)));
      let detached = false;
      child.stdout.on("data", (chunk: Buffer) => {
        if (detached) return;
        const held = io.onStdout(chunk);
        if (held !== undefined) {
          child.stdout.pause();
          held.then(
            () => child.stdout.resume(),
            (err: unknown) => {
              child.kill("SIGKILL");
              settle(() => reject(err));
            },
          );
        }
      });
      child.stderr.on("data", (chunk: Buffer) => {
        if (!detached) io.onStderr(chunk);
      });
      if (io.stdin) {
        feed(io.stdin, child.stdin, () => {
          if (opts.loseStatusAfterStdin) {
            detached = true;
            // The remote command goes on; nothing more reaches this side.
            child.stdout.resume();
            child.stderr.resume();
            settle(() => resolve(undefined));
          }
        });
      }
      child.once("close", (code, signal) => {
        settle(() => resolve(code ?? (signal ? 128 + 9 : 1)));
      });
    });
}

/** Copies `from` into the child's stdin with backpressure; closes stdin at the end or on error. */
function feed(from: Readable, to: NodeJS.WritableStream, onEnd: () => void): void {
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    to.end();
    onEnd();
  };
  to.on("error", () => {
    from.unpipe();
    from.resume();
  });
  from.on("error", end);
  from.on("end", end);
  from.pipe(to as NodeJS.WritableStream, { end: false });
}
