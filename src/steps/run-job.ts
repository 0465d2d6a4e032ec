import type { JobPodState, Manifest, PodWorkPort } from "../adapters/kubernetes/pod-work-port.js";
import type { KubernetesOperation } from "../adapters/kubernetes/rbac.js";
import { CodedError } from "../errors.js";
import { checkpointKey, compensationKey, type StepContext, type StepDeps } from "./types.js";

/** The pod-work methods `runJob` and `deleteJobAndPvc` use (for the kind's Role). */
export const RUN_JOB_OPERATIONS: KubernetesOperation[] = (
  [
    "createJob",
    "waitJob",
    "followJobLogs",
    "deleteJob",
    "createPvc",
    "deletePvc",
    "listJobPods",
  ] as const
).map((method) => ({ type: "podWork", method }));

export interface RunJobArgs {
  /** Names this Job within the phase: its checkpoint and compensations are keyed by it. */
  id: string;
  /** The Job, `metadata.name` set (a name derived from the request, so a rerun finds it). */
  job: Manifest;
  /** A PVC the Job mounts, created first. */
  pvc?: Manifest;
  /** Give up when a pod of the Job has not started after this long (its exact state is said). */
  startTimeoutMs: number;
  /** Give up when the Job has not finished after this long. */
  timeoutMs: number;
  /** Log lines posted to the thread in one message (default 40); the rest follow in more. */
  linesPerMessage?: number;
}

export interface RunJobCheckpoint {
  job: string;
  pvc?: string;
  /** Log lines already posted to the thread (a resumed follow skips them). */
  linesPosted: number;
}

export interface RunJobResult {
  outcome: "succeeded" | "failed";
  job: string;
  pods: JobPodState[];
  /** The last lines of the Job's log (at most 40), for a halt message. */
  tail: string[];
  /** Whether this attempt created the Job (false: it found the one an earlier attempt made). */
  created: boolean;
}

function podWorkOf(deps: StepDeps): PodWorkPort {
  if (!deps.podWork) throw new CodedError("internal", "runJob needs the adapter's pod work");
  return deps.podWork;
}

function nameOf(manifest: Manifest, what: string): string {
  const name = manifest.metadata?.name;
  if (typeof name !== "string" || name === "")
    throw new CodedError("internal", `the ${what} to run has no metadata.name`);
  return name;
}

/**
 * Kanister's KubeTask, checkpointed: records the Job's (and PVC's) name and their deletion as
 * compensations before creating them, creates them (a rerun after a crash finds the same Job by
 * name and follows it — never a second Job), streams the Job's log into the thread (resuming
 * after the lines already posted) and waits for it to finish. A failed Job is returned, not
 * thrown, so the caller can recognise the tool's message; the Job and PVC stay until
 * `deleteJobAndPvc` (the run's end) or Roll back removes them.
 */
export async function runJob(
  ctx: StepContext,
  deps: StepDeps,
  args: RunJobArgs,
): Promise<RunJobResult> {
  const work = podWorkOf(deps);
  const key = checkpointKey("runJob", args.id);
  const job = nameOf(args.job, "Job");
  const pvc = args.pvc ? nameOf(args.pvc, "PVC") : undefined;
  const earlier = ctx.facts[key] as RunJobCheckpoint | undefined;
  let linesPosted = earlier?.linesPosted ?? 0;
  if (!earlier) {
    await ctx.fact(key, {
      job,
      ...(pvc ? { pvc } : {}),
      linesPosted: 0,
    } satisfies RunJobCheckpoint);
  }
  // Undo newest first: the Job (which mounts the claim) goes before the claim.
  if (pvc)
    await deps.compensations.record(ctx.request.id, {
      key: compensationKey(ctx, args.id, `PersistentVolumeClaim/${pvc}`),
      phase: ctx.name,
      description: `delete PersistentVolumeClaim ${pvc}`,
      action: { type: "deletePvc", name: pvc },
    });
  await deps.compensations.record(ctx.request.id, {
    key: compensationKey(ctx, args.id, `Job/${job}`),
    phase: ctx.name,
    description: `delete Job ${job}`,
    action: { type: "deleteJob", name: job },
  });
  if (args.pvc) await work.createPvc(args.pvc);
  const { created } = await work.createJob(args.job);
  ctx.progress(
    created
      ? `Job ${job} created; waiting for it to start`
      : `following Job ${job} (already created by an earlier attempt)`,
  );
  if (!created && linesPosted > 0)
    ctx.note(
      `Following Job \`${job}\` again after an interruption (${linesPosted} log lines were already posted).`,
    );

  const perMessage = args.linesPerMessage ?? 40;
  const tail: string[] = [];
  let buffer: string[] = [];
  let flushing: Promise<void> = Promise.resolve();
  const flush = () => {
    if (buffer.length === 0) return flushing;
    const lines = buffer;
    buffer = [];
    linesPosted += lines.length;
    const count = linesPosted;
    ctx.note(`\`${job}\` log:\n\`\`\`\n${lines.join("\n")}\n\`\`\``);
    flushing = flushing.then(() =>
      ctx.fact(key, {
        job,
        ...(pvc ? { pvc } : {}),
        linesPosted: count,
      } satisfies RunJobCheckpoint),
    );
    return flushing;
  };
  const timer = setInterval(() => void flush(), 2_000);
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  try {
    // The follow's failure (a pod that never starts, with its exact state) is the one to report,
    // not the cancelled wait it causes.
    let followError: unknown;
    const follow = work
      .followJobLogs(
        job,
        (line) => {
          tail.push(line);
          if (tail.length > 40) tail.shift();
          buffer.push(line);
          if (buffer.length >= perMessage) void flush();
        },
        { skipLines: linesPosted, startTimeoutMs: args.startTimeoutMs, signal: stop.signal },
      )
      .then(
        () => undefined,
        (err: unknown) => {
          followError = err;
          stop.abort();
        },
      );
    let outcome: Awaited<ReturnType<PodWorkPort["waitJob"]>>;
    try {
      outcome = await work.waitJob(job, {
        timeoutMs: args.timeoutMs,
        signal: stop.signal,
        onProgress: (state) =>
          ctx.progress(
            `Job ${job}: ${state.active} running, ${state.succeeded} succeeded, ${state.failed} failed`,
          ),
      });
    } catch (err) {
      stop.abort();
      await follow;
      throw followError ?? err;
    }
    await follow;
    if (followError !== undefined) throw followError;
    await flush();
    return { outcome: outcome.outcome, job, pods: outcome.pods, tail, created };
  } catch (err) {
    await flush().catch(() => undefined);
    throw err;
  } finally {
    clearInterval(timer);
    ctx.signal.removeEventListener("abort", onAbort);
    stop.abort();
  }
}

/**
 * Deletes the Job (its pods with it) and then its PVC, and settles their compensations: the run
 * removed them itself. Idempotent (gone is fine).
 */
export async function deleteJobAndPvc(
  ctx: StepContext,
  deps: StepDeps,
  args: { id: string; phase: string; checkpoint: RunJobCheckpoint },
): Promise<void> {
  const work = podWorkOf(deps);
  const { job, pvc } = args.checkpoint;
  ctx.progress(`deleting Job ${job}`);
  await work.deleteJob(job);
  await deps.compensations.settle(
    ctx.request.id,
    compensationKey({ name: args.phase }, args.id, `Job/${job}`),
    "run",
  );
  if (pvc) {
    ctx.progress(`deleting PersistentVolumeClaim ${pvc}`);
    await work.deletePvc(pvc);
    await deps.compensations.settle(
      ctx.request.id,
      compensationKey({ name: args.phase }, args.id, `PersistentVolumeClaim/${pvc}`),
      "run",
    );
  }
}

/** The checkpoint `runJob` wrote under `id` in a phase's facts. */
export function runJobCheckpoint(
  facts: Readonly<Record<string, unknown>> | undefined,
  id: string,
): RunJobCheckpoint | undefined {
  const value = facts?.[checkpointKey("runJob", id)];
  return typeof value === "object" &&
    value !== null &&
    typeof (value as RunJobCheckpoint).job === "string"
    ? (value as RunJobCheckpoint)
    : undefined;
}
