import { randomBytes, randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import { type ClusterState, metadataOf } from "./cluster-state.js";
import { MissingExecutableError, runLocally, type VolumeMount } from "./local-runner.js";
import { isJsonObject, type Json, type JsonObject } from "./patch.js";
import { iso, status, type WriteAnswer } from "./volumes.js";

/**
 * batch/v1 Jobs and the pods their controller creates, as the Job controller and the kubelet
 * move them: a Job gets a pod labelled `job-name=<job>` and `batch.kubernetes.io/job-name=<job>`
 * (plus the controller-uid labels, and an owner reference to the Job); the pod is Pending, then
 * Running after `startDelayMs`, then Succeeded or Failed with its container's exit code. A
 * failed pod is replaced until `spec.backoffLimit` (default 6) failures, then the Job is Failed
 * (`BackoffLimitExceeded`); one success completes it (`Complete`).
 *
 * What a Job pod does is decided by `onJobPod` registrations (a test hook: write log lines over
 * time, return an exit code, or stay Pending as unschedulable or unable to pull its image);
 * without one, its container's `command` + `args` run for real on this machine
 * (local-runner.ts), its PVC volumes mounted, stdout and stderr going to the pod's log.
 *
 * Deleting a Job follows `propagationPolicy` as the garbage collector does: `Background`
 * removes the Job at once and then its pods, `Foreground` keeps the Job (deletionTimestamp,
 * `foregroundDeletion` finalizer) until its pods are gone, and `Orphan` — what batch/v1 does
 * when no policy is given — leaves the pods running, without their owner reference.
 */

export interface JobPodRun {
  job: string;
  pod: string;
  container: string;
  /** The container's `command` followed by its `args`. */
  command: readonly string[];
  env: Readonly<Record<string, string>>;
  /** The pod's PVC volumes, with the directories backing them. */
  mounts: readonly VolumeMount[];
  /** 1 for the Job's first pod, 2 for its first replacement, … */
  attempt: number;
  /** Appends to the container's log (followers see it at once). */
  log(text: string): void;
  /** Aborted when the pod is deleted while running. */
  signal: AbortSignal;
}

/** What a Job pod does: run (resolve with the exit code; undefined is 0), or stay Pending. */
export type JobPodBehaviour =
  | ((run: JobPodRun) => number | undefined | Promise<number | undefined>)
  | {
      /** `Unschedulable`: PodScheduled False; `ImagePullBackOff`: scheduled, container waiting. */
      pending: "Unschedulable" | "ImagePullBackOff";
      message?: string;
    };

export interface JobPodMatch {
  /** Job name or pattern; any Job when not given. */
  job?: string | RegExp;
}

export interface JobSnapshot {
  name: string;
  active: number;
  succeeded: number;
  failed: number;
  /** `Complete`, `Failed`, or undefined while running. */
  condition: string | undefined;
  terminating: boolean;
  pods: Array<{ name: string; phase: string; terminating: boolean; exitCode?: number }>;
}

interface JobPod {
  name: string;
  /** A pod created directly (POST pods), owned by no Job: it runs until it is deleted. */
  bare?: boolean;
  uid: string;
  job: string;
  jobUid: string;
  orphaned: boolean;
  attempt: number;
  template: JsonObject;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  deletionAt?: number;
  phase: "Pending" | "Running" | "Succeeded" | "Failed";
  pending?: { reason: string; message: string };
  exitCode?: number;
  rv: number;
  abort: AbortController;
  timer?: NodeJS.Timeout;
}

interface JobState {
  name: string;
  uid: string;
  metadata: JsonObject;
  spec: JsonObject;
  createdAt: number;
  startTime?: number;
  completionTime?: number;
  succeeded: number;
  failed: number;
  condition?: { type: "Complete" | "Failed"; reason: string; message: string; at: number };
  deleting?: "Foreground";
  rv: number;
}

export interface JobControllerOptions {
  state: ClusterState;
  namespace: string;
  startDelayMs: number;
  terminationDelayMs: number;
  /** The directory backing a PVC, or undefined when there is no such claim. */
  claimDirectory(name: string): string | undefined;
  /** Whether a workload's pod of that name exists (bare pods may not take its name). */
  podExists(name: string): boolean;
  writeLog(pod: string, container: string, text: string): void;
  /** The pod's containers have stopped: followed logs end. */
  containersEnded(pod: string): void;
  podGone(pod: string): void;
  notify(): void;
}

const NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";
const GRACE_PERIOD_SECONDS = 30;

export class JobController {
  private readonly jobs = new Map<string, JobState>();
  private readonly pods = new Map<string, JobPod>();
  private readonly behaviours: Array<{ match: JobPodMatch; behaviour: JobPodBehaviour }> = [];
  private closed = false;

  constructor(private readonly o: JobControllerOptions) {
    o.state.addLister("jobs", () => [...this.jobs.values()].map((j) => this.renderJob(j)));
    o.state.addLister("pods", () => [...this.pods.values()].map((p) => this.renderPod(p)));
  }

  onJobPod(match: JobPodMatch, behaviour: JobPodBehaviour): () => void {
    const entry = { match, behaviour };
    this.behaviours.push(entry);
    return () => {
      const i = this.behaviours.indexOf(entry);
      if (i >= 0) this.behaviours.splice(i, 1);
    };
  }

  snapshot(): JobSnapshot[] {
    return [...this.jobs.values()].map((j) => {
      const pods = this.podsOf(j);
      return {
        name: j.name,
        active: pods.filter((p) => isActive(p)).length,
        succeeded: j.succeeded,
        failed: j.failed,
        condition: j.condition?.type,
        terminating: j.deleting !== undefined,
        pods: pods.map((p) => ({
          name: p.name,
          phase: p.phase,
          terminating: p.deletionAt !== undefined,
          ...(p.exitCode === undefined ? {} : { exitCode: p.exitCode }),
        })),
      };
    });
  }

  /** Job pods still there (orphans included), for `sim.jobPods()`. */
  podNames(): string[] {
    return [...this.pods.keys()];
  }

  /** The PVC mounts of a Job pod's container; undefined when the pod is not a Job's. */
  mountsOf(pod: string, container: string): VolumeMount[] | undefined {
    const p = this.pods.get(pod);
    if (!p) return undefined;
    return this.mounts(p, container).mounts;
  }

  /** Whether a live Job pod mounts the claim. */
  claimInUse(claim: string): boolean {
    // As the PVC protection controller: a pod whose containers have stopped no longer uses it.
    return [...this.pods.values()].some(
      (p) =>
        (p.phase === "Pending" || p.phase === "Running") &&
        volumesOf(p.template).some((v) => v.claimName === claim),
    );
  }

  create(manifest: JsonObject): WriteAnswer {
    const meta = metadataOf(manifest);
    const generated =
      typeof meta.generateName === "string" && !meta.name
        ? `${meta.generateName}${suffix(5)}`
        : undefined;
    const name = generated ?? (typeof meta.name === "string" ? meta.name : "");
    const spec = isJsonObject(manifest.spec) ? manifest.spec : {};
    const template = isJsonObject(spec.template) ? spec.template : {};
    const podSpec = isJsonObject(template.spec) ? template.spec : {};
    const containers = Array.isArray(podSpec.containers) ? podSpec.containers : [];
    const problem =
      !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name) || name.length > 63
        ? `metadata.name: Invalid value: "${name}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'`
        : containers.length === 0
          ? "spec.template.spec.containers: Required value"
          : !["Never", "OnFailure"].includes(String(podSpec.restartPolicy))
            ? `spec.template.spec.restartPolicy: ${podSpec.restartPolicy === undefined ? "Required value" : `Unsupported value: "${String(podSpec.restartPolicy)}"`}: supported values: "OnFailure", "Never"`
            : undefined;
    if (problem) {
      return {
        status: 422,
        body: status(
          422,
          `Job.batch "${name}" is invalid: ${problem}`,
          "Invalid",
          name,
          "jobs",
          "batch",
        ),
      };
    }
    if (this.jobs.has(name)) {
      return {
        status: 409,
        body: status(
          409,
          `jobs.batch "${name}" already exists`,
          "AlreadyExists",
          name,
          "jobs",
          "batch",
        ),
      };
    }
    const uid = randomUUID();
    const job: JobState = {
      name,
      uid,
      metadata: { ...meta, name },
      spec: structuredClone(spec),
      createdAt: Date.now(),
      succeeded: 0,
      failed: 0,
      rv: this.o.state.allocateResourceVersion(),
    };
    delete job.metadata.generateName;
    this.jobs.set(name, job);
    this.o.state.publish("jobs", "ADDED", this.renderJob(job));
    this.o.notify();
    setImmediate(() => this.startPod(job));
    return { status: 201, body: this.renderJob(job) };
  }

  /**
   * A bare pod (POST pods), such as a helper that mounts a PVC: Pending, then Running and Ready
   * after `startDelayMs` (Unschedulable while a claim it mounts does not exist). Its container's
   * command is not run — it stands for a `sleep`; what it does happens through exec, which sees
   * its PVC mounts. It runs until deleted.
   */
  createBarePod(manifest: JsonObject): WriteAnswer {
    const meta = metadataOf(manifest);
    const name = typeof meta.name === "string" ? meta.name : "";
    const spec = isJsonObject(manifest.spec) ? manifest.spec : {};
    const containers = Array.isArray(spec.containers) ? spec.containers : [];
    const problem =
      !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name) || name.length > 253
        ? `metadata.name: Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'`
        : containers.length === 0
          ? "spec.containers: Required value"
          : undefined;
    if (problem)
      return {
        status: 422,
        body: status(422, `Pod "${name}" is invalid: ${problem}`, "Invalid", name, "pods", ""),
      };
    if (this.pods.has(name) || this.o.podExists(name))
      return {
        status: 409,
        body: status(409, `pods "${name}" already exists`, "AlreadyExists", name, "pods", ""),
      };
    const pod: JobPod = {
      name,
      bare: true,
      uid: randomUUID(),
      job: "",
      jobUid: "",
      orphaned: true,
      attempt: 1,
      template: { metadata: structuredClone(meta), spec: structuredClone(spec) },
      createdAt: Date.now(),
      phase: "Pending",
      rv: this.o.state.allocateResourceVersion(),
      abort: new AbortController(),
    };
    this.pods.set(name, pod);
    this.o.state.publish("pods", "ADDED", this.renderPod(pod));
    this.o.notify();
    const missingClaim = volumesOf(pod.template).find(
      (v) => this.o.claimDirectory(v.claimName) === undefined,
    );
    if (missingClaim) {
      pod.pending = {
        reason: "Unschedulable",
        message: `0/1 nodes are available: persistentvolumeclaim "${missingClaim.claimName}" not found. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.`,
      };
      this.touchPod(pod);
    } else {
      pod.timer = setTimeout(() => {
        pod.timer = undefined;
        if (this.closed || pod.deletionAt !== undefined) return;
        pod.phase = "Running";
        pod.startedAt = Date.now();
        this.touchPod(pod);
      }, this.o.startDelayMs);
    }
    return { status: 201, body: this.renderPod(pod) };
  }

  /** The phase of a Job's or bare pod (undefined when there is none of that name). */
  podPhase(name: string): string | undefined {
    return this.pods.get(name)?.phase;
  }

  /** Whether a pod of this controller (a Job's or a bare one) exists. */
  hasPod(name: string): boolean {
    return this.pods.has(name);
  }

  delete(name: string, policy: string | undefined): WriteAnswer {
    const job = this.jobs.get(name);
    if (!job) {
      return {
        status: 404,
        body: status(404, `jobs.batch "${name}" not found`, "NotFound", name, "jobs", "batch"),
      };
    }
    const effective = policy ?? "Orphan"; // batch/v1's default garbage-collection policy
    if (!["Orphan", "Background", "Foreground"].includes(effective)) {
      return {
        status: 400,
        body: status(
          400,
          `propagationPolicy: Unsupported value: "${effective}"`,
          "BadRequest",
          name,
          "jobs",
          "batch",
        ),
      };
    }
    const pods = this.podsOf(job);
    if (effective === "Foreground" && pods.length > 0) {
      job.deleting = "Foreground";
      this.touchJob(job);
      for (const pod of pods) this.terminatePod(pod);
      return { status: 200, body: this.renderJob(job) };
    }
    this.removeJob(job);
    for (const pod of pods) {
      if (effective === "Orphan") {
        pod.orphaned = true;
        this.touchPod(pod);
      } else {
        this.terminatePod(pod);
      }
    }
    return {
      status: 200,
      body: {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Success",
        details: { name, group: "batch", kind: "jobs", uid: job.uid },
      },
    };
  }

  /** Deletes a Job pod as `kubectl delete pod` would. False when there is no such live pod. */
  deletePod(name: string): boolean {
    const pod = this.pods.get(name);
    if (!pod || pod.deletionAt !== undefined) return false;
    this.terminatePod(pod);
    return true;
  }

  close(): void {
    this.closed = true;
    for (const pod of this.pods.values()) {
      if (pod.timer) clearTimeout(pod.timer);
      pod.abort.abort(new Error("the simulator is stopping"));
    }
  }

  // ---- controller -------------------------------------------------------------------------

  private startPod(job: JobState): void {
    if (this.closed || this.jobs.get(job.name) !== job || job.condition || job.deleting) return;
    const template = isJsonObject(job.spec.template) ? job.spec.template : {};
    const attempt = job.failed + job.succeeded + 1;
    const pod: JobPod = {
      name: `${job.name}-${suffix(5)}`,
      uid: randomUUID(),
      job: job.name,
      jobUid: job.uid,
      orphaned: false,
      attempt,
      template: structuredClone(template),
      createdAt: Date.now(),
      phase: "Pending",
      rv: this.o.state.allocateResourceVersion(),
      abort: new AbortController(),
    };
    this.pods.set(pod.name, pod);
    this.o.state.publish("pods", "ADDED", this.renderPod(pod));
    job.startTime ??= Date.now();
    this.touchJob(job);

    const behaviour = this.behaviours.find((b) => matchesJob(b.match, job.name))?.behaviour;
    const missingClaim = volumesOf(pod.template).find(
      (v) => this.o.claimDirectory(v.claimName) === undefined,
    );
    if (missingClaim) {
      pod.pending = {
        reason: "Unschedulable",
        message: `0/1 nodes are available: persistentvolumeclaim "${missingClaim.claimName}" not found. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.`,
      };
      this.touchPod(pod);
      return;
    }
    if (behaviour && typeof behaviour !== "function") {
      pod.pending = {
        reason: behaviour.pending,
        message:
          behaviour.message ??
          (behaviour.pending === "Unschedulable"
            ? "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
            : `Back-off pulling image "${firstContainer(pod.template).image ?? ""}"`),
      };
      this.touchPod(pod);
      return;
    }
    pod.timer = setTimeout(() => this.runPod(job, pod, behaviour), this.o.startDelayMs);
  }

  private runPod(job: JobState, pod: JobPod, behaviour: JobPodBehaviour | undefined): void {
    pod.timer = undefined;
    if (this.closed || pod.deletionAt !== undefined) return;
    pod.phase = "Running";
    pod.startedAt = Date.now();
    this.touchPod(pod);
    this.touchJob(job);
    const container = firstContainer(pod.template);
    const containerName = String(container.name ?? "");
    const { mounts, env, command } = this.mounts(pod, containerName);
    const log = (text: string) => {
      if (pod.deletionAt === undefined || pod.phase === "Running")
        this.o.writeLog(pod.name, containerName, text);
    };
    const run: JobPodRun = {
      job: job.name,
      pod: pod.name,
      container: containerName,
      command,
      env,
      mounts,
      attempt: pod.attempt,
      log,
      signal: pod.abort.signal,
    };
    const work =
      typeof behaviour === "function"
        ? Promise.resolve().then(() => behaviour(run))
        : runLocally({
            command,
            mounts,
            env,
            stdout: logWriter(log),
            stderr: logWriter(log),
            signal: pod.abort.signal,
            ...(typeof container.workingDir === "string"
              ? { workingDir: container.workingDir }
              : {}),
          });
    void work
      .then(
        (code) => code ?? 0,
        (err: unknown) => {
          log(
            err instanceof MissingExecutableError
              ? `${err.message}\n`
              : `${err instanceof Error ? err.message : String(err)}\n`,
          );
          return err instanceof MissingExecutableError ? 127 : 1;
        },
      )
      .then((code) => this.finishPod(pod, code));
  }

  private finishPod(pod: JobPod, exitCode: number): void {
    if (this.closed || pod.phase !== "Running") return;
    pod.phase = exitCode === 0 ? "Succeeded" : "Failed";
    pod.exitCode = exitCode;
    pod.finishedAt = Date.now();
    this.touchPod(pod);
    this.o.containersEnded(pod.name);
    this.o.podGone(pod.name);
    const job = this.jobs.get(pod.job);
    if (!job || job.uid !== pod.jobUid || pod.orphaned) return;
    if (exitCode === 0) {
      job.succeeded += 1;
      const at = Date.now();
      job.completionTime = at;
      job.condition = { type: "Complete", reason: "", message: "", at };
    } else {
      job.failed += 1;
      const limit = typeof job.spec.backoffLimit === "number" ? job.spec.backoffLimit : 6;
      if (job.failed > limit) {
        job.condition = {
          type: "Failed",
          reason: "BackoffLimitExceeded",
          message: "Job has reached the specified backoff limit",
          at: Date.now(),
        };
      }
    }
    this.touchJob(job);
    if (!job.condition && !job.deleting) this.startPod(job);
  }

  private terminatePod(pod: JobPod): void {
    if (pod.deletionAt !== undefined) return;
    if (pod.timer) clearTimeout(pod.timer);
    pod.deletionAt = Date.now();
    pod.abort.abort(new Error("the pod was deleted"));
    if (pod.phase === "Running" && !pod.bare) {
      // Killed: the container ends with SIGKILL's status, as after its grace period.
      pod.phase = "Failed";
      pod.exitCode = 137;
      pod.finishedAt = Date.now();
    }
    this.touchPod(pod);
    this.o.containersEnded(pod.name);
    pod.timer = setTimeout(() => this.removePod(pod), this.o.terminationDelayMs);
  }

  private removePod(pod: JobPod): void {
    pod.timer = undefined;
    if (!this.pods.delete(pod.name)) return;
    pod.rv = this.o.state.allocateResourceVersion();
    this.o.state.publish("pods", "DELETED", this.renderPod(pod));
    this.o.podGone(pod.name);
    const job = this.jobs.get(pod.job);
    if (job?.deleting === "Foreground" && job.uid === pod.jobUid && this.podsOf(job).length === 0) {
      this.removeJob(job);
    }
    this.o.notify();
  }

  private removeJob(job: JobState): void {
    this.jobs.delete(job.name);
    job.rv = this.o.state.allocateResourceVersion();
    this.o.state.publish("jobs", "DELETED", this.renderJob(job));
    this.o.notify();
  }

  private podsOf(job: JobState): JobPod[] {
    return [...this.pods.values()].filter((p) => p.jobUid === job.uid && !p.orphaned);
  }

  private touchPod(pod: JobPod): void {
    pod.rv = this.o.state.allocateResourceVersion();
    this.o.state.publish("pods", "MODIFIED", this.renderPod(pod));
    this.o.notify();
  }

  private touchJob(job: JobState): void {
    job.rv = this.o.state.allocateResourceVersion();
    this.o.state.publish("jobs", "MODIFIED", this.renderJob(job));
    this.o.notify();
  }

  private mounts(
    pod: JobPod,
    containerName: string,
  ): { mounts: VolumeMount[]; env: Record<string, string>; command: string[] } {
    const spec = isJsonObject(pod.template.spec) ? pod.template.spec : {};
    const containers = Array.isArray(spec.containers) ? spec.containers.filter(isJsonObject) : [];
    const container = containers.find((c) => c.name === containerName) ?? containers[0] ?? {};
    const claims = new Map(volumesOf(pod.template).map((v) => [v.name, v.claimName]));
    const mounts: VolumeMount[] = [];
    for (const m of Array.isArray(container.volumeMounts) ? container.volumeMounts : []) {
      if (!isJsonObject(m)) continue;
      const claim = claims.get(String(m.name));
      const dir = claim === undefined ? undefined : this.o.claimDirectory(claim);
      if (dir === undefined || typeof m.mountPath !== "string") continue;
      const sub = typeof m.subPath === "string" && m.subPath ? `/${m.subPath}` : "";
      mounts.push({ mountPath: m.mountPath, dir: `${dir}${sub}` });
    }
    const env: Record<string, string> = {};
    for (const e of Array.isArray(container.env) ? container.env : []) {
      if (isJsonObject(e) && typeof e.name === "string" && typeof e.value === "string")
        env[e.name] = e.value;
    }
    const strings = (v: Json | undefined) => (Array.isArray(v) ? v.map(String) : []);
    return { mounts, env, command: [...strings(container.command), ...strings(container.args)] };
  }

  // ---- rendering --------------------------------------------------------------------------

  private renderJob(job: JobState): JsonObject {
    const pods = this.podsOf(job);
    const active = pods.filter(isActive).length;
    const ready = pods.filter((p) => p.phase === "Running" && p.deletionAt === undefined).length;
    const selectorLabels = { "batch.kubernetes.io/controller-uid": job.uid };
    const template = isJsonObject(job.spec.template) ? structuredClone(job.spec.template) : {};
    const templateMeta = isJsonObject(template.metadata) ? template.metadata : {};
    template.metadata = {
      ...templateMeta,
      labels: {
        ...(isJsonObject(templateMeta.labels) ? templateMeta.labels : {}),
        ...jobLabels(job.name, job.uid),
      },
    };
    const conditions: JsonObject[] = [];
    if (job.condition) {
      const at = iso(job.condition.at);
      const base = { status: "True", lastProbeTime: at, lastTransitionTime: at };
      if (job.condition.type === "Complete") {
        conditions.push({
          type: "SuccessCriteriaMet",
          ...base,
          reason: "CompletionsReached",
          message: "Reached expected number of succeeded pods",
        });
        conditions.push({
          type: "Complete",
          ...base,
          reason: "CompletionsReached",
          message: "Reached expected number of succeeded pods",
        });
      } else {
        conditions.push({
          type: "FailureTarget",
          ...base,
          reason: job.condition.reason,
          message: job.condition.message,
        });
        conditions.push({
          type: "Failed",
          ...base,
          reason: job.condition.reason,
          message: job.condition.message,
        });
      }
    }
    const metadata: JsonObject = {
      ...job.metadata,
      namespace: this.o.namespace,
      uid: job.uid,
      resourceVersion: String(job.rv),
      generation: 1,
      creationTimestamp: iso(job.createdAt),
      labels: {
        ...(isJsonObject(job.metadata.labels) ? job.metadata.labels : {}),
        ...jobLabels(job.name, job.uid),
      },
    };
    if (job.deleting) {
      metadata.deletionTimestamp = iso(Date.now());
      metadata.deletionGracePeriodSeconds = 0;
      metadata.finalizers = ["foregroundDeletion"];
    }
    return {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata,
      spec: {
        parallelism: 1,
        completions: 1,
        backoffLimit: 6,
        completionMode: "NonIndexed",
        suspend: false,
        manualSelector: false,
        podReplacementPolicy: "TerminatingOrFailed",
        ...job.spec,
        selector: { matchLabels: selectorLabels },
        template,
      },
      status: {
        ...(job.startTime ? { startTime: iso(job.startTime) } : {}),
        ...(job.completionTime ? { completionTime: iso(job.completionTime) } : {}),
        ...(active ? { active } : {}),
        ...(job.succeeded ? { succeeded: job.succeeded } : {}),
        ...(job.failed ? { failed: job.failed } : {}),
        ...(active ? { ready } : { ready: 0 }),
        terminating: pods.filter((p) => p.deletionAt !== undefined).length,
        uncountedTerminatedPods: {},
        ...(conditions.length ? { conditions } : {}),
      },
    };
  }

  private renderPod(pod: JobPod): JsonObject {
    const templateMeta = isJsonObject(pod.template.metadata) ? pod.template.metadata : {};
    const spec = structuredClone(isJsonObject(pod.template.spec) ? pod.template.spec : {});
    const containers = Array.isArray(spec.containers) ? spec.containers.filter(isJsonObject) : [];
    const metadata: JsonObject = pod.bare
      ? {
          ...templateMeta,
          name: pod.name,
          namespace: this.o.namespace,
          uid: pod.uid,
          resourceVersion: String(pod.rv),
          creationTimestamp: iso(pod.createdAt),
        }
      : {
          ...templateMeta,
          name: pod.name,
          generateName: `${pod.job}-`,
          namespace: this.o.namespace,
          uid: pod.uid,
          resourceVersion: String(pod.rv),
          creationTimestamp: iso(pod.createdAt),
          labels: {
            ...(isJsonObject(templateMeta.labels) ? templateMeta.labels : {}),
            ...jobLabels(pod.job, pod.jobUid),
          },
          ownerReferences: pod.orphaned
            ? []
            : [
                {
                  apiVersion: "batch/v1",
                  kind: "Job",
                  name: pod.job,
                  uid: pod.jobUid,
                  controller: true,
                  blockOwnerDeletion: true,
                },
              ],
          finalizers: pod.deletionAt === undefined ? ["batch.kubernetes.io/job-tracking"] : [],
        };
    if (pod.deletionAt !== undefined) {
      metadata.deletionTimestamp = iso(pod.deletionAt + GRACE_PERIOD_SECONDS * 1000);
      metadata.deletionGracePeriodSeconds = GRACE_PERIOD_SECONDS;
    }
    const scheduled = pod.pending?.reason !== "Unschedulable";
    const created = iso(pod.createdAt);
    const started = iso(pod.startedAt ?? pod.createdAt);
    const finished = iso(pod.finishedAt ?? Date.now());
    const running = pod.phase === "Running" && pod.deletionAt === undefined;
    const cond = (type: string, ok: boolean, at: string, extra: JsonObject = {}): JsonObject => ({
      type,
      status: ok ? "True" : "False",
      lastProbeTime: null,
      lastTransitionTime: at,
      ...(ok ? {} : extra),
    });
    const conditions: JsonObject[] = scheduled
      ? [
          cond("PodReadyToStartContainers", pod.phase !== "Pending", started),
          cond("Initialized", true, created),
          cond("Ready", running, started, {
            reason: pod.phase === "Pending" ? "ContainersNotReady" : "PodCompleted",
          }),
          cond("ContainersReady", running, started, {
            reason: pod.phase === "Pending" ? "ContainersNotReady" : "PodCompleted",
          }),
          cond("PodScheduled", true, created),
        ]
      : [
          cond("PodScheduled", false, created, {
            reason: "Unschedulable",
            message: pod.pending?.message ?? "",
          }),
        ];
    const state = (): JsonObject => {
      if (pod.phase === "Pending") {
        return pod.pending
          ? { waiting: { reason: pod.pending.reason, message: pod.pending.message } }
          : { waiting: { reason: "ContainerCreating" } };
      }
      if (pod.phase === "Running") return { running: { startedAt: started } };
      return {
        terminated: {
          exitCode: pod.exitCode ?? 0,
          reason: pod.exitCode === 0 ? "Completed" : "Error",
          startedAt: started,
          finishedAt: finished,
          containerID: `containerd://${pod.uid.replaceAll("-", "")}`,
        },
      };
    };
    return {
      apiVersion: "v1",
      kind: "Pod",
      metadata,
      spec: { ...spec, ...(scheduled ? { nodeName: "sim-node-1" } : {}) },
      status: {
        phase: pod.phase,
        conditions,
        ...(scheduled
          ? {
              hostIP: "10.0.0.10",
              podIP: "10.42.1.10",
              startTime: created,
              containerStatuses: containers.map((c) => ({
                name: String(c.name ?? ""),
                image: String(c.image ?? ""),
                imageID: "",
                ready: running,
                started: running,
                restartCount: 0,
                state: state(),
              })),
            }
          : {}),
        qosClass: "BestEffort",
      },
    };
  }
}

function jobLabels(job: string, uid: string): JsonObject {
  return {
    "batch.kubernetes.io/controller-uid": uid,
    "batch.kubernetes.io/job-name": job,
    "controller-uid": uid,
    "job-name": job,
  };
}

function isActive(pod: JobPod): boolean {
  return (pod.phase === "Pending" || pod.phase === "Running") && pod.deletionAt === undefined;
}

function volumesOf(template: JsonObject): Array<{ name: string; claimName: string }> {
  const spec = isJsonObject(template.spec) ? template.spec : {};
  const volumes = Array.isArray(spec.volumes) ? spec.volumes : [];
  return volumes.flatMap((v) => {
    if (!isJsonObject(v) || !isJsonObject(v.persistentVolumeClaim)) return [];
    const claimName = v.persistentVolumeClaim.claimName;
    return typeof claimName === "string" ? [{ name: String(v.name), claimName }] : [];
  });
}

function firstContainer(template: JsonObject): JsonObject {
  const spec = isJsonObject(template.spec) ? template.spec : {};
  const containers = Array.isArray(spec.containers) ? spec.containers : [];
  const first = containers[0];
  return isJsonObject(first) ? first : {};
}

function matchesJob(match: JobPodMatch, job: string): boolean {
  if (match.job === undefined) return true;
  return typeof match.job === "string" ? match.job === job : match.job.test(job);
}

function logWriter(log: (text: string) => void): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      log(chunk.toString("utf8"));
      callback();
    },
  });
}

function suffix(length: number): string {
  let out = "";
  for (const b of randomBytes(length)) out += NAME_ALPHABET[b % NAME_ALPHABET.length];
  return out;
}
