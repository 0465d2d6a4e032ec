import type { AppDeps } from "../app-deps.js";
import { listAuditEvents } from "../audit/audit-log.js";
import { asCodedError } from "../errors.js";
import { listPhaseRuns } from "../runbook/run-store.js";
import type { RestoreCommand } from "../slack/commands/grammar.js";
import type { CommandArgs } from "../slack/listeners/commands/restore.js";
import {
  formatHistory,
  formatRequestStatus,
  formatStatusOverview,
  formatTargets,
} from "./reports.js";
import { cancelRequest, submitRestoreRequest } from "./request-service.js";
import {
  ACTIVE_STATES,
  getRequest,
  listApprovals,
  listRequests,
  type RestoreRequest,
} from "./request-store.js";

/**
 * The `/restore` subcommands of the approval flow. Each acknowledges at once (Slack allows
 * 3 s) and answers ephemerally through `respond` once the database, S3 and Slack have spoken.
 */

type Command<K extends RestoreCommand["kind"]> = Extract<RestoreCommand, { kind: K }>;

async function answer(args: CommandArgs, deps: AppDeps, text: string): Promise<void> {
  try {
    await args.respond({ response_type: "ephemeral", text });
  } catch (err) {
    deps.logger.warn({ err: asCodedError(err).message }, "could not answer a /restore command");
  }
}

/** Runs `work` after the ack; an unexpected failure is told to the person, not swallowed. */
async function afterAck(
  args: CommandArgs,
  deps: AppDeps,
  what: string,
  work: () => Promise<string>,
): Promise<void> {
  await args.ack();
  let text: string;
  try {
    text = await work();
  } catch (err) {
    const coded = asCodedError(err);
    deps.logger.error({ err: coded.message, code: coded.code, what }, "a /restore command failed");
    deps.metrics.slackCommandsTotal.inc({ command: "/restore", outcome: "error" });
    text = `Something went wrong while ${what}: ${coded.message}. Nothing was changed unless a message says so; try again, or check \`/restore status\`.`;
  }
  await answer(args, deps, text);
}

export function handleRestoreRequest(
  args: CommandArgs,
  deps: AppDeps,
  command: Command<"request">,
): Promise<void> {
  return afterAck(args, deps, "making the request", async () => {
    const outcome = await submitRestoreRequest(
      { deps, client: args.client },
      {
        target: command.target,
        point: command.point,
        reason: command.reason,
        ...(command.options === undefined ? {} : { options: command.options }),
        requester: args.command.user_id,
        channelId: args.command.channel_id,
      },
    );
    return outcome.message;
  });
}

export function handleRestoreCancel(
  args: CommandArgs,
  deps: AppDeps,
  command: Command<"cancel">,
): Promise<void> {
  return afterAck(args, deps, `cancelling ${command.requestId}`, async () => {
    const outcome = await cancelRequest(
      { deps, client: args.client },
      { requestId: command.requestId, userId: args.command.user_id },
    );
    return outcome.message;
  });
}

export function handleRestoreStatus(
  args: CommandArgs,
  deps: AppDeps,
  command: Command<"status">,
): Promise<void> {
  return afterAck(args, deps, "reading the status", async () => {
    const now = deps.clock();
    if (command.requestId) {
      const request = await getRequest(deps.db, command.requestId);
      if (!request)
        return `There is no restore request \`${command.requestId}\`. \`/restore history\` lists recent ones.`;
      const runs = request.startedAt ? await listPhaseRuns(deps.db, request.id) : [];
      return formatRequestStatus(
        deps.kinds,
        request,
        await listApprovals(deps.db, request.id),
        now,
        runs,
      );
    }
    const active = await listRequests(deps.db, { states: ACTIVE_STATES, limit: 50 });
    const [latest] = active.length ? [] : await listRequests(deps.db, { limit: 1 });
    return formatStatusOverview(active, latest, now);
  });
}

/** Requests shown by `/restore history`. */
const HISTORY_REQUESTS = 10;

export function handleRestoreHistory(
  args: CommandArgs,
  deps: AppDeps,
  command: Command<"history">,
): Promise<void> {
  return afterAck(args, deps, "reading the history", async () => {
    const requests = await listRequests(deps.db, {
      ...(command.target ? { target: command.target } : {}),
      limit: HISTORY_REQUESTS,
    });
    const withEvents = await Promise.all(
      requests.map(async (request: RestoreRequest) => ({
        request,
        events: await listAuditEvents(deps.db, { requestId: request.id, limit: 100 }),
      })),
    );
    return formatHistory(deps.kinds, command.target, withEvents, deps.clock());
  });
}

export function handleRestoreTargets(args: CommandArgs, deps: AppDeps): Promise<void> {
  return afterAck(args, deps, "listing the targets", async () => {
    const active = await listRequests(deps.db, { states: ACTIVE_STATES, limit: 1000 });
    return formatTargets(
      deps.kinds,
      deps.config.targets,
      new Map(active.map((r) => [r.target, r])),
    );
  });
}
