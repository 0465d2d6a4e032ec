/**
 * Anti-entropy off on each data node, one at a time, and back on the same way (seed: "Disable
 * anti-entropy (AE) before restoring a backup"). The ConfigMap key is edited through the step
 * library's replaceConfigMap (its compensation keeps the exact original text), then each data
 * pod is restarted and its StatefulSet's replacement awaited before the next.
 */

import { CodedError } from "../../errors.js";
import { getConfigMap, replaceConfigMap, restartPod, undoRecorded } from "../../steps/index.js";
import { compensationKey, type StepContext, type StepDeps } from "../../steps/types.js";
import { isAntiEntropyEnabled, withAntiEntropyDisabled } from "./anti-entropy.js";
import type { EnterpriseTarget } from "./config.js";

const ORIGINAL = "antiEntropy:original";
const restartedKey = (round: string, pod: string) => `antiEntropy:${round}:${pod}`;

export interface AntiEntropyOriginal {
  /** The key's text exactly as first read. */
  text: string;
  wasOn: boolean;
}

async function dataPods(deps: StepDeps, target: EnterpriseTarget): Promise<string[]> {
  const pods = await deps.cluster.listPods([target.data.statefulset]);
  const names = pods.map((p) => p.name).sort();
  if (names.length === 0)
    throw new CodedError(
      "precondition_failed",
      `StatefulSet ${target.data.statefulset} has no data pods; check data.statefulset, then Retry phase`,
    );
  return names;
}

async function rollingRestart(
  ctx: StepContext,
  deps: StepDeps,
  target: EnterpriseTarget,
  round: "off" | "on",
  timeoutMs: number,
): Promise<void> {
  for (const pod of await dataPods(deps, target)) {
    if (ctx.facts[restartedKey(round, pod)]) continue;
    ctx.progress(`restarting ${pod} with anti-entropy ${round}`);
    await restartPod(ctx, deps, {
      id: `ae-${round}:${pod}`,
      pod,
      workload: { kind: "StatefulSet", name: target.data.statefulset },
      timeoutMs,
    });
    await ctx.fact(restartedKey(round, pod), true);
    ctx.note(`Anti-entropy is ${round} on ${pod} (restarted, Ready again).`);
  }
}

/** Turns anti-entropy off when it is on; the original text is recorded before any change. */
export async function turnAntiEntropyOff(
  ctx: StepContext,
  deps: StepDeps,
  target: EnterpriseTarget,
  timeoutMs: number,
): Promise<AntiEntropyOriginal> {
  let original = ctx.facts[ORIGINAL] as AntiEntropyOriginal | undefined;
  if (!original) {
    const data = await getConfigMap(deps, target.data.configMap);
    const text = data[target.data.configKey];
    if (text === undefined)
      throw new CodedError(
        "precondition_failed",
        `ConfigMap ${target.data.configMap} has no key ${target.data.configKey}; check data.configKey, then Retry phase. Nothing was changed`,
      );
    original = { text, wasOn: isAntiEntropyEnabled(text) };
    await ctx.fact(ORIGINAL, original);
  }
  if (!original.wasOn) {
    ctx.note("Anti-entropy is already off on the data nodes; none is restarted.");
    return original;
  }
  const key = target.data.configKey;
  const off = withAntiEntropyDisabled(original.text);
  await replaceConfigMap(ctx, deps, {
    id: "ae-off",
    name: target.data.configMap,
    edit: (d) => ({ ...d, [key]: off }),
  });
  await rollingRestart(ctx, deps, target, "off", timeoutMs);
  return original;
}

/** Puts the key back to its exact original text and restarts the data nodes one at a time. */
export async function turnAntiEntropyBack(
  ctx: StepContext,
  deps: StepDeps,
  target: EnterpriseTarget,
  original: AntiEntropyOriginal,
  offPhase: string,
  timeoutMs: number,
): Promise<void> {
  if (!original.wasOn) return;
  const data = await getConfigMap(deps, target.data.configMap);
  if (data[target.data.configKey] !== original.text)
    await deps.cluster.replaceConfigMap(target.data.configMap, {
      ...data,
      [target.data.configKey]: original.text,
    });
  await deps.compensations.settle(
    ctx.request.id,
    compensationKey({ name: offPhase }, "ae-off", `configmaps/${target.data.configMap}`),
    "run",
  );
  await rollingRestart(ctx, deps, target, "on", timeoutMs);
}

/**
 * Roll back: the recorded compensation puts the ConfigMap back as it was, then each data node
 * that may be running with anti-entropy off is restarted, one at a time.
 */
export async function rollBackAntiEntropy(
  ctx: StepContext,
  deps: StepDeps,
  target: EnterpriseTarget,
  timeoutMs: number,
): Promise<void> {
  const pending = (await deps.compensations.list(ctx.request.id)).filter(
    (c) => c.settledAt === null && c.action.type === "replaceConfigMap",
  );
  await undoRecorded(ctx, deps);
  if (pending.length > 0) await rollingRestart(ctx, deps, target, "on", timeoutMs);
}

/** For halt accounts: which data nodes run with anti-entropy off, from the phase's facts. */
export function antiEntropyState(facts: Record<string, unknown>, pods: readonly string[]): string {
  const original = facts[ORIGINAL] as AntiEntropyOriginal | undefined;
  if (!original) return "Anti-entropy was not touched.";
  if (!original.wasOn) return "Anti-entropy was off before the run and was not touched.";
  const off = pods.filter((p) => facts[restartedKey("off", p)] && !facts[restartedKey("on", p)]);
  const restarting = pods.filter(
    (p) =>
      (facts[`restartPod:ae-off:${p}`] && !facts[restartedKey("off", p)]) ||
      (facts[`restartPod:ae-on:${p}`] && !facts[restartedKey("on", p)]),
  );
  const on = pods.filter((p) => !off.includes(p) && !restarting.includes(p));
  const parts = [
    `Anti-entropy is off on ${off.length ? off.join(", ") : "no data node"}`,
    ...(restarting.length
      ? [
          `restarted but not Ready: ${restarting.join(", ")} (it starts with the ConfigMap's setting)`,
        ]
      : []),
    `on on ${on.length ? on.join(", ") : "no data node"}`,
  ];
  return `${parts.join("; ")}.`;
}
