import type { KubeObject, ResourceRef } from "../adapters/kubernetes/cluster-port.js";
import type { KubernetesOperation } from "../adapters/kubernetes/rbac.js";
import { CodedError } from "../errors.js";
import { checkpointKey, compensationKey, type StepContext, type StepDeps } from "./types.js";

export const patchOperations = (ref: ResourceRef): KubernetesOperation[] => [
  { type: "patchResource", group: ref.group, plural: ref.plural },
];

export interface PatchResourceArgs {
  id: string;
  ref: ResourceRef;
  /** A JSON merge patch (RFC 7386): `{ spec: { pause: true } }`. */
  patch: KubeObject;
}

/** What `patchResource` keeps, durable before the patch: how to put back what it replaces. */
export interface PatchCheckpoint {
  ref: ResourceRef;
  /** The merge patch restoring the values found before the first attempt patched anything. */
  inverse: KubeObject;
}

/**
 * The merge patch that undoes `patch` on `before`: for each key it sets, the value found before
 * (null when the key was absent, which a merge patch reads as "remove").
 */
export function inverseMergePatch(before: KubeObject, patch: KubeObject): KubeObject {
  const inverse: KubeObject = {};
  for (const [key, value] of Object.entries(patch)) {
    const old = before[key];
    if (isPlainObject(value) && isPlainObject(old)) inverse[key] = inverseMergePatch(old, value);
    else inverse[key] = old === undefined ? null : structuredClone(old);
  }
  return inverse;
}

/**
 * Merge-patches any object (a custom resource included) and records "patch it back to what it
 * was" first. The values it replaces are read once, before the first attempt patches, and kept:
 * a resumed attempt never takes its own earlier patch for the original.
 */
export async function patchResource(
  ctx: StepContext,
  deps: StepDeps,
  args: PatchResourceArgs,
): Promise<{ before: PatchCheckpoint; after: KubeObject }> {
  const key = checkpointKey("patchResource", args.id);
  let checkpoint = ctx.facts[key] as PatchCheckpoint | undefined;
  if (!checkpoint) {
    const before = await deps.cluster.getResource(args.ref);
    if (!before) {
      throw new CodedError(
        "not_found",
        `${describe(args.ref)} does not exist in the target's namespace, so it was not patched. Check the name in the configuration, then Retry phase.`,
      );
    }
    checkpoint = { ref: args.ref, inverse: inverseMergePatch(before, args.patch) };
    await ctx.fact(key, checkpoint);
  }
  await deps.compensations.record(ctx.request.id, {
    key: compensationKey(ctx, args.id, describe(args.ref)),
    phase: ctx.name,
    description: `patch ${describe(args.ref)} back to ${JSON.stringify(checkpoint.inverse)}`,
    action: { type: "patch", ref: args.ref, patch: checkpoint.inverse },
  });
  const after = await deps.cluster.patchResource(args.ref, args.patch);
  return { before: checkpoint, after };
}

/**
 * Puts back what `patchResource` replaced (the run's own undo, e.g. unpausing an operator) and
 * settles its compensation, so roll back does not do it again.
 */
export async function patchBack(
  ctx: StepContext,
  deps: StepDeps,
  args: { id: string; phase: string; checkpoint: PatchCheckpoint },
): Promise<KubeObject> {
  const after = await deps.cluster.patchResource(args.checkpoint.ref, args.checkpoint.inverse);
  await deps.compensations.settle(
    ctx.request.id,
    compensationKey({ name: args.phase }, args.id, describe(args.checkpoint.ref)),
    "run",
  );
  return after;
}

/** Reads any object; undefined when it does not exist. */
export function getResource(deps: StepDeps, ref: ResourceRef): Promise<KubeObject | undefined> {
  return deps.cluster.getResource(ref);
}

export function describe(ref: ResourceRef): string {
  return `${ref.plural}${ref.group ? `.${ref.group}` : ""}/${ref.name}`;
}

function isPlainObject(value: unknown): value is KubeObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
