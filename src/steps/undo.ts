import type { CompensationRecord } from "../runbook/compensations.js";
import type { PhaseContext, RunbookPhase } from "../runbook/types.js";
import type { StepContext, StepDeps } from "./types.js";
import { plural } from "./types.js";
import { waitPodsReady } from "./wait-pods.js";

export interface UndoOptions {
  /** After scaling a workload back to N > 0, wait until N of its pods are ready (this long). */
  readyTimeoutMs?: number;
}

/**
 * Roll back derived from what the run did: every compensation still open, newest first (a
 * patch made after a scale-down is undone before the scale-up), each settled durably as soon as
 * it is done. Idempotent: run again after a crash it skips what is settled and repeats at most
 * the one in progress, which is itself idempotent (a scale to a count, a merge patch).
 */
export async function undoRecorded(
  ctx: StepContext,
  deps: StepDeps,
  options: UndoOptions = {},
): Promise<{ undone: string[] }> {
  const open = (await deps.compensations.list(ctx.request.id))
    .filter((c) => c.settledAt === null)
    .reverse();
  const undone: string[] = [];
  for (const [i, c] of open.entries()) {
    ctx.progress(`undoing ${i + 1} of ${open.length}: ${c.description}`);
    await applyCompensation(ctx, deps, c, options);
    await deps.compensations.settle(ctx.request.id, c.key, "rollback");
    undone.push(c.description);
  }
  return { undone };
}

async function applyCompensation(
  ctx: StepContext,
  deps: StepDeps,
  c: CompensationRecord,
  options: UndoOptions,
): Promise<void> {
  const a = c.action;
  switch (a.type) {
    case "scale":
      await deps.cluster.scale(a.kind, a.name, a.replicas);
      if (a.replicas > 0 && options.readyTimeoutMs)
        await waitPodsReady(ctx, deps, {
          workloads: [{ kind: a.kind, name: a.name }],
          atLeast: a.replicas,
          timeoutMs: options.readyTimeoutMs,
        });
      return;
    case "patch":
      await deps.cluster.patchResource(a.ref, a.patch);
      return;
    case "replaceConfigMap":
      await deps.cluster.replaceConfigMap(a.name, a.data);
      return;
    case "deleteJob":
    case "deletePvc": {
      if (!deps.podWork)
        throw new Error(`cannot ${c.description}: this runbook was built without pod work`);
      if (a.type === "deleteJob") await deps.podWork.deleteJob(a.name);
      else await deps.podWork.deletePvc(a.name);
      return;
    }
  }
}

/**
 * The roll back steps of a runbook whose mutating steps record their compensations: one phase
 * that undoes them all. A kind with nothing else to undo uses this as its `rollback` list.
 */
export function derivedRollbackSteps(deps: StepDeps, options: UndoOptions = {}): RunbookPhase[] {
  return [
    {
      name: "rollback-undo-recorded",
      title: "Undo what the run changed",
      mutates: true,
      run: async (ctx: PhaseContext) => {
        const { undone } = await undoRecorded(ctx, deps, options);
        await ctx.fact("undone", undone);
      },
      summarize: (facts) => {
        const undone = Array.isArray(facts.undone) ? (facts.undone as string[]) : [];
        return undone.length
          ? `${plural(undone.length, "change")} undone: ${undone.join("; ")}`
          : "nothing left to undo";
      },
    },
  ];
}

/**
 * What Roll back would do now, for a halt account: the open compensations, newest first, as
 * people read them ("scale Deployment pachd back to 2; patch …").
 */
export async function describeRollback(
  deps: Pick<StepDeps, "compensations">,
  requestId: string,
): Promise<string> {
  const open = (await deps.compensations.list(requestId))
    .filter((c) => c.settledAt === null)
    .reverse();
  return open.length
    ? `Roll back will, in this order: ${open.map((c) => c.description).join("; ")}.`
    : "Roll back has nothing recorded to undo.";
}

/**
 * What Roll back does first (a kind's own clean-up, e.g. deleting a helper pod), followed by
 * `described` (from `describeRollback`): "<first>; after that, it will, in this order: …".
 */
export function rollbackAfter(first: string, described: string): string {
  return `${first}; after that, ${described.replace(/^Roll back /, "it ")}`;
}
