import type { RespondFn } from "@slack/bolt";
import type { AppDeps } from "../../../app-deps.js";
import { pointAccessFor } from "../../../approvals/point-resolver.js";
import { findTarget, type Target } from "../../../config/file.js";
import { asCodedError } from "../../../errors.js";
import type { PointWords } from "../../../kinds/kind.js";
import {
  NEUTRAL_POINT_WORDS,
  namedListingMessage,
  pointNotFoundText,
  recoveryPointsMessage,
  type SlackMessage,
  verificationMessage,
  verificationProgressText,
} from "../../../recovery-points/blocks.js";
import { findPoint, nearestPoints } from "../../../recovery-points/folder-names.js";
import { code, mrkdwnText } from "../../../recovery-points/format.js";
import {
  type ListQuery,
  listRecoveryPoints,
} from "../../../recovery-points/list-recovery-points.js";
import { newestCompletePoint } from "../../../recovery-points/newest-complete.js";
import type {
  RecoveryPointSource,
  VerificationProgress,
} from "../../../recovery-points/recovery-point.js";
import { recoveryPointSourceFor } from "../../../recovery-points/sources.js";
import { saveVerification } from "../../../recovery-points/verification-store.js";
import {
  parseRecoveryPointsCommand,
  RECOVERY_POINTS_USAGE,
  type SyntaxOf,
} from "../../commands/grammar.js";
import { formatPointTime, type PointRef } from "../../commands/recovery-point-time.js";
import { channelRefusal } from "./channel-policy.js";
import type { CommandArgs } from "./restore.js";

export interface RecoveryPointsOptions {
  /** A verify still running after this long posts a progress message. */
  progressAfterMs: number;
  /** Later progress messages, at most `maxProgressMessages` in all. */
  progressEveryMs: number;
  /**
   * A response_url takes at most five messages in 30 minutes (Slack); progress may use
   * some, and the result always needs one.
   */
  maxProgressMessages: number;
}

export const DEFAULT_RECOVERY_POINTS_OPTIONS: RecoveryPointsOptions = {
  progressAfterMs: 5_000,
  progressEveryMs: 60_000,
  maxProgressMessages: 2,
};

/** `/recovery-points …`: the S3 work happens after the ack and answers through `respond`. */
export async function handleRecoveryPointsCommand(
  args: CommandArgs,
  deps: AppDeps,
  options: RecoveryPointsOptions = DEFAULT_RECOVERY_POINTS_OPTIONS,
): Promise<void> {
  const { command, ack, respond } = args;
  const refusal = channelRefusal(command.channel_id, deps);
  if (refusal) {
    deps.metrics.slackCommandsTotal.inc({ command: "/recovery-points", outcome: "refused" });
    await ack({ response_type: "ephemeral", text: refusal });
    return;
  }
  const parsed = parseRecoveryPointsCommand(
    command.text,
    deps.config.targets.map((t) => t.name),
    syntaxOfTargets(deps),
  );
  if (!parsed.ok) {
    deps.metrics.slackCommandsTotal.inc({ command: "/recovery-points", outcome: "refused" });
    await ack({ response_type: "ephemeral", text: parsed.error });
    return;
  }
  deps.metrics.slackCommandsTotal.inc({ command: "/recovery-points", outcome: "accepted" });
  const parsedCommand = parsed.command;
  switch (parsedCommand.kind) {
    case "help":
      await ack({ response_type: "ephemeral", text: RECOVERY_POINTS_USAGE });
      return;
    case "list": {
      // Acknowledge first: the listing needs S3 and Slack gives up after 3 s.
      await ack();
      const target = findTarget(deps.config, parsedCommand.target ?? "");
      if (target === undefined) return;
      const named = deps.kinds.of(target).points.named;
      if (named !== undefined) {
        await answerNamed(respond, deps, target, "list the recovery points of", async () =>
          namedListingMessage(
            target.name,
            await named.list(
              target,
              { store: parsedCommand.store, limit: parsedCommand.limit },
              pointAccessFor(deps, target),
            ),
          ),
        );
        return;
      }
      await answerRecoveryPointsList({ respond, deps, target, query: parsedCommand });
      return;
    }
    case "verify": {
      const target = findTarget(deps.config, parsedCommand.target);
      if (target === undefined) return;
      const named = deps.kinds.of(target).points.named;
      if (named !== undefined && parsedCommand.point.kind === "named") {
        const text = parsedCommand.point.text;
        await ack({
          response_type: "ephemeral",
          text: `:hourglass_flowing_sand: Verifying ${target.name} ${code(text)}. I will answer here.`,
        });
        await answerNamed(respond, deps, target, "verify a recovery point of", () =>
          named.verify(target, text, pointAccessFor(deps, target)),
        );
        return;
      }
      const pointText =
        parsedCommand.point.kind === "time"
          ? code(formatPointTime(parsedCommand.point.time))
          : "the latest complete point";
      await ack({
        response_type: "ephemeral",
        text: `:hourglass_flowing_sand: Verifying ${target.name} ${pointText}: ${pointWordsOf(deps, target).verify.reads}. I will answer here.`,
      });
      await answerVerify({
        respond,
        deps,
        target,
        pointRef: parsedCommand.point,
        user: command.user_id,
        options,
      });
      return;
    }
  }
}

/** How the target's kind words its points; neutral words when it gives none. */
function pointWordsOf(deps: Pick<AppDeps, "kinds">, target: Target): PointWords {
  return deps.kinds.find(target.kind)?.wording.points ?? NEUTRAL_POINT_WORDS;
}

/** The grammar's view of each configured target's kind (named points, stores, options). */
export function syntaxOfTargets(deps: Pick<AppDeps, "config" | "kinds">): SyntaxOf {
  return (name) => {
    const target = findTarget(deps.config, name);
    if (target === undefined) return undefined;
    const kind = deps.kinds.find(target.kind);
    if (kind === undefined) return undefined;
    const named = kind.points.named;
    const options = kind.restoreOptions;
    const backupOptions = kind.backupOptions;
    return {
      ...(named === undefined ? {} : { namedPoints: named.syntax, stores: named.stores(target) }),
      ...(options === undefined
        ? {}
        : { options: { usage: options.usage, parse: (words) => options.parse(words, target) } }),
      ...(backupOptions === undefined
        ? {}
        : {
            backupOptions: {
              usage: backupOptions.usage,
              parse: (words) => backupOptions.parse(words, target),
            },
          }),
    };
  };
}

/** A kind's own listing or verify, answered ephemerally; a failure says what and where. */
async function answerNamed(
  respond: RespondFn,
  deps: AppDeps,
  target: Target,
  doing: string,
  work: () => Promise<string | SlackMessage>,
): Promise<void> {
  let message: SlackMessage;
  try {
    const answer = await work();
    message = typeof answer === "string" ? { text: answer, blocks: [] } : answer;
  } catch (err) {
    const coded = asCodedError(err);
    deps.logger.warn(
      { code: coded.code, err: coded.message, target: target.name },
      `could not ${doing} a target`,
    );
    message = {
      text: `:warning: I could not ${doing} \`${target.name}\`: ${mrkdwnText(coded.message)}`,
      blocks: [],
    };
  }
  await send(respond, deps, message);
}

/** One page of the listing, as an ephemeral answer; shared with the "Older points" button. */
export async function answerRecoveryPointsList(input: {
  respond: RespondFn;
  deps: AppDeps;
  target: Target;
  query: ListQuery;
}): Promise<void> {
  const { respond, deps, target, query } = input;
  const source = recoveryPointSourceFor(deps, target);
  let message: SlackMessage;
  try {
    const listing = await listRecoveryPoints({
      source,
      target,
      query,
      now: deps.clock(),
      db: deps.db,
    });
    message = recoveryPointsMessage(listing, pointWordsOf(deps, target));
  } catch (err) {
    message = {
      text: storeFailureText("list the recovery points of", target, source, err, deps),
      blocks: [],
    };
  }
  await send(respond, deps, message);
}

async function answerVerify(input: {
  respond: RespondFn;
  deps: AppDeps;
  target: Target;
  pointRef: PointRef;
  user: string;
  options: RecoveryPointsOptions;
}): Promise<void> {
  const { respond, deps, target, pointRef, options } = input;
  const source = recoveryPointSourceFor(deps, target);
  const started = Date.now();
  let latest: VerificationProgress | undefined;
  let progressSent = 0;
  let progressChain: Promise<void> = Promise.resolve();
  let point: { id: string; time: Date } | undefined;
  const tick = (): void => {
    if (point === undefined || progressSent >= options.maxProgressMessages) return;
    progressSent++;
    const text = verificationProgressText(
      target.name,
      point,
      latest,
      Date.now() - started,
      pointWordsOf(deps, target),
    );
    progressChain = progressChain.then(() => send(respond, deps, { text, blocks: [] }));
  };
  let timer: NodeJS.Timeout | undefined = setTimeout(function first() {
    tick();
    timer = setInterval(tick, options.progressEveryMs);
  }, options.progressAfterMs);

  let message: SlackMessage;
  try {
    const index = await source.listPoints();
    if (pointRef.kind === "latest") {
      point = (await newestCompletePoint(source, index))?.ref;
      if (point === undefined) {
        message = {
          text: `None of the ${index.points.length} recovery points of \`${target.name}\` in ${source.location} is complete, so there is no latest point to verify.`,
          blocks: [],
        };
        await send(respond, deps, message);
        return;
      }
    } else if (pointRef.kind === "time") {
      point = findPoint(index, pointRef.time);
    }
    const time = pointRef.kind === "time" ? pointRef.time : (point as { time: Date }).time;
    if (point === undefined) {
      message = {
        text: pointNotFoundText({
          target: target.name,
          requested: time,
          nearest: nearestPoints(index, time),
          location: source.location,
          now: deps.clock(),
        }),
        blocks: [],
      };
    } else {
      const report = await source.verifyPoint(point, {
        onProgress: (p) => {
          latest = p;
        },
      });
      let saved = true;
      try {
        await saveVerification(deps.db, {
          target: target.name,
          pointTime: point.time,
          report,
          verifiedAt: deps.clock(),
          verifiedBy: input.user,
        });
      } catch (err) {
        saved = false;
        deps.logger.warn(
          { err: asCodedError(err, "database_error").message, target: target.name },
          "could not store a verification result",
        );
      }
      message = verificationMessage({
        target: target.name,
        point,
        bucket: source.dataLocation,
        report,
        saved,
        words: pointWordsOf(deps, target),
      });
    }
  } catch (err) {
    message = {
      text: storeFailureText("verify a recovery point of", target, source, err, deps),
      blocks: [],
    };
  } finally {
    clearTimeout(timer);
    clearInterval(timer);
  }
  // The result must come after any progress message already on its way.
  await progressChain;
  await send(respond, deps, message);
}

/**
 * What a person reads when the store fails: which bucket, what S3 said, what to check.
 * The adapter's messages carry that; anything else is logged and summarised, never a stack.
 */
function storeFailureText(
  doing: string,
  target: Target,
  source: RecoveryPointSource,
  err: unknown,
  deps: AppDeps,
): string {
  const coded = asCodedError(err);
  deps.logger.warn(
    { code: coded.code, err: coded.message, target: target.name },
    `could not ${doing} a target`,
  );
  const said =
    coded.code === "internal"
      ? `something went wrong (${coded.message.split("\n")[0]}); the details are in restorebot's log`
      : coded.message;
  return `:warning: I could not ${doing} \`${target.name}\` in ${code(source.location)}: ${mrkdwnText(said)}`;
}

async function send(respond: RespondFn, deps: AppDeps, message: SlackMessage): Promise<void> {
  try {
    await respond({
      response_type: "ephemeral",
      replace_original: false,
      text: message.text,
      ...(message.blocks.length > 0 ? { blocks: message.blocks } : {}),
    });
  } catch (err) {
    // Slack being unreachable is not worth a crash; the person can ask again.
    deps.logger.warn(
      { err: asCodedError(err).message },
      "could not answer /recovery-points through response_url",
    );
  }
}
