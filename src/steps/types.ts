import type { StepCluster } from "../adapters/kubernetes/cluster-port.js";
import type { PodWorkPort } from "../adapters/kubernetes/pod-work-port.js";
import type { KubernetesOperation } from "../adapters/kubernetes/rbac.js";
import type { CompensationLog } from "../runbook/compensations.js";
import type { PhaseContext } from "../runbook/types.js";

/**
 * What a step sees of the phase running it: the request, the phase's durable facts (its
 * checkpoints, including those of an interrupted earlier attempt), narration and cancellation.
 * A step never owns the phase; several steps may run in one phase, each under its own `id`.
 */
export type StepContext = Pick<
  PhaseContext,
  "request" | "name" | "facts" | "fact" | "progress" | "note" | "signal" | "now"
>;

/** The clients steps work with, built at the entry point for one target. */
export interface StepDeps {
  cluster: StepCluster;
  /** Where steps that change the cluster record their undo (src/runbook/compensations.ts). */
  compensations: CompensationLog;
  /** Jobs, PVCs and exec (`runJob`, `execInPod`); only kinds that run work in pods pass it. */
  podWork?: PodWorkPort;
}

/**
 * The shape every step has: a function of the phase context, its deps and its arguments, plus
 * the Kubernetes operations it performs (for the kind's Role, see `rbacRulesFor`). A later
 * `runJob` or `execInPod` step is one more such function with its own checkpoint facts.
 */
export interface StepInfo {
  name: string;
  operations(args?: unknown): KubernetesOperation[];
}

/** The fact key a step keeps its checkpoint under: one per step id within a phase. */
export function checkpointKey(step: string, id: string): string {
  return `${step}:${id}`;
}

/** The compensation key: unique within the request. */
export function compensationKey(
  ctx: Pick<StepContext, "name">,
  id: string,
  object: string,
): string {
  return `${ctx.name}/${id}/${object}`;
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
