import type { AppDeps } from "../app-deps.js";
import { recordAuditEvent } from "../audit/audit-log.js";
import { findTarget, type Target } from "../config/file.js";
import type { TransactionClient } from "../db/database.js";
import { withTransaction } from "../db/pool.js";
import { CodedError } from "../errors.js";
import type { JsonValue } from "../kinds/kind.js";
import type { KindRegistry } from "../kinds/registry.js";
import { enqueueRun, SYSTEM_ACTOR, transition } from "../requests/lifecycle.js";
import { formatUtc } from "../text/format.js";
import { buildRequestCard } from "./card.js";
import { describePrincipals, expiresAt, groupsIn, membership } from "./policy.js";
import type { FlowContext, Outcome } from "./request-service.js";
import { findActiveRequest, insertRequest, type RestoreRequest } from "./request-store.js";

/**
 * `/backup`: a backup is a request with operation 'backup' that goes through the same lifecycle,
 * the same one-active-request-per-target index (a backup and a restore never overlap), the same
 * queue, runner and narration as a restore. It starts at once unless the target's
 * `policy.backupApprovals` asks for approvals from people other than the requester.
 */

/** The requester of backups started by `backup.schedule`. */
export const SCHEDULE_ACTOR = "schedule";

/** Who may start a backup of `target`: `policy.backupers` when set, else its approvers. */
export function backupersOf(target: Target): readonly string[] {
  return target.policy.backupers ?? target.policy.approvers;
}

/** The refusal for a kind whose points restorebot does not write itself; undefined otherwise. */
export function noBackupsRefusal(kinds: KindRegistry, target: Target): string | undefined {
  const kind = kinds.of(target);
  if (kind.runbooks.backup) return undefined;
  return `restorebot does not take backups of ${kind.id} targets; its points come from ${kind.config.describe(target)}. \`/recovery-points ${target.name}\` lists them.`;
}

/** What one busy target says, naming the request that holds it and how to end it. */
export function busyWith(target: string, active: RestoreRequest | undefined, now: Date): string {
  if (!active)
    return `\`${target}\` already has an active request. See \`/restore status\` and \`/backup status ${target}\`.`;
  const what = active.operation === "backup" ? "backup" : "restore";
  const next =
    active.state === "halted"
      ? "it is halted part-way: end it first with the buttons on its card (Retry the phase, Roll back, or Abandon)"
      : `wait for it to finish, or cancel it with \`/restore cancel ${active.id}\``;
  return `\`${target}\` is busy with a ${what}: \`${active.id}\` (${active.state}, requested by ${active.requester === SCHEDULE_ACTOR ? "the schedule" : `<@${active.requester}>`} at ${formatUtc(active.createdAt, now)}). A backup and a restore of one target never run at once: ${next}.`;
}

export interface NewBackupInput {
  target: Target;
  reason: string;
  requester: string;
  channelId: string;
  /** The kind's backup options (`Kind.backupOptions`), as parsed; none when omitted. */
  options?: JsonValue;
  /** Approvals required from others; 0 approves it in the same transaction. */
  requiredApprovals: number;
  now: Date;
}

/**
 * Inserts the backup request and its audit event (and, with no approvals required, approves it)
 * in the caller's transaction. Throws CodedError `conflict` when the target is busy.
 */
export async function insertBackupRequest(
  tx: TransactionClient,
  input: NewBackupInput,
): Promise<RestoreRequest> {
  const { target, now } = input;
  const created = await insertRequest(tx, {
    target: target.name,
    kind: target.kind,
    operation: "backup",
    pointTime: now,
    point: null,
    requester: input.requester,
    reason: input.reason,
    channelId: input.channelId,
    requiredApprovals: input.requiredApprovals,
    policy: { ...target.policy },
    createdAt: now,
    expiresAt: expiresAt(now, target.policy),
    ...(input.options === undefined ? {} : { options: input.options }),
  });
  await recordAuditEvent(tx, {
    requestId: created.id,
    target: created.target,
    actor: input.requester,
    event: "requested",
    details: {
      operation: "backup",
      reason: input.reason,
      ...(input.options === undefined ? {} : { options: input.options }),
      channel: input.channelId,
      requiredApprovals: input.requiredApprovals,
    },
  });
  if (input.requiredApprovals > 0) return created;
  const approved = await transition(tx, created.id, "approve", {
    actor: input.requester,
    details: { count: 0, required: 0, operation: "backup" },
    patch: { approvedAt: now },
    now,
  });
  if (approved.outcome === "refused")
    throw new CodedError("conflict", `${created.id} changed while it was being approved`);
  return approved.request;
}

/** Posts the card of a new backup request, keeps its ts, and enqueues it when approved. */
export async function publishBackup(
  deps: Pick<AppDeps, "db" | "logger" | "clock" | "kinds"> & {
    queue: Pick<AppDeps["queue"], "enqueueRestore">;
  },
  request: RestoreRequest,
  post: (card: { text: string; blocks: unknown[] }) => Promise<string | undefined>,
): Promise<{ request: RestoreRequest; cardPosted: boolean; queued: boolean }> {
  const card = buildRequestCard({ kinds: deps.kinds, request, approvals: [], now: deps.clock() });
  let current = request;
  let cardPosted = false;
  const cardTs = await post(card).catch((err: unknown) => {
    deps.logger.warn(
      { requestId: request.id, err: err instanceof Error ? err.message : String(err) },
      "could not post the backup card",
    );
    return undefined;
  });
  if (cardTs) {
    const attached = await transition(deps.db, request.id, "attach_card", {
      actor: SYSTEM_ACTOR,
      patch: { cardTs },
      guard: { cardTs: null },
    });
    if (attached.outcome === "changed") current = attached.request;
    cardPosted = true;
  }
  let queued = false;
  if (current.state === "approved")
    queued = (await enqueueRun(deps, current.id)).outcome !== "queue_unreachable";
  return { request: current, cardPosted, queued };
}

/**
 * `/backup <target> <reason…>` from a person: who may, whether the kind takes backups, the busy
 * target; then the request, its card in the channel, and the run (at once, or once approved).
 * Refusals record nothing.
 */
export async function submitBackupRequest(
  ctx: FlowContext,
  input: {
    target: string;
    reason: string;
    requester: string;
    channelId: string;
    options?: JsonValue;
  },
): Promise<Outcome> {
  const { deps } = ctx;
  const target = findTarget(deps.config, input.target);
  if (!target)
    return {
      ok: false,
      message: `Unknown target \`${input.target}\`. Known targets: ${deps.config.targets.map((t) => `\`${t.name}\``).join(", ")}.`,
    };
  const noBackups = noBackupsRefusal(deps.kinds, target);
  if (noBackups) return { ok: false, message: noBackups };
  const allowed = backupersOf(target);
  const groupIds = groupsIn(allowed);
  const groups = groupIds.length ? await deps.approvals.groups.resolve(ctx.client, groupIds) : {};
  const who = membership(input.requester, allowed, groups);
  if (!who.listed) {
    if (who.unresolved.length)
      return {
        ok: false,
        message: `I could not check membership of ${describePrincipals(who.unresolved)} with Slack just now, so I cannot tell whether you may start a backup. Try again in a minute.`,
      };
    return {
      ok: false,
      message: `You may not start backups of \`${target.name}\`. Who can: ${describePrincipals(allowed)}${target.policy.backupers ? " (policy.backupers)" : " (its approvers)"}. Ask one of them to run \`/backup ${target.name} <reason…>\`.`,
    };
  }
  const required = target.policy.backupApprovals;
  const now = deps.clock();
  let request: RestoreRequest;
  try {
    request = await withTransaction(deps.db, (tx) =>
      insertBackupRequest(tx, {
        target,
        reason: input.reason,
        ...(input.options === undefined ? {} : { options: input.options }),
        requester: input.requester,
        channelId: input.channelId,
        requiredApprovals: required,
        now,
      }),
    );
  } catch (err) {
    if (err instanceof CodedError && err.code === "conflict") {
      const active = await findActiveRequest(deps.db, target.name);
      return { ok: false, message: busyWith(target.name, active, deps.clock()) };
    }
    throw err;
  }
  deps.metrics.requestsTotal.inc({ target: target.name, event: "requested" });
  const published = await publishBackup(deps, request, async (card) => {
    const posted = await ctx.client.chat.postMessage({
      channel: input.channelId,
      text: card.text,
      blocks: card.blocks as never,
    });
    return posted.ts;
  });
  const cardNote = published.cardPosted
    ? "Its card in this channel narrates each phase."
    : "I could not post its card in this channel (invite me with `/invite @restorebot`); `/backup status` follows it.";
  if (required === 0)
    return {
      ok: true,
      request: published.request,
      message: `Started backup \`${request.id}\` of \`${target.name}\`${published.queued ? "" : " (the queue is unreachable right now; it starts once it is back)"}. ${cardNote} To stop it: \`/restore cancel ${request.id}\`.`,
    };
  return {
    ok: true,
    request: published.request,
    message: `Requested backup \`${request.id}\` of \`${target.name}\`. ${required === 1 ? "A second person" : `${required} other people`} must approve it on the card; approvers: ${describePrincipals(target.policy.approvers)}. It expires at ${formatUtc(request.expiresAt, now)} unless approved. ${cardNote}`,
  };
}
