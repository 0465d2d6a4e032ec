import type { ClusterPort } from "../adapters/kubernetes/cluster-port.js";
import type { AppDeps } from "../app-deps.js";
import { findActiveRequest } from "../approvals/request-store.js";
import { findTarget, type Target } from "../config/file.js";
import { asCodedError } from "../errors.js";
import { targetComponents } from "../kinds/influxdb-clustered/runbook/components.js";
import {
  describeInfluxdbPlan,
  type LiveCluster,
  type PlanText,
} from "../kinds/influxdb-clustered/runbook/plan.js";
import type { RestoreCommand } from "../slack/commands/grammar.js";
import type { CommandArgs } from "../slack/listeners/commands/restore.js";

/**
 * `/restore plan <target> <point|latest>`: a dry run. Resolves the point as a request would,
 * reads the cluster's live replica counts, pods and pause flag (GET and LIST only: the plan
 * changes nothing, in the cluster or in restorebot's database), and answers ephemerally with
 * every action the runbook would take.
 */

const READ_TIMEOUT_MS = 10_000;

async function settle<T>(work: Promise<T>): Promise<T | { error: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("no answer within 10 s")), READ_TIMEOUT_MS);
      }),
    ]);
  } catch (err) {
    return { error: asCodedError(err).message };
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** The live state the plan shows, each part read independently so one failure hides nothing else. */
export async function readLiveCluster(cluster: ClusterPort, target: Target): Promise<LiveCluster> {
  const components = targetComponents(target);
  const [replicas, pods, operatorPaused] = await Promise.all([
    Promise.all(
      components.map(
        async (c) => [c.name, await settle(cluster.getReplicas(c.kind, c.name))] as const,
      ),
    ),
    settle(cluster.listPods(components.map((c) => c.name))),
    settle(cluster.getOperatorPaused(target.appInstance)),
  ]);
  return { replicas: Object.fromEntries(replicas), pods, operatorPaused };
}

export function formatPlan(target: Target, plan: PlanText): string {
  return [
    `*Plan: restore \`${target.name}\`* — a dry run; nothing was changed.`,
    plan.summary,
    "",
    ...plan.phases,
    ...(plan.warnings.length
      ? ["", "*Before you ask*", ...plan.warnings.map((w) => `• ${w}`)]
      : []),
    "",
    `To request it: \`/restore ${target.name} &lt;point&gt; &lt;reason…&gt;\` (a second person must approve).`,
  ].join("\n");
}

/** The plan's text, or a refusal that says what to type instead. */
export async function planRestore(
  deps: AppDeps,
  command: Extract<RestoreCommand, { kind: "plan" }>,
): Promise<string> {
  const target = findTarget(deps.config, command.target);
  if (!target) return `Unknown target \`${command.target}\`. See \`/restore targets\`.`;
  const resolution = await deps.approvals.points.resolve(target, command.point);
  if (!resolution.ok) return resolution.message;
  const [live, active] = await Promise.all([
    readLiveCluster(deps.clusterFor(target), target),
    findActiveRequest(deps.db, target.name).catch(() => undefined),
  ]);
  const plan = describeInfluxdbPlan({
    target,
    point: resolution.point,
    live,
    now: deps.clock(),
    ...(active ? { activeRequest: { id: active.id, state: active.state } } : {}),
  });
  return formatPlan(target, plan);
}

export async function handleRestorePlan(
  args: CommandArgs,
  deps: AppDeps,
  command: Extract<RestoreCommand, { kind: "plan" }>,
): Promise<void> {
  await args.ack();
  let text: string;
  try {
    text = await planRestore(deps, command);
  } catch (err) {
    const coded = asCodedError(err);
    deps.logger.error({ err: coded.message }, "/restore plan failed");
    text = `I could not make the plan: ${coded.message.replace(/\.$/, "")}. Nothing was changed; try again.`;
  }
  try {
    await args.respond({ response_type: "ephemeral", text });
  } catch (err) {
    deps.logger.warn({ err: asCodedError(err).message }, "could not answer /restore plan");
  }
}
