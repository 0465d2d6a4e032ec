import type { AppDeps } from "../../../app-deps.js";
import { parseRecoveryPointsCommand, RECOVERY_POINTS_USAGE } from "../../commands/grammar.js";
import { channelRefusal } from "./channel-policy.js";
import type { CommandArgs } from "./restore.js";

/** `/recovery-points …`: the S3 work happens after the ack and answers through `respond`. */
export async function handleRecoveryPointsCommand(args: CommandArgs, deps: AppDeps): Promise<void> {
  const { command, ack } = args;
  const refusal = channelRefusal(command.channel_id, deps);
  if (refusal) {
    deps.metrics.slackCommandsTotal.inc({ command: "/recovery-points", outcome: "refused" });
    await ack({ response_type: "ephemeral", text: refusal });
    return;
  }
  const parsed = parseRecoveryPointsCommand(
    command.text,
    deps.config.targets.map((t) => t.name),
  );
  if (!parsed.ok) {
    deps.metrics.slackCommandsTotal.inc({ command: "/recovery-points", outcome: "refused" });
    await ack({ response_type: "ephemeral", text: parsed.error });
    return;
  }
  deps.metrics.slackCommandsTotal.inc({ command: "/recovery-points", outcome: "accepted" });
  switch (parsed.command.kind) {
    case "help":
      await ack({ response_type: "ephemeral", text: RECOVERY_POINTS_USAGE });
      return;
    default:
      await ack({
        response_type: "ephemeral",
        text: `\`/recovery-points ${parsed.command.kind}\` is not available in this build.`,
      });
      return;
  }
}
