import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { localRunMode, runLocally, SANDBOX_PATH } from "./local-runner.js";
import type { KubernetesSimulator } from "./simulator.js";

/**
 * A container whose commands run for real, as exec runs them in a pod: `/bin/sh` and the
 * machine's own tools (the local runner), plus the executables its image adds (given as shell
 * scripts, e.g. a `clickhouse-backup` that prints what the real one prints), with a `/tmp` of
 * its own that lasts between execs as a container's filesystem does. A process an exec starts
 * in the background in its own session (`setsid`) keeps running after that exec has ended or
 * its connection has closed, as in a real container; the exec's own processes are stopped when
 * the connection closes.
 */
export interface ContainerShellOptions {
  pod: string | RegExp;
  container: string;
  /**
   * The image's own executables, by name: a shell script body each. `{tmp}` in a body stands
   * for the container's `/tmp` (so a test can put files there for it to find).
   */
  tools: Record<string, string>;
}

export interface ContainerShell {
  /** The container's `/tmp`, on this machine. */
  tmpDir: string;
  /** Stops answering execs and removes the container's files. */
  close(): void;
}

const TOOLS_DIR = "/opt/image-tools";

export function containerShell(
  sim: KubernetesSimulator,
  options: ContainerShellOptions,
): ContainerShell {
  const root = mkdtempSync(join(tmpdir(), "k8s-sim-container-"));
  const tmpDir = join(root, "tmp");
  const binDir = join(root, "bin");
  mkdirSync(tmpDir);
  mkdirSync(binDir);
  // Inside a sandbox the mounts are at their paths; otherwise paths are the directories here.
  const sandboxed = localRunMode() === "sandbox";
  for (const [name, body] of Object.entries(options.tools))
    writeFileSync(
      join(binDir, name),
      `#!/bin/sh\n${body.replaceAll("{tmp}", sandboxed ? "/tmp" : tmpDir)}\n`,
      { mode: 0o755 },
    );
  const stop = sim.onExec(
    { pod: options.pod, container: options.container, command: () => true },
    (session) =>
      runLocally({
        command: session.command,
        mounts: [
          { mountPath: "/tmp", dir: tmpDir },
          { mountPath: TOOLS_DIR, dir: binDir },
        ],
        stdin: session.stdin,
        stdout: session.stdout,
        stderr: session.stderr,
        signal: session.signal,
        env: { PATH: `${sandboxed ? TOOLS_DIR : binDir}:${SANDBOX_PATH}` },
      }),
  );
  return {
    tmpDir,
    close() {
      stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
