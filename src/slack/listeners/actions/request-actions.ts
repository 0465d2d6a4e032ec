import type { App, BlockAction, ButtonAction } from "@slack/bolt";
import type { AppDeps } from "../../../app-deps.js";
import { APPROVE_ACTION_ID, REJECT_ACTION_ID } from "../../../approvals/card.js";
import {
  buildNamedRestoreRequestModal,
  buildRejectReasonModal,
  buildRestoreRequestModal,
  RESTORE_POINT_OPEN_ACTION_ID,
} from "../../../approvals/modals.js";
import {
  approveRequest,
  checkCanReject,
  checkCanRequest,
} from "../../../approvals/request-service.js";
import { findTarget } from "../../../config/file.js";
import { asCodedError } from "../../../errors.js";
import { isRequestId } from "../../commands/grammar.js";
import { parsePointRef } from "../../commands/recovery-point-time.js";
import { type ButtonArgs, tellClicker } from "./button-clicks.js";

/**
 * Buttons of the approval flow: Approve and Reject on the approval card, and "Restore to this
 * point" on a `/recovery-points` listing. Each acknowledges first (Slack allows 3 s), then
 * decides; refusals are ephemeral, to the person who clicked only.
 */

async function guarded(
  args: ButtonArgs,
  deps: AppDeps,
  what: string,
  work: () => Promise<void>,
): Promise<void> {
  try {
    await work();
  } catch (err) {
    const coded = asCodedError(err);
    deps.logger.error({ err: coded.message, code: coded.code, what }, "a button handler failed");
    await tellClicker(
      args,
      deps,
      `Something went wrong while ${what}: ${coded.message}. Nothing was decided unless the card says so; try again.`,
    );
  }
}

function requestIdOf(args: ButtonArgs): string | undefined {
  const value = args.action.value;
  return value && isRequestId(value) ? value : undefined;
}

export async function handleApproveAction(args: ButtonArgs, deps: AppDeps): Promise<void> {
  await args.ack();
  const requestId = requestIdOf(args);
  if (!requestId) return tellClicker(args, deps, "This button does not name a restore request.");
  await guarded(args, deps, `approving ${requestId}`, async () => {
    const outcome = await approveRequest(
      { deps, client: args.client },
      { requestId, userId: args.body.user.id },
    );
    await tellClicker(args, deps, outcome.message);
  });
}

export async function handleRejectAction(args: ButtonArgs, deps: AppDeps): Promise<void> {
  await args.ack();
  const requestId = requestIdOf(args);
  if (!requestId) return tellClicker(args, deps, "This button does not name a restore request.");
  await guarded(args, deps, `rejecting ${requestId}`, async () => {
    // Refuse before asking for a reason, so nobody types one in vain.
    const check = await checkCanReject(
      { deps, client: args.client },
      { requestId, userId: args.body.user.id },
    );
    if (!check.ok || !check.request) return tellClicker(args, deps, check.message);
    await args.client.views.open({
      trigger_id: args.body.trigger_id,
      view: buildRejectReasonModal(check.request, {
        requestId,
        channelId: args.body.channel?.id ?? check.request.channelId,
      }),
    });
  });
}

/**
 * "Restore to this point" (or a store's "Restore…" on a kind's own listing): opens the request
 * modal for the point the button carries. A kind that names its points gets the form with the
 * point editable and its options.
 */
export async function handleRestorePointOpen(args: ButtonArgs, deps: AppDeps): Promise<void> {
  await args.ack();
  let parsed: { target?: unknown; point?: unknown } = {};
  try {
    parsed = JSON.parse(args.action.value ?? "") as typeof parsed;
  } catch {
    // handled below
  }
  const target = typeof parsed.target === "string" ? parsed.target : undefined;
  const pointText = typeof parsed.point === "string" ? parsed.point : undefined;
  const configured = target === undefined ? undefined : findTarget(deps.config, target);
  const kind = configured === undefined ? undefined : deps.kinds.find(configured.kind);
  const named = kind?.points.named;
  const ref = pointText && named === undefined ? parsePointRef(pointText) : undefined;
  const pointTime = ref?.kind === "time" ? ref.time : undefined;
  if (!target || !pointText || (named === undefined && pointTime === undefined)) {
    return tellClicker(
      args,
      deps,
      "This button does not name a recovery point. List the points again with `/recovery-points`.",
    );
  }
  const channelId = args.body.channel?.id;
  if (!channelId) return tellClicker(args, deps, "Use this button in a channel.");
  const metadata = { target, point: pointText, channelId };
  const view =
    named !== undefined
      ? buildNamedRestoreRequestModal(metadata, {
          syntax: named.syntax,
          optionsUsage: kind?.restoreOptions?.usage,
        })
      : buildRestoreRequestModal(
          metadata,
          pointTime ?? deps.clock(),
          deps.clock(),
          typeof kind?.wording.restore?.lost === "string" ? kind.wording.restore.lost : undefined,
        );
  await guarded(args, deps, "opening the request form", async () => {
    const check = await checkCanRequest(
      { deps, client: args.client },
      { target, requester: args.body.user.id, channelId },
    );
    if (!check.ok) return tellClicker(args, deps, check.message);
    await args.client.views.open({ trigger_id: args.body.trigger_id, view });
  });
}

export function registerRequestActions(app: App, deps: AppDeps): void {
  app.action<BlockAction<ButtonAction>>(APPROVE_ACTION_ID, (args) =>
    handleApproveAction(args, deps),
  );
  app.action<BlockAction<ButtonAction>>(REJECT_ACTION_ID, (args) => handleRejectAction(args, deps));
  app.action<BlockAction<ButtonAction>>(RESTORE_POINT_OPEN_ACTION_ID, (args) =>
    handleRestorePointOpen(args, deps),
  );
}
