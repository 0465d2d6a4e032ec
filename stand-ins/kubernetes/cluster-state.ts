import { createHash, randomBytes, randomUUID } from "node:crypto";
import { isJsonObject, type JsonObject } from "./patch.js";
import type {
  ClusterSnapshot,
  ComponentConfig,
  CustomResourceConfig,
  PodTiming,
  SimEvent,
  SimEventInput,
  WorkloadKind,
} from "./types.js";

/**
 * The simulated objects and the controllers that move them: a ReplicaSet/StatefulSet
 * controller creating and removing pods, and a kubelet taking each pod through Pending →
 * Running → Ready and, once deleted, through its termination grace period. Everything the
 * HTTP layer serves is rendered from this state; every change bumps one global
 * resourceVersion, as etcd does.
 */

export type WatchableResource =
  | "pods"
  | "deployments"
  | "statefulsets"
  | "replicationcontrollers"
  | "customresources"
  | "jobs"
  | "persistentvolumeclaims";
export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

export interface ObjectChange {
  rv: number;
  resource: WatchableResource;
  type: WatchEventType;
  object: JsonObject;
}

interface ResolvedComponent extends PodTiming {
  name: string;
  kind: WorkloadKind;
  podManagementPolicy: "OrderedReady" | "Parallel";
  containers: string[];
  labels: Record<string, string>;
}

interface PodState {
  name: string;
  uid: string;
  component: string;
  ordinal: number | undefined;
  ip: string;
  createdAt: number;
  startedAt: number | undefined;
  readyAt: number | undefined;
  deletionAt: number | undefined;
  phase: "Pending" | "Running" | "Failed";
  /** `status.reason` of a Failed pod (`Evicted`). */
  reason?: string;
  /** An `app` label other than the component's: someone relabelled the pod. */
  appLabel?: string;
  /** Its owner reference was removed (the controller may still count it until it notices). */
  ownerDropped?: boolean;
  ready: boolean;
  containerId: string;
  rv: number;
  timer: NodeJS.Timeout | undefined;
}

interface WorkloadState {
  config: ResolvedComponent;
  uid: string;
  createdAt: number;
  replicas: number;
  generation: number;
  rv: number;
  templateHash: string;
  pods: Map<string, PodState>;
  neverReady: boolean;
  neverTerminate: boolean;
  /** Status counts last rendered, so the workload changes only when they do. */
  statusKey: string;
  /**
   * A controller that has stopped updating the status (fault injection): status keeps these
   * counts and observedGeneration while generation and the pods move on.
   */
  frozenStatus?: { observedGeneration: number; replicas: number; ready: number };
}

export interface ClusterStateOptions {
  namespace: string;
  customResource?: CustomResourceConfig;
  components: ComponentConfig[];
  timing: PodTiming;
  watchHistoryLimit: number;
}

const WORKLOAD_KIND_OF = {
  deployments: "Deployment",
  statefulsets: "StatefulSet",
  replicationcontrollers: "ReplicationController",
} as const;
const RESOURCE_OF_KIND = {
  Deployment: "deployments",
  StatefulSet: "statefulsets",
  ReplicationController: "replicationcontrollers",
} as const;

const NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";
const GRACE_PERIOD_SECONDS = 30;

export class ClusterState {
  readonly namespace: string;
  readonly customResourceConfig: CustomResourceConfig | undefined;
  private rv = 0;
  private seq = 0;
  private podIpCounter = 10;
  private readonly workloads = new Map<string, WorkloadState>();
  private customResource: JsonObject | undefined;
  private readonly history: ObjectChange[] = [];
  private readonly historyLimit: number;
  /** Watches may resume from any resourceVersion ≥ this one; older ones are compacted away. */
  private compactedRv = 0;
  private readonly log: SimEvent[] = [];
  private readonly changeListeners = new Set<(change: ObjectChange) => void>();
  private readonly eventListeners = new Set<(event: SimEvent) => void>();
  private closed = false;
  /** Objects kept by other controllers (jobs.ts, volumes.ts), listed with this state's own. */
  private readonly listers = new Map<WatchableResource, Array<() => JsonObject[]>>();

  constructor(options: ClusterStateOptions) {
    this.namespace = options.namespace;
    this.customResourceConfig = options.customResource;
    this.historyLimit = options.watchHistoryLimit;
    const now = Date.now();
    const cr = options.customResource;
    if (cr) {
      this.customResource = {
        apiVersion: `${cr.group}/${cr.version}`,
        kind: cr.kind,
        metadata: {
          name: cr.name,
          namespace: options.namespace,
          uid: randomUUID(),
          generation: 1,
          creationTimestamp: iso(now),
          resourceVersion: String(this.nextRv()),
        },
        spec: structuredClone(cr.spec ?? {}),
      };
    }
    for (const component of options.components) {
      if (this.workloads.has(component.name))
        throw new Error(`component ${component.name} is defined twice`);
      const config: ResolvedComponent = {
        name: component.name,
        kind: component.kind,
        podManagementPolicy: component.podManagementPolicy ?? "OrderedReady",
        containers: component.containers ?? [component.name],
        labels: component.labels ?? {},
        startDelayMs: component.startDelayMs ?? options.timing.startDelayMs,
        readyDelayMs: component.readyDelayMs ?? options.timing.readyDelayMs,
        terminationDelayMs:
          component.terminationDelayMs ??
          options.timing.terminationDelayMs * (component.terminationDelayFactor ?? 1),
      };
      const workload: WorkloadState = {
        config,
        uid: randomUUID(),
        createdAt: now,
        replicas: component.replicas,
        generation: 1,
        rv: this.nextRv(),
        templateHash: templateHash(component.name),
        pods: new Map(),
        neverReady: false,
        neverTerminate: false,
        statusKey: "",
      };
      this.workloads.set(component.name, workload);
      // An install that has been running a while: every pod already Ready.
      for (let i = 0; i < component.replicas; i++) {
        const pod = this.newPod(workload, component.kind === "StatefulSet" ? i : undefined, now);
        pod.phase = "Running";
        pod.ready = true;
        pod.startedAt = now;
        pod.readyAt = now;
        workload.pods.set(pod.name, pod);
      }
      workload.statusKey = this.statusKey(workload);
    }
    // Nothing before the initial state can be watched from.
    this.compactedRv = this.rv;
  }

  // ---- reading ---------------------------------------------------------------------------

  /** A fresh resourceVersion for an object kept outside this state (ConfigMaps, custom resources). */
  bumpResourceVersion(): number {
    return this.nextRv();
  }

  get resourceVersion(): number {
    return this.rv;
  }

  componentNames(): string[] {
    return [...this.workloads.keys()];
  }

  hasComponent(name: string): boolean {
    return this.workloads.has(name);
  }

  workloadKind(name: string): WorkloadKind | undefined {
    return this.workloads.get(name)?.config.kind;
  }

  /** Current objects of one resource type, rendered as the API serves them. */
  list(resource: WatchableResource): JsonObject[] {
    const extra = (this.listers.get(resource) ?? []).flatMap((lister) => lister());
    switch (resource) {
      case "pods":
        return [
          ...[...this.workloads.values()].flatMap((w) =>
            [...w.pods.values()].map((p) => this.renderPod(w, p)),
          ),
          ...extra,
        ];
      case "deployments":
      case "statefulsets":
      case "replicationcontrollers":
        return [...this.workloads.values()]
          .filter((w) => w.config.kind === WORKLOAD_KIND_OF[resource])
          .map((w) => this.renderWorkload(w));
      case "customresources":
        return this.customResource ? [structuredClone(this.customResource)] : [];
      default:
        return extra;
    }
  }

  /**
   * Lets another controller (Jobs, PVCs) keep objects of a resource: `lister` renders them for
   * lists and gets, and `publish` stamps each change with the next resourceVersion and sends it
   * to watches.
   */
  addLister(resource: WatchableResource, lister: () => JsonObject[]): void {
    const listers = this.listers.get(resource) ?? [];
    listers.push(lister);
    this.listers.set(resource, listers);
  }

  /** The next resourceVersion, for an object about to change. */
  allocateResourceVersion(): number {
    return this.nextRv();
  }

  /** Sends a change of another controller's object (already stamped) to watches and listeners. */
  publish(resource: WatchableResource, type: WatchEventType, object: JsonObject): void {
    this.emitChange(resource, type, object);
  }

  get(resource: WatchableResource, name: string): JsonObject | undefined {
    return this.list(resource).find((o) => metadataOf(o).name === name);
  }

  /** The autoscaling/v1 Scale of a workload of the given kind, or undefined. */
  getScale(kind: WorkloadKind, name: string): JsonObject | undefined {
    const w = this.workloads.get(name);
    if (!w || w.config.kind !== kind) return undefined;
    return this.renderScale(w);
  }

  /** The custom resource the caller registered, or undefined when there is none. */
  getCustomResource(): JsonObject | undefined {
    return this.customResource ? structuredClone(this.customResource) : undefined;
  }

  /** Whether the custom resource's paused field (`pausedField` of its config) is `true`. */
  isPaused(): boolean {
    const field = this.customResourceConfig?.pausedField;
    const spec = this.customResource?.spec;
    if (field === undefined || !isJsonObject(spec)) return false;
    return spec[field] === true;
  }

  /** Changes with a resourceVersion above `rv`, or undefined when they have been compacted away. */
  changesSince(rv: number): ObjectChange[] | undefined {
    if (rv < this.compactedRv) return undefined;
    return this.history.filter((c) => c.rv > rv);
  }

  /** Makes every resourceVersion older than the current one too old to resume a watch from (etcd compaction). */
  compactHistory(): void {
    this.compactedRv = this.rv;
    this.history.length = 0;
  }

  events(): readonly SimEvent[] {
    return this.log;
  }

  snapshot(): ClusterSnapshot {
    return {
      at: Date.now(),
      namespace: this.namespace,
      resourceVersion: String(this.rv),
      ...(this.customResourceConfig
        ? {
            customResource: {
              kind: this.customResourceConfig.kind,
              name: this.customResourceConfig.name,
              paused: this.isPaused(),
            },
          }
        : {}),
      components: [...this.workloads.values()].map((w) => ({
        name: w.config.name,
        kind: w.config.kind,
        specReplicas: w.replicas,
        readyReplicas: [...w.pods.values()].filter((p) => p.ready && p.deletionAt === undefined)
          .length,
        pods: [...w.pods.values()]
          .sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }))
          .map((p) => ({
            name: p.name,
            phase: p.phase,
            ready: p.ready,
            terminating: p.deletionAt !== undefined,
            createdAt: p.createdAt,
          })),
      })),
    };
  }

  onChange(listener: (change: ObjectChange) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  onEvent(listener: (event: SimEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  // ---- writing ---------------------------------------------------------------------------

  /** Sets spec.replicas (from the scale subresource or `sim.scale()`); returns the previous value. */
  setReplicas(name: string, replicas: number, source: "api" | "direct"): number {
    const w = this.requireWorkload(name);
    const from = w.replicas;
    w.replicas = replicas;
    if (from !== replicas) w.generation++;
    this.record({
      type: "scale",
      component: name,
      kind: w.config.kind,
      from,
      to: replicas,
      source,
    });
    this.touchWorkload(w);
    this.reconcile(w);
    return from;
  }

  /**
   * Replaces the custom resource (after a patch); `metadata` identity fields are kept. A change
   * is logged as a `pause` event when the resource has a paused field.
   */
  replaceCustomResource(next: JsonObject, source: "api" | "direct"): JsonObject {
    const cr = this.customResourceConfig;
    const current = this.customResource;
    if (!cr || !current) throw new Error("the simulator has no custom resource");
    const before = this.isPaused();
    const meta = metadataOf(current);
    const nextMeta = metadataOf(next);
    const specChanged = JSON.stringify(next.spec) !== JSON.stringify(current.spec);
    this.customResource = {
      ...next,
      apiVersion: `${cr.group}/${cr.version}`,
      kind: cr.kind,
      metadata: {
        ...nextMeta,
        name: meta.name ?? cr.name,
        namespace: this.namespace,
        uid: meta.uid ?? randomUUID(),
        creationTimestamp: meta.creationTimestamp ?? iso(Date.now()),
        generation:
          (typeof meta.generation === "number" ? meta.generation : 1) + (specChanged ? 1 : 0),
        resourceVersion: String(this.nextRv()),
      },
    };
    this.emitChange("customresources", "MODIFIED", this.customResource);
    if (cr.pausedField !== undefined) {
      this.record({
        type: "pause",
        resource: cr.name,
        from: before,
        to: this.isPaused(),
        source,
      });
    }
    return structuredClone(this.customResource);
  }

  setNeverReady(component: string, enabled: boolean): void {
    const w = this.requireWorkload(component);
    w.neverReady = enabled;
    for (const pod of w.pods.values()) {
      if (pod.deletionAt !== undefined || pod.phase !== "Running" || pod.ready) continue;
      if (enabled) this.clearTimer(pod);
      else this.schedule(pod, w.config.readyDelayMs, () => this.markReady(w, pod));
    }
  }

  setNeverTerminate(component: string, enabled: boolean): void {
    const w = this.requireWorkload(component);
    w.neverTerminate = enabled;
    for (const pod of w.pods.values()) {
      if (pod.deletionAt === undefined) continue;
      if (enabled) this.clearTimer(pod);
      else if (!pod.timer)
        this.schedule(pod, w.config.terminationDelayMs, () => this.removePod(w, pod));
    }
  }

  /** Deletes one pod as `kubectl delete pod` would: it terminates, then its controller replaces it. */
  deletePod(name: string): boolean {
    for (const w of this.workloads.values()) {
      const pod = w.pods.get(name);
      if (pod && pod.deletionAt === undefined) {
        this.terminate(w, pod);
        this.reconcile(w);
        return true;
      }
    }
    return false;
  }

  /**
   * Gives a pod another `app` label, as `kubectl label --overwrite` would, keeping its owner
   * reference: selectors on `app` no longer find it, though it is still the workload's.
   */
  relabelPod(name: string, app: string, options: { dropOwner?: boolean } = {}): boolean {
    for (const w of this.workloads.values()) {
      const pod = w.pods.get(name);
      if (pod) {
        pod.appLabel = app;
        if (options.dropOwner) pod.ownerDropped = true;
        this.touchPod(w, pod);
        return true;
      }
    }
    return false;
  }

  /**
   * Evicts a Deployment's pod as the kubelet does under node pressure: it stops (phase Failed,
   * reason Evicted) and stays until someone deletes it; its ReplicaSet replaces it.
   */
  evictPod(name: string): boolean {
    for (const w of this.workloads.values()) {
      const pod = w.pods.get(name);
      if (!pod || pod.deletionAt !== undefined) continue;
      if (w.config.kind === "StatefulSet")
        throw new Error(
          `evictPod supports Deployment and ReplicationController pods only, not ${name}`,
        );
      this.clearTimer(pod);
      pod.phase = "Failed";
      pod.reason = "Evicted";
      pod.ready = false;
      this.touchPod(w, pod);
      this.reconcile(w);
      return true;
    }
    return false;
  }

  /**
   * The workload's controller stops updating its status (as a busy or stuck controller does):
   * `status` keeps its counts and `observedGeneration` as they are now, while a scale still bumps
   * `metadata.generation` and pods still come and go. `releaseWorkloadStatus` catches up.
   */
  freezeWorkloadStatus(name: string): void {
    const w = this.requireWorkload(name);
    const n = counts(w);
    w.frozenStatus = { observedGeneration: w.generation, replicas: n.replicas, ready: n.ready };
  }

  releaseWorkloadStatus(name: string): void {
    const w = this.requireWorkload(name);
    if (!w.frozenStatus) return;
    w.frozenStatus = undefined;
    this.touchWorkload(w);
  }

  close(): void {
    this.closed = true;
    for (const w of this.workloads.values())
      for (const pod of w.pods.values()) this.clearTimer(pod);
  }

  // ---- controllers -----------------------------------------------------------------------

  private reconcile(w: WorkloadState): void {
    if (this.closed) return;
    const live = [...w.pods.values()].filter(
      (p) => p.deletionAt === undefined && p.phase !== "Failed",
    );
    // A ReplicationController replaces and removes pods as a Deployment's ReplicaSet does.
    if (w.config.kind === "Deployment" || w.config.kind === "ReplicationController") {
      const surplus = live.length - w.replicas;
      if (surplus > 0) {
        // The ReplicaSet controller removes the least useful pods first: pending, then not
        // ready, then the newest.
        const victims = live
          .sort((a, b) => rank(a) - rank(b) || b.createdAt - a.createdAt)
          .slice(0, surplus);
        for (const pod of victims) this.terminate(w, pod);
      }
      for (let i = surplus; i < 0; i++) this.createPod(w, undefined);
    } else {
      this.reconcileStatefulSet(w, live);
    }
    this.refreshStatus(w);
  }

  private reconcileStatefulSet(w: WorkloadState, live: PodState[]): void {
    const condemned = live
      .filter((p) => (p.ordinal ?? 0) >= w.replicas)
      .sort((a, b) => (b.ordinal ?? 0) - (a.ordinal ?? 0));
    const terminating = [...w.pods.values()].some((p) => p.deletionAt !== undefined);
    if (w.config.podManagementPolicy === "Parallel") {
      for (const pod of condemned) this.terminate(w, pod);
      for (let ordinal = 0; ordinal < w.replicas; ordinal++) {
        // A replacement waits until the pod with its name is fully gone (stable identity).
        if (!w.pods.has(`${w.config.name}-${ordinal}`)) this.createPod(w, ordinal);
      }
      return;
    }
    // OrderedReady: one pod at a time; highest ordinal removed first, each fully gone before the next.
    if (condemned.length > 0) {
      const first = condemned[0];
      if (!terminating && first) this.terminate(w, first);
      return;
    }
    for (let ordinal = 0; ordinal < w.replicas; ordinal++) {
      const pod = w.pods.get(`${w.config.name}-${ordinal}`);
      if (!pod) {
        this.createPod(w, ordinal);
        return;
      }
      if (pod.deletionAt !== undefined || !pod.ready) return;
    }
  }

  private createPod(w: WorkloadState, ordinal: number | undefined): void {
    const pod = this.newPod(w, ordinal, Date.now());
    w.pods.set(pod.name, pod);
    pod.rv = this.nextRv();
    this.emitChange("pods", "ADDED", this.renderPod(w, pod));
    this.record({ type: "pod-created", component: w.config.name, pod: pod.name });
    this.schedule(pod, w.config.startDelayMs, () => this.markRunning(w, pod));
  }

  private markRunning(w: WorkloadState, pod: PodState): void {
    pod.phase = "Running";
    pod.startedAt = Date.now();
    this.touchPod(w, pod);
    this.record({ type: "pod-running", component: w.config.name, pod: pod.name });
    if (!w.neverReady) this.schedule(pod, w.config.readyDelayMs, () => this.markReady(w, pod));
    this.refreshStatus(w);
  }

  private markReady(w: WorkloadState, pod: PodState): void {
    pod.ready = true;
    pod.readyAt = Date.now();
    this.touchPod(w, pod);
    this.record({ type: "pod-ready", component: w.config.name, pod: pod.name });
    this.reconcile(w);
  }

  private terminate(w: WorkloadState, pod: PodState): void {
    this.clearTimer(pod);
    pod.deletionAt = Date.now();
    this.touchPod(w, pod);
    this.record({ type: "pod-terminating", component: w.config.name, pod: pod.name });
    if (!w.neverTerminate)
      this.schedule(pod, w.config.terminationDelayMs, () => this.removePod(w, pod));
  }

  private removePod(w: WorkloadState, pod: PodState): void {
    this.clearTimer(pod);
    w.pods.delete(pod.name);
    pod.rv = this.nextRv();
    this.emitChange("pods", "DELETED", this.renderPod(w, pod));
    this.record({ type: "pod-deleted", component: w.config.name, pod: pod.name });
    this.reconcile(w);
  }

  private schedule(pod: PodState, delayMs: number, action: () => void): void {
    this.clearTimer(pod);
    pod.timer = setTimeout(() => {
      pod.timer = undefined;
      if (!this.closed) action();
    }, delayMs);
  }

  private clearTimer(pod: PodState): void {
    if (pod.timer) clearTimeout(pod.timer);
    pod.timer = undefined;
  }

  private refreshStatus(w: WorkloadState): void {
    const key = this.statusKey(w);
    if (key === w.statusKey) return;
    w.statusKey = key;
    this.touchWorkload(w);
  }

  private statusKey(w: WorkloadState): string {
    const c = counts(w);
    return `${w.replicas}/${c.replicas}/${c.ready}/${w.generation}`;
  }

  private touchPod(w: WorkloadState, pod: PodState): void {
    pod.rv = this.nextRv();
    this.emitChange("pods", "MODIFIED", this.renderPod(w, pod));
  }

  private touchWorkload(w: WorkloadState): void {
    w.rv = this.nextRv();
    w.statusKey = this.statusKey(w);
    this.emitChange(RESOURCE_OF_KIND[w.config.kind], "MODIFIED", this.renderWorkload(w));
  }

  private newPod(w: WorkloadState, ordinal: number | undefined, now: number): PodState {
    const name =
      ordinal !== undefined
        ? `${w.config.name}-${ordinal}`
        : w.config.kind === "ReplicationController"
          ? `${w.config.name}-${randomSuffix(5)}`
          : `${w.config.name}-${w.templateHash}-${randomSuffix(5)}`;
    this.podIpCounter = (this.podIpCounter % 250) + 1;
    return {
      name,
      uid: randomUUID(),
      component: w.config.name,
      ordinal,
      ip: `10.42.0.${this.podIpCounter}`,
      createdAt: now,
      startedAt: undefined,
      readyAt: undefined,
      deletionAt: undefined,
      phase: "Pending",
      ready: false,
      containerId: randomBytes(32).toString("hex"),
      rv: this.nextRv(),
      timer: undefined,
    };
  }

  private requireWorkload(name: string): WorkloadState {
    const w = this.workloads.get(name);
    if (!w)
      throw new Error(`no component named ${name} (have: ${this.componentNames().join(", ")})`);
    return w;
  }

  private nextRv(): number {
    this.rv += 1;
    return this.rv;
  }

  private emitChange(resource: WatchableResource, type: WatchEventType, object: JsonObject): void {
    const change: ObjectChange = {
      rv: Number(metadataOf(object).resourceVersion),
      resource,
      type,
      object,
    };
    this.history.push(change);
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit);
      this.compactedRv = dropped[dropped.length - 1]?.rv ?? this.compactedRv;
    }
    for (const listener of this.changeListeners) listener(change);
  }

  private record(input: SimEventInput): void {
    const event = { ...input, seq: ++this.seq, at: Date.now() } as SimEvent;
    this.log.push(event);
    for (const listener of this.eventListeners) listener(event);
  }

  // ---- rendering -------------------------------------------------------------------------

  private renderPod(w: WorkloadState, pod: PodState): JsonObject {
    const c = w.config;
    const statefulSet = c.kind === "StatefulSet";
    const labels: JsonObject = { app: pod.appLabel ?? c.name };
    if (statefulSet) {
      labels["statefulset.kubernetes.io/pod-name"] = pod.name;
      labels["apps.kubernetes.io/pod-index"] = String(pod.ordinal ?? 0);
      labels["controller-revision-hash"] = `${c.name}-${w.templateHash}`;
    } else if (c.kind === "Deployment") {
      labels["pod-template-hash"] = w.templateHash;
    }
    const metadata: JsonObject = {
      name: pod.name,
      namespace: this.namespace,
      uid: pod.uid,
      resourceVersion: String(pod.rv),
      creationTimestamp: iso(pod.createdAt),
      labels,
      ownerReferences: pod.ownerDropped
        ? []
        : [
            {
              apiVersion: c.kind === "ReplicationController" ? "v1" : "apps/v1",
              kind: c.kind === "Deployment" ? "ReplicaSet" : c.kind,
              name: c.kind === "Deployment" ? `${c.name}-${w.templateHash}` : c.name,
              uid: w.uid,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
    };
    if (pod.deletionAt !== undefined) {
      // As on a real API server: the time the grace period runs out, not when deletion began.
      metadata.deletionTimestamp = iso(pod.deletionAt + GRACE_PERIOD_SECONDS * 1000);
      metadata.deletionGracePeriodSeconds = GRACE_PERIOD_SECONDS;
    }
    const created = iso(pod.createdAt);
    const readyTime = iso(pod.readyAt ?? pod.startedAt ?? pod.createdAt);
    const ready = pod.ready;
    const condition = (type: string, status: boolean, at: string, reason?: string): JsonObject => ({
      type,
      status: status ? "True" : "False",
      lastProbeTime: null,
      lastTransitionTime: at,
      ...(reason && !status ? { reason } : {}),
    });
    return {
      apiVersion: "v1",
      kind: "Pod",
      metadata,
      spec: {
        containers: c.containers.map((name) => ({
          name,
          image: `registry.example/simulated/${name}:simulated`,
        })),
        nodeName: "sim-node-1",
        restartPolicy: "Always",
        terminationGracePeriodSeconds: GRACE_PERIOD_SECONDS,
        ...(statefulSet ? { hostname: pod.name, subdomain: c.name } : {}),
      },
      status: {
        phase: pod.phase,
        ...(pod.reason ? { reason: pod.reason } : {}),
        conditions: [
          condition(
            "PodReadyToStartContainers",
            pod.phase === "Running",
            iso(pod.startedAt ?? pod.createdAt),
          ),
          condition("Initialized", true, created),
          condition("Ready", ready, readyTime, "ContainersNotReady"),
          condition("ContainersReady", ready, readyTime, "ContainersNotReady"),
          condition("PodScheduled", true, created),
        ],
        hostIP: "10.0.0.10",
        podIP: pod.ip,
        startTime: created,
        qosClass: "Burstable",
        containerStatuses: c.containers.map((name) => ({
          name,
          image: `registry.example/simulated/${name}:simulated`,
          imageID: "",
          ready,
          started: pod.phase === "Running",
          restartCount: 0,
          ...(pod.phase === "Running" ? { containerID: `containerd://${pod.containerId}` } : {}),
          state: (pod.phase === "Running"
            ? { running: { startedAt: iso(pod.startedAt ?? pod.createdAt) } }
            : { waiting: { reason: "ContainerCreating" } }) as JsonObject,
        })),
      },
    };
  }

  private renderWorkload(w: WorkloadState): JsonObject {
    const c = w.config;
    const frozen = w.frozenStatus;
    const n = frozen ?? counts(w);
    const observedGeneration = frozen?.observedGeneration ?? w.generation;
    const template: JsonObject = {
      metadata: { labels: { app: c.name } },
      spec: {
        containers: c.containers.map((name) => ({
          name,
          image: `registry.example/simulated/${name}:simulated`,
        })),
      },
    };
    const metadata: JsonObject = {
      name: c.name,
      namespace: this.namespace,
      uid: w.uid,
      resourceVersion: String(w.rv),
      generation: w.generation,
      creationTimestamp: iso(w.createdAt),
      labels: { ...c.labels, app: c.name },
    };
    // Zero counts are omitted from status, as the API server's omitempty does.
    const nonZero = (entries: Record<string, number>): JsonObject =>
      Object.fromEntries(Object.entries(entries).filter(([, v]) => v !== 0));
    if (c.kind === "ReplicationController") {
      return {
        apiVersion: "v1",
        kind: "ReplicationController",
        metadata,
        spec: { replicas: w.replicas, selector: { app: c.name }, template },
        status: {
          observedGeneration,
          // `replicas` is omitempty on a ReplicationController too.
          ...nonZero({
            replicas: n.replicas,
            fullyLabeledReplicas: n.replicas,
            readyReplicas: n.ready,
            availableReplicas: n.ready,
          }),
        },
      };
    }
    if (c.kind === "Deployment") {
      return {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { ...metadata, annotations: { "deployment.kubernetes.io/revision": "1" } },
        spec: {
          replicas: w.replicas,
          selector: { matchLabels: { app: c.name } },
          template,
          strategy: {
            type: "RollingUpdate",
            rollingUpdate: { maxSurge: "25%", maxUnavailable: "25%" },
          },
        },
        status: {
          observedGeneration,
          ...nonZero({
            replicas: n.replicas,
            updatedReplicas: n.replicas,
            readyReplicas: n.ready,
            availableReplicas: n.ready,
            unavailableReplicas: Math.max(0, w.replicas - n.ready),
          }),
        },
      };
    }
    return {
      apiVersion: "apps/v1",
      kind: "StatefulSet",
      metadata,
      spec: {
        replicas: w.replicas,
        selector: { matchLabels: { app: c.name } },
        serviceName: c.name,
        podManagementPolicy: c.podManagementPolicy,
        template,
        updateStrategy: { type: "RollingUpdate", rollingUpdate: { partition: 0 } },
      },
      status: {
        observedGeneration,
        ...nonZero({
          replicas: n.replicas,
          readyReplicas: n.ready,
          currentReplicas: n.replicas,
          updatedReplicas: n.replicas,
          availableReplicas: n.ready,
        }),
        currentRevision: `${c.name}-${w.templateHash}`,
        updateRevision: `${c.name}-${w.templateHash}`,
        collisionCount: 0,
      },
    };
  }

  private renderScale(w: WorkloadState): JsonObject {
    return {
      kind: "Scale",
      apiVersion: "autoscaling/v1",
      metadata: {
        name: w.config.name,
        namespace: this.namespace,
        uid: w.uid,
        resourceVersion: String(w.rv),
        creationTimestamp: iso(w.createdAt),
      },
      // ScaleSpec.replicas is omitempty: a workload scaled to zero answers `spec: {}`.
      spec: w.replicas === 0 ? {} : { replicas: w.replicas },
      status: { replicas: counts(w).replicas, selector: `app=${w.config.name}` },
    };
  }
}

function counts(w: WorkloadState): { replicas: number; ready: number } {
  const live = [...w.pods.values()].filter(
    (p) => p.deletionAt === undefined && p.phase !== "Failed",
  );
  return { replicas: live.length, ready: live.filter((p) => p.ready).length };
}

function rank(pod: PodState): number {
  if (pod.phase === "Pending") return 0;
  return pod.ready ? 2 : 1;
}

export function metadataOf(object: JsonObject): JsonObject {
  const meta = object.metadata;
  return typeof meta === "object" && meta !== null && !Array.isArray(meta) ? meta : {};
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function templateHash(name: string): string {
  const digest = createHash("sha256").update(name).digest();
  let out = "";
  for (let i = 0; i < 10; i++) out += NAME_ALPHABET[(digest[i] ?? 0) % NAME_ALPHABET.length];
  return out;
}

function randomSuffix(length: number): string {
  const bytes = randomBytes(length);
  let out = "";
  for (const b of bytes) out += NAME_ALPHABET[b % NAME_ALPHABET.length];
  return out;
}
