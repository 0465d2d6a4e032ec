import type { KubernetesOperation } from "../adapters/kubernetes/rbac.js";
import { CodedError } from "../errors.js";
import { checkpointKey, compensationKey, type StepContext, type StepDeps } from "./types.js";

export const CONFIG_MAP_OPERATIONS: KubernetesOperation[] = [
  { type: "readConfigMap" },
  { type: "replaceConfigMap" },
];

/** A ConfigMap's data; a `not_found` CodedError naming it when it does not exist. */
export async function getConfigMap(deps: StepDeps, name: string): Promise<Record<string, string>> {
  const cm = await deps.cluster.getConfigMap(name);
  if (!cm) {
    throw new CodedError(
      "not_found",
      `ConfigMap ${name} does not exist in the target's namespace. Check the configuration, then Retry phase.`,
    );
  }
  return cm.data;
}

/**
 * Replaces a ConfigMap's data (`edit(current)` gives the new data) and records "replace it back
 * with the data found first". The first data read is durable before the replace, so a resumed
 * attempt keeps it; the replace itself checks nobody changed the ConfigMap since it was read.
 */
export async function replaceConfigMap(
  ctx: StepContext,
  deps: StepDeps,
  args: {
    id: string;
    name: string;
    edit: (current: Record<string, string>) => Record<string, string>;
  },
): Promise<Record<string, string>> {
  const key = checkpointKey("replaceConfigMap", args.id);
  const cm = await deps.cluster.getConfigMap(args.name);
  if (!cm) return getConfigMap(deps, args.name);
  let original = ctx.facts[key] as Record<string, string> | undefined;
  if (!original) {
    original = cm.data;
    await ctx.fact(key, original);
  }
  await deps.compensations.record(ctx.request.id, {
    key: compensationKey(ctx, args.id, `configmaps/${args.name}`),
    phase: ctx.name,
    description: `put ConfigMap ${args.name} back as it was`,
    action: { type: "replaceConfigMap", name: args.name, data: original },
  });
  const next = args.edit({ ...cm.data });
  await deps.cluster.replaceConfigMap(args.name, next, cm.resourceVersion);
  return next;
}
