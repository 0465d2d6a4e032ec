import type {
  ClusterPort,
  PodSummary,
  WorkloadRef,
  WorkloadStatus,
} from "../adapters/kubernetes/cluster-port.js";
import {
  describeWorkloadStatus,
  isTerminalPod,
  labelNote,
  podReadiness,
  statusObserved,
} from "../adapters/kubernetes/pod-summary.js";
import type { KubernetesOperation } from "../adapters/kubernetes/rbac.js";
import { plural, type StepContext } from "./types.js";

/*
 * Pods are matched by label or owner, which someone can change; each wait also asks the
 * workloads themselves (their controller's status, once it has observed the latest scale), so a
 * pod stripped of both its label and its owner reference cannot make a wait pass early.
 */

export const WAIT_OPERATIONS = (workloads: readonly WorkloadRef[]): KubernetesOperation[] => [
  { type: "watchPods" },
  // The workloads' status is read through the same access as their scale.
  ...workloads.map((w): KubernetesOperation => ({ type: "scale", kind: w.kind })),
];

/** Workloads whose status disagrees with "gone": still counting pods, or not yet caught up. */
export function workloadsNotGone(workloads: readonly WorkloadStatus[]): WorkloadStatus[] {
  return workloads.filter((w) => !statusObserved(w) || w.replicas !== 0);
}

/** Workloads whose status does not yet show `wanted(w)` ready replicas (`exact`: no more either). */
export function workloadsNotReady(
  workloads: readonly WorkloadStatus[],
  wanted: (w: WorkloadStatus) => number,
  exact: boolean,
): WorkloadStatus[] {
  return workloads.filter(
    (w) =>
      !statusObserved(w) ||
      w.readyReplicas < wanted(w) ||
      (exact && (w.replicas !== wanted(w) || w.readyReplicas !== wanted(w))),
  );
}

/** "StatefulSet x still reports 1 replica (0 ready)" for a progress line. */
export function workloadsSay(workloads: readonly WorkloadStatus[]): string {
  return workloads
    .map((w) =>
      describeWorkloadStatus(w)
        .replace(" reports ", " still reports ")
        .replace(" but has not yet ", " and has not yet "),
    )
    .join("; ");
}

/** `x-0 (terminating), y-abc (Failed: Evicted)`, at most `max` of them. */
export function describePodList(pods: readonly PodSummary[], max = 6): string {
  const shown = pods.slice(0, max).map((p) => {
    const state = podReadiness(p) ?? (p.reason ? `${p.phase}: ${p.reason}` : p.phase);
    return `${p.name} (${[state, labelNote(p)].filter(Boolean).join(", ")})`;
  });
  return `${shown.join(", ")}${pods.length > max ? ` and ${pods.length - max} more` : ""}`;
}

/** What the waits need of the cluster (any `ClusterPort`). */
export interface WaitDeps {
  cluster: Pick<ClusterPort, "waitForPods">;
}

export interface WaitPodsArgs {
  workloads: readonly WorkloadRef[];
  timeoutMs: number;
  /** What is awaited, for progress lines and a timeout ("every pachd pod gone"). */
  description?: string;
  /**
   * Say in the thread, once per pod, that a pod stopped for good (Failed, Evicted) is not waited
   * for (default true). Progress lines name such pods either way.
   */
  noteStopped?: boolean;
}

export interface WaitOutcome {
  /** How long the wait took (not rounded). */
  waitedMs: number;
  /** The most pods seen still there at once. */
  maxPods: number;
  /** Pods stopped for good (Failed, Evicted): named, never waited for. */
  stopped: string[];
}

/**
 * Reports each pod stopped for good once, in the thread: such a pod never leaves by itself and
 * never becomes ready, so a wait must say so rather than block on it silently.
 */
function stoppedPodReporter(ctx: Pick<StepContext, "note">, enabled: boolean) {
  const reported = new Set<string>();
  return (pods: readonly PodSummary[]) => {
    for (const p of pods.filter(isTerminalPod)) {
      if (reported.has(p.name)) continue;
      reported.add(p.name);
      if (enabled)
        ctx.note(
          `Pod ${p.name} of ${p.component} is ${p.phase}${p.reason ? ` (${p.reason})` : ""}: it has stopped for good and stays until someone deletes it, so it is not waited for.`,
        );
    }
    return [...reported];
  };
}

type WaitContext = Pick<StepContext, "signal" | "progress" | "note">;

/**
 * Watch until no pod of `workloads` runs and each workload itself reports 0 replicas at its
 * latest scale. A pod that stopped for good (Failed — Evicted — or Succeeded) can no longer
 * write anything; it is named, never waited for (it stays until someone deletes it).
 */
export async function waitPodsGone(
  ctx: WaitContext,
  deps: WaitDeps,
  args: WaitPodsArgs,
): Promise<WaitOutcome> {
  const description =
    args.description ?? `every pod of ${args.workloads.map((w) => w.name).join(", ")} gone`;
  const started = performance.now();
  let maxPods = 0;
  const report = stoppedPodReporter(ctx, args.noteStopped ?? true);
  let stopped: string[] = [];
  await deps.cluster.waitForPods(
    args.workloads.map((w) => w.name),
    (pods, workloads) => pods.every(isTerminalPod) && workloadsNotGone(workloads).length === 0,
    {
      timeoutMs: args.timeoutMs,
      signal: ctx.signal,
      description,
      workloads: args.workloads,
      onProgress: (all, workloads) => {
        stopped = report(all);
        const pods = all.filter((p) => !isTerminalPod(p));
        const gone = all.filter(isTerminalPod);
        maxPods = Math.max(maxPods, pods.length);
        const ignored = gone.length
          ? `; not waited for, stopped for good: ${describePodList(gone)}`
          : "";
        if (pods.length === 0) {
          const disagree = workloadsNotGone(workloads);
          if (disagree.length)
            ctx.progress(
              `pods ${gone.length ? "gone or stopped" : "gone"}, but ${workloadsSay(disagree)}: waiting for ${description}${ignored}`,
            );
          else if (gone.length) ctx.progress(`every pod gone or stopped${ignored}`);
          return;
        }
        const terminating = pods.filter((p) => p.terminating).length;
        ctx.progress(
          `${plural(pods.length, "pod")} still there${terminating ? ` (${terminating} terminating)` : ""}, waiting for ${description}: ${describePodList(pods)}${ignored}`,
        );
      },
    },
  );
  return { waitedMs: performance.now() - started, maxPods, stopped };
}

export interface WaitReadyArgs extends WaitPodsArgs {
  /** Ready pods wanted per workload: one number for all, or by name. */
  atLeast: number | Readonly<Record<string, number>>;
}

/**
 * Watch until each workload has at least N ready pods, by its pods and by its own status (at the
 * latest scale). A pod that fails for good is named in the thread; the wait goes on for its
 * replacement until the timeout, which names the pods as they stand.
 */
export async function waitPodsReady(
  ctx: WaitContext,
  deps: WaitDeps,
  args: WaitReadyArgs,
): Promise<WaitOutcome> {
  const wanted = (name: string) =>
    typeof args.atLeast === "number" ? args.atLeast : (args.atLeast[name] ?? 0);
  const description =
    args.description ??
    `${args.workloads.map((w) => `at least ${wanted(w.name)} ${w.name} pods ready`).join(", ")}`;
  const readyOf = (pods: readonly PodSummary[], name: string) =>
    pods.filter((p) => p.component === name && p.ready).length;
  const started = performance.now();
  const report = stoppedPodReporter(ctx, args.noteStopped ?? true);
  let stopped: string[] = [];
  let maxPods = 0;
  await deps.cluster.waitForPods(
    args.workloads.map((w) => w.name),
    (pods, workloads) =>
      args.workloads.every((w) => readyOf(pods, w.name) >= wanted(w.name)) &&
      workloadsNotReady(workloads, (w) => wanted(w.name), false).length === 0,
    {
      timeoutMs: args.timeoutMs,
      signal: ctx.signal,
      description,
      workloads: args.workloads,
      onProgress: (pods, workloads) => {
        stopped = report(pods);
        maxPods = Math.max(maxPods, pods.length);
        const lines = args.workloads.flatMap((w) => {
          const mine = pods.filter((p) => p.component === w.name);
          const ready = readyOf(mine, w.name);
          const n = wanted(w.name);
          if (ready >= n) {
            const disagree = workloadsNotReady(
              workloads.filter((s) => s.name === w.name),
              () => n,
              false,
            );
            return disagree.length
              ? [`${w.name}: ${ready} of ${n} needed pods ready, but ${workloadsSay(disagree)}`]
              : [];
          }
          return [`${w.name}: ${ready} of ${n} needed pods ready (${describePodList(mine)})`];
        });
        if (lines.length) ctx.progress(lines.join("; "));
      },
    },
  );
  return { waitedMs: performance.now() - started, maxPods, stopped };
}
