import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import {
  ClusterState,
  metadataOf,
  type ObjectChange,
  type WatchableResource,
} from "./cluster-state.js";
import { DEFAULT_TIMING } from "./components.js";
import { ExtraResources } from "./extra-resources.js";
import { JobController, type JobPodBehaviour, type JobPodMatch, type JobSnapshot } from "./jobs.js";
import {
  type LabelRequirement,
  LabelSelectorError,
  matchesLabelSelector,
  parseLabelSelector,
} from "./label-selector.js";
import { runLocally } from "./local-runner.js";
import {
  applyJsonPatch,
  applyMergePatch,
  isJsonObject,
  type Json,
  type JsonObject,
  PATCH_CONTENT_TYPES,
  PatchError,
} from "./patch.js";
import {
  EXEC_PROTOCOL_V4,
  EXEC_PROTOCOL_V5,
  type ExecHandler,
  type ExecMatch,
  type ExecRecord,
  PodExec,
  PodIoError,
  PodLogs,
  type PodView,
  rejectUpgrade,
} from "./pod-io.js";
import { isAllowedBy, matchesRequest, resolveRequestInfo } from "./request-info.js";
import type {
  ClusterSnapshot,
  ComponentConfig,
  CustomResourceConfig,
  FailRule,
  KubernetesSimulatorOptions,
  RbacRuleLike,
  RequestInfo,
  RequestMatch,
  RequestRecord,
  SimEvent,
  WorkloadKind,
} from "./types.js";
import { VolumeStore, type WriteAnswer } from "./volumes.js";

/**
 * A Kubernetes API server for one install (the workloads and the custom resource its caller
 * describes), on 127.0.0.1 over plain HTTP,
 * faithful enough that the unmodified `@kubernetes/client-node` works against it: the
 * resources, the scale subresource, label selectors, watches with resourceVersions, and
 * `Status` error bodies. Tests inject faults and read back what happened, in order.
 */
export class KubernetesSimulator {
  readonly namespace: string;
  /** The custom resource the caller registered, if any. */
  readonly customResource: CustomResourceConfig | undefined;
  readonly token: string;
  private readonly state: ClusterState;
  private readonly server: Server;
  private readonly namespaces: Set<string>;
  private readonly rbacRules: readonly RbacRuleLike[] | undefined;
  private readonly bookmarkIntervalMs: number;
  private readonly watches = new Set<ActiveWatch>();
  private readonly requestLog: RequestRecord[] = [];
  private readonly requestListeners = new Set<(request: RequestRecord) => void>();
  private readonly waiters = new Set<() => void>();
  private readonly podExec: PodExec;
  private readonly podLogs = new PodLogs();
  private readonly jobs: JobController;
  private readonly volumes: VolumeStore;
  /** ConfigMaps, custom resources, pod deletion and the service proxy (extra-resources.ts). */
  readonly resources: ExtraResources;
  private faults: FaultRule[] = [];
  private latencies: LatencyRule[] = [];
  private watchLifetimeMs: number | null = null;
  private requestSeq = 0;
  private closed = false;

  private constructor(options: KubernetesSimulatorOptions) {
    this.namespace = options.namespace ?? "default";
    this.customResource = options.customResource;
    this.token = options.token ?? "simulator-token";
    this.namespaces = new Set([
      this.namespace,
      "default",
      "kube-system",
      ...(options.extraNamespaces ?? []),
    ]);
    this.rbacRules = options.rbacRules;
    this.bookmarkIntervalMs = options.bookmarkIntervalMs ?? 1000;
    this.state = new ClusterState({
      namespace: this.namespace,
      customResource: this.customResource,
      components: applyOverrides(options.components ?? [], options.overrides ?? {}),
      timing: { ...DEFAULT_TIMING, ...options.timing },
      watchHistoryLimit: options.watchHistoryLimit ?? 1000,
    });
    this.state.onChange((change) => this.broadcast(change));
    this.state.onChange((change) => {
      if (change.resource === "pods" && change.type === "DELETED") {
        this.podLogs.podDeleted(String(metadataOf(change.object).name));
      }
    });
    const timing = { ...DEFAULT_TIMING, ...options.timing };
    this.jobs = new JobController({
      state: this.state,
      namespace: this.namespace,
      startDelayMs: timing.startDelayMs,
      terminationDelayMs: timing.terminationDelayMs,
      claimDirectory: (name) => this.volumes.directory(name),
      podExists: (name) => this.workloadPodExists(name),
      writeLog: (pod, container, text) => this.podLogs.write(pod, container, text),
      containersEnded: (pod) => this.podLogs.containersEnded(pod),
      podGone: () => this.volumes.release(),
      notify: () => this.notifyWaiters(),
    });
    this.volumes = new VolumeStore(
      this.state,
      this.namespace,
      (claim) => this.jobs.claimInUse(claim),
      () => this.notifyWaiters(),
    );
    this.podExec = new PodExec(
      options.execProtocols ?? [EXEC_PROTOCOL_V5, EXEC_PROTOCOL_V4],
      () => this.notifyWaiters(),
      options.localExec
        ? (session) =>
            runLocally({
              command: session.command,
              mounts: this.jobs.mountsOf(session.pod, session.container) ?? [],
              stdin: session.stdin,
              stdout: session.stdout,
              stderr: session.stderr,
              signal: session.signal,
            })
        : undefined,
    );
    this.state.onEvent(() => this.notifyWaiters());
    this.resources = new ExtraResources({
      namespace: this.namespace,
      sendStatus,
      sendJson,
      applyPatch: (contentType, current, patch) => applyPatchFor(contentType, current, patch, true),
      sendPatchError,
      deletePod: (name) => this.state.deletePod(name) || this.jobs.deletePod(name),
      podExists: (name) => this.state.get("pods", name) !== undefined,
      nextResourceVersion: () => this.state.bumpResourceVersion(),
    });
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) sendStatus(res, 500, `Internal error occurred: ${String(err)}`);
        else res.destroy();
      });
    });
    this.server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on("error", () => undefined);
      try {
        this.handleUpgrade(req, socket, head);
      } catch (err) {
        rejectUpgrade(socket, 500, statusBody(500, `Internal error occurred: ${String(err)}`));
      }
    });
  }

  /** Starts a simulator listening on 127.0.0.1 (a free port unless `port` is given). */
  static async start(options: KubernetesSimulatorOptions = {}): Promise<KubernetesSimulator> {
    const sim = new KubernetesSimulator(options);
    await new Promise<void>((resolve, reject) => {
      sim.server.once("error", reject);
      sim.server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
    });
    return sim;
  }

  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  get url(): string {
    const address = this.server.address() as AddressInfo;
    return `http://${address.address}:${address.port}`;
  }

  // ---- fault injection --------------------------------------------------------------------

  /** The next `count` (default 1) matching requests get a `Status` with this HTTP status and change nothing. */
  failNext(rule: FailRule): void {
    const { status, count = 1, message, retryAfterSeconds, ...match } = rule;
    this.faults.push({
      match,
      remaining: count,
      action: { kind: "status", status, message, retryAfterSeconds },
    });
  }

  /** The next `count` (default 1) matching requests have their TCP connection destroyed (ECONNRESET). */
  resetConnectionNext(match: RequestMatch & { count?: number }): void {
    const { count = 1, ...rest } = match;
    this.faults.push({ match: rest, remaining: count, action: { kind: "reset" } });
  }

  /** Delays matching requests by `ms` before they are answered. Returns a function removing the delay. */
  addLatency(match: RequestMatch, ms: number): () => void {
    const rule: LatencyRule = { match, ms };
    this.latencies.push(rule);
    return () => {
      this.latencies = this.latencies.filter((r) => r !== rule);
    };
  }

  /** Pods of the component stay terminating (as with a stuck finalizer or a WAL flush that never ends). */
  neverTerminate(component: string, enabled = true): void {
    this.state.setNeverTerminate(component, enabled);
  }

  /** Pods of the component start but never become Ready (as with a failing readiness probe). */
  neverReady(component: string, enabled = true): void {
    this.state.setNeverReady(component, enabled);
  }

  /** Ends every open watch `ms` from now, and every later watch `ms` after it starts; `null` stops that. */
  closeWatchesAfter(ms: number | null): void {
    this.watchLifetimeMs = ms;
    for (const watch of this.watches) {
      if (watch.lifetimeTimer) clearTimeout(watch.lifetimeTimer);
      watch.lifetimeTimer = ms === null ? undefined : setTimeout(() => this.endWatch(watch), ms);
    }
  }

  /** Ends every open watch now (clients see the stream end, as after an API server restart). */
  closeWatches(): void {
    for (const watch of [...this.watches]) this.endWatch(watch);
  }

  /**
   * Compacts the watch history, as etcd compaction does: resuming a watch from any
   * resourceVersion older than the current one then gets an ERROR event with 410 Expired.
   */
  compactWatchHistory(): void {
    this.state.compactHistory();
  }

  /** Removes pending failures, resets and latencies, and lifts the watch lifetime. Stuck pods stay stuck. */
  clearFaults(): void {
    this.faults = [];
    this.latencies = [];
    this.closeWatchesAfter(null);
  }

  // ---- direct manipulation (what someone else might do to the cluster) ---------------------

  /** Scales a component as another client would; logged with `source: "direct"`. */
  scale(component: string, replicas: number): void {
    this.state.setReplicas(component, replicas, "direct");
  }

  /** Sets the paused field of the custom resource as another client would. */
  setPaused(paused: boolean): void {
    const field = this.customResource?.pausedField;
    const current = this.state.getCustomResource();
    if (field === undefined || !current)
      throw new Error("setPaused needs a custom resource with a pausedField");
    this.state.replaceCustomResource(
      applyMergePatch(current, { spec: { [field]: paused } }) as JsonObject,
      "direct",
    );
  }

  /**
   * Makes `command` runnable by exec in matching pods: the handler gets the client's stdin as a
   * stream, writes stdout and stderr, and returns the exit status. The first registration that
   * matches runs; a command nothing matches fails as a missing executable does. Returns a
   * function removing the registration.
   */
  onExec(match: ExecMatch, handler: ExecHandler): () => void {
    return this.podExec.register(match, handler);
  }

  /** Every exec so far, in order, with its stdin, exit status and how it ended. */
  execs(): readonly ExecRecord[] {
    return this.podExec.execs();
  }

  /**
   * Appends `text` to a container's log (the pod's only container when `container` is not
   * given); followers see it at once. Throws for a pod or container that does not exist.
   */
  writeLog(pod: string, text: string, options: { container?: string } = {}): void {
    const view = this.podView(pod);
    if (!view) throw new Error(`writeLog: there is no pod ${pod}`);
    const container = options.container ?? view.containers[0];
    if (container === undefined || !view.containers.includes(container)) {
      throw new Error(
        `writeLog: pod ${pod} has no container ${container} (it has ${view.containers.join(", ")})`,
      );
    }
    this.podLogs.write(pod, container, text);
  }

  /**
   * Decides what the pods of matching Jobs do: a function runs as the container (write log
   * lines with `run.log`, resolve with the exit code), `{ pending: "Unschedulable" }` or
   * `{ pending: "ImagePullBackOff" }` keeps the pod Pending. Without a registration a Job pod
   * runs its container's command for real (jobs.ts). Returns a function removing it.
   */
  onJobPod(match: JobPodMatch, behaviour: JobPodBehaviour): () => void {
    return this.jobs.onJobPod(match, behaviour);
  }

  /** Every Job with its counts, condition and pods (orphaned pods are no longer listed under it). */
  jobSnapshot(): JobSnapshot[] {
    return this.jobs.snapshot();
  }

  /** The phase of a pod a Job created or a client created bare (`POST pods`); undefined when gone. */
  podPhase(name: string): string | undefined {
    return this.jobs.podPhase(name);
  }

  /** Names of the pods Jobs created, and bare pods, that still exist (orphans included). */
  jobPods(): string[] {
    return this.jobs.podNames();
  }

  /** Deletes a Job's pod as another client would; its Job counts it as failed if it was running. */
  deleteJobPod(name: string): boolean {
    return this.jobs.deletePod(name);
  }

  private workloadPodExists(name: string): boolean {
    return !this.jobs.hasPod(name) && this.state.get("pods", name) !== undefined;
  }

  /** The directory on this machine that backs a PVC (undefined when there is no such claim). */
  pvcDirectory(name: string): string | undefined {
    return this.volumes.directory(name);
  }

  /** Names of the PVCs that exist (Terminating ones included). */
  pvcNames(): string[] {
    return this.volumes.names();
  }

  /** Creates a PVC as another client would. */
  createPvc(name: string, storage = "1Gi"): string {
    const answer = this.volumes.create({
      metadata: { name },
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage } } },
    });
    if (answer.status !== 201) throw new Error(String(answer.body.message));
    return this.volumes.directory(name) as string;
  }

  /** Number of `follow=true` log streams open. */
  activeLogStreams(): number {
    return this.podLogs.followerCount();
  }

  /** Deletes one pod; its controller then replaces it. False when there is no such live pod. */
  deletePod(name: string): boolean {
    return this.state.deletePod(name);
  }

  /**
   * Relabels a pod (`app=<app>`), keeping its owner reference unless `dropOwner` (then nothing
   * on the pod names its workload, though the controller still counts it). False when there is
   * no such pod.
   */
  relabelPod(name: string, app: string, options: { dropOwner?: boolean } = {}): boolean {
    return this.state.relabelPod(name, app, options);
  }

  /**
   * The workload's controller stops updating its status: `status.replicas`, `readyReplicas`
   * and `observedGeneration` stay as they are now while a scale bumps `metadata.generation` and
   * pods come and go (a lagging or stuck controller). `releaseWorkloadStatus` catches up.
   */
  freezeWorkloadStatus(name: string): void {
    this.state.freezeWorkloadStatus(name);
  }

  releaseWorkloadStatus(name: string): void {
    this.state.releaseWorkloadStatus(name);
  }

  /** Evicts a Deployment's pod: Failed/Evicted, kept until deleted, replaced by its ReplicaSet. */
  evictPod(name: string): boolean {
    return this.state.evictPod(name);
  }

  // ---- observation ------------------------------------------------------------------------

  /** Every mutation so far, in order. */
  events(): readonly SimEvent[] {
    return this.state.events();
  }

  /** Every request so far, in arrival order (watches included, with the status they started with). */
  requests(): readonly RequestRecord[] {
    return this.requestLog;
  }

  requestCount(match: RequestMatch = {}): number {
    return this.requestLog.filter((r) =>
      matchesRequest(match, { method: r.method, url: r.url, info: recordInfo(r) }),
    ).length;
  }

  snapshot(): ClusterSnapshot {
    return this.state.snapshot();
  }

  /** Number of watch streams currently open. */
  activeWatches(): number {
    return this.watches.size;
  }

  /** `change`: every mutation as it happens (for a live view); `request`: every answered request. */
  on(event: "change", listener: (event: SimEvent) => void): () => void;
  on(event: "request", listener: (request: RequestRecord) => void): () => void;
  on(
    event: "change" | "request",
    listener: ((event: SimEvent) => void) | ((request: RequestRecord) => void),
  ): () => void {
    if (event === "change") return this.state.onEvent(listener as (event: SimEvent) => void);
    const l = listener as (request: RequestRecord) => void;
    this.requestListeners.add(l);
    return () => this.requestListeners.delete(l);
  }

  /**
   * Resolves with the first snapshot satisfying `predicate`, re-checked after every mutation,
   * request and watch opening or closing (so `() => sim.activeWatches() === 0` works too);
   * rejects after `timeoutMs` (default 5000).
   */
  waitFor(
    predicate: (snapshot: ClusterSnapshot) => boolean,
    timeoutMs = 5000,
  ): Promise<ClusterSnapshot> {
    const now = this.snapshot();
    if (predicate(now)) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const check = () => {
        const snap = this.snapshot();
        if (!predicate(snap)) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(snap);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(
            `simulator state not reached within ${timeoutMs} ms: ${describeSnapshot(this.snapshot())}`,
          ),
        );
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  private notifyWaiters(): void {
    for (const check of [...this.waiters]) check();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.state.close();
    for (const watch of [...this.watches]) this.endWatch(watch);
    this.jobs.close();
    this.podExec.closeAll();
    this.podLogs.closeAll();
    this.volumes.close();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // ---- HTTP -------------------------------------------------------------------------------

  private podView(name: string): PodView | undefined {
    const pod = this.state.get("pods", name);
    if (!pod) return undefined;
    const spec = (pod.spec ?? {}) as JsonObject;
    const status = (pod.status ?? {}) as JsonObject;
    const containers = Array.isArray(spec.containers) ? spec.containers : [];
    const phase = String(status.phase ?? "Pending");
    return {
      name,
      containers: containers.map((c) => String((c as JsonObject).name)),
      phase,
      ended: phase === "Succeeded" || phase === "Failed",
    };
  }

  /** Pod exec: a WebSocket upgrade (pod-io.ts), authorised as `create pods/exec`. */
  private handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): number {
    const url = req.url ?? "/";
    const parsed = new URL(url, "http://simulator");
    const method = (req.method ?? "GET").toUpperCase();
    const resolved = resolveRequestInfo(method, parsed.pathname, parsed.searchParams);
    // The API server authorises a WebSocket exec (a GET) as `create`, as it does the POST form.
    const info: RequestInfo | undefined =
      resolved?.resource === "pods/exec" ? { ...resolved, verb: "create" } : resolved;
    const record: RequestRecord = {
      seq: ++this.requestSeq,
      at: Date.now(),
      method,
      url,
      path: parsed.pathname,
      query: Object.fromEntries(parsed.searchParams),
      ...info,
      status: 0,
      faulted: false,
      durationMs: 0,
    };
    this.requestLog.push(record);
    const done = (status: number): number => {
      record.status = status;
      record.durationMs = Date.now() - record.at;
      for (const listener of this.requestListeners) listener(record);
      this.notifyWaiters();
      return status;
    };
    const reject = (status: number, message: string): number => {
      rejectUpgrade(socket, status, statusBody(status, message, undefined, info));
      return done(status);
    };
    if (req.headers.authorization !== `Bearer ${this.token}`) return reject(401, "Unauthorized");
    if (info?.resource !== "pods/exec" || info.name === undefined) {
      return reject(404, "the server could not find the requested resource");
    }
    if (this.rbacRules && !isAllowedBy(this.rbacRules, info)) {
      return reject(
        403,
        `pods "${info.name}" is forbidden: User "system:serviceaccount:${this.namespace}:restorebot" cannot create resource "pods/exec" in API group "" in the namespace "${info.namespace ?? ""}"`,
      );
    }
    const pod = info.namespace === this.namespace ? this.podView(info.name) : undefined;
    if (!pod) return reject(404, `pods "${info.name}" not found`);
    try {
      this.podExec.upgrade(req, socket, head, pod, parsed.searchParams);
      return done(101);
    } catch (err) {
      if (!(err instanceof PodIoError)) throw err;
      return reject(err.status, err.message);
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const url = req.url ?? "/";
    const parsed = new URL(url, "http://simulator");
    const method = (req.method ?? "GET").toUpperCase();
    const info = resolveRequestInfo(method, parsed.pathname, parsed.searchParams);
    const contentType = req.headers["content-type"]?.split(";")[0]?.trim();
    const record: RequestRecord = {
      seq: ++this.requestSeq,
      at: started,
      method,
      url,
      path: parsed.pathname,
      query: Object.fromEntries(parsed.searchParams),
      ...(contentType ? { contentType } : {}),
      ...info,
      status: 0,
      faulted: false,
      durationMs: 0,
    };
    this.requestLog.push(record);
    const finish = () => {
      record.durationMs = Date.now() - started;
      for (const listener of this.requestListeners) listener(record);
      this.notifyWaiters();
    };
    const answer = (status: number) => {
      record.status = status;
    };
    res.once("finish", finish);
    res.once("close", () => {
      if (!res.writableFinished) finish();
    });

    const body = await readBody(req);

    if (!["/healthz", "/livez", "/readyz"].includes(parsed.pathname)) {
      if (req.headers.authorization !== `Bearer ${this.token}`) {
        answer(401);
        sendStatus(res, 401, "Unauthorized");
        return;
      }
    }

    const delay =
      this.latencies.find((r) => matchesRequest(r.match, { method, url, info }))?.ms ?? 0;
    if (delay > 0) await sleep(delay);

    const fault = this.takeFault(method, url, info);
    if (fault) {
      record.faulted = true;
      if (fault.kind === "reset") {
        answer(0);
        // A TCP RST, as a dropped connection through a load balancer looks: the client sees
        // ECONNRESET (undici's fetch, which client-node 2.x uses, reports a plain close as
        // UND_ERR_SOCKET "other side closed" instead).
        req.socket.resetAndDestroy();
        return;
      }
      answer(fault.status);
      sendStatus(res, fault.status, fault.message ?? defaultFaultMessage(fault.status, info), {
        info,
        retryAfterSeconds: fault.retryAfterSeconds,
      });
      return;
    }

    if (info && this.rbacRules && !isAllowedBy(this.rbacRules, info)) {
      answer(403);
      const plural = info.resource.split("/")[0] ?? info.resource;
      sendStatus(
        res,
        403,
        `${plural}${info.apiGroup ? `.${info.apiGroup}` : ""}${info.name ? ` "${info.name}"` : ""} is forbidden: User "system:serviceaccount:${this.namespace}:restorebot" cannot ${info.verb} resource "${info.resource}" in API group "${info.apiGroup}" in the namespace "${info.namespace ?? ""}"`,
        { info },
      );
      return;
    }

    const extra = await this.resources.handle(method, info, parsed, body, contentType, req, res);
    const outcome = extra ?? this.route(method, parsed, info, body, contentType, req, res);
    answer(outcome);
  }

  /** Serves one request; returns the HTTP status sent (200 for a watch that started). */
  private route(
    method: string,
    url: URL,
    info: RequestInfo | undefined,
    body: string,
    contentType: string | undefined,
    req: IncomingMessage,
    res: ServerResponse,
  ): number {
    const path = url.pathname;
    if (["/healthz", "/livez", "/readyz"].includes(path)) {
      res.writeHead(200, { "Content-Type": "text/plain" }).end("ok");
      return 200;
    }
    if (path === "/version") {
      return sendJson(res, 200, {
        major: "1",
        minor: "31",
        gitVersion: "v1.31.0-simulated",
        platform: "linux/amd64",
      });
    }
    const version = apiVersionOf(path);
    if (!info) return notFound(res);
    const key = `${info.apiGroup}/${version}|${info.resource}`;
    const inNamespace = info.namespace === this.namespace;
    const query = url.searchParams;

    switch (key) {
      case "/v1|namespaces": {
        if (method !== "GET") return methodNotAllowed(res);
        const render = (name: string): JsonObject => ({
          apiVersion: "v1",
          kind: "Namespace",
          metadata: { name, resourceVersion: "1" },
          status: { phase: "Active" },
        });
        if (info.name === undefined) {
          return sendJson(
            res,
            200,
            listOf(
              "NamespaceList",
              "v1",
              [...this.namespaces].map(render),
              this.state.resourceVersion,
            ),
          );
        }
        if (!this.namespaces.has(info.name))
          return sendStatus(res, 404, `namespaces "${info.name}" not found`, { info });
        return sendJson(res, 200, render(info.name));
      }
      case "/v1|pods":
        if (method === "POST" && info.name === undefined) {
          // Bare pods (a helper mounting a PVC): jobs.ts runs them like a Job's pods.
          if (!inNamespace)
            return sendStatus(res, 404, `namespaces "${info.namespace ?? ""}" not found`, { info });
          let parsed: Json;
          try {
            parsed = parseJson(body);
          } catch (err) {
            return sendStatus(res, 400, `error decoding the body: ${String(err)}`, { info });
          }
          if (!isJsonObject(parsed))
            return sendStatus(res, 400, "the body must be an object", { info });
          const answer = this.jobs.createBarePod(parsed);
          return sendJson(res, answer.status, answer.body);
        }
        return this.serveCollection(
          "pods",
          "PodList",
          "v1",
          info,
          query,
          inNamespace,
          method,
          req,
          res,
        );
      case "apps/v1|deployments":
        return this.serveCollection(
          "deployments",
          "DeploymentList",
          "apps/v1",
          info,
          query,
          inNamespace,
          method,
          req,
          res,
        );
      case "apps/v1|statefulsets":
        return this.serveCollection(
          "statefulsets",
          "StatefulSetList",
          "apps/v1",
          info,
          query,
          inNamespace,
          method,
          req,
          res,
        );
      case "/v1|replicationcontrollers":
        return this.serveCollection(
          "replicationcontrollers",
          "ReplicationControllerList",
          "v1",
          info,
          query,
          inNamespace,
          method,
          req,
          res,
        );
      case "/v1|replicationcontrollers/scale":
      case "apps/v1|deployments/scale":
      case "apps/v1|statefulsets/scale":
        return this.serveScale(
          info.resource.startsWith("deployments")
            ? "Deployment"
            : info.resource.startsWith("statefulsets")
              ? "StatefulSet"
              : "ReplicationController",
          info,
          inNamespace,
          method,
          body,
          contentType,
          res,
        );
      case this.customResourceKey(): {
        const cr = this.customResource as CustomResourceConfig;
        if (method === "PATCH" && info.name !== undefined) {
          return this.patchCustomResource(info, inNamespace, body, contentType, res);
        }
        return this.serveCollection(
          "customresources",
          `${cr.kind}List`,
          `${cr.group}/${cr.version}`,
          info,
          query,
          inNamespace,
          method,
          req,
          res,
        );
      }
      case "/v1|pods/log": {
        if (method !== "GET") return methodNotAllowed(res);
        const pod = inNamespace && info.name ? this.podView(info.name) : undefined;
        if (!pod) return sendStatus(res, 404, `pods "${info.name}" not found`, { info });
        try {
          const served = this.podLogs.serve(pod, query, res);
          res.once("close", () => this.notifyWaiters());
          this.notifyWaiters(); // a follow has started: `activeLogStreams()` changed
          return served;
        } catch (err) {
          if (err instanceof PodIoError) return sendStatus(res, err.status, err.message, { info });
          throw err;
        }
      }
      case "batch/v1|jobs":
      case "/v1|persistentvolumeclaims": {
        const resource = info.resource as "jobs" | "persistentvolumeclaims";
        if (method === "GET") {
          const [list, apiVersion] =
            resource === "jobs" ? ["JobList", "batch/v1"] : ["PersistentVolumeClaimList", "v1"];
          return this.serveCollection(
            resource,
            list,
            apiVersion,
            info,
            query,
            inNamespace,
            method,
            req,
            res,
          );
        }
        const answer = this.writeWorkResource(resource, method, info, inNamespace, body, query);
        return sendJson(res, answer.status, answer.body);
      }
      case "/v1|pods/exec":
        // Reached only without a WebSocket upgrade (the SPDY/POST form is not simulated).
        return sendStatus(
          res,
          400,
          "Upgrade request required: exec is served over WebSocket (v4/v5.channel.k8s.io)",
          { info },
        );
      default:
        return notFound(res);
    }
  }

  /** POST and DELETE of Jobs and PVCs (jobs.ts, volumes.ts). */
  private writeWorkResource(
    resource: "jobs" | "persistentvolumeclaims",
    method: string,
    info: RequestInfo,
    inNamespace: boolean,
    body: string,
    query: URLSearchParams,
  ): WriteAnswer {
    const refuse = (status: number, message: string): WriteAnswer => ({
      status,
      body: statusBody(status, message, undefined, info),
    });
    if (!inNamespace) return refuse(404, `namespaces "${info.namespace ?? ""}" not found`);
    let parsed: Json;
    try {
      parsed = parseJson(body);
    } catch (err) {
      return refuse(400, `error decoding the body: ${String(err)}`);
    }
    if (method === "POST" && info.name === undefined) {
      if (!isJsonObject(parsed)) return refuse(400, "the body must be an object");
      return resource === "jobs" ? this.jobs.create(parsed) : this.volumes.create(parsed);
    }
    if (method === "DELETE" && info.name !== undefined) {
      if (resource === "persistentvolumeclaims") return this.volumes.delete(info.name);
      const fromBody =
        isJsonObject(parsed) && typeof parsed.propagationPolicy === "string"
          ? parsed.propagationPolicy
          : undefined;
      return this.jobs.delete(info.name, query.get("propagationPolicy") ?? fromBody);
    }
    return refuse(405, "the server does not allow this method on the requested resource");
  }

  private serveCollection(
    resource: WatchableResource,
    listKind: string,
    apiVersion: string,
    info: RequestInfo,
    query: URLSearchParams,
    inNamespace: boolean,
    method: string,
    req: IncomingMessage,
    res: ServerResponse,
  ): number {
    if (method !== "GET") return methodNotAllowed(res);
    if (info.name !== undefined) {
      const object = inNamespace ? this.state.get(resource, info.name) : undefined;
      if (!object)
        return sendStatus(res, 404, `${qualified(info)} "${info.name}" not found`, { info });
      return sendJson(res, 200, object);
    }
    let selector: LabelRequirement[];
    try {
      selector = parseLabelSelector(query.get("labelSelector"));
    } catch (err) {
      if (err instanceof LabelSelectorError) {
        return sendStatus(res, 400, `unable to parse requirement: ${err.message}`);
      }
      throw err;
    }
    // `fieldSelector=metadata.name=<name>`, the one field selector every resource supports.
    const fieldName = /^metadata\.name==?(.+)$/.exec(query.get("fieldSelector") ?? "")?.[1];
    if (info.verb === "watch")
      return this.startWatch(resource, info, query, selector, inNamespace, req, res, fieldName);
    const items = inNamespace
      ? this.state
          .list(resource)
          .filter((o) => matchesLabelSelector(selector, labelsOf(o)))
          .filter((o) => fieldName === undefined || metadataOf(o).name === fieldName)
      : [];
    return sendJson(res, 200, listOf(listKind, apiVersion, items, this.state.resourceVersion));
  }

  private serveScale(
    kind: WorkloadKind,
    info: RequestInfo,
    inNamespace: boolean,
    method: string,
    body: string,
    contentType: string | undefined,
    res: ServerResponse,
  ): number {
    const name = info.name ?? "";
    const current = inNamespace ? this.state.getScale(kind, name) : undefined;
    const plural =
      kind === "Deployment"
        ? "deployments"
        : kind === "StatefulSet"
          ? "statefulsets"
          : "replicationcontrollers";
    if (!current)
      return sendStatus(
        res,
        404,
        `${plural}${kind === "ReplicationController" ? "" : ".apps"} "${name}" not found`,
        {
          info: { ...info, resource: plural },
        },
      );
    if (method === "GET") return sendJson(res, 200, current);
    let next: Json;
    try {
      if (method === "PATCH") next = applyPatchFor(contentType, current, parseJson(body), false);
      else if (method === "PUT") next = parseJson(body);
      else return methodNotAllowed(res);
    } catch (err) {
      return sendPatchError(res, err);
    }
    if (!isJsonObject(next)) return sendStatus(res, 400, "the body must be a Scale object");
    const conflict = this.checkResourceVersion(next, current, { ...info, resource: plural });
    if (conflict) return sendStatus(res, 409, conflict, { info: { ...info, resource: plural } });
    const spec = isJsonObject(next.spec) ? next.spec : {};
    const replicas = spec.replicas ?? 0;
    if (typeof replicas !== "number" || !Number.isInteger(replicas) || replicas < 0) {
      return sendStatus(
        res,
        422,
        `Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`,
        { info },
      );
    }
    this.state.setReplicas(name, replicas, "api");
    return sendJson(res, 200, this.state.getScale(kind, name) ?? {});
  }

  /** The routing key of the custom resource, or one no request can have when there is none. */
  private customResourceKey(): string {
    const cr = this.customResource;
    return cr ? `${cr.group}/${cr.version}|${cr.plural}` : "\u0000no custom resource";
  }

  private patchCustomResource(
    info: RequestInfo,
    inNamespace: boolean,
    body: string,
    contentType: string | undefined,
    res: ServerResponse,
  ): number {
    const cr = this.customResource;
    const current =
      cr && inNamespace && info.name === cr.name ? this.state.getCustomResource() : undefined;
    if (!cr || !current)
      return sendStatus(res, 404, `${qualified(info)} "${info.name}" not found`, { info });
    let next: Json;
    try {
      // Custom resources have no strategic-merge schema: the real API server answers 415.
      next = applyPatchFor(contentType, current, parseJson(body), true);
    } catch (err) {
      return sendPatchError(res, err);
    }
    if (!isJsonObject(next)) return sendStatus(res, 422, "the patched object must be an object");
    const conflict = this.checkResourceVersion(next, current, info);
    if (conflict) return sendStatus(res, 409, conflict, { info });
    const spec = next.spec;
    const field = cr.pausedField;
    if (
      field !== undefined &&
      isJsonObject(spec) &&
      spec[field] !== undefined &&
      typeof spec[field] !== "boolean"
    ) {
      return sendStatus(
        res,
        422,
        `${cr.kind}.${cr.group} "${info.name}" is invalid: spec.${field}: Invalid value: ${JSON.stringify(spec[field])}: spec.${field} in body must be of type boolean`,
        { info },
      );
    }
    return sendJson(res, 200, this.state.replaceCustomResource(next, "api"));
  }

  /** Optimistic concurrency: a write naming a resourceVersion must name the current one. */
  private checkResourceVersion(
    next: JsonObject,
    current: JsonObject,
    info: RequestInfo,
  ): string | undefined {
    const wanted = metadataOf(next).resourceVersion;
    const have = metadataOf(current).resourceVersion;
    if (wanted === undefined || wanted === null || wanted === "" || wanted === have)
      return undefined;
    return conflictMessage(info);
  }

  // ---- watches ----------------------------------------------------------------------------

  private startWatch(
    resource: WatchableResource,
    info: RequestInfo,
    query: URLSearchParams,
    selector: LabelRequirement[],
    inNamespace: boolean,
    req: IncomingMessage,
    res: ServerResponse,
    fieldName?: string,
  ): number {
    const rvParam = query.get("resourceVersion");
    const timeoutSeconds = Number(query.get("timeoutSeconds") ?? "");
    res.writeHead(200, {
      "Content-Type": "application/json",
      "Cache-Control": "no-cache, private",
      "Transfer-Encoding": "chunked",
    });
    res.flushHeaders();
    const watch: ActiveWatch = {
      res,
      resource,
      namespace: info.namespace,
      selector,
      inNamespace,
      fieldName,
      timers: [],
      lifetimeTimer: undefined,
    };
    const write = (type: string, object: Json) =>
      res.write(`${JSON.stringify({ type, object })}\n`);

    if (rvParam === null || rvParam === "" || rvParam === "0") {
      // No starting point: synthetic ADDED events for the current state, then changes.
      if (inNamespace) {
        for (const object of this.state.list(resource)) {
          if (this.watchWants(watch, { rv: 0, resource, type: "ADDED", object }))
            write("ADDED", object);
        }
      }
    } else {
      const from = Number(rvParam);
      const changes = Number.isFinite(from) ? this.state.changesSince(from) : undefined;
      if (!changes) {
        // Too old (compacted): one ERROR event with a 410 Status, then the stream ends.
        write(
          "ERROR",
          statusBody(
            410,
            `too old resource version: ${rvParam} (${this.state.resourceVersion})`,
            "Expired",
          ),
        );
        res.end();
        return 200;
      }
      for (const change of changes)
        if (this.watchWants(watch, change)) write(change.type, change.object);
    }

    this.watches.add(watch);
    this.notifyWaiters();
    req.on("close", () => this.endWatch(watch));
    res.on("close", () => this.endWatch(watch));
    if (Number.isFinite(timeoutSeconds) && timeoutSeconds > 0) {
      watch.timers.push(setTimeout(() => this.endWatch(watch), timeoutSeconds * 1000));
    }
    if (this.watchLifetimeMs !== null) {
      watch.lifetimeTimer = setTimeout(() => this.endWatch(watch), this.watchLifetimeMs);
    }
    if (query.get("allowWatchBookmarks") === "true" && this.bookmarkIntervalMs > 0) {
      const cr = this.customResource;
      const [kind, apiVersion] =
        resource === "customresources" && cr
          ? [cr.kind, `${cr.group}/${cr.version}`]
          : BOOKMARK_KINDS[resource as Exclude<WatchableResource, "customresources">];
      const timer = setInterval(
        () =>
          write("BOOKMARK", {
            kind,
            apiVersion,
            metadata: { resourceVersion: String(this.state.resourceVersion) },
          }),
        this.bookmarkIntervalMs,
      );
      watch.timers.push(timer);
    }
    return 200;
  }

  private watchWants(watch: ActiveWatch, change: ObjectChange): boolean {
    return (
      watch.inNamespace &&
      change.resource === watch.resource &&
      (watch.fieldName === undefined || metadataOf(change.object).name === watch.fieldName) &&
      matchesLabelSelector(watch.selector, labelsOf(change.object))
    );
  }

  private broadcast(change: ObjectChange): void {
    for (const watch of this.watches) {
      if (this.watchWants(watch, change)) {
        watch.res.write(`${JSON.stringify({ type: change.type, object: change.object })}\n`);
      }
    }
  }

  private endWatch(watch: ActiveWatch): void {
    if (!this.watches.delete(watch)) return;
    for (const timer of watch.timers) clearTimeout(timer);
    if (watch.lifetimeTimer) clearTimeout(watch.lifetimeTimer);
    if (!watch.res.writableEnded) watch.res.end();
    this.notifyWaiters();
  }

  private takeFault(
    method: string,
    url: string,
    info: RequestInfo | undefined,
  ): FaultAction | undefined {
    const rule = this.faults.find(
      (r) => r.remaining > 0 && matchesRequest(r.match, { method, url, info }),
    );
    if (!rule) return undefined;
    rule.remaining -= 1;
    if (rule.remaining <= 0) this.faults = this.faults.filter((r) => r !== rule);
    return rule.action;
  }
}

/** Shorthand for `KubernetesSimulator.start(options)`. */
export function startKubernetesSimulator(
  options: KubernetesSimulatorOptions = {},
): Promise<KubernetesSimulator> {
  return KubernetesSimulator.start(options);
}

// ---- helpers --------------------------------------------------------------------------------

const BOOKMARK_KINDS: Record<Exclude<WatchableResource, "customresources">, [string, string]> = {
  pods: ["Pod", "v1"],
  deployments: ["Deployment", "apps/v1"],
  statefulsets: ["StatefulSet", "apps/v1"],
  replicationcontrollers: ["ReplicationController", "v1"],
  jobs: ["Job", "batch/v1"],
  persistentvolumeclaims: ["PersistentVolumeClaim", "v1"],
};

interface ActiveWatch {
  res: ServerResponse;
  resource: WatchableResource;
  namespace: string | undefined;
  selector: LabelRequirement[];
  inNamespace: boolean;
  fieldName: string | undefined;
  timers: NodeJS.Timeout[];
  lifetimeTimer: NodeJS.Timeout | undefined;
}

type FaultAction =
  | {
      kind: "status";
      status: number;
      message: string | undefined;
      retryAfterSeconds: number | undefined;
    }
  | { kind: "reset" };

interface FaultRule {
  match: RequestMatch;
  remaining: number;
  action: FaultAction;
}

interface LatencyRule {
  match: RequestMatch;
  ms: number;
}

const REASONS: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  409: "Conflict",
  410: "Expired",
  415: "UnsupportedMediaType",
  422: "Invalid",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
  504: "Timeout",
};

function statusBody(
  code: number,
  message: string,
  reason = REASONS[code] ?? "Unknown",
  info?: RequestInfo,
): JsonObject {
  const details: JsonObject = {};
  if (info?.name !== undefined) details.name = info.name;
  if (info) {
    details.group = info.apiGroup;
    details.kind = info.resource.split("/")[0] ?? info.resource;
  }
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    ...(info ? { details } : {}),
    code,
  };
}

function sendStatus(
  res: ServerResponse,
  code: number,
  message: string,
  extra: { info?: RequestInfo | undefined; retryAfterSeconds?: number | undefined } = {},
): number {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (extra.retryAfterSeconds !== undefined)
    headers["Retry-After"] = String(extra.retryAfterSeconds);
  res
    .writeHead(code, headers)
    .end(JSON.stringify(statusBody(code, message, undefined, extra.info)));
  return code;
}

function sendJson(res: ServerResponse, code: number, body: Json): number {
  res.writeHead(code, { "Content-Type": "application/json" }).end(JSON.stringify(body));
  return code;
}

function notFound(res: ServerResponse): number {
  return sendStatus(res, 404, "the server could not find the requested resource");
}

function methodNotAllowed(res: ServerResponse): number {
  return sendStatus(res, 405, "the server does not allow this method on the requested resource");
}

function sendPatchError(res: ServerResponse, err: unknown): number {
  if (err instanceof UnsupportedMediaTypeError) return sendStatus(res, 415, err.message);
  if (err instanceof PatchError) return sendStatus(res, err.status, err.message);
  if (err instanceof SyntaxError)
    return sendStatus(res, 400, `error decoding patch: ${err.message}`);
  throw err;
}

class UnsupportedMediaTypeError extends Error {}

function applyPatchFor(
  contentType: string | undefined,
  current: JsonObject,
  patch: Json,
  customResource: boolean,
): Json {
  switch (contentType) {
    case PATCH_CONTENT_TYPES.json:
      return applyJsonPatch(current, patch);
    case PATCH_CONTENT_TYPES.merge:
      return applyMergePatch(current, patch);
    case PATCH_CONTENT_TYPES.strategic:
      if (customResource) {
        throw new UnsupportedMediaTypeError(
          "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
        );
      }
      return applyMergePatch(current, patch);
    default:
      throw new UnsupportedMediaTypeError(
        `the body of the request was in an unknown format (${contentType ?? "no Content-Type"}) - accepted media types include: application/json-patch+json, application/merge-patch+json${customResource ? "" : ", application/strategic-merge-patch+json"}`,
      );
  }
}

function parseJson(body: string): Json {
  return JSON.parse(body === "" ? "null" : body) as Json;
}

function listOf(
  kind: string,
  apiVersion: string,
  items: JsonObject[],
  resourceVersion: number,
): JsonObject {
  return { kind, apiVersion, metadata: { resourceVersion: String(resourceVersion) }, items };
}

function labelsOf(object: JsonObject): Record<string, string> {
  const labels = metadataOf(object).labels;
  return typeof labels === "object" && labels !== null ? (labels as Record<string, string>) : {};
}

function qualified(info: RequestInfo): string {
  const plural = info.resource.split("/")[0] ?? info.resource;
  return info.apiGroup ? `${plural}.${info.apiGroup}` : plural;
}

function conflictMessage(info: RequestInfo | undefined): string {
  if (!info)
    return "the object has been modified; please apply your changes to the latest version and try again";
  return `Operation cannot be fulfilled on ${qualified(info)} "${info.name ?? ""}": the object has been modified; please apply your changes to the latest version and try again`;
}

function defaultFaultMessage(status: number, info: RequestInfo | undefined): string {
  switch (status) {
    case 409:
      return conflictMessage(info);
    case 410:
      return "too old resource version";
    case 429:
      return "Too many requests, please try again later.";
    case 500:
      return "Internal error occurred: injected by the simulator";
    case 503:
      return "the server is currently unable to handle the request";
    case 504:
      return "the server was unable to return a response in the time allotted";
    case 404:
      return info?.name
        ? `${qualified(info)} "${info.name}" not found`
        : "the server could not find the requested resource";
    default:
      return `injected ${status}`;
  }
}

function apiVersionOf(path: string): string {
  const segments = path.split("/").filter((s) => s !== "");
  return (segments[0] === "api" ? segments[1] : segments[2]) ?? "";
}

function recordInfo(r: RequestRecord): RequestInfo | undefined {
  if (r.apiGroup === undefined || r.resource === undefined || r.verb === undefined)
    return undefined;
  return {
    apiGroup: r.apiGroup,
    resource: r.resource,
    verb: r.verb,
    namespace: r.namespace,
    name: r.name,
  };
}

function applyOverrides(
  components: ComponentConfig[],
  overrides: NonNullable<KubernetesSimulatorOptions["overrides"]>,
): ComponentConfig[] {
  const names = new Set(components.map((c) => c.name));
  for (const name of Object.keys(overrides)) {
    if (!names.has(name))
      throw new Error(`override for unknown component ${name} (have: ${[...names].join(", ")})`);
  }
  return components.map((c) => ({ ...c, ...overrides[c.name] }));
}

function describeSnapshot(snapshot: ClusterSnapshot): string {
  return snapshot.components
    .map(
      (c) =>
        `${c.name} ${c.readyReplicas}/${c.specReplicas} [${c.pods.map((p) => `${p.name}:${p.phase}${p.ready ? "+ready" : ""}${p.terminating ? "+terminating" : ""}`).join(" ")}]`,
    )
    .join("; ");
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
