/**
 * The bare helper pod that does the file work while the node is scaled to 0: busybox, the
 * node's PVC mounted where the node mounts it, a `sleep` as its command (the work arrives by
 * exec). Created (or found, after a crash) and awaited Ready; deleted and awaited gone — the PVC
 * may be ReadWriteOnce, so the node starts only once the helper no longer holds it.
 */

import type { KubernetesCluster } from "../../adapters/kubernetes/kubernetes-cluster.js";
import type { KubernetesOperation } from "../../adapters/kubernetes/rbac.js";
import { CodedError } from "../../errors.js";
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
