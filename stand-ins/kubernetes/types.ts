import type { JsonObject } from "./patch.js";

/** Public types of the Kubernetes API simulator (see README.md next to this file). */

export type WorkloadKind = "Deployment" | "StatefulSet" | "ReplicationController";

export interface PodTiming {
  /** Pending → Running (containers started, not yet ready). */
  startDelayMs: number;
  /** Running → Ready. */
  readyDelayMs: number;
  /** Terminating (deletionTimestamp set) → gone (a pod flushing its data spends its time here). */
  terminationDelayMs: number;
}

export interface ComponentConfig extends Partial<PodTiming> {
  name: string;
  kind: WorkloadKind;
  replicas: number;
  /**
   * StatefulSets only. `OrderedReady` (the Kubernetes default) starts pods one at a time in
   * ordinal order, each after the previous is Ready, and removes them one at a time from the
   * highest ordinal; `Parallel` starts and removes them all at once.
   */
  podManagementPolicy?: "OrderedReady" | "Parallel";
  /**
   * Multiplies the shared `terminationDelayMs` when the component sets none of its own, so a
   * slow component stays proportionally slow whatever timing a test picks. Default 1.
   */
  terminationDelayFactor?: number;
  /** Container names of each pod (the READY column counts them). */
  containers?: string[];
  /** Labels of the workload itself, besides `app=<name>` (for label selectors on workloads). */
  labels?: Record<string, string>;
}

/**
 * One namespaced custom resource object the simulator serves (an operator's instance, for
 * example): get, list, watch (with bookmarks) and merge/JSON patch at
 * `/apis/<group>/<version>/namespaces/<namespace>/<plural>`.
 */
export interface CustomResourceConfig {
  group: string;
  version: string;
  /** Lower-case plural of the URL (`widgets`). */
  plural: string;
  /** `kind` of the object (`Widget`). */
  kind: string;
  /** Name of the one object. */
  name: string;
  /** The object's `spec` at start. Default `{}`. */
  spec?: JsonObject;
  /**
   * A boolean `spec` field that pauses the resource's operator (`pause`). When set, a patch
   * giving it a non-boolean value gets 422, every change of the object is logged as a `pause`
   * event, `snapshot().customResource.paused` reports it and `setPaused()` sets it.
   */
  pausedField?: string;
}

export interface KubernetesSimulatorOptions {
  /** Namespace holding the install. Default `default`. */
  namespace?: string;
  /** Other namespaces that exist (empty). */
  extraNamespaces?: string[];
  /** The custom resource to serve, if any. Default none. */
  customResource?: CustomResourceConfig;
  /** The workloads. Default none. */
  components?: ComponentConfig[];
  /** Per-component changes on top of `components`, by name (replicas, timing, policy). */
  overrides?: Record<string, Partial<Omit<ComponentConfig, "name" | "kind">>>;
  /** Timing for components that do not set their own. */
  timing?: Partial<PodTiming>;
  /** The bearer token every request must carry. Default `simulator-token`. */
  token?: string;
  /** How many watch events are kept for resuming; older resourceVersions get 410 Gone. Default 1000. */
  watchHistoryLimit?: number;
  /** BOOKMARK interval for watches that ask for them (`allowWatchBookmarks=true`). Default 1000. */
  bookmarkIntervalMs?: number;
  /**
   * When set, requests not allowed by these Role rules get 403 Forbidden, as with a
   * ServiceAccount bound to exactly that Role.
   */
  rbacRules?: readonly RbacRuleLike[];
  /**
   * Channel protocols pod exec accepts, in order of preference. Default v5 then v4; only
   * `["v4.channel.k8s.io"]` behaves like a cluster before Kubernetes 1.30, where a client
   * closing stdin closes the whole exec connection.
   */
  execProtocols?: readonly ("v5.channel.k8s.io" | "v4.channel.k8s.io")[];
  /**
   * Run an exec'd command that no `onExec` registration matches for real on this machine
   * (`/bin/sh`, with the pod's PVC mounts; see local-runner.ts) instead of failing it as a
   * missing executable. Default false.
   */
  localExec?: boolean;
  /** Listen address. Default 127.0.0.1 and a free port. */
  host?: string;
  port?: number;
}

export interface RbacRuleLike {
  apiGroups: readonly string[];
  resources: readonly string[];
  verbs: readonly string[];
}

export type PodLifecycleEventType =
  | "pod-created"
  | "pod-running"
  | "pod-ready"
  | "pod-terminating"
  | "pod-deleted";

/** One entry of the mutation log; `seq` orders entries, `at` is `Date.now()` when it happened. */
export type SimEvent =
  | {
      seq: number;
      at: number;
      type: "scale";
      component: string;
      kind: WorkloadKind;
      from: number;
      to: number;
      /** `api` for a request, `direct` for `sim.scale()`. */
      source: "api" | "direct";
    }
  | {
      seq: number;
      at: number;
      type: "pause";
      /** Name of the custom resource. */
      resource: string;
      from: boolean;
      to: boolean;
      source: "api" | "direct";
    }
  | { seq: number; at: number; type: PodLifecycleEventType; component: string; pod: string };

/** Distributes over the union so each member loses its own `seq` and `at`. */
export type SimEventInput = SimEvent extends infer E
  ? E extends SimEvent
    ? Omit<E, "seq" | "at">
    : never
  : never;

export type Verb =
  | "get"
  | "list"
  | "watch"
  | "create"
  | "update"
  | "patch"
  | "delete"
  | "deletecollection";

/** What the API server made of a request: the facts an RBAC check needs. */
export interface RequestInfo {
  /** `""` for the core group. */
  apiGroup: string;
  /** Plural resource, with `/subresource` when there is one (`statefulsets/scale`). */
  resource: string;
  verb: Verb;
  namespace?: string;
  name?: string;
}

export interface RequestRecord extends Partial<RequestInfo> {
  seq: number;
  at: number;
  method: string;
  /** Path and query as sent. */
  url: string;
  path: string;
  query: Record<string, string>;
  contentType?: string;
  /** HTTP status answered; 0 when the connection was reset on purpose. */
  status: number;
  /** True when the answer came from an injected fault. */
  faulted: boolean;
  durationMs: number;
}

export interface PodSnapshot {
  name: string;
  phase: "Pending" | "Running" | "Failed";
  ready: boolean;
  terminating: boolean;
  createdAt: number;
}

export interface ComponentSnapshot {
  name: string;
  kind: WorkloadKind;
  specReplicas: number;
  readyReplicas: number;
  pods: PodSnapshot[];
}

export interface ClusterSnapshot {
  at: number;
  namespace: string;
  resourceVersion: string;
  /** The custom resource and its paused field; absent when the simulator serves none. */
  customResource?: { kind: string; name: string; paused: boolean };
  components: ComponentSnapshot[];
}

/** Which requests a fault applies to; every given field must match. */
export interface RequestMatch {
  method?: string;
  /** Substring of the path and query as sent (`/statefulsets/web/scale`, `watch=true`). */
  pathIncludes?: string;
  verb?: Verb;
  /** As in `RequestInfo.resource` (`pods`, `statefulsets/scale`). */
  resource?: string;
  name?: string;
}

export interface FailRule extends RequestMatch {
  /** HTTP status of the Kubernetes `Status` answer (409, 429, 500, 503, 410, 403, …). */
  status: number;
  /** How many matching requests fail. Default 1. */
  count?: number;
  message?: string;
  /** For 429/503: the Retry-After header, in seconds. */
  retryAfterSeconds?: number;
}
