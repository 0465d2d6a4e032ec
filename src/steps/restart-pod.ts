import type { WorkloadKind } from "../adapters/kubernetes/cluster-port.js";
import type { KubernetesOperation } from "../adapters/kubernetes/rbac.js";
import { CodedError } from "../errors.js";
import { checkpointKey, type StepContext, type StepDeps } from "./types.js";
import { waitPodsReady } from "./wait-pods.js";

export const restartPodOperations = (kind: WorkloadKind): KubernetesOperation[] => [
  { type: "deletePod" },
  { type: "watchPods" },
  { type: "scale", kind },
];

/**
 * Deletes a pod and waits until its controller's replacement is Ready. The pod's uid is
 * recorded before the delete: a resumed attempt that finds a pod of that name with another uid
 * knows the delete happened (a StatefulSet reuses the name) and only waits. Nothing to
 * compensate: the controller puts the pod back by itself.
 */
export async function restartPod(
  ctx: StepContext,
  deps: StepDeps,
  args: {
    id: string;
    pod: string;
    workload: { kind: WorkloadKind; name: string };
    timeoutMs: number;
  },
): Promise<{ waitedMs: number }> {
  const key = checkpointKey("restartPod", args.id);
  const recorded = ctx.facts[key] as { uid: string } | undefined;
  const pod = await deps.cluster.getPod(args.pod);
  if (!recorded) {
    if (!pod) {
      throw new CodedError(
        "not_found",
        `Pod ${args.pod} does not exist, so it was not restarted. Check which pod to restart, then Retry phase.`,
      );
    }
    if (pod.owner?.name && !ownedBy(pod.owner, args.workload)) {
      throw new CodedError(
        "precondition_failed",
        `Pod ${args.pod} belongs to ${pod.owner.kind} ${pod.owner.name}, not ${args.workload.kind} ${args.workload.name}, so it was not deleted.`,
      );
    }
    await ctx.fact(key, { uid: pod.uid });
  }
  const uid = recorded?.uid ?? pod?.uid;
  if (pod && pod.uid === uid && !pod.terminating) {
    ctx.progress(`deleting pod ${args.pod}`);
    await deps.cluster.deletePod(args.pod);
  }
  // The controller replaces it; ready again when the workload has as many ready pods as it wants.
  const wanted = await deps.cluster.getReplicas(args.workload.kind, args.workload.name);
  const started = performance.now();
  // A pod being deleted counts as not ready, so this holds until its replacement is Ready.
  await waitPodsReady(ctx, deps, {
    workloads: [args.workload],
    atLeast: wanted,
    timeoutMs: args.timeoutMs,
    description: `${args.workload.name} back to ${wanted} ready after restarting ${args.pod}`,
  });
  return { waitedMs: Math.round(performance.now() - started) };
}

function ownedBy(owner: { kind: string; name: string }, w: { kind: WorkloadKind; name: string }) {
  if (w.kind === "Deployment")
    return owner.kind === "ReplicaSet" && owner.name.startsWith(`${w.name}-`);
  return owner.kind === w.kind && owner.name === w.name;
}
