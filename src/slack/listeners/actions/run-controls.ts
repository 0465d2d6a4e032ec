import type { App, BlockAction, ButtonAction } from "@slack/bolt";
import type { WebClient } from "@slack/web-api";
import type { AppDeps } from "../../../app-deps.js";
import { describePrincipals, groupsIn, membership } from "../../../approvals/policy.js";
import { getRequest } from "../../../approvals/request-store.js";
import { approvalServices } from "../../../approvals/services.js";
import { recordAuditEvent } from "../../../audit/audit-log.js";
import { findTarget } from "../../../config/file.js";
import { asCodedError } from "../../../errors.js";
import { cardFromDatabase } from "../../../narration/approval-card.js";
import { clearControlMessages } from "../../../narration/control-messages.js";
import { RUN_CONTROL_ACTIONS } from "../../../narration/run-messages.js";
import { changeRequestState, listPhaseRuns } from "../../../runbook/run-store.js";
import type { RunControl, RunRequest } from "../../../runbook/types.js";
import { isRequestId } from "../../commands/grammar.js";
import { type ButtonArgs, tellClicker } from "./button-clicks.js";

/**
 * The buttons of a halted run — Retry phase, Roll back, Abandon — each behind a confirmation
 * dialog (set on the button). Only the requester and the target's approvers (user groups
 * resolved as the approval flow resolves them) may press them; every press, allowed or not, is
 * audited. A press is a compare-and-set on the request's state, so a double click or two people
 * pressing at once do one thing, and the worker that picks the job up does the rest.
 */

export interface RunControlContext {
  deps: AppDeps;
  client: Pick<WebClient, "chat" | "usergroups">;
}

export interface RunControlOutcome {
  ok: boolean;
  /** What the person who pressed is told (ephemerally). */
  message: string;
  request?: RunRequest;
}

const VERBS: Record<RunControl, string> = {
  retry: "retry the phase",
  rollback: "roll back",
  abandon: "abandon",
};

/** How long a press waits for the halted run's job to clear before leaving it to the reconciler. */
const ENQUEUE_ATTEMPTS = 10;

export async function applyRunControl(
  ctx: RunControlContext,
  input: { requestId: string; userId: string; control: RunControl },
): Promise<RunControlOutcome> {
  const { deps } = ctx;
  const { requestId, userId, control } = input;
  const request = await getRequest(deps.db, requestId);
  if (!request) return { ok: false, message: `There is no restore request \`${requestId}\`.` };

  // Who may press: the requester, or an approver of the target (directly, via a group, or "*").
  const policy = findTarget(deps.config, request.target)?.policy ?? deps.config.policy;
  if (userId !== request.requester) {
    const ids = groupsIn(policy.approvers);
    const groups = ids.length ? await approvalServices(deps).groups.resolve(ctx.client, ids) : {};
    const who = membership(userId, policy.approvers, groups);
    if (!who.listed) {
      await recordAuditEvent(deps.db, {
        requestId,
        target: request.target,
        actor: userId,
        event: "refused",
        details: {
          action: control,
          code: who.unresolved.length ? "group_lookup_failed" : "not_allowed",
        },
      });
      return {
        ok: false,
        request,
        message: who.unresolved.length
          ? `I could not check membership of ${describePrincipals(who.unresolved)} with Slack just now, so I cannot tell whether you may ${VERBS[control]}. Try again in a minute.`
          : `Only the requester (<@${request.requester}>) or an approver of \`${request.target}\` (${describePrincipals(policy.approvers)}) can ${VERBS[control]} \`${requestId}\`. Ask one of them.`,
      };
    }
  }

  // A press that changes nothing is audited too: the log shows who tried what, and when.
  const refuse = (code: string) =>
    recordAuditEvent(deps.db, {
      requestId,
      target: request.target,
      actor: userId,
      event: "refused",
      details: { action: control, code },
    });

  if (request.state !== "halted") {
    await refuse("not_halted");
    return {
      ok: false,
      request,
      message: `\`${requestId}\` is ${request.state.replace("_", " ")}, not halted, so there is nothing to ${VERBS[control]}${request.state === "running" ? " (someone already chose; follow the card's thread)" : ""}.`,
    };
  }
  if (control === "retry" && request.runMode === "rollback") {
    await refuse("rolling_back");
    return {
      ok: false,
      request,
      message: `\`${requestId}\` stopped while rolling back; press *Roll back* to continue the roll back, or *Abandon*.`,
    };
  }

  const now = deps.clock();
  const changed =
    control === "abandon"
      ? await changeRequestState(deps.db, requestId, {
          from: "halted",
          to: "abandoned",
          patch: { finishedAt: now },
          audit: {
            actor: userId,
            event: "abandoned",
            details: { haltedPhase: request.haltedPhase },
          },
        })
      : await changeRequestState(deps.db, requestId, {
          from: "halted",
          to: "running",
          patch: {
            runMode: control === "rollback" ? "rollback" : request.runMode,
            haltedPhase: null,
            haltedReason: null,
            cancelRequested: false,
          },
          audit: {
            actor: userId,
            event: control === "retry" ? "retry_requested" : "rollback_requested",
            details: { haltedPhase: request.haltedPhase, haltedReason: request.haltedReason },
          },
        });
  if (!changed) {
    await refuse("not_halted");
    const now2 = await getRequest(deps.db, requestId);
    return {
      ok: false,
      ...(now2 ? { request: now2 } : {}),
      message: `Someone else acted on \`${requestId}\` first: it is now ${now2?.state.replace("_", " ") ?? "gone"}.`,
    };
  }
  if (control === "abandon")
    deps.metrics.restoresTotal.inc({ target: request.target, outcome: "abandoned" });

  let queued = true;
  if (control !== "abandon") queued = await enqueueRun(deps, changed);
  // The halt messages' buttons are stale now: say who chose what in their place.
  await clearControlMessages(deps.db, ctx.client, deps.logger, requestId, {
    userId,
    control,
    at: now,
  });
  await announce(ctx, changed, request, control, userId, queued);
  return {
    ok: true,
    request: changed,
    message:
      control === "abandon"
        ? `Abandoned \`${requestId}\`: restorebot changes nothing more on \`${request.target}\`.`
        : `${control === "retry" ? "Retrying" : "Rolling back"} \`${requestId}\`; follow the card's thread.${queued ? "" : " The queue is unreachable right now; a worker picks the run up as soon as it is back."}`,
  };
}

/**
 * Hands the run to the queue under its request id. The halted run's job removes itself when it
 * completes; until then (a press within moments of the halt) the id is taken, so try a few
 * times; the worker's reconciler enqueues any `running` request whose job is missing anyway.
 */
async function enqueueRun(deps: AppDeps, request: RunRequest): Promise<boolean> {
  for (let attempt = 0; attempt < ENQUEUE_ATTEMPTS; attempt++) {
    try {
      const { created } = await deps.queue.enqueueRestore({
        requestId: request.id,
        target: request.target,
      });
      if (created) return true;
    } catch (err) {
      deps.logger.warn(
        { requestId: request.id, err: asCodedError(err).message },
        "could not enqueue a resumed run",
      );
      return false;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return true;
}

async function announce(
  ctx: RunControlContext,
  changed: RunRequest,
  before: RunRequest,
  control: RunControl,
  userId: string,
  queued: boolean,
): Promise<void> {
  const { deps } = ctx;
  try {
    const runs = await listPhaseRuns(deps.db, changed.id);
    let text: string;
    const kind = deps.kinds.get(changed.kind);
    if (control === "abandon") {
      text = kind.wording.abandoned(before, runs, userId);
    } else if (control === "retry") {
      const outline = deps.kinds.outline(changed.kind, "forward");
      const next = outline.findIndex(
        (_, i) => runs.find((r) => r.phaseIndex === i + 1)?.state !== "succeeded",
      );
      text = `:repeat: <@${userId}> pressed *Retry phase*: the run continues at phase ${next + 1}/${outline.length} (${outline[next]?.title ?? "the end"}) with the replica counts recorded earlier.`;
    } else {
      text = kind.wording.rollbackPressed(changed, runs, userId);
    }
    if (!queued && control !== "abandon") text += " (Waiting for the queue to come back.)";
    await ctx.client.chat.postMessage({
      channel: changed.channelId,
      ...(changed.cardTs ? { thread_ts: changed.cardTs } : {}),
      text,
    });
    if (changed.cardTs) {
      const card = await cardFromDatabase(deps.db, deps.kinds, changed.id, deps.clock());
      if (card)
        await ctx.client.chat.update({
          channel: changed.channelId,
          ts: changed.cardTs,
          text: card.text,
          blocks: card.blocks as never,
        });
    }
  } catch (err) {
    // The decision stands in PostgreSQL; the worker's narration shows it too.
    deps.logger.warn(
      { requestId: changed.id, err: asCodedError(err).message },
      "could not announce a run control",
    );
  }
}

export async function handleRunControl(
  args: ButtonArgs,
  deps: AppDeps,
  control: RunControl,
): Promise<void> {
  await args.ack();
  const value = args.action.value;
  if (!value || !isRequestId(value))
    return tellClicker(args, deps, "This button does not name a restore request.");
  try {
    const outcome = await applyRunControl(
      { deps, client: args.client },
      { requestId: value, userId: args.body.user.id, control },
    );
    await tellClicker(args, deps, outcome.message);
  } catch (err) {
    const coded = asCodedError(err);
    deps.logger.error({ err: coded.message, control }, "a run control failed");
    await tellClicker(
      args,
      deps,
      `Something went wrong while trying to ${VERBS[control]} ${value}: ${coded.message}. Nothing changed unless the card says so; try again.`,
    );
  }
}

export function registerRunControls(app: App, deps: AppDeps): void {
  for (const control of ["retry", "rollback", "abandon"] as const) {
    app.action<BlockAction<ButtonAction>>(RUN_CONTROL_ACTIONS[control], (args) =>
      handleRunControl(args, deps, control),
    );
  }
}
