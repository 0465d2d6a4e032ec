import { REASON_MAX_LENGTH, REASON_MIN_LENGTH } from "../slack/commands/grammar.js";
import type { types } from "../slack/slack-api.js";
import { formatDuration, formatUtc } from "../text/format.js";
import { escapeMrkdwn, truncate } from "./format.js";
import type { RestoreRequest } from "./request-store.js";

/**
 * The two modals of the approval flow, as pure builders: the reason for a rejection, and the
 * reason for a request made from a `/recovery-points` listing. Their state is read back by the
 * view listeners with the ids below.
 */

export const REJECT_REASON_CALLBACK_ID = "request_reject_reason";
export const RESTORE_REQUEST_CALLBACK_ID = "restore_request_modal";
export const RESTORE_POINT_OPEN_ACTION_ID = "restore_point_open";
export const REASON_BLOCK_ID = "reason";
export const REASON_ACTION_ID = "reason_input";
/** The point and options fields of the request form of a kind that names its points. */
export const POINT_BLOCK_ID = "point";
export const POINT_ACTION_ID = "point_input";
export const OPTIONS_BLOCK_ID = "options";
export const OPTIONS_ACTION_ID = "options_input";
export const REJECT_REASON_MIN_LENGTH = 5;

export interface RejectModalMetadata {
  requestId: string;
  channelId: string;
}

export interface RequestModalMetadata {
  target: string;
  /**
   * The point as listed, e.g. `2024-08-12T14:00:00+00:00`; for a kind that names its points,
   * the one the button offered (`stackgraph:sts-backup-20210216-0300.graph`).
   */
  point: string;
  channelId: string;
}

function plain(text: string): types.PlainTextElement {
  return { type: "plain_text", text, emoji: true };
}

function reasonInput(label: string, placeholder: string, minLength: number): types.InputBlock {
  return {
    type: "input",
    block_id: REASON_BLOCK_ID,
    label: plain(label),
    element: {
      type: "plain_text_input",
      action_id: REASON_ACTION_ID,
      multiline: true,
      min_length: minLength,
      max_length: REASON_MAX_LENGTH,
      placeholder: plain(placeholder),
    },
  };
}

export function buildRejectReasonModal(
  request: RestoreRequest,
  metadata: RejectModalMetadata,
): types.ModalView {
  return {
    type: "modal",
    callback_id: REJECT_REASON_CALLBACK_ID,
    private_metadata: JSON.stringify(metadata),
    title: plain("Reject restore"),
    submit: plain("Reject"),
    close: plain("Back"),
    blocks: [
      {
        type: "section",
        text: {
          type: "mrkdwn",
          text: truncate(
            `Reject \`${request.id}\`: restore \`${request.target}\` to ${formatUtc(request.pointTime)}, requested by <@${request.requester}>:\n>${escapeMrkdwn(request.reason)}\nNothing will run, and <@${request.requester}> is told your reason.`,
            3000,
          ),
        },
      },
      reasonInput(
        "Why are you rejecting it?",
        "e.g. wrong recovery point: the bad migration ran at 13:40, use 13:00",
        REJECT_REASON_MIN_LENGTH,
      ),
    ],
  };
}

export function buildRestoreRequestModal(
  metadata: RequestModalMetadata,
  pointTime: Date,
  now: Date,
  /** What the target's kind loses (`wording.restore.lost` when it is a plain phrase). */
  lost?: string,
): types.ModalView {
  const window = formatDuration(now.getTime() - pointTime.getTime());
  const after = `after ${formatUtc(pointTime, now)} — about ${window} —`;
  const loss =
    lost === undefined
      ? `What was written ${after} to what the restore overwrites will be lost; the card says exactly what, and what stops while it runs, before anyone approves.`
      : `${lost.charAt(0).toUpperCase()}${lost.slice(1)} ${after} will be lost; the card says what stops while it runs.`;
  return requestModal(metadata, [
    {
      type: "section",
      text: {
        type: "mrkdwn",
        text: `Restore \`${metadata.target}\` to the recovery point \`${metadata.point}\`.\n:warning: ${loss}\nA second person must approve the request before anything runs.`,
      },
    },
    reasonInput("Reason", "e.g. data corrupted by a bad migration INC-1234", REASON_MIN_LENGTH),
  ]);
}

/**
 * The request form of a kind that names its points (StackState's `<store>:<name>`): the point,
 * filled with the one the button offered and editable, the kind's options as they are typed
 * after the point in `/restore`, and the reason. The point is found and frozen, and the options
 * checked against it, when the form is sent, exactly as for the slash command.
 */
export function buildNamedRestoreRequestModal(
  metadata: RequestModalMetadata,
  kind: { syntax: string; optionsUsage: string | undefined },
): types.ModalView {
  const blocks: types.KnownBlock[] = [
    {
      type: "section",
      text: {
        type: "mrkdwn",
        text: truncate(
          `Restore \`${escapeMrkdwn(metadata.target)}\` from a recovery point. A point is ${kind.syntax}; \`/recovery-points ${escapeMrkdwn(metadata.target)}\` lists them.\n:warning: What the point restores is replaced, and what writes to it is stopped while it runs.\nA second person must approve the request before anything runs.`,
          3000,
        ),
      },
    },
    {
      type: "input",
      block_id: POINT_BLOCK_ID,
      label: plain("Recovery point"),
      element: {
        type: "plain_text_input",
        action_id: POINT_ACTION_ID,
        initial_value: metadata.point,
        max_length: 500,
      },
    },
  ];
  if (kind.optionsUsage !== undefined)
    blocks.push({
      type: "input",
      block_id: OPTIONS_BLOCK_ID,
      optional: true,
      label: plain("Options"),
      hint: plain(`As after the point in /restore: ${kind.optionsUsage}`),
      element: {
        type: "plain_text_input",
        action_id: OPTIONS_ACTION_ID,
        max_length: 2000,
        placeholder: plain(kind.optionsUsage),
      },
    });
  blocks.push(
    reasonInput("Reason", "e.g. topology wiped by a bad sync INC-1234", REASON_MIN_LENGTH),
  );
  return requestModal(metadata, blocks);
}

/** The restore request form around its `blocks`, the metadata kept for its submission. */
function requestModal(metadata: RequestModalMetadata, blocks: types.KnownBlock[]): types.ModalView {
  return {
    type: "modal",
    callback_id: RESTORE_REQUEST_CALLBACK_ID,
    private_metadata: JSON.stringify(metadata),
    title: plain("Request a restore"),
    submit: plain("Request restore"),
    close: plain("Cancel"),
    blocks,
  };
}

/** Parses private_metadata written by the builders above; undefined when it is not ours. */
export function parseMetadata<T extends object>(
  text: string | undefined,
  keys: (keyof T)[],
): T | undefined {
  try {
    const value: unknown = JSON.parse(text ?? "");
    if (typeof value !== "object" || value === null) return undefined;
    for (const key of keys)
      if (typeof (value as Record<string, unknown>)[key as string] !== "string") return undefined;
    return value as T;
  } catch {
    return undefined;
  }
}
