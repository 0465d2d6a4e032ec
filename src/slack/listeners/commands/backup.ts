import type { AppDeps } from "../../../app-deps.js";
import { submitBackupRequest } from "../../../approvals/backup-requests.js";
import { backupStatusText } from "../../../approvals/backup-status.js";
import { asCodedError } from "../../../errors.js";
import { BACKUP_USAGE, parseBackupCommand } from "../../commands/grammar.js";
import { channelRefusal } from "./channel-policy.js";
import { syntaxOfTargets } from "./recovery-points.js";
import type { CommandArgs } from "./restore.js";

/** `/backup …`: a refusal or the usage in the ack; the request or the status after it. */
export async function handleBackupCommand(args: CommandArgs, deps: AppDeps): Promise<void> {
  const { command, ack } = args;
  const refusal = channelRefusal(command.channel_id, deps);
  if (refusal) {
    deps.metrics.slackCommandsTotal.inc({ command: "/backup", outcome: "refused" });
    await ack({ response_type: "ephemeral", text: refusal });
    return;
  }
  const parsed = parseBackupCommand(
    command.text,
    deps.config.targets.map((t) => t.name),
    syntaxOfTargets(deps),
  );
  if (!parsed.ok) {
    deps.metrics.slackCommandsTotal.inc({ command: "/backup", outcome: "refused" });
    await ack({ response_type: "ephemeral", text: parsed.error });
    return;
  }
  deps.metrics.slackCommandsTotal.inc({ command: "/backup", outcome: "accepted" });
  const parsedCommand = parsed.command;
  if (parsedCommand.kind === "help") {
    await ack({ response_type: "ephemeral", text: BACKUP_USAGE });
    return;
  }
  await ack();
  let text: string;
  try {
    if (parsedCommand.kind === "status") text = await backupStatusText(deps, parsedCommand.target);
    else {
      const outcome = await submitBackupRequest(
        { deps, client: args.client },
        {
          target: parsedCommand.target,
          reason: parsedCommand.reason,
          ...(parsedCommand.options === undefined ? {} : { options: parsedCommand.options }),
          requester: command.user_id,
          channelId: command.channel_id,
        },
      );
      text = outcome.message;
    }
  } catch (err) {
    const coded = asCodedError(err);
    deps.logger.error({ err: coded.message, code: coded.code }, "a /backup command failed");
    deps.metrics.slackCommandsTotal.inc({ command: "/backup", outcome: "error" });
    text = `Something went wrong: ${coded.message}. Nothing was changed unless a message says so; check \`/backup status\`.`;
  }
  try {
    await args.respond({ response_type: "ephemeral", text });
  } catch (err) {
    deps.logger.warn({ err: asCodedError(err).message }, "could not answer a /backup command");
  }
}
