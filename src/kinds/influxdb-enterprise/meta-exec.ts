/**
 * Commands in a meta pod, shared by the restore and backup runbooks: the first Ready meta pod,
 * one exec with its output kept (and optionally each line handed on as it comes), the error a
 * failed command becomes, and the plain commands the runbooks run there (`rm -rf`,
 * `mkdir -p`, `find … -printf`, `df -Pk`). Every command is a plain argv (no shell script), so
 * the meta container needs only `tar`, GNU `find`, `df`, `rm` and `mkdir` beside `influxd-ctl`.
 */

import type { Readable } from "node:stream";
import type { StepCluster } from "../../adapters/kubernetes/cluster-port.js";
import type { PodWorkPort } from "../../adapters/kubernetes/pod-work-port.js";
import { CodedError } from "../../errors.js";
import type { EnterpriseTarget } from "./config.js";

export type MetaCluster = Pick<StepCluster, "listPods"> & Pick<PodWorkPort, "execInPod">;

export interface ExecOutcome {
  exitCode: number;
  output: string;
}

/** Output kept per command (the tool prints a line per shard; a caller's onLine sees all). */
const MAX_KEPT = 1024 * 1024;

/** The first Ready pod of the meta StatefulSet (by name). */
export async function readyMetaPod(
  cluster: MetaCluster,
  target: EnterpriseTarget,
): Promise<string> {
  const pods = await cluster.listPods([target.meta.statefulset]);
  const pod = pods
    .filter((p) => p.ready)
    .map((p) => p.name)
    .sort()[0];
  if (!pod)
    throw new CodedError(
      "precondition_failed",
      `no meta pod of StatefulSet ${target.meta.statefulset} is Ready (${pods.length ? pods.map((p) => `${p.name}: ${p.phase}`).join(", ") : "none found"}); check meta.statefulset, then Retry phase`,
    );
  return pod;
}

/** One command in the meta container: exit status and output (stdout and stderr, in order). */
export async function execInMeta(
  cluster: MetaCluster,
  target: EnterpriseTarget,
  signal: AbortSignal | undefined,
  pod: string,
  command: string[],
  opts: { onLine?: (line: string) => void; stdin?: { stream: Readable; bytes: number } } = {},
): Promise<ExecOutcome> {
  let output = "";
  let partial = "";
  const keep = (chunk: Buffer) => {
    const text = chunk.toString("utf8");
    if (output.length < MAX_KEPT) output += text;
    if (!opts.onLine) return;
    const lines = (partial + text).split(/\r?\n/);
    partial = lines.pop() ?? "";
    for (const l of lines) if (l.trim()) opts.onLine(l);
  };
  const r = await cluster.execInPod({
    pod,
    container: target.meta.container,
    command,
    onStdout: keep,
    onStderr: keep,
    ...(signal ? { signal } : {}),
    ...(opts.stdin ? { stdin: opts.stdin.stream, stdinBytes: opts.stdin.bytes } : {}),
  });
  if (opts.onLine && partial.trim()) opts.onLine(partial);
  return { exitCode: r.exitCode, output };
}

/** The error a failed command becomes: what ran, where, its status and its last lines. */
export function commandFailed(what: string, pod: string, r: ExecOutcome): CodedError {
  const tail = r.output.trim().split(/\r?\n/).slice(-5).join(" / ");
  return new CodedError(
    "restore_failed",
    `\`${what}\` in ${pod} exited with ${r.exitCode}${tail ? `: ${tail}` : ""}`,
  );
}

/** Runs the command and throws `commandFailed` unless it exits 0. */
export async function mustExec(
  cluster: MetaCluster,
  target: EnterpriseTarget,
  signal: AbortSignal | undefined,
  pod: string,
  command: string[],
): Promise<ExecOutcome> {
  const r = await execInMeta(cluster, target, signal, pod, command);
  if (r.exitCode !== 0) throw commandFailed(command.join(" "), pod, r);
  return r;
}

/** An empty directory: whatever an earlier attempt left there is removed first. */
export async function emptyDirectory(
  cluster: MetaCluster,
  target: EnterpriseTarget,
  signal: AbortSignal | undefined,
  pod: string,
  dir: string,
): Promise<void> {
  await mustExec(cluster, target, signal, pod, ["rm", "-rf", dir]);
  await mustExec(cluster, target, signal, pod, ["mkdir", "-p", dir]);
}

/** `find -printf '%s %P\n'` output as name → size. */
export function parseFileSizes(output: string): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const line of output.split(/\r?\n/)) {
    const m = /^(\d+) (.+)$/.exec(line.trim());
    if (m) sizes.set(m[2] ?? "", Number(m[1]));
  }
  return sizes;
}

/** Every file under `dir` (relative name → size). */
export async function filesIn(
  cluster: MetaCluster,
  target: EnterpriseTarget,
  signal: AbortSignal | undefined,
  pod: string,
  dir: string,
): Promise<Map<string, number>> {
  const r = await mustExec(cluster, target, signal, pod, [
    "find",
    dir,
    "-type",
    "f",
    "-printf",
    "%s %P\\n",
  ]);
  return parseFileSizes(r.output);
}

/**
 * Bytes free for `dir` (`df -Pk`: POSIX output, 1024-byte blocks, "Available" in the 4th
 * column of the second line); undefined when `df` is not there or prints something else, so
 * the copy goes ahead and a full disk shows up as `tar`'s own error.
 */
export async function freeBytes(
  cluster: MetaCluster,
  target: EnterpriseTarget,
  signal: AbortSignal | undefined,
  pod: string,
  dir: string,
): Promise<number | undefined> {
  let r: ExecOutcome;
  try {
    r = await execInMeta(cluster, target, signal, pod, ["df", "-Pk", dir]);
  } catch {
    return undefined;
  }
  if (r.exitCode !== 0) return undefined;
  const fields = r.output.trim().split(/\r?\n/)[1]?.trim().split(/\s+/);
  const available = Number(fields?.[3]);
  return Number.isFinite(available) && fields?.[3] !== undefined ? available * 1024 : undefined;
}
