import type { WorkloadKind, WorkloadRef } from "../adapters/kubernetes/cluster-port.js";
import type { KubernetesOperation } from "../adapters/kubernetes/rbac.js";
import { CodedError } from "../errors.js";
import { checkpointKey, compensationKey, type StepContext, type StepDeps } from "./types.js";

/** Workloads named, or found by label selector (resolved once, then kept in the checkpoint). */
export type WorkloadSelection =
  | { kind: WorkloadKind; names: readonly string[] }
  | { kind: WorkloadKind; labelSelector: string };

export interface ScaleWorkloadsArgs {
  /** Names this scale within the phase: its checkpoint and its compensations are keyed by it. */
  id: string;
  workloads: readonly WorkloadSelection[];
  /** The count to scale every selected workload to (0 to stop them). */
  replicas: number;
  /**
   * Counts already known to be the ones to come back to, by workload name (e.g. recorded by an
   * earlier phase, or carried from an earlier halted run while the cluster shows 0): used
   * instead of reading the cluster.
   */
  known?: Readonly<Record<string, number>>;
}

/** What `scaleWorkloads` keeps in the phase's facts, durable before the first scale. */
export interface ScaleCheckpoint {
  /** The counts found before anything was scaled: what `scaleBack` and roll back restore. */
  original: Array<WorkloadRef & { replicas: number }>;
  recordedAt: string;
}

export function scaleOperations(selection: readonly WorkloadSelection[]): KubernetesOperation[] {
  return selection.flatMap((s): KubernetesOperation[] => [
    { type: "scale", kind: s.kind },
    ...("labelSelector" in s ? [{ type: "listWorkloads" as const, kind: s.kind }] : []),
  ]);
}

/**
 * Kanister's ScaleWorkload, checkpointed: reads each workload's replica count and records them
 * all durably (awaited) before the first scale, records "scale X back to N" for each, then
 * scales them through the scale subresource. Run again after a crash at any point it uses the
 * counts it recorded first, never the 0 it may find now, and records nothing twice.
 */
export async function scaleWorkloads(
  ctx: StepContext,
  deps: StepDeps,
  args: ScaleWorkloadsArgs,
): Promise<ScaleCheckpoint> {
  const checkpoint = await recordOriginalCounts(ctx, deps, args.id, args.workloads, args.known);
  for (const w of checkpoint.original) {
    if (w.replicas === args.replicas) continue;
    // Written before the change: undoing a scale that never happened changes nothing.
    await deps.compensations.record(ctx.request.id, {
      key: compensationKey(ctx, args.id, `${w.kind}/${w.name}`),
      phase: ctx.name,
      description: `scale ${w.kind} ${w.name} back to ${w.replicas}`,
      action: { type: "scale", kind: w.kind, name: w.name, replicas: w.replicas },
    });
  }
  for (const w of checkpoint.original) {
    if (ctx.signal.aborted) throw new CodedError("cancelled", `Stopped before scaling ${w.name}.`);
    ctx.progress(`scaling ${w.kind} ${w.name} to ${args.replicas} (was ${w.replicas})`);
    await deps.cluster.scale(w.kind, w.name, args.replicas);
  }
  return checkpoint;
}

/** The counts `scaleWorkloads` recorded under `id` in this phase or an earlier one. */
export function recordedCounts(
  facts: Readonly<Record<string, unknown>> | undefined,
  id: string,
): ScaleCheckpoint | undefined {
  const value = facts?.[checkpointKey("scaleWorkloads", id)];
  return isCheckpoint(value) ? value : undefined;
}

async function recordOriginalCounts(
  ctx: StepContext,
  deps: StepDeps,
  id: string,
  selection: readonly WorkloadSelection[],
  known: Readonly<Record<string, number>> | undefined,
): Promise<ScaleCheckpoint> {
  const earlier = recordedCounts(ctx.facts, id);
  if (earlier) return earlier;
  const refs: WorkloadRef[] = [];
  for (const s of selection) {
    const names =
      "names" in s ? [...s.names] : await deps.cluster.listWorkloads(s.kind, s.labelSelector);
    for (const name of names) refs.push({ kind: s.kind, name });
  }
  const original: ScaleCheckpoint["original"] = [];
  for (const ref of refs) {
    const replicas = known?.[ref.name] ?? (await deps.cluster.getReplicas(ref.kind, ref.name));
    original.push({ ...ref, replicas });
  }
  const checkpoint: ScaleCheckpoint = { original, recordedAt: ctx.now().toISOString() };
  // Durable before any scale: a crash after this line resumes with these counts.
  await ctx.fact(checkpointKey("scaleWorkloads", id), checkpoint);
  return checkpoint;
}

export interface ScaleBackArgs {
  /** The checkpoint `scaleWorkloads` wrote (read it with `recordedCounts` from earlierFacts). */
  checkpoint: ScaleCheckpoint;
  /** The id it was written under (its compensations are settled: the run put them back). */
  id: string;
  /** The phase that scaled them down (its compensation keys carry its name). */
  phase: string;
  /** Only these workloads (default: all of them, in the recorded order). */
  only?: readonly string[];
  /** Who put them back, for the undo log: the run (default) or its roll back. */
  settledBy?: "run" | "rollback";
}

/**
 * Scales workloads back to the counts recorded before they were scaled, and marks their
 * compensations settled by the run (roll back then has nothing left to do for them).
 */
export async function scaleBack(
  ctx: StepContext,
  deps: StepDeps,
  args: ScaleBackArgs,
): Promise<Array<WorkloadRef & { replicas: number }>> {
  const chosen = args.checkpoint.original.filter((w) => !args.only || args.only.includes(w.name));
  for (const w of chosen) {
    ctx.progress(`scaling ${w.kind} ${w.name} back to ${w.replicas}`);
    await deps.cluster.scale(w.kind, w.name, w.replicas);
    await deps.compensations.settle(
      ctx.request.id,
      compensationKey({ name: args.phase }, args.id, `${w.kind}/${w.name}`),
      args.settledBy ?? "run",
    );
  }
  return chosen;
}

function isCheckpoint(value: unknown): value is ScaleCheckpoint {
  return (
    typeof value === "object" &&
    value !== null &&
    Array.isArray((value as ScaleCheckpoint).original)
  );
}
