/**
 * What the restore runbook needs from a Kubernetes cluster, and nothing more. The worker's
 * phases depend on this port only; `createKubernetesCluster` is the production adapter and
 * tests may pass any other implementation.
 */
export type WorkloadKind = "Deployment" | "StatefulSet" | "ReplicationController";

/** A workload by kind and name. */
export interface WorkloadRef {
  kind: WorkloadKind;
  name: string;
}

export interface PodSummary {
  name: string;
  /**
   * The component (workload) it belongs to: its `app` label or, when that label is wrong, the
   * workload its owner reference names.
   */
  component: string;
  /** Its `app` label when that is not its workload's name (someone relabelled it). */
  mislabelled?: string;
  /** `Pending`, `Running`, `Succeeded`, `Failed` or `Unknown`. */
  phase: string;
  /** `status.reason` (`Evicted`), when the kubelet gave one. */
  reason?: string;
  /** Running, Ready condition True, and not terminating. */
  ready: boolean;
  /** Has a deletionTimestamp: shutting down (a stateful pod may flush its data here). */
  terminating: boolean;
}

/**
 * A workload's own account of its pods, from its controller: what `kubectl get` shows. It is
 * trusted only once `observedGeneration` has caught up with `generation` (the controller has
 * seen the latest scale); before that, its counts describe an older spec.
 */
export interface WorkloadStatus {
  kind: WorkloadKind;
  name: string;
  /** `metadata.generation`: bumped by every spec change, a scale included. */
  generation: number;
  /** `status.observedGeneration`: the generation the controller last acted on. */
  observedGeneration: number;
  /** `status.replicas`: the pods the controller counts as its own (0 when omitted). */
  replicas: number;
  /** `status.readyReplicas` (0 when omitted). */
  readyReplicas: number;
}

export interface WaitForPodsOptions {
  /** Rejects with a `timeout` CodedError after this long. */
  timeoutMs: number;
  /** Aborting rejects with a `cancelled` CodedError. */
  signal?: AbortSignal;
  /**
   * Called with the current pods (and the workloads' statuses, when `workloads` is given) once
   * at the start and whenever any of them changes.
   */
  onProgress?: (pods: PodSummary[], workloads: WorkloadStatus[]) => void;
  /**
   * Workloads whose own status the wait reads too (on every pod change and at least every
   * second), for a predicate that cross-checks the pods with what their controllers report.
   * The predicate is not asked before their first read.
   */
  workloads?: ReadonlyArray<{ kind: WorkloadKind; name: string }>;
  /** What is awaited, for messages: "every non-catalog pod gone", "≥ 2 catalog pods ready". */
  description: string;
}

export interface ClusterPort {
  /** `spec.replicas` of the workload (0 when unset). */
  getReplicas(kind: WorkloadKind, name: string): Promise<number>;
  /** Sets `spec.replicas` through the scale subresource. Idempotent. */
  scale(kind: WorkloadKind, name: string, replicas: number): Promise<void>;
  /**
   * The pods of the components, sorted by name: labelled `app=<component>`, or owned by the
   * workload (its StatefulSet, or a ReplicaSet of its Deployment) whatever their labels say.
   */
  listPods(components: readonly string[]): Promise<PodSummary[]>;
  /**
   * Resolves with the pods once `predicate(pods)` holds, noticed within a second of it becoming
   * true (a watch, re-established after expiry or errors). Rejects with a `timeout` CodedError
   * naming what it waited for and the pods still there, or `cancelled` on abort.
   */
  waitForPods(
    components: readonly string[],
    predicate: (pods: PodSummary[], workloads: WorkloadStatus[]) => boolean,
    options: WaitForPodsOptions,
  ): Promise<PodSummary[]>;
  /**
   * Whether the operator's custom resource has `spec.pause: true` (the operator then leaves the
   * install alone). The kind names the resource; a missing one is a 404 error naming it.
   */
  getOperatorPaused(resource: OperatorResource): Promise<boolean>;
  /** Sets `spec.pause` on the operator's custom resource (a merge patch). Idempotent. */
  setOperatorPaused(resource: OperatorResource, paused: boolean): Promise<void>;
}

/** The custom resource an operator reads `spec.pause` from, named by the kind that uses it. */
export interface OperatorResource extends ResourceRef {
  /** Its Kubernetes kind, for messages: "read <kind> <name>". */
  kind: string;
}

/** Any namespaced object by group, version and plural resource name (core group: `""`). */
export interface ResourceRef {
  group: string;
  version: string;
  /** Plural, lower case, as in the API path: `configmaps`, `elasticsearches`. */
  plural: string;
  name: string;
}

/** A JSON object as the API returns it. */
export type KubeObject = Record<string, unknown>;

export interface ServiceProxyRequest {
  service: string;
  /** The Service port, by number or name. */
  port: number | string;
  /** Path on the service, with or without a leading slash: `_snapshot/backup/_all`. */
  path: string;
  method?: "GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD";
  query?: Record<string, string>;
  body?: string;
  contentType?: string;
  signal?: AbortSignal;
}

export interface ServiceProxyResponse {
  /** The service's own status (or the API server's, when it could not reach the service). */
  status: number;
  contentType: string | undefined;
  body: string;
}

/** A pod read one by one: its summary and the controller that owns it. */
export interface PodDetails {
  name: string;
  uid: string;
  phase: string;
  ready: boolean;
  terminating: boolean;
  owner: { kind: string; name: string } | undefined;
  labels: Record<string, string>;
}

/**
 * What the step library (src/steps) needs beyond `ClusterPort`: workloads found by label,
 * generic objects (custom resources included), ConfigMaps, pod deletion and the service proxy.
 * Each method maps to one `KubernetesOperation` (rbac.ts), from which a kind's Role is derived.
 */
export interface ResourcePort {
  /** Names of the workloads of `kind` whose labels match `labelSelector`, sorted. */
  listWorkloads(kind: WorkloadKind, labelSelector: string): Promise<string[]>;
  /** The object, or undefined when it does not exist (404). */
  getResource(ref: ResourceRef): Promise<KubeObject | undefined>;
  /**
   * A JSON merge patch (RFC 7386) without resourceVersion: idempotent. Returns the object after
   * it. `action` words a failure ("pause the operator (spec.pause on <Kind> x)").
   */
  patchResource(
    ref: ResourceRef,
    patch: KubeObject,
    options?: { action?: string },
  ): Promise<KubeObject>;
  getConfigMap(
    name: string,
  ): Promise<{ data: Record<string, string>; resourceVersion: string } | undefined>;
  /** The ConfigMaps whose labels match `labelSelector` (e.g. a chart's templates), by name. */
  listConfigMaps(labelSelector: string): Promise<
    Array<{
      metadata: { name: string; labels: Record<string, string> };
      data: Record<string, string>;
    }>
  >;
  /**
   * Replaces the ConfigMap's `data`. With `resourceVersion`, only if nobody changed it since it
   * was read (else a `conflict` CodedError).
   */
  replaceConfigMap(
    name: string,
    data: Record<string, string>,
    resourceVersion?: string,
  ): Promise<void>;
  getPod(name: string): Promise<PodDetails | undefined>;
  /** Deletes a pod (graceful). False when it was already gone. */
  deletePod(name: string): Promise<boolean>;
  /** HTTP through the API server's service proxy; the service's answer whatever its status. */
  callServiceProxy(request: ServiceProxyRequest): Promise<ServiceProxyResponse>;
}

/** The cluster as the step library sees it. */
export type StepCluster = ClusterPort & ResourcePort;
