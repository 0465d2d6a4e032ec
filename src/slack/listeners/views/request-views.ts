import type {
  AllMiddlewareArgs,
  App,
  SlackViewMiddlewareArgs,
  ViewSubmitAction,
} from "@slack/bolt";
import type { AppDeps } from "../../../app-deps.js";
import {
  parseMetadata,
  REASON_ACTION_ID,
  REASON_BLOCK_ID,
  REJECT_REASON_CALLBACK_ID,
  REJECT_REASON_MIN_LENGTH,
  RESTORE_REQUEST_CALLBACK_ID,
  type RejectModalMetadata,
  type RequestModalMetadata,
} from "../../../approvals/modals.js";
import { rejectRequest, submitRestoreRequest } from "../../../approvals/request-service.js";
import { asCodedError } from "../../../errors.js";
import { isRequestId, REASON_MAX_LENGTH, REASON_MIN_LENGTH } from "../../commands/grammar.js";
import { parsePointRef } from "../../commands/recovery-point-time.js";

/**
 * Modal submissions of the approval flow. A bad reason keeps the modal open with the error
 * under the field; otherwise the modal closes at once and the outcome arrives as an
 * ephemeral message in the channel the modal came from.
 */

export type ViewArgs = SlackViewMiddlewareArgs<ViewSubmitAction> & AllMiddlewareArgs;

function reasonOf(args: ViewArgs): string {
  return (args.view.state.values[REASON_BLOCK_ID]?.[REASON_ACTION_ID]?.value ?? "").trim();
}

async function tellSubmitter(
  args: ViewArgs,
  deps: AppDeps,
  channel: string,
  text: string,
): Promise<void> {
  const user = args.body.user.id;
  try {
    await args.client.chat.postEphemeral({ channel, user, text });
  } catch (err) {
    // Not in the channel any more (or archived): a DM still reaches them.
    deps.logger.warn(
      { err: asCodedError(err).message },
      "could not answer in the channel; sending a DM",
    );
    await args.client.chat
      .postMessage({ channel: user, text })
      .catch((e: unknown) =>
        deps.logger.warn({ err: asCodedError(e).message }, "could not DM the submitter"),
      );
  }
}

async function guarded(
  args: ViewArgs,
  deps: AppDeps,
  channel: string,
  what: string,
  work: () => Promise<string>,
): Promise<void> {
  let text: string;
  try {
    text = await work();
  } catch (err) {
    const coded = asCodedError(err);
    deps.logger.error({ err: coded.message, code: coded.code, what }, "a modal submission failed");
    text = `Something went wrong while ${what}: ${coded.message}. Check \`/restore status\` before trying again.`;
  }
  await tellSubmitter(args, deps, channel, text);
}

export async function handleRejectReasonSubmission(args: ViewArgs, deps: AppDeps): Promise<void> {
  const meta = parseMetadata<RejectModalMetadata>(args.view.private_metadata, [
    "requestId",
    "channelId",
  ]);
  if (!meta || !isRequestId(meta.requestId)) {
    await args.ack({
      response_action: "errors",
      errors: {
        [REASON_BLOCK_ID]:
          "This form lost track of its request; close it and click Reject on the card again.",
      },
    });
    return;
  }
  const reason = reasonOf(args);
  if (reason.length < REJECT_REASON_MIN_LENGTH || reason.length > REASON_MAX_LENGTH) {
    await args.ack({
      response_action: "errors",
      errors: {
        [REASON_BLOCK_ID]: `Say why in ${REJECT_REASON_MIN_LENGTH} to ${REASON_MAX_LENGTH} characters; the requester reads it.`,
      },
    });
    return;
  }
  await args.ack();
  await guarded(args, deps, meta.channelId, `rejecting ${meta.requestId}`, async () => {
    const outcome = await rejectRequest(
      { deps, client: args.client },
      { requestId: meta.requestId, userId: args.body.user.id, reason },
    );
    return outcome.message;
  });
}

export async function handleRestoreRequestSubmission(args: ViewArgs, deps: AppDeps): Promise<void> {
  const meta = parseMetadata<RequestModalMetadata>(args.view.private_metadata, [
    "target",
    "point",
    "channelId",
  ]);
  const ref = meta ? parsePointRef(meta.point) : undefined;
  if (!meta || ref?.kind !== "time") {
    await args.ack({
      response_action: "errors",
      errors: {
        [REASON_BLOCK_ID]:
          "This form lost track of its recovery point; close it and list the points again.",
      },
    });
    return;
  }
  const reason = reasonOf(args);
  if (reason.length < REASON_MIN_LENGTH || reason.length > REASON_MAX_LENGTH) {
    await args.ack({
      response_action: "errors",
      errors: {
        [REASON_BLOCK_ID]: `Say why in ${REASON_MIN_LENGTH} to ${REASON_MAX_LENGTH} characters (an incident id helps).`,
      },
    });
    return;
  }
  await args.ack();
  await guarded(args, deps, meta.channelId, "making the request", async () => {
    const outcome = await submitRestoreRequest(
      { deps, client: args.client },
      {
        target: meta.target,
        point: ref,
        reason,
        requester: args.body.user.id,
        channelId: meta.channelId,
      },
    );
    return outcome.message;
  });
}

export function registerRequestViews(app: App, deps: AppDeps): void {
  app.view<ViewSubmitAction>(REJECT_REASON_CALLBACK_ID, (args) =>
    handleRejectReasonSubmission(args, deps),
  );
  app.view<ViewSubmitAction>(RESTORE_REQUEST_CALLBACK_ID, (args) =>
    handleRestoreRequestSubmission(args, deps),
  );
}
