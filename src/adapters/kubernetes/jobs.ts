import { Writable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import {
  BatchV1Api,
  CoreV1Api,
  type KubeConfig,
  Log,
  type V1Job,
  type V1Pod,
  Watch,
} from "@kubernetes/client-node";
import { CodedError } from "../../errors.js";
import type { Logger } from "../../logging/logger.js";
import { formatDuration } from "../../text/format.js";
import { type ApiCall, statusOf } from "./api-errors.js";
import type {
  FollowJobLogsOptions,
  JobOutcome,
  JobPodState,
  JobState,
  Manifest,
  PodWorkPort,
  WaitJobOptions,
} from "./pod-work-port.js";
import { type CallContext, callWithRetries } from "./retry.js";

export interface PodWorkDeps {
  kc: KubeConfig;
  namespace: string;
  logger: Logger;
  context(signal?: AbortSignal): CallContext;
  /** `timeoutSeconds` asked of each watch; it is re-opened when it ends. */
  watchTimeoutSeconds: number;
}

const RECONNECT_MS = 200;
const LOG_RECONNECT_MS = 500;

/** Jobs: create (or adopt by name), wait by watch, follow logs, delete with propagation. */
export function createJobOps(
  deps: PodWorkDeps,
): Pick<
  PodWorkPort,
  "createJob" | "getJob" | "listJobPods" | "waitJob" | "followJobLogs" | "deleteJob"
> {
  const { kc, namespace } = deps;
  const batch = kc.makeApiClient(BatchV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const watcher = new Watch(kc);
  const logs = new Log(kc);
  const call = (verb: ApiCall["verb"], action: string): ApiCall => ({ verb, action, namespace });

  const getJob = async (name: string, signal?: AbortSignal): Promise<V1Job | undefined> => {
    try {
      return await callWithRetries(
        call("get", `read Job ${name}`),
        () => batch.readNamespacedJob({ name, namespace }),
        deps.context(signal),
      );
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  };

  const listJobPods = async (name: string, signal?: AbortSignal): Promise<V1Pod[]> => {
    const list = await callWithRetries(
      call("list", `list the pods of Job ${name}`),
      () => core.listNamespacedPod({ namespace, labelSelector: `job-name=${name}` }),
      deps.context(signal),
    );
    return [...list.items].sort(
      (a, b) =>
        time(a.metadata?.creationTimestamp) - time(b.metadata?.creationTimestamp) ||
        (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? ""),
    );
  };

  const waitJob = (name: string, options: WaitJobOptions): Promise<JobOutcome> => {
    const { timeoutMs, signal, onProgress } = options;
    return new Promise<JobOutcome>((resolve, reject) => {
      let settled = false;
      let handle: { abort(): void } | undefined;
      let resourceVersion: string | undefined;
      let reported = "";
      let retry: NodeJS.Timeout | undefined;
      const finish = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(retry);
        handle?.abort();
        signal?.removeEventListener("abort", onAbort);
        outcome();
      };
      const fail = (err: unknown) => finish(() => reject(err));
      const seen = (job: V1Job) => {
        const state = jobStateOf(job);
        const key = JSON.stringify(state);
        if (key !== reported) {
          reported = key;
          try {
            onProgress?.(state);
          } catch (err) {
            deps.logger.warn({ err: String(err) }, "waitJob onProgress failed");
          }
        }
        if (state.finished) {
          const finished = state.finished;
          listJobPods(name, signal).then(
            (pods) =>
              finish(() =>
                resolve({
                  outcome: finished.type === "Complete" ? "succeeded" : "failed",
                  job: state,
                  pods: pods.map(podStateOf),
                }),
              ),
            fail,
          );
        }
      };
      const gone = () =>
        fail(
          new CodedError(
            "not_found",
            `Job ${name} in namespace ${namespace} was deleted while restorebot was waiting for it to finish.`,
          ),
        );
      const start = async () => {
        if (settled) return;
        try {
          const list = await callWithRetries(
            call("list", `read Job ${name}`),
            () => batch.listNamespacedJob({ namespace, fieldSelector: `metadata.name=${name}` }),
            deps.context(signal),
          );
          const job = list.items[0];
          if (!job) return gone();
          resourceVersion = list.metadata?.resourceVersion;
          seen(job);
          if (!settled) await watch();
        } catch (err) {
          fail(err);
        }
      };
      const watch = async () => {
        if (settled) return;
        const again = (relist: boolean) => {
          if (settled) return;
          clearTimeout(retry);
          retry = setTimeout(() => void (relist ? start() : watch()), RECONNECT_MS);
        };
        try {
          handle = await watcher.watch(
            `/apis/batch/v1/namespaces/${encodeURIComponent(namespace)}/jobs`,
            {
              fieldSelector: `metadata.name=${name}`,
              allowWatchBookmarks: true,
              timeoutSeconds: deps.watchTimeoutSeconds,
              ...(resourceVersion ? { resourceVersion } : {}),
            },
            (type, object: V1Job & { code?: number }) => {
              if (type === "ERROR") return again(object.code === 410);
              const rv = object.metadata?.resourceVersion;
              if (rv) resourceVersion = rv;
              if (type === "BOOKMARK") return;
              if (type === "DELETED") return gone();
              seen(object);
            },
            (err: unknown) => again(statusOf(err) === 410),
          );
          if (settled) handle.abort();
        } catch (err) {
          deps.logger.warn({ job: name, err: String(err) }, "Job watch failed; retrying");
          again(statusOf(err) === 410);
        }
      };
      const timer = setTimeout(() => {
        listJobPods(name).then(
          (pods) =>
            fail(
              new CodedError(
                "timeout",
                `Job ${name} did not finish within ${formatDuration(timeoutMs)}: ${describePods(pods.map(podStateOf))}.`,
                { details: { job: name, pods: pods.map(podStateOf) } },
              ),
            ),
          fail,
        );
      }, timeoutMs);
      const onAbort = () =>
        fail(new CodedError("cancelled", `Cancelled while waiting for Job ${name} to finish.`));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      void start();
    });
  };

  /** Follows one pod's log to the end of its container; resolves with the lines delivered. */
  const followPod = (
    pod: string,
    container: string,
    deliver: (line: string) => Promise<void>,
    maxLineBytes: number,
    signal: AbortSignal | undefined,
  ): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const decoder = new StringDecoder("utf8");
      let partial = "";
      const sink = new Writable({
        write(chunk: Buffer, _encoding, callback) {
          if (signal?.aborted) return callback();
          partial += decoder.write(chunk);
          const lines = partial.split("\n");
          partial = lines.pop() ?? "";
          while (Buffer.byteLength(partial) > maxLineBytes) {
            lines.push(partial.slice(0, maxLineBytes));
            partial = partial.slice(maxLineBytes);
          }
          lines
            .reduce((p, line) => p.then(() => deliver(line)), Promise.resolve())
            .then(() => callback(), callback);
        },
        final(callback) {
          partial += decoder.end();
          if (partial === "" || signal?.aborted) return callback();
          deliver(partial).then(() => callback(), callback);
        },
      });
      sink.once("finish", () => resolve());
      sink.once("error", reject);
      // Cancelling stops delivery at once; the HTTP stream itself is left to end with the
      // container (client-node 2.x's Log has no safe way to abort it: see the simulator's README).
      signal?.addEventListener("abort", () => resolve(), { once: true });
      logs.log(namespace, pod, container, sink, { follow: true }).catch(reject);
    });

  const followJobLogs = async (
    name: string,
    onLine: (line: string, at: { pod: string; index: number }) => void | Promise<void>,
    options: FollowJobLogsOptions = {},
  ): Promise<{ lines: number }> => {
    const { signal, skipLines = 0, maxLineBytes = 64 * 1024 } = options;
    const startTimeoutMs = options.startTimeoutMs ?? 10 * 60_000;
    const done = new Set<string>();
    // Index (across the Job's pods) of the next line not yet seen, and where each pod's log begins.
    let index = 0;
    const podStart = new Map<string, number>();
    let waitingSince = Date.now();
    while (!signal?.aborted) {
      const pods = await listJobPods(name);
      const next = pods.find((p) => !done.has(p.metadata?.name ?? ""));
      if (!next) {
        const job = await getJob(name);
        if (!job || jobStateOf(job).finished) break;
        await pause(LOG_RECONNECT_MS, signal);
        continue;
      }
      const podName = next.metadata?.name ?? "";
      const state = podStateOf(next);
      if (next.status?.phase === "Pending" || next.status?.phase === undefined) {
        if (Date.now() - waitingSince > startTimeoutMs) {
          throw new CodedError(
            "timeout",
            `The pod of Job ${name} did not start within ${formatDuration(startTimeoutMs)}: ${describePods([state])}.`,
          );
        }
        await pause(LOG_RECONNECT_MS, signal);
        continue;
      }
      const container =
        options.container ?? next.spec?.containers[0]?.name ?? next.spec?.containers[0]?.name ?? "";
      const base = podStart.get(podName) ?? index;
      podStart.set(podName, base);
      let position = base;
      try {
        await followPod(
          podName,
          container,
          async (line) => {
            const at = { pod: podName, index: position++ };
            if (at.index < index) return; // read before this follow broke off
            index = at.index + 1;
            if (at.index >= skipLines) await onLine(line, at);
          },
          maxLineBytes,
          signal,
        );
      } catch (err) {
        const status = statusOf(err);
        if (status === 401 || status === 403) throw err;
        // A follow that broke (connection reset) is resumed from the start of that pod's log,
        // skipping the lines already delivered.
        deps.logger.warn({ job: name, pod: podName, err: String(err) }, "log follow broke");
        await pause(LOG_RECONNECT_MS, signal);
        continue;
      }
      if (signal?.aborted) break;
      // The stream ended: the container stopped (or the pod went). Was it the end?
      const fresh = (await listJobPods(name)).find((p) => p.metadata?.name === podName);
      const phase = fresh?.status?.phase;
      if (
        !fresh ||
        phase === "Succeeded" ||
        phase === "Failed" ||
        fresh.metadata?.deletionTimestamp
      ) {
        done.add(podName);
        waitingSince = Date.now();
      }
      // Otherwise it ended early while the container runs (API server restart): the next round
      // reads that pod's log again, skipping what was seen.
    }
    return { lines: Math.max(0, index - skipLines) };
  };

  return {
    async createJob(manifest: Manifest) {
      const name = manifest.metadata?.name;
      if (!name) throw new CodedError("internal", "A Job manifest needs metadata.name.");
      try {
        const job = await callWithRetries(
          call("create", `create Job ${name}`),
          () =>
            batch.createNamespacedJob({
              namespace,
              body: { apiVersion: "batch/v1", kind: "Job", ...manifest } as V1Job,
            }),
          deps.context(),
        );
        deps.logger.info({ job: name }, "Job created");
        return { job: jobStateOf(job), created: true };
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        const existing = await getJob(name);
        if (!existing) throw err;
        deps.logger.info({ job: name }, "Job exists already; following it");
        return { job: jobStateOf(existing), created: false };
      }
    },
    async getJob(name: string) {
      const job = await getJob(name);
      return job ? jobStateOf(job) : undefined;
    },
    async listJobPods(name: string) {
      return (await listJobPods(name)).map(podStateOf);
    },
    waitJob,
    followJobLogs,
    async deleteJob(name: string) {
      try {
        await callWithRetries(
          call("delete", `delete Job ${name}`),
          // batch/v1 orphans a Job's pods unless told otherwise: Background removes them too.
          () => batch.deleteNamespacedJob({ name, namespace, propagationPolicy: "Background" }),
          deps.context(),
        );
        deps.logger.info({ job: name }, "Job deleted");
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    },
  };
}

export function jobStateOf(job: V1Job): JobState {
  const finished = (job.status?.conditions ?? []).find(
    (c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True",
  );
  return {
    name: job.metadata?.name ?? "",
    uid: job.metadata?.uid ?? "",
    active: job.status?.active ?? 0,
    succeeded: job.status?.succeeded ?? 0,
    failed: job.status?.failed ?? 0,
    ...(finished
      ? {
          finished: {
            type: finished.type as "Complete" | "Failed",
            ...(finished.reason ? { reason: finished.reason } : {}),
            ...(finished.message ? { message: finished.message } : {}),
          },
        }
      : {}),
    terminating: job.metadata?.deletionTimestamp != null,
  };
}

/** A pod's exact state, in the API's words (for a timeout or a halt account). */
export function podStateOf(pod: V1Pod): JobPodState {
  const phase = pod.status?.phase ?? "Unknown";
  const parts: string[] = [];
  for (const c of pod.status?.conditions ?? []) {
    if (c.status === "True") continue;
    if (c.type !== "PodScheduled" && !c.reason) continue;
    if (c.type === "Ready" || c.type === "ContainersReady") continue;
    parts.push(
      `${c.type}=${c.status}${c.reason ? ` ${c.reason}` : ""}${c.message ? `: ${c.message}` : ""}`,
    );
  }
  for (const s of pod.status?.containerStatuses ?? []) {
    if (s.state?.waiting) {
      const w = s.state.waiting;
      parts.push(
        `container ${s.name} waiting: ${w.reason ?? "?"}${w.message ? `: ${w.message}` : ""}`,
      );
    } else if (s.state?.terminated) {
      const t = s.state.terminated;
      parts.push(`container ${s.name} terminated: ${t.reason ?? "?"} (exit code ${t.exitCode})`);
    } else if (s.state?.running) {
      parts.push(`container ${s.name} running`);
    }
  }
  return {
    name: pod.metadata?.name ?? "",
    phase,
    terminating: pod.metadata?.deletionTimestamp != null,
    detail: parts.join("; "),
  };
}

function describePods(pods: JobPodState[]): string {
  if (pods.length === 0) return "no pod was created for it";
  return pods
    .map(
      (p) =>
        `pod ${p.name} is ${p.phase}${p.terminating ? " (terminating)" : ""}${p.detail ? ` — ${p.detail}` : ""}`,
    )
    .join("; ");
}

function isNotFound(err: unknown): boolean {
  return codeOf(err) === 404;
}

function isAlreadyExists(err: unknown): boolean {
  return codeOf(err) === 409;
}

/** The HTTP status behind a call's failure (CodedError from the retry loop, or the raw error). */
function codeOf(err: unknown): number | undefined {
  if (err instanceof CodedError) {
    const status = (err.details as { status?: unknown } | undefined)?.status;
    return typeof status === "number" ? status : undefined;
  }
  return statusOf(err);
}

function time(value: unknown): number {
  if (value instanceof Date) return value.getTime();
  if (typeof value === "string") return Date.parse(value) || 0;
  return 0;
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
