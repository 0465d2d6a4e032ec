import {
  AppsV1Api,
  type ConfigurationOptions,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  Observable,
  type ObservableMiddleware,
  PatchStrategy,
  Watch,
} from "@kubernetes/client-node";
import { CodedError } from "../../errors.js";
import { type Logger, silentLogger } from "../../logging/logger.js";
import type { ApiCall } from "./api-errors.js";
import type {
  OperatorResource,
  PodSummary,
  StepCluster,
  WaitForPodsOptions,
  WorkloadKind,
  WorkloadStatus,
} from "./cluster-port.js";
import { createExecOps } from "./exec.js";
import { createJobOps } from "./jobs.js";
import { loadKubeConfig } from "./kube-config.js";
import { sortPods, summarizePod, workloadStatusOf } from "./pod-summary.js";
import type { PodWorkPort } from "./pod-work-port.js";
import { createResourceAccess } from "./resource-access.js";
import {
  type CallContext,
  callWithRetries,
  DEFAULT_RETRY_POLICY,
  type RetryPolicy,
} from "./retry.js";
import { createVolumeOps } from "./volumes.js";
import { waitForPods } from "./wait-for-pods.js";

/** What the production adapter offers: the cluster port, and work in pods (Jobs, PVCs, exec). */
export type KubernetesCluster = StepCluster & PodWorkPort;

export interface KubernetesClusterOptions {
  /** Namespace of the install (the target's `namespace`). */
  namespace: string;
  /** Context to use from the kubeconfig (the target's `kubeContext`); a missing one is a `config_invalid` error. */
  kubeContext?: string;
  /** A kubeconfig file; default `KUBECONFIG`, then `~/.kube/config`, then the in-cluster service account. */
  kubeconfigPath?: string;
  /** Kubeconfig YAML text, instead of a file. */
  kubeconfigYaml?: string;
  /** A loaded KubeConfig (tests). */
  kubeConfig?: KubeConfig;
  /** `KUBECONFIG` and the in-cluster markers, as read once at start (config/env.ts). */
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  retry?: Partial<RetryPolicy>;
  /** Each request is abandoned (and retried) after this long. Default 30 s. */
  requestTimeoutMs?: number;
  /** `timeoutSeconds` asked for each pod watch; the wait re-opens it when it ends. Default 300. */
  watchTimeoutSeconds?: number;
}

/**
 * The production `ClusterPort`: the only code in restorebot that talks to Kubernetes. Uses
 * exactly the access listed in `rbac.ts` — the scale subresource (get, patch), the workloads
 * (get, for their status), pods (list, watch) and an operator's custom resource (get, patch,
 * named by the kind) — in one
 * namespace. Loading the configuration
 * happens here, so a bad kubeContext fails at construction, before any phase runs.
 */
export function createKubernetesCluster(options: KubernetesClusterOptions): KubernetesCluster {
  const kc = loadKubeConfig(options);
  const namespace = options.namespace;
  const logger = (options.logger ?? silentLogger).child({ component: "kubernetes", namespace });
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const watcher = new Watch(kc);
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const context = (signal?: AbortSignal): CallContext => ({
    policy: { ...DEFAULT_RETRY_POLICY, ...options.retry },
    logger,
    requestTimeoutMs,
    signal,
  });
  const call = (verb: ApiCall["verb"], action: string): ApiCall => ({ verb, action, namespace });

  const listPods = async (components: readonly string[], signal?: AbortSignal) => {
    if (components.length === 0) return { items: [], resourceVersion: undefined };
    const list = await callWithRetries(
      call("list", `list the pods of ${components.join(", ")}`),
      (s) =>
        // Every pod of the namespace, matched here by label *or* owner: a selector on `app`
        // misses a pod someone relabelled, which may still be using the catalog.
        core.listNamespacedPod({ namespace }, requestOptions(s)),
      context(signal),
    );
    return { items: list.items, resourceVersion: list.metadata?.resourceVersion };
  };

  const readWorkload = async (
    kind: WorkloadKind,
    name: string,
    signal?: AbortSignal,
  ): Promise<WorkloadStatus> => {
    const object = await callWithRetries(
      call("get", `read the status of ${kind} ${name}`),
      (s): Promise<Parameters<typeof workloadStatusOf>[2]> =>
        kind === "Deployment"
          ? apps.readNamespacedDeployment({ name, namespace }, requestOptions(s))
          : kind === "StatefulSet"
            ? apps.readNamespacedStatefulSet({ name, namespace }, requestOptions(s))
            : core.readNamespacedReplicationController({ name, namespace }, requestOptions(s)),
      context(signal),
    );
    return workloadStatusOf(kind, name, object);
  };

  const resources = createResourceAccess({
    kc,
    namespace,
    apps,
    core,
    custom,
    logger,
    context,
    requestOptions,
  });

  const podWork = {
    kc,
    namespace,
    logger,
    context,
    watchTimeoutSeconds: options.watchTimeoutSeconds ?? 300,
  };
  return {
    ...resources,
    ...createJobOps(podWork),
    ...createVolumeOps(podWork),
    ...createExecOps(podWork),
    async getReplicas(kind: WorkloadKind, name: string): Promise<number> {
      const scale = await callWithRetries(
        call("get", `read the replica count of ${kind} ${name}`),
        (s) =>
          kind === "Deployment"
            ? apps.readNamespacedDeploymentScale({ name, namespace }, requestOptions(s))
            : kind === "StatefulSet"
              ? apps.readNamespacedStatefulSetScale({ name, namespace }, requestOptions(s))
              : core.readNamespacedReplicationControllerScale(
                  { name, namespace },
                  requestOptions(s),
                ),
        context(),
      );
      // ScaleSpec.replicas is omitted when zero.
      return scale.spec?.replicas ?? 0;
    },

    async scale(kind: WorkloadKind, name: string, replicas: number): Promise<void> {
      if (!Number.isInteger(replicas) || replicas < 0) {
        throw new CodedError(
          "internal",
          `Refusing to scale ${kind} ${name} to ${replicas}: not a replica count.`,
        );
      }
      // A merge patch without resourceVersion: idempotent, so safe to repeat after a 409 or a lost answer.
      const body = { spec: { replicas } };
      await callWithRetries(
        call("patch", `scale ${kind} ${name} to ${replicas}`),
        (s) =>
          kind === "Deployment"
            ? apps.patchNamespacedDeploymentScale(
                { name, namespace, body },
                requestOptions(s, PatchStrategy.MergePatch),
              )
            : kind === "StatefulSet"
              ? apps.patchNamespacedStatefulSetScale(
                  { name, namespace, body },
                  requestOptions(s, PatchStrategy.MergePatch),
                )
              : core.patchNamespacedReplicationControllerScale(
                  { name, namespace, body },
                  requestOptions(s, PatchStrategy.MergePatch),
                ),
        context(),
      );
      logger.info({ kind, name, replicas }, "scaled");
    },

    async listPods(components: readonly string[]): Promise<PodSummary[]> {
      const { items } = await listPods(components);
      return sortPods(items.flatMap((item) => summarizePod(item, components) ?? []));
    },

    waitForPods(
      components: readonly string[],
      predicate: (pods: PodSummary[], workloads: WorkloadStatus[]) => boolean,
      opts: WaitForPodsOptions,
    ): Promise<PodSummary[]> {
      const workloads = opts.workloads ?? [];
      return waitForPods(
        {
          namespace,
          list: (signal) => listPods(components, signal),
          readWorkloads: (signal) =>
            Promise.all(workloads.map((w) => readWorkload(w.kind, w.name, signal))),
          watch: (path, query, onEvent, onDone) => watcher.watch(path, query, onEvent, onDone),
          logger,
          requestTimeoutMs,
          watchTimeoutSeconds: options.watchTimeoutSeconds ?? 300,
        },
        components,
        predicate,
        opts,
      );
    },

    async getOperatorPaused(resource: OperatorResource): Promise<boolean> {
      const { group, version, plural, name } = resource;
      const object: unknown = await callWithRetries(
        call("get", `read ${resource.kind} ${name}`),
        (s) =>
          custom.getNamespacedCustomObject(
            { group, version, plural, namespace, name },
            requestOptions(s),
          ),
        context(),
      );
      return isPaused(object);
    },

    async setOperatorPaused(resource: OperatorResource, paused: boolean): Promise<void> {
      const { group, version, plural, name } = resource;
      // One use of the generic merge patch: only spec.pause changes.
      await resources.patchResource(
        { group, version, plural, name },
        { spec: { pause: paused } },
        {
          action: `${paused ? "pause" : "unpause"} the operator (spec.pause on ${resource.kind} ${name})`,
        },
      );
      logger.info({ resource: `${plural}/${name}`, paused }, "operator pause set");
    },
  };
}

function isPaused(object: unknown): boolean {
  if (typeof object !== "object" || object === null || !("spec" in object)) return false;
  const spec = object.spec;
  return typeof spec === "object" && spec !== null && "pause" in spec && spec.pause === true;
}

/**
 * Per-request options: the abort signal (timeout and cancellation) and, for patches, the
 * content type; client-node (1.x and 2.x alike) would otherwise send `application/json-patch+json`.
 */
function requestOptions(signal: AbortSignal, contentType?: string): ConfigurationOptions {
  const middleware: ObservableMiddleware = {
    pre: (request) => {
      request.setSignal(signal);
      if (contentType) request.setHeaderParam("Content-Type", contentType);
      return new Observable(Promise.resolve(request));
    },
    post: (response) => new Observable(Promise.resolve(response)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: "append" };
}
