/**
 * `influxd-ctl restore` by exec in a meta pod: its output streamed into the thread line by line,
 * then its exit status and its "Restored from … transferred N bytes" line checked.
 */

import type { PodWorkPort } from "../../adapters/kubernetes/pod-work-port.js";
import type { StepContext } from "../../steps/types.js";
import type { EnterprisePoint } from "./points.js";
import {
  buildRestoreCommand,
  checkRestoreOutput,
  type EnterpriseRestoreOptions,
  type RestoreOutcome,
} from "./restore-options.js";

/** Output kept for the check (the tool prints a line per shard; the thread sees every line). */
const MAX_KEPT_BYTES = 1024 * 1024;

export async function runInfluxdCtlRestore(
  ctx: Pick<StepContext, "note" | "progress" | "signal">,
  pods: Pick<PodWorkPort, "execInPod">,
  args: {
    pod: string;
    container: string;
    setDirectory: string;
    point: Pick<EnterprisePoint, "full" | "manifest">;
    options: EnterpriseRestoreOptions;
    timeoutMs?: number;
  },
): Promise<RestoreOutcome> {
  const command = buildRestoreCommand({
    setDirectory: args.setDirectory,
    full: args.point.full,
    manifest: args.point.manifest,
    options: args.options,
  });
  ctx.note(`Running \`${command.join(" ")}\` in ${args.pod}:`);
  let kept = "";
  let partial = "";
  const onChunk = (chunk: Buffer) => {
    const text = partial + chunk.toString("utf8");
    const lines = text.split(/\r?\n/);
    partial = lines.pop() ?? "";
    for (const line of lines) emit(line);
  };
  const emit = (line: string) => {
    if (line.trim() === "") return;
    if (kept.length < MAX_KEPT_BYTES) kept += `${line}\n`;
    ctx.note(`\`${line}\``);
    ctx.progress(line);
  };
  let exitCode: number | undefined;
  try {
    const result = await pods.execInPod({
      pod: args.pod,
      container: args.container,
      command,
      onStdout: onChunk,
      onStderr: onChunk,
      signal: ctx.signal,
      ...(args.timeoutMs ? { timeoutMs: args.timeoutMs } : {}),
    });
    exitCode = result.exitCode;
  } finally {
    if (partial !== "") emit(partial);
    partial = "";
  }
  return checkRestoreOutput(kept, exitCode);
}
