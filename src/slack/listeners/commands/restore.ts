import type { AllMiddlewareArgs, SlackCommandMiddlewareArgs } from "@slack/bolt";
import type { AppDeps } from "../../../app-deps.js";
import {
  handleRestoreCancel,
  handleRestoreHistory,
  handleRestoreRequest,
  handleRestoreStatus,
  handleRestoreTargets,
} from "../../../approvals/command-handlers.js";
import { handleRestorePlan } from "../../../runbooks-plan/plan-command.js";
import { parseRestoreCommand, RESTORE_USAGE } from "../../commands/grammar.js";
import { channelRefusal } from "./channel-policy.js";
import { syntaxOfTargets } from "./recovery-points.js";

export type CommandArgs = SlackCommandMiddlewareArgs & AllMiddlewareArgs;

/** `/restore …`: acknowledge within Slack's 3 s with either a refusal or a quick answer, then work. */
export async function handleRestoreCommand(args: CommandArgs, deps: AppDeps): Promise<void> {
  const { command, ack } = args;
  const refusal = channelRefusal(command.channel_id, deps);
  if (refusal) {
    deps.metrics.slackCommandsTotal.inc({ command: "/restore", outcome: "refused" });
    await ack({ response_type: "ephemeral", text: refusal });
    return;
  }
  const parsed = parseRestoreCommand(
    command.text,
    deps.config.targets.map((t) => t.name),
    syntaxOfTargets(deps),
  );
  if (!parsed.ok) {
    deps.metrics.slackCommandsTotal.inc({ command: "/restore", outcome: "refused" });
    await ack({ response_type: "ephemeral", text: parsed.error });
    return;
  }
  deps.metrics.slackCommandsTotal.inc({ command: "/restore", outcome: "accepted" });
  switch (parsed.command.kind) {
    case "help":
      await ack({ response_type: "ephemeral", text: RESTORE_USAGE });
      return;
    case "request":
      await handleRestoreRequest(args, deps, parsed.command);
      return;
    case "status":
      await handleRestoreStatus(args, deps, parsed.command);
      return;
    case "cancel":
      await handleRestoreCancel(args, deps, parsed.command);
      return;
    case "history":
      await handleRestoreHistory(args, deps, parsed.command);
      return;
    case "targets":
      await handleRestoreTargets(args, deps);
      return;
    case "plan":
      await handleRestorePlan(args, deps, parsed.command);
      return;
    default:
      // Every subcommand is handled above; a new one the grammar learns shows the usage.
      await ack({ response_type: "ephemeral", text: RESTORE_USAGE });
      return;
  }
}
