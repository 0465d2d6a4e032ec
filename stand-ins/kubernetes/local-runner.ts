import { spawn, spawnSync } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import type { Readable, Writable } from "node:stream";

/**
 * Runs a pod's command for real, on this machine, with `/bin/sh` and the machine's own tools,
 * as if inside the pod: each volume the pod mounts from a PVC appears at its `mountPath`.
 *
 * Two ways, picked once per process:
 *
 * - **sandbox** (when `unshare --mount` works: root, or unprivileged user namespaces): the
 *   command runs in its own mount namespace, chrooted into an empty tmpfs root that holds the
 *   machine's `/bin`, `/sbin`, `/usr`, `/lib*`, `/etc`, `/dev`, `/proc`, `/sys`, `/tmp` and `/opt`
 *   (bind-mounted) and each PVC's backing directory bind-mounted at its `mountPath`. Paths
 *   work whatever way the command builds them (`tar -C /var/lib/data`, `cd /data && …`,
 *   scripts). A mount path under one of those top-level directories replaces that directory
 *   with an empty one in the sandbox (so nothing is created on the machine outside the PVC).
 * - **rewrite** (no mount namespaces available): the command runs directly, and every
 *   occurrence of a mount path in its arguments (a whole path or a path prefix, the `sh -c`
 *   script text included) is replaced by the backing directory; the working directory is
 *   remapped the same way. A path the command computes at run time is not remapped.
 *
 * `localRunMode()` says which is in use. Set `K8S_SIM_LOCAL_RUN=rewrite` to force the second.
 */

export interface VolumeMount {
  /** Where the pod sees the volume. */
  mountPath: string;
  /** The directory on this machine that backs it. */
  dir: string;
}

export interface LocalRunOptions {
  command: readonly string[];
  mounts: readonly VolumeMount[];
  /** The command's stdin; none (end of input at once) when not given. */
  stdin?: Readable;
  stdout: Writable;
  stderr: Writable;
  /** Aborting kills the command (and everything it started). */
  signal?: AbortSignal;
  env?: Readonly<Record<string, string>>;
  /** The container's workingDir (a path inside the pod). Default `/`. */
  workingDir?: string;
}

/** The executable is not there: the API server reports this before the command runs. */
export class MissingExecutableError extends Error {
  constructor(readonly executable: string) {
    super(`exec: "${executable}": executable file not found in $PATH`);
  }
}

export const SANDBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const HOST_DIRS = ["bin", "sbin", "usr", "lib", "lib32", "lib64", "libx32", "etc", "dev"];
const OTHER_DIRS = ["proc", "sys", "tmp", "opt"];

// $1 root, $2 top-level dirs to leave empty, $3 number of mounts, then (dir, path) pairs,
// then the working directory and the command.
const SANDBOX_SCRIPT = `
root=$1; skip=" $2 "; n=$3; shift 3
mount -t tmpfs -o mode=755 sandbox "$root" || exit 125
for d in ${[...HOST_DIRS, ...OTHER_DIRS].join(" ")}; do
  [ -e "/$d" ] || continue
  case "$skip" in *" $d "*) mkdir -p "$root/$d"; continue ;; esac
  if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$root/$d"
  else mkdir -p "$root/$d" && mount --rbind "/$d" "$root/$d" || exit 125; fi
done
while [ "$n" -gt 0 ]; do
  mkdir -p "$root$2" && mount --bind "$1" "$root$2" || exit 125
  shift 2; n=$((n - 1))
done
wd=$1; shift
exec chroot "$root" /bin/sh -c 'cd "$1" 2>/dev/null || cd /; shift; exec "$@"' sh "$wd" "$@"
`;

let mode: "sandbox" | "rewrite" | undefined;

/** Which way commands run on this machine (see the file's comment). */
export function localRunMode(): "sandbox" | "rewrite" {
  if (mode) return mode;
  if (process.env.K8S_SIM_LOCAL_RUN === "rewrite") {
    mode = "rewrite";
    return mode;
  }
  const root = mkdtempSync(join(tmpdir(), "k8s-sim-probe-"));
  try {
    const probe = spawnSync(
      "unshare",
      [...unshareArgs(), "/bin/sh", "-c", SANDBOX_SCRIPT, "sh", root, "", "0", "/", "true"],
      { stdio: "ignore", timeout: 10_000 },
    );
    mode = probe.status === 0 ? "sandbox" : "rewrite";
  } catch {
    mode = "rewrite";
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return mode;
}

function unshareArgs(): string[] {
  const root = process.getuid?.() === 0;
  return ["--mount", "--propagation", "private", ...(root ? [] : ["--map-root-user"])];
}

/** Runs the command to its end; resolves with its exit status (128 + n when killed by signal n). */
export async function runLocally(options: LocalRunOptions): Promise<number> {
  const [executable] = options.command;
  if (executable === undefined) throw new MissingExecutableError("");
  const mounts = [...options.mounts].sort((a, b) => b.mountPath.length - a.mountPath.length);
  const runMode = localRunMode();
  if (!findExecutable(executable, mounts)) throw new MissingExecutableError(executable);
  const workingDir = options.workingDir ?? "/";
  const env = { PATH: SANDBOX_PATH, HOME: "/root", ...options.env };
  let file: string;
  let args: string[];
  let root: string | undefined;
  if (runMode === "sandbox") {
    root = mkdtempSync(join(tmpdir(), "k8s-sim-root-"));
    const skip = new Set(
      mounts.map((m) => m.mountPath.split("/").filter(Boolean)[0] ?? "").filter(Boolean),
    );
    file = "unshare";
    args = [
      ...unshareArgs(),
      "/bin/sh",
      "-c",
      SANDBOX_SCRIPT,
      "sh",
      root,
      [...skip].join(" "),
      String(mounts.length),
      ...mounts.flatMap((m) => [m.dir, posix.normalize(m.mountPath)]),
      workingDir,
      ...options.command,
    ];
  } else {
    const rewrite = (text: string) => rewritePaths(text, mounts);
    file = "/bin/sh";
    args = [
      "-c",
      'cd "$1" 2>/dev/null || cd /; shift; exec "$@"',
      "sh",
      rewrite(workingDir),
      ...options.command.map(rewrite),
    ];
  }
  const child = spawn(file, args, {
    env,
    detached: true,
    stdio: [options.stdin ? "pipe" : "ignore", "pipe", "pipe"],
  });
  const kill = () => {
    if (child.pid !== undefined && child.exitCode === null) {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  };
  options.signal?.addEventListener("abort", kill, { once: true });
  if (options.signal?.aborted) kill();
  if (options.stdin && child.stdin) {
    const input = child.stdin;
    input.on("error", () => undefined); // EPIPE: the command stopped reading
    options.stdin.on("error", () => input.destroy());
    options.stdin.pipe(input);
  }
  const forward = (from: Readable | null, to: Writable) =>
    new Promise<void>((resolve) => {
      if (!from) return resolve();
      from.pipe(to, { end: false });
      from.once("end", () => resolve());
      from.once("error", () => resolve());
    });
  const outputs = Promise.all([
    forward(child.stdout, options.stdout),
    forward(child.stderr, options.stderr),
  ]);
  const code = await new Promise<number>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (exitCode, signal) => {
      resolve(exitCode ?? 128 + (signal ? signalNumber(signal) : 0));
    });
  }).finally(() => {
    options.signal?.removeEventListener("abort", kill);
    if (root) rmSync(root, { recursive: true, force: true });
  });
  await outputs;
  return code;
}

/** Replaces each mount path in `text`, where it stands as a whole path or a prefix, by its directory. */
export function rewritePaths(text: string, mounts: readonly VolumeMount[]): string {
  let out = text;
  for (const m of [...mounts].sort((a, b) => b.mountPath.length - a.mountPath.length)) {
    const path = posix.normalize(m.mountPath).replace(/\/$/, "");
    if (path === "" || path === "/") continue;
    const pattern = new RegExp(`(^|[\\s'"=:(])${escapeRegExp(path)}(?=$|[/\\s'";:)])`, "g");
    out = out.replace(pattern, (_match, before: string) => `${before}${m.dir}`);
  }
  return out;
}

function findExecutable(executable: string, mounts: readonly VolumeMount[]): boolean {
  const candidates = executable.includes("/")
    ? [rewritePaths(executable, mounts)]
    : SANDBOX_PATH.split(":").map((dir) => join(dir, executable));
  return candidates.some((path) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function signalNumber(signal: NodeJS.Signals): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGKILL: 9,
    SIGPIPE: 13,
    SIGTERM: 15,
  };
  return numbers[signal] ?? 0;
}
