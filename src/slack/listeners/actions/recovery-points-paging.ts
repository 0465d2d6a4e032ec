import type { App, BlockAction, ButtonAction } from "@slack/bolt";
import { z } from "zod";
import type { AppDeps } from "../../../app-deps.js";
import { findTarget } from "../../../config/file.js";
import { asCodedError } from "../../../errors.js";
import { OLDER_POINTS_ACTION } from "../../../recovery-points/blocks.js";
import { MAX_LIST_LIMIT } from "../../commands/grammar.js";
import { parsePointRef } from "../../commands/recovery-point-time.js";
import { channelRefusal } from "../commands/channel-policy.js";
import { answerRecoveryPointsList } from "../commands/recovery-points.js";
import type { ButtonArgs } from "./button-clicks.js";

/** The button's value is ours, but it comes back through Slack: read it like any input. */
const olderPointsValue = z.object({
  target: z.string().min(1),
  cadence: z.enum(["all", "hourly", "daily"]),
  sinceMs: z.number().int().positive().nullable(),
  limit: z.number().int().min(1).max(MAX_LIST_LIMIT),
  before: z.string().min(1),
});

/** "Older points" on a `/recovery-points` answer: the next page, as a new ephemeral answer. */
export async function handleOlderPoints(args: ButtonArgs, deps: AppDeps): Promise<void> {
  await args.ack();
  const tell = async (text: string): Promise<void> => {
    await args
      .respond({ response_type: "ephemeral", replace_original: false, text })
      .catch((err: unknown) =>
        deps.logger.warn({ err: asCodedError(err).message }, "could not answer a paging click"),
      );
  };
  const channel = args.body.channel?.id;
  const refusal = channel === undefined ? undefined : channelRefusal(channel, deps);
  if (refusal !== undefined) {
    await tell(refusal);
    return;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(args.action.value ?? "");
  } catch {
    raw = undefined;
  }
  const value = olderPointsValue.safeParse(raw);
  const before = value.success ? parsePointRef(value.data.before) : undefined;
  if (!value.success || before?.kind !== "time") {
    await tell("This button is from an older restorebot; run `/recovery-points` again.");
    return;
  }
  const target = findTarget(deps.config, value.data.target);
  if (target === undefined) {
    await tell(
      `\`${value.data.target}\` is no longer a configured target. Known targets: ${deps.config.targets.map((t) => `\`${t.name}\``).join(", ")}.`,
    );
    return;
  }
  await answerRecoveryPointsList({
    respond: args.respond,
    deps,
    target,
    query: {
      cadence: value.data.cadence,
      sinceMs: value.data.sinceMs ?? undefined,
      limit: value.data.limit,
      before: before.time,
    },
  });
}

export function registerRecoveryPointsPaging(app: App, deps: AppDeps): void {
  app.action<BlockAction<ButtonAction>>(OLDER_POINTS_ACTION, (args) =>
    handleOlderPoints(args, deps),
  );
}
