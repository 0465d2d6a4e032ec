import type { AppDeps } from "../app-deps.js";
import { findActiveRequest } from "../approvals/request-store.js";
import { findTarget, type Target } from "../config/file.js";
import { asCodedError } from "../errors.js";
import type { PlanText } from "../kinds/kind.js";
import type { RestoreCommand } from "../slack/commands/grammar.js";
import type { CommandArgs } from "../slack/listeners/commands/restore.js";

/**
 * `/restore plan <target> <point|latest>`: a dry run. Resolves the point as a request would,
 * and asks the target's kind for its plan: the kind reads the cluster (GET and LIST only: the
 * plan changes nothing, in the cluster or in restorebot's database) and says every action its
 * runbook would take. The answer is ephemeral.
 */

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
  const active = await findActiveRequest(deps.db, target.name).catch(() => undefined);
  const plan = await deps.kinds.of(target).plan({
    target,
    point: resolution.point,
    cluster: () => deps.clusterFor(target),
    objectStore: () => deps.objectStoreFor(target),
    ...(deps.variables ? { variables: deps.variables } : {}),
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
