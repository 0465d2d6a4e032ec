import type { Readable } from "node:stream";

/**
 * Work that runs in pods: Jobs (create, wait, follow logs, delete), PVCs, and exec. Part of
 * what `createKubernetesCluster` returns; the Kubernetes access each method needs is in
 * `pod-work-rbac.ts`, so a kind's Role can be generated from the methods its steps use.
 */

/** A manifest as the API takes it (apiVersion/kind may be omitted). */
export type Manifest = Record<string, unknown> & {
  metadata?: { name?: string; [key: string]: unknown };
};

export interface JobPodState {
  name: string;
  /** `Pending`, `Running`, `Succeeded`, `Failed`. */
  phase: string;
  terminating: boolean;
  /**
   * What the pod is doing, in the API's own words: `PodScheduled=False Unschedulable: 0/3 nodes
   * are available: …`, `container main waiting: ImagePullBackOff: Back-off pulling image "x"`,
   * `container main terminated: Error (exit code 1)`.
   */
  detail: string;
}

export interface JobState {
  name: string;
  uid: string;
  active: number;
  succeeded: number;
  failed: number;
  /** `Complete` or `Failed` once the Job has finished; its reason and message from the condition. */
  finished?: { type: "Complete" | "Failed"; reason?: string; message?: string };
  /** Has a deletionTimestamp (being deleted). */
  terminating: boolean;
}

export interface WaitJobOptions {
  /** Rejects with a `timeout` CodedError describing the Job's pods (a Pending pod's exact state). */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Called with the Job's state on every change (narration). */
  onProgress?: (job: JobState) => void;
}

export interface JobOutcome {
  /** `succeeded` for Complete, `failed` for Failed (the caller halts and shows the logs). */
  outcome: "succeeded" | "failed";
  job: JobState;
  pods: JobPodState[];
}

export interface FollowJobLogsOptions {
  /** The container to follow (default: the pod's only/first container). */
  container?: string;
  /**
   * Lines already delivered (for a resumed follow after a crash): that many lines are skipped
   * before `onLine` is called again. Counted across the Job's pods in creation order.
   */
  skipLines?: number;
  /** Stops delivering lines and resolves. */
  signal?: AbortSignal;
  /** Give up waiting for a pod to start (default 10 min): rejects with `timeout` and the pod's state. */
  startTimeoutMs?: number;
  /** Longest line delivered whole; longer ones are cut at this many bytes. Default 64 KiB. */
  maxLineBytes?: number;
}

export interface ExecInPodOptions {
  pod: string;
  container: string;
  command: readonly string[];
  /**
   * Streamed into the command's stdin, with backpressure; its end is the command's end of input.
   * Needs a cluster speaking `v5.channel.k8s.io` (Kubernetes ≥ 1.30) unless `stdinBytes` is given.
   */
  stdin?: Readable;
  /**
   * Exact size of `stdin`, when known. On a cluster that speaks only v4 the command is then run
   * as `sh -c 'head -c N | "$@"'` so that it sees the end of its input without the connection
   * being closed (needs `sh` and `head` in the container); a stdin of another size is an error.
   */
  stdinBytes?: number;
  /**
   * Each chunk of stdout as it arrives (a view of the frame, not a copy: copy what is kept long,
   * or it holds the socket read it came in); a returned promise pauses reading until it settles.
   */
  onStdout?: (chunk: Buffer) => void | Promise<void>;
  onStderr?: (chunk: Buffer) => void | Promise<void>;
  signal?: AbortSignal;
  /** Rejects with `timeout` (and closes the connection) after this long. Default: none. */
  timeoutMs?: number;
}

export interface ExecResult {
  /** The command's exit status (from the Status on channel 3). */
  exitCode: number;
  /** `v5.channel.k8s.io` or `v4.channel.k8s.io`. */
  protocol: string;
}

export interface PodWorkPort {
  /**
   * Creates the Job; when one of that name exists already (a resumed step), returns it instead
   * (`created: false`) so the caller follows the same Job rather than starting a second.
   */
  createJob(manifest: Manifest): Promise<{ job: JobState; created: boolean }>;
  /** The Job, or undefined when there is none of that name. */
  getJob(name: string): Promise<JobState | undefined>;
  /** The Job's pods (label `job-name=<name>`), oldest first, with their exact state. */
  listJobPods(name: string): Promise<JobPodState[]>;
  /** Watches the Job until Complete or Failed. Rejects with `not_found` if it is deleted meanwhile. */
  waitJob(name: string, options: WaitJobOptions): Promise<JobOutcome>;
  /**
   * Streams the logs of the Job's pods, line by line, in creation order, each followed until its
   * container ends, until the Job has finished and every pod's log is read.
   */
  followJobLogs(
    name: string,
    onLine: (line: string, at: { pod: string; index: number }) => void | Promise<void>,
    options?: FollowJobLogsOptions,
  ): Promise<{ lines: number }>;
  /** Deletes the Job and (propagationPolicy Background) its pods. A Job already gone is fine. */
  deleteJob(name: string): Promise<void>;
  /** Creates the PVC; one of that name already there is returned as is (`created: false`). */
  createPvc(manifest: Manifest): Promise<{ name: string; created: boolean }>;
  /** Deletes the PVC. One already gone is fine. */
  deletePvc(name: string): Promise<void>;
  /**
   * Creates a bare pod (e.g. a helper that mounts a workload's PVC while the workload is stopped);
   * when one of that name exists already (a resumed step), returns it as is (`created: false`).
   * Delete it with `deletePod` and wait with `waitForPods` (label it `app=<its name>`).
   */
  createPod(manifest: Manifest): Promise<{ name: string; created: boolean }>;
  /** Runs a command in a pod's container, streaming stdin, stdout and stderr; resolves with its exit status. */
  execInPod(options: ExecInPodOptions): Promise<ExecResult>;
}
