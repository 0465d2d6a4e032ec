import type {
  AllMiddlewareArgs,
  App,
  SlackViewMiddlewareArgs,
  ViewSubmitAction,
} from "@slack/bolt";
import type { AppDeps } from "../../../app-deps.js";
import {
  OPTIONS_ACTION_ID,
  OPTIONS_BLOCK_ID,
  POINT_ACTION_ID,
  POINT_BLOCK_ID,
  parseMetadata,
  REASON_ACTION_ID,
  REASON_BLOCK_ID,
  REJECT_REASON_CALLBACK_ID,
  REJECT_REASON_MIN_LENGTH,
  RESTORE_REQUEST_CALLBACK_ID,
  type RejectModalMetadata,
  type RequestModalMetadata,
} from "../../../approvals/modals.js";
import {
  type NewRequestInput,
  rejectRequest,
  submitRestoreRequest,
} from "../../../approvals/request-service.js";
import { findTarget, type Target } from "../../../config/file.js";
import { asCodedError } from "../../../errors.js";
import type { JsonValue, Kind } from "../../../kinds/kind.js";
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

function inputOf(args: ViewArgs, blockId: string, actionId: string): string {
  return (args.view.state.values[blockId]?.[actionId]?.value ?? "").trim();
}

/** The reason's length problem, for the field; undefined when it is fine. */
function reasonProblem(reason: string): string | undefined {
  return reason.length < REASON_MIN_LENGTH || reason.length > REASON_MAX_LENGTH
    ? `Say why in ${REASON_MIN_LENGTH} to ${REASON_MAX_LENGTH} characters (an incident id helps).`
    : undefined;
}

/**
 * The form of a kind that names its points: the point as typed (`stackgraph:latest`) and the
 * kind's options read by the same parser as `/restore`. Problems the form can see at once stay
 * under their field; the point is found and the options checked against it when the request is
 * made, and a refusal then arrives as an ephemeral message, as for the slash command.
 */
function readNamedForm(
  args: ViewArgs,
  target: Target,
  kind: Kind,
):
  | { ok: true; point: string; options: JsonValue | undefined }
  | { ok: false; errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  const point = inputOf(args, POINT_BLOCK_ID, POINT_ACTION_ID);
  const syntax = kind.points.named?.syntax ?? "as listed";
  if (point === "") errors[POINT_BLOCK_ID] = `Which recovery point? A point is ${syntax}.`;
  else if (/\s/.test(point))
    errors[POINT_BLOCK_ID] = `One point, without spaces: a point is ${syntax}.`;
  const words = inputOf(args, OPTIONS_BLOCK_ID, OPTIONS_ACTION_ID).split(/\s+/).filter(Boolean);
  let options: JsonValue | undefined;
  const restoreOptions = kind.restoreOptions;
  if (words.length > 0 && restoreOptions === undefined)
    errors[OPTIONS_BLOCK_ID] = `\`${target.name}\` takes no restore options; leave this empty.`;
  else if (words.length > 0 && restoreOptions !== undefined) {
    const read = restoreOptions.parse(words, target);
    if (!read.ok) errors[OPTIONS_BLOCK_ID] = read.message;
    else if (read.consumed < words.length)
      errors[OPTIONS_BLOCK_ID] =
        `\`${words[read.consumed]}\` is not an option; the options are ${restoreOptions.usage}.`;
    else options = read.options;
  }
  return Object.keys(errors).length > 0 ? { ok: false, errors } : { ok: true, point, options };
}

export async function handleRestoreRequestSubmission(args: ViewArgs, deps: AppDeps): Promise<void> {
  const meta = parseMetadata<RequestModalMetadata>(args.view.private_metadata, [
    "target",
    "point",
    "channelId",
  ]);
  const target = meta ? findTarget(deps.config, meta.target) : undefined;
  const kind = target ? deps.kinds.find(target.kind) : undefined;
  const reason = reasonOf(args);
  if (meta && target && kind?.points.named !== undefined) {
    const form = readNamedForm(args, target, kind);
    const tooShort = reasonProblem(reason);
    if (!form.ok || tooShort !== undefined) {
      await args.ack({
        response_action: "errors",
        errors: {
          ...(form.ok ? {} : form.errors),
          ...(tooShort === undefined ? {} : { [REASON_BLOCK_ID]: tooShort }),
        },
      });
      return;
    }
    await args.ack();
    await submitFromForm(args, deps, meta, {
      point: { kind: "named", text: form.point },
      reason,
      ...(form.options === undefined ? {} : { options: form.options }),
    });
    return;
  }
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
  const tooShort = reasonProblem(reason);
  if (tooShort !== undefined) {
    await args.ack({ response_action: "errors", errors: { [REASON_BLOCK_ID]: tooShort } });
    return;
  }
  await args.ack();
  await submitFromForm(args, deps, meta, { point: ref, reason });
}

/** Makes the request the form describes, as its sender in the form's channel; answers there. */
async function submitFromForm(
  args: ViewArgs,
  deps: AppDeps,
  meta: RequestModalMetadata,
  input: Pick<NewRequestInput, "point" | "reason" | "options">,
): Promise<void> {
  await guarded(args, deps, meta.channelId, "making the request", async () => {
    const outcome = await submitRestoreRequest(
      { deps, client: args.client },
      { ...input, target: meta.target, requester: args.body.user.id, channelId: meta.channelId },
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
