/**
 * The bare helper pod that does the file work while the node is scaled to 0: busybox, the
 * node's PVC mounted where the node mounts it, a `sleep` as its command (the work arrives by
 * exec). Created (or found, after a crash) and awaited Ready; deleted and awaited gone — the PVC
 * may be ReadWriteOnce, so the node starts only once the helper no longer holds it.
 *
 * Both runbooks handle their helper pods through `helperPod` (one per request and role): start,
 * exec, delete, delete after a failure without hiding it, and run work that deletes the pod
 * when it fails.
 */

import type { KubernetesCluster } from "../../adapters/kubernetes/kubernetes-cluster.js";
import type { KubernetesOperation } from "../../adapters/kubernetes/rbac.js";
import { CodedError } from "../../errors.js";
import type { PhaseContext } from "../../runbook/types.js";
import type { StepContext } from "../../steps/types.js";
import type { InfluxdbOssTarget } from "./config.js";
import type { HelperExec } from "./helper-exec.js";

export const HELPER_CONTAINER = "helper";

export const HELPER_POD_OPERATIONS: KubernetesOperation[] = [
  { type: "podWork", method: "createPod" },
  { type: "podWork", method: "execInPod" },
  { type: "deletePod" },
  { type: "watchPods" },
];

/** A helper pod's name: the request id keeps it unique; `role` tells the two of a restore apart. */
export function helperPodName(requestId: string, role: string): string {
  return `restorebot-${role}-${requestId.toLowerCase().replace(/[^a-z0-9-]/g, "-")}`.slice(0, 63);
}

export function helperPodManifest(
  target: InfluxdbOssTarget,
  name: string,
  requestId: string,
): Record<string, unknown> {
  return {
    metadata: {
      name,
      labels: { app: name, "app.kubernetes.io/managed-by": "restorebot" },
      annotations: { "restorebot/request": requestId },
    },
    spec: {
      restartPolicy: "Never",
      terminationGracePeriodSeconds: 5,
      containers: [
        {
          name: HELPER_CONTAINER,
          image: target.helperImage,
          // Runs for at most a day; the file work arrives by exec.
          command: ["sleep", "86400"],
          volumeMounts: [{ name: "data", mountPath: target.mountPath }],
        },
      ],
      volumes: [{ name: "data", persistentVolumeClaim: { claimName: target.pvc } }],
    },
  };
}

export async function startHelperPod(
  ctx: Pick<StepContext, "signal" | "progress" | "request">,
  cluster: KubernetesCluster,
  target: InfluxdbOssTarget,
  name: string,
  timeoutMs: number,
): Promise<void> {
  ctx.progress(`starting helper pod ${name} (${target.helperImage}) with PVC ${target.pvc}`);
  await cluster.createPod(helperPodManifest(target, name, ctx.request.id));
  await cluster.waitForPods([name], (pods) => pods.some((p) => p.name === name && p.ready), {
    timeoutMs,
    signal: ctx.signal,
    description: `helper pod ${name} ready`,
    onProgress: (pods) => {
      const pod = pods.find((p) => p.name === name);
      ctx.progress(`waiting for helper pod ${name}: ${pod ? pod.phase : "not listed yet"}`);
      if (pod && (pod.phase === "Failed" || pod.phase === "Succeeded"))
        throw new CodedError(
          "restore_failed",
          `helper pod ${name} stopped (${pod.phase}${pod.reason ? `: ${pod.reason}` : ""})`,
        );
    },
  });
}

/** Deletes the helper pod and waits until it is gone (a helper already gone is fine). */
export async function removeHelperPod(
  ctx: Pick<StepContext, "signal" | "progress">,
  cluster: KubernetesCluster,
  name: string,
  timeoutMs: number,
): Promise<void> {
  ctx.progress(`deleting helper pod ${name}`);
  await cluster.deletePod(name);
  await cluster.waitForPods([name], (pods) => !pods.some((p) => p.name === name), {
    timeoutMs,
    signal: ctx.signal,
    description: `helper pod ${name} gone`,
  });
}

/**
 * Exec in the helper pod as the file work needs it. `stdinBytes` (the archive's size) lets a
 * cluster that speaks only the v4 channel protocol see the end of the input without losing the
 * exit status. An exec whose outcome was lost resolves `undefined`: the confirm exec decides.
 */
export function helperExec(
  cluster: KubernetesCluster,
  pod: string,
  options: { stdinBytes?: number } = {},
): HelperExec {
  return async (command, io) => {
    try {
      const result = await cluster.execInPod({
        pod,
        container: HELPER_CONTAINER,
        command,
        ...(io.stdin ? { stdin: io.stdin } : {}),
        ...(io.stdin && options.stdinBytes !== undefined ? { stdinBytes: options.stdinBytes } : {}),
        onStdout: (chunk) => io.onStdout(chunk),
        onStderr: (chunk) => io.onStderr(chunk),
        ...(io.signal ? { signal: io.signal } : {}),
      });
      return result.exitCode;
    } catch (err) {
      if (io.stdin && err instanceof CodedError && /outcome is unknown/.test(err.message))
        return undefined;
      throw err;
    }
  };
}

/** How long a helper pod may take to become ready, or to go. */
export const HELPER_TIMEOUT_MS = 5 * 60_000;

/** What a helper pod is for: the backup's archive, a restore's file work, the old data's removal. */
export type HelperRole = "backup" | "restore" | "cleanup";

/** One helper pod of a run, named from the request and its role. */
export interface HelperPod {
  readonly name: string;
  /** Creates the pod (or finds it, after a crash) and waits until it is ready. */
  start(ctx: Pick<PhaseContext, "signal" | "progress" | "request">): Promise<void>;
  /** Deletes the pod and waits until it is gone (a pod already gone is fine). */
  remove(ctx: Pick<PhaseContext, "signal" | "progress">): Promise<void>;
  /** Deletes the pod after a failure: a failure to delete is said in the thread, not thrown. */
  removeAfterFailure(ctx: PhaseContext): Promise<void>;
  /**
   * Runs `work`; when it fails (other than by the worker stopping, which resumes with the same
   * pod), the pod is deleted before the error goes on: a halted run never leaves it behind.
   */
  deletingOnFailure<T>(ctx: PhaseContext, work: () => Promise<T>): Promise<T>;
  /** Starts the pod, runs `work`, and deletes the pod whatever happened. */
  whileUp<T>(ctx: PhaseContext, work: () => Promise<T>): Promise<T>;
  /** Exec in the pod (see `helperExec`). */
  exec(options?: { stdinBytes?: number }): HelperExec;
}

export function helperPod(
  cluster: KubernetesCluster,
  target: InfluxdbOssTarget,
  requestId: string,
  role: HelperRole,
): HelperPod {
  const name = helperPodName(requestId, role);
  const pod: HelperPod = {
    name,
    start: (ctx) => startHelperPod(ctx, cluster, target, name, HELPER_TIMEOUT_MS),
    remove: (ctx) => removeHelperPod(ctx, cluster, name, HELPER_TIMEOUT_MS),
    async removeAfterFailure(ctx) {
      try {
        await pod.remove(ctx);
      } catch (err) {
        ctx.note(
          `Could not delete helper pod ${name} after the failure (${err instanceof Error ? err.message : String(err)}); Roll back deletes it.`,
        );
      }
    },
    async deletingOnFailure(ctx, work) {
      try {
        return await work();
      } catch (err) {
        if (!ctx.signal.aborted) await pod.removeAfterFailure(ctx);
        throw err;
      }
    },
    async whileUp(ctx, work) {
      await pod.start(ctx);
      try {
        return await work();
      } finally {
        await pod.remove(ctx);
      }
    },
    exec: (options) => helperExec(cluster, name, options),
  };
  return pod;
}
