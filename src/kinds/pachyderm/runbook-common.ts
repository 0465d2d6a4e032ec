import type {
  ClusterPort,
  StepCluster,
  WorkloadRef,
} from "../../adapters/kubernetes/cluster-port.js";
import type { KubernetesOperation } from "../../adapters/kubernetes/rbac.js";
import { CodedError } from "../../errors.js";
import { createCompensationLog } from "../../runbook/compensations.js";
import type {
  Facts,
  HaltAccount,
  PhaseContext,
  PhaseRunRecord,
  RunbookPhase,
} from "../../runbook/types.js";
import {
  describeRollback,
  recordedCounts,
  type ScaleCheckpoint,
  scaleBack,
  scaleOperations,
  scaleWorkloads,
  WAIT_OPERATIONS,
  type WorkloadSelection,
  waitPodsGone,
  waitPodsReady,
} from "../../steps/index.js";
import type { StepDeps } from "../../steps/types.js";
import { formatDuration } from "../../text/format.js";
import type { PhaseOutline, RunbookDeps } from "../kind.js";
import type { PachydermTarget } from "./config.js";
import type { LiveLocation } from "./object-pool.js";

/** The checkpoint id under which pachd's and the workers' counts are recorded. */
export const SCALE_ID = "pachyderm";
export const SCALE_DOWN_PHASE = "scale-down";
/** When the first scale-down began (the pause window starts here). */
export const PAUSED_AT_FACT = "pausedAt";

/** The phases both runbooks share, as the card outlines them before the run. */
export const SCALE_DOWN_OUTLINE: PhaseOutline = {
  name: SCALE_DOWN_PHASE,
  title: "Record replicas, stop pachd, then the pipeline workers",
  mutates: true,
};
export const SCALE_UP_OUTLINES: readonly PhaseOutline[] = [
  { name: "scale-up", title: "Scale pachd back up", mutates: true },
  { name: "wait-ready", title: "Wait until pachd is ready", mutates: false },
];

/** A phase's title in its runbook's outline. */
export function titleIn(outline: readonly PhaseOutline[], name: string): string {
  return outline.find((p) => p.name === name)?.title ?? name;
}

/** The live objects' bucket and prefix (manifest keys are relative to the prefix). */
export function liveLocationOf(target: PachydermTarget): LiveLocation {
  return { bucket: target.objectStore.bucket, prefix: target.objectStore.prefix };
}

/** The DSN of one configured database, from the environment variable the config names. */
export function dsnOf(
  deps: RunbookDeps<PachydermTarget>,
  db: { name: string; dsnEnv: string },
): string {
  const dsn = deps.env[db.dsnEnv];
  if (!dsn)
    throw new CodedError(
      "config_invalid",
      `environment variable ${db.dsnEnv} (the ${db.name} database of ${deps.target.name}) is not set on this worker`,
    );
  return dsn;
}

export function selectionOf(target: PachydermTarget): WorkloadSelection[] {
  return [
    { kind: "Deployment", names: [target.pachd] },
    { kind: "ReplicationController", labelSelector: target.workerSelector },
  ];
}

/** The Kubernetes operations both runbooks use: scale by name and selector, the waits. */
export function pachydermOperations(target: PachydermTarget): KubernetesOperation[] {
  return [
    ...scaleOperations(selectionOf(target)),
    ...WAIT_OPERATIONS([
      { kind: "Deployment", name: target.pachd },
      { kind: "ReplicationController", name: "workers" },
    ]),
  ];
}

export function stepCluster(cluster: ClusterPort): StepCluster {
  const c = cluster as Partial<StepCluster>;
  if (typeof c.listWorkloads !== "function")
    throw new CodedError(
      "internal",
      "this Kubernetes client cannot list workloads by label (the step library's ResourcePort)",
    );
  return cluster as StepCluster;
}

export function stepDepsOf(deps: RunbookDeps<PachydermTarget>): StepDeps {
  return { cluster: stepCluster(deps.cluster), compensations: createCompensationLog(deps.db) };
}

export function refsOf(checkpoint: ScaleCheckpoint): WorkloadRef[] {
  return checkpoint.original.map((w) => ({ kind: w.kind, name: w.name }));
}

/**
 * Records pachd's and every worker RC's replicas durably (one checkpoint, before the first
 * scale), scales pachd to 0 first so it stops reconciling its workers, then the RCs, and waits
 * until all their pods are gone.
 */
export function scaleDownPhase(
  deps: RunbookDeps<PachydermTarget>,
  steps: StepDeps,
  title: string,
): RunbookPhase {
  const { target } = deps;
  return {
    name: SCALE_DOWN_PHASE,
    title,
    mutates: true,
    async run(ctx) {
      if (typeof ctx.facts[PAUSED_AT_FACT] !== "string")
        await ctx.fact(PAUSED_AT_FACT, ctx.now().toISOString());
      const checkpoint = await scaleWorkloads(ctx, steps, {
        id: SCALE_ID,
        replicas: 0,
        workloads: selectionOf(target),
      });
      const waited = await waitPodsGone(ctx, steps, {
        workloads: refsOf(checkpoint),
        timeoutMs: target.timeouts.podsGone,
        description: `every pod of ${target.pachd} and of the pipeline workers gone`,
      });
      await ctx.fact("podsGoneAfterMs", Math.round(waited.waitedMs));
    },
    summarize(facts) {
      const cp = recordedCounts(facts, SCALE_ID);
      if (!cp) return undefined;
      return `recorded and scaled to 0: ${cp.original.map((w) => `${w.name} (was ${w.replicas})`).join(", ")}`;
    },
  };
}

/** Scales pachd back to its recorded count; pachd recreates its workers. */
export function scaleUpPhase(deps: RunbookDeps<PachydermTarget>, steps: StepDeps): RunbookPhase {
  const { target } = deps;
  return {
    name: "scale-up",
    title: `Scale ${target.pachd} back up`,
    mutates: true,
    async run(ctx) {
      const checkpoint = recordedCounts(ctx.earlierFacts(SCALE_DOWN_PHASE), SCALE_ID);
      if (!checkpoint)
        throw new CodedError("internal", "no replica counts were recorded before the scale-down");
      const [pachd] = await scaleBack(ctx, steps, {
        checkpoint,
        id: SCALE_ID,
        phase: SCALE_DOWN_PHASE,
        only: [target.pachd],
      });
      await ctx.fact("pachdReplicas", pachd?.replicas ?? 0);
    },
    summarize: (facts) => `${target.pachd} scaled back to ${String(facts.pachdReplicas)}`,
  };
}

/**
 * Waits until pachd has its recorded count of ready pods. pachd recreates the workers itself,
 * so their scale-down compensations are settled by the run here (they serve the halt account
 * and Roll back only).
 */
export function waitReadyPhase(
  deps: RunbookDeps<PachydermTarget>,
  steps: StepDeps,
  onReady?: (ctx: PhaseContext) => Promise<void>,
): RunbookPhase {
  const { target } = deps;
  return {
    name: "wait-ready",
    title: `Wait until ${target.pachd} is ready`,
    mutates: false,
    async run(ctx) {
      const checkpoint = recordedCounts(ctx.earlierFacts(SCALE_DOWN_PHASE), SCALE_ID);
      const pachd = checkpoint?.original.find((w) => w.name === target.pachd);
      await waitPodsReady(ctx, steps, {
        workloads: [{ kind: "Deployment", name: target.pachd }],
        atLeast: pachd?.replicas ?? 1,
        timeoutMs: target.timeouts.podsReady,
        description: `${target.pachd} ready`,
      });
      for (const w of checkpoint?.original ?? [])
        if (w.kind === "ReplicationController")
          await steps.compensations.settle(
            ctx.request.id,
            `${SCALE_DOWN_PHASE}/${SCALE_ID}/${w.kind}/${w.name}`,
            "run",
          );
      await onReady?.(ctx);
    },
  };
}

/** Replica counts now against those recorded, one line each, for a halt account. */
export async function replicaLines(
  deps: RunbookDeps<PachydermTarget>,
  runs: readonly PhaseRunRecord[],
): Promise<string[]> {
  const facts = runs.find((r) => r.phase === SCALE_DOWN_PHASE)?.facts;
  const checkpoint = recordedCounts(facts, SCALE_ID);
  if (!checkpoint) return [`${deps.target.pachd} and the pipeline workers were not scaled.`];
  const lines: string[] = [];
  for (const w of checkpoint.original) {
    let now: string;
    try {
      now = String(await deps.cluster.getReplicas(w.kind, w.name));
    } catch (err) {
      now = `unknown (${err instanceof Error ? err.message : String(err)})`;
    }
    lines.push(`${w.kind} ${w.name}: ${now} replicas now, ${w.replicas} recorded before the run`);
  }
  return lines;
}

/**
 * A halt account: the replica counts now against those recorded, then the runbook's own
 * `lines`, and what Roll back will do (derived from the recorded compensations) followed by
 * `rollbackNote`.
 */
export async function haltAccountOf(
  deps: RunbookDeps<PachydermTarget>,
  steps: StepDeps,
  requestId: string,
  runs: readonly PhaseRunRecord[],
  lines: readonly string[],
  rollbackNote: string,
): Promise<HaltAccount> {
  const state = await replicaLines(deps, runs).catch((err: unknown) => [
    `Replica counts could not be read: ${err instanceof Error ? err.message : String(err)}`,
  ]);
  let rollback: string;
  try {
    rollback = await describeRollback(steps, requestId);
  } catch (err) {
    rollback = `What Roll back would undo could not be read: ${err instanceof Error ? err.message : String(err)}.`;
  }
  return { state: [...state, ...lines], rollback: `${rollback}${rollbackNote}` };
}

/** From the first scale-down to pachd Ready, in ms; undefined until both are known. */
export function pauseWindowOf(
  runs: readonly PhaseRunRecord[],
  readyAt: Date | undefined,
): number | undefined {
  const pausedAt = runs.find((r) => r.phase === SCALE_DOWN_PHASE)?.facts[PAUSED_AT_FACT];
  if (typeof pausedAt !== "string" || readyAt === undefined) return undefined;
  return readyAt.getTime() - new Date(pausedAt).getTime();
}

export function factsOf(runs: readonly PhaseRunRecord[], phase: string): Facts | undefined {
  return runs.find((r) => r.phase === phase)?.facts;
}

export { formatDuration };
