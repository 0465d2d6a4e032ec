import { asCodedError, CodedError } from "../../errors.js";
import type { Logger } from "../../logging/logger.js";
import { formatDuration } from "../../text/format.js";
import { describeFailure, failureToCodedError, statusOf } from "./api-errors.js";
import type { PodSummary, WaitForPodsOptions, WorkloadStatus } from "./cluster-port.js";
import {
  describePods,
  describeWorkloadStatus,
  type PodLike,
  sortPods,
  summarizePod,
} from "./pod-summary.js";

/** How `waitForPods` reaches the API: a list that retries on its own, and client-node's watch. */
export interface PodSource {
  namespace: string;
  /** The pods of the components waited for, and the list's resourceVersion. */
  list(signal: AbortSignal): Promise<{ items: PodLike[]; resourceVersion: string | undefined }>;
  watch(
    path: string,
    query: Record<string, string | number | boolean>,
    onEvent: (type: string, object: unknown) => void,
    onDone: (err: unknown) => void,
  ): Promise<{ abort(): void }>;
  /** The statuses of `options.workloads` (read with retries); needed when they are given. */
  readWorkloads?(signal: AbortSignal): Promise<WorkloadStatus[]>;
  logger: Logger;
  /** A watch that has not connected after this long is abandoned and opened again. */
  requestTimeoutMs: number;
  /** Asked of the server for each watch; a watch that outlives it by a margin is presumed stuck. */
  watchTimeoutSeconds: number;
}

const RECONNECT_INITIAL_MS = 100;
// Events missed while reconnecting are replayed from the resourceVersion, but only once
// connected again: a short cap keeps the wait noticing a change within about a second.
const RECONNECT_MAX_MS = 800;
/** A watch the server ends sooner than this is re-opened after a pause, not at once. */
const SHORT_WATCH_MS = 1_000;
const STUCK_WATCH_MARGIN_MS = 10_000;
/**
 * Workload statuses are re-read on every pod change and at least this often: a controller
 * catching up (observedGeneration, replicas) changes no pod, so no pod event announces it.
 */
const WORKLOAD_POLL_MS = 1_000;

/**
 * List, then watch from the list's resourceVersion, keeping the set of pods current and
 * testing the predicate on every change. A watch that ends (server timeout, closed
 * connection) resumes from the last resourceVersion seen; one answered 410 Gone starts over
 * with a fresh list. No polling: a change is seen as soon as the API server sends it.
 */
export function waitForPods(
  source: PodSource,
  components: readonly string[],
  predicate: (pods: PodSummary[], workloads: WorkloadStatus[]) => boolean,
  options: WaitForPodsOptions,
): Promise<PodSummary[]> {
  const { timeoutMs, signal, onProgress, description } = options;
  const readWorkloads = options.workloads?.length ? source.readWorkloads : undefined;
  if (options.workloads?.length && !readWorkloads) {
    return Promise.reject(
      new CodedError("internal", `Cannot read the workloads' status for ${description}.`),
    );
  }
  const what = `${description} (${components.join(", ")})`;
  if (signal?.aborted) return Promise.reject(cancelled(what));
  if (components.length === 0) {
    if (predicate([], [])) return Promise.resolve([]);
    return Promise.reject(
      new CodedError("internal", `Nothing to watch for ${description}: no components given.`),
    );
  }

  const path = `/api/v1/namespaces/${encodeURIComponent(source.namespace)}/pods`;
  const log = source.logger.child({ wait: description, namespace: source.namespace });

  return new Promise<PodSummary[]>((resolve, reject) => {
    const pods = new Map<string, PodSummary>();
    const lists = new AbortController();
    const timers = new Set<NodeJS.Timeout>();
    let resourceVersion: string | undefined;
    let generation = 0; // identifies the current watch; callbacks of older ones are ignored
    let watchHandle: { abort(): void } | undefined;
    let failures = 0;
    let reported: string | undefined;
    let settled = false;
    // Undefined until first read when the workloads are cross-checked; [] when they are not.
    let workloads: WorkloadStatus[] | undefined = readWorkloads ? undefined : [];
    let workloadRead: "idle" | "reading" | "again" = "idle";
    let workloadPoll: NodeJS.Timeout | undefined;

    const later = (ms: number, action: () => void): NodeJS.Timeout => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        action();
      }, ms);
      timers.add(timer);
      return timer;
    };
    const cancelTimer = (timer: NodeJS.Timeout) => {
      clearTimeout(timer);
      timers.delete(timer);
    };

    const stopWatch = () => {
      generation++;
      watchHandle?.abort();
      watchHandle = undefined;
    };

    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      stopWatch();
      lists.abort();
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      signal?.removeEventListener("abort", onAbort);
      outcome();
    };

    const evaluate = () => {
      const current = sortPods(pods.values());
      if (workloads === undefined) return;
      const statuses = workloads;
      const key = JSON.stringify([current, statuses]);
      if (key !== reported) {
        reported = key;
        try {
          onProgress?.(current, statuses);
        } catch (err) {
          // Progress is narration; it never decides the outcome of a wait.
          log.warn({ err: asCodedError(err).message }, "onProgress failed");
        }
      }
      let done: boolean;
      try {
        done = predicate(current, statuses);
      } catch (err) {
        settle(() => reject(asCodedError(err)));
        return;
      }
      if (done) settle(() => resolve(current));
    };

    /** Reads the workloads' statuses now (once more after a read in flight), then every second. */
    const refreshWorkloads = () => {
      if (!readWorkloads || settled) return;
      if (workloadRead !== "idle") {
        workloadRead = "again";
        return;
      }
      workloadRead = "reading";
      if (workloadPoll) cancelTimer(workloadPoll);
      workloadPoll = undefined;
      readWorkloads(lists.signal).then(
        (statuses) => {
          if (settled) return;
          workloads = statuses;
          const again = workloadRead === "again";
          workloadRead = "idle";
          // A pod changed while this read was under way: read again before judging.
          if (again) {
            refreshWorkloads();
            return;
          }
          evaluate();
          if (!settled) workloadPoll = later(WORKLOAD_POLL_MS, refreshWorkloads);
        },
        (err: unknown) => {
          // Read with retries already; what is left is not transient.
          if (!settled) settle(() => reject(asCodedError(err, "kubernetes_error")));
        },
      );
    };

    const relist = async () => {
      stopWatch();
      try {
        const result = await source.list(lists.signal);
        if (settled) return;
        pods.clear();
        for (const item of result.items) {
          const pod = summarizePod(item, components);
          if (pod) pods.set(pod.name, pod);
        }
        resourceVersion = result.resourceVersion;
        if (readWorkloads) refreshWorkloads();
        else evaluate();
        if (!settled) startWatch();
      } catch (err) {
        // The list has already been retried; what is left is not transient.
        if (!settled) settle(() => reject(asCodedError(err, "kubernetes_error")));
      }
    };

    const retryWatchLater = (reason: unknown) => {
      stopWatch();
      failures++;
      const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_INITIAL_MS * 2 ** (failures - 1));
      log.warn(
        { attempt: failures, delayMs: delay, reason: describeFailure(reason, "watch").message },
        "pod watch failed; reconnecting",
      );
      later(delay, () => {
        if (!settled) startWatch();
      });
    };

    const onWatchEnd = (gen: number, startedAt: number, err: unknown) => {
      if (gen !== generation || settled) return;
      if (err === null || err === undefined) {
        // The server ended the stream (timeoutSeconds, restart): resume where we were, at once
        // unless streams keep ending early, which would otherwise become a busy loop.
        if (Date.now() - startedAt >= SHORT_WATCH_MS) startWatch();
        else
          later(RECONNECT_INITIAL_MS, () => {
            if (!settled && gen === generation) startWatch();
          });
        return;
      }
      if (statusOf(err) === 410) {
        void relist();
        return;
      }
      const failure = describeFailure(err, "watch");
      if (failure.status !== undefined && !failure.transient) {
        settle(() =>
          reject(
            failureToCodedError(
              {
                action: `watch pods of ${components.join(", ")}`,
                verb: "watch",
                namespace: source.namespace,
              },
              failure,
              1,
              err,
            ),
          ),
        );
        return;
      }
      retryWatchLater(err);
    };

    const onWatchEvent = (gen: number, type: string, object: unknown) => {
      if (gen !== generation || settled) return;
      failures = 0;
      const obj = (object ?? {}) as PodLike & {
        code?: number;
        message?: string;
        metadata?: { resourceVersion?: string };
      };
      switch (type) {
        case "ERROR":
          // 410: our resourceVersion was compacted away; only a fresh list can tell what changed.
          if (obj.code === 410) void relist();
          else retryWatchLater(new Error(obj.message ?? "watch ERROR event"));
          return;
        case "BOOKMARK":
          resourceVersion = obj.metadata?.resourceVersion ?? resourceVersion;
          return;
        case "ADDED":
        case "MODIFIED":
        case "DELETED": {
          resourceVersion = obj.metadata?.resourceVersion ?? resourceVersion;
          const name = obj.metadata?.name;
          if (!name) return;
          // Pods of other workloads are watched too (pods are matched by label or owner here,
          // not by the API server), and are ignored.
          const pod = summarizePod(obj, components);
          if (type === "DELETED" || !pod) {
            if (!pods.delete(name)) return;
          } else pods.set(pod.name, pod);
          // A pod change usually goes with a change of its workload's counts: judged together
          // once they are read again, never against counts read before the change.
          if (readWorkloads) refreshWorkloads();
          else evaluate();
          return;
        }
        default:
          return;
      }
    };

    const startWatch = () => {
      stopWatch();
      const gen = generation;
      const startedAt = Date.now();
      const query: Record<string, string | number | boolean> = {
        allowWatchBookmarks: true,
        timeoutSeconds: source.watchTimeoutSeconds,
      };
      if (resourceVersion) query.resourceVersion = resourceVersion;
      // client-node hands out the watch's AbortController only once connected, so a connect
      // that hangs cannot be aborted: it is abandoned (and aborted if it ever connects).
      const connectTimer = later(source.requestTimeoutMs, () => {
        if (gen === generation && !settled)
          retryWatchLater(new Error("the watch did not connect in time"));
      });
      const stuckTimer = later(source.watchTimeoutSeconds * 1000 + STUCK_WATCH_MARGIN_MS, () => {
        if (gen === generation && !settled)
          retryWatchLater(new Error("the watch outlived its timeout"));
      });
      source
        .watch(
          path,
          query,
          (type, object) => onWatchEvent(gen, type, object),
          (err) => {
            cancelTimer(stuckTimer);
            cancelTimer(connectTimer);
            onWatchEnd(gen, startedAt, err);
          },
        )
        .then(
          (handle) => {
            cancelTimer(connectTimer);
            if (gen === generation && !settled) watchHandle = handle;
            else handle.abort();
          },
          (err: unknown) => {
            cancelTimer(connectTimer);
            cancelTimer(stuckTimer);
            onWatchEnd(gen, startedAt, err ?? new Error("watch failed"));
          },
        );
    };

    const onAbort = () => settle(() => reject(cancelled(what)));
    signal?.addEventListener("abort", onAbort, { once: true });

    later(timeoutMs, () => {
      const left = sortPods(pods.values());
      settle(() =>
        reject(
          new CodedError(
            "timeout",
            `Timed out after ${formatDuration(timeoutMs)} waiting for ${what}. ${
              left.length === 0
                ? "No pods of these components exist."
                : `Pods now: ${describePods(left)}.`
            }${workloads?.length ? ` Their workloads report: ${workloads.map(describeWorkloadStatus).join("; ")}.` : ""}`,
            {
              details: {
                description,
                components: [...components],
                timeoutMs,
                pods: left,
                ...(workloads?.length ? { workloads } : {}),
              },
            },
          ),
        ),
      );
    });

    void relist();
  });
}

function cancelled(what: string): CodedError {
  return new CodedError("cancelled", `Stopped waiting for ${what}: cancelled.`);
}
