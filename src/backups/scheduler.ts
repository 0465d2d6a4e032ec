import {
  insertBackupRequest,
  publishBackup,
  SCHEDULE_ACTOR,
} from "../approvals/backup-requests.js";
import type { RestoreRequest } from "../approvals/request-store.js";
import { latestSlot } from "../config/cron.js";
import type { Config, Target } from "../config/file.js";
import type { DatabasePool } from "../db/database.js";
import { withTransaction } from "../db/pool.js";
import { CodedError } from "../errors.js";
import type { KindRegistry } from "../kinds/registry.js";
import type { Logger } from "../logging/logger.js";
import type { RestoreQueue } from "../queue/restore-queue.js";

/**
 * Scheduled backups (`backup.schedule`, cron in UTC), started by the worker through the same
 * path as `/backup`, with "schedule" as the requester. Each tick looks only at the latest slot
 * at or before now: slots missed while no worker ran collapse into one backup, not N. A slot is
 * claimed by a compare-and-set on the target's row of backup_schedule_slots in the transaction
 * that inserts the request, so several workers never start one slot twice; when the target is
 * busy (a restore or another backup holds it) the transaction rolls back and a later tick
 * starts the backup once the target is free.
 */

export interface SchedulerDeps {
  config: Config;
  kinds: KindRegistry;
  db: DatabasePool;
  queue: Pick<RestoreQueue, "enqueueRestore">;
  logger: Logger;
  clock: () => Date;
  /** Posts a card in a channel; its ts, or undefined when it could not be posted. */
  postCard(channel: string, card: { text: string; blocks: unknown[] }): Promise<string | undefined>;
}

/** Where a target's scheduled backups post their card. */
export function scheduleChannel(config: Config, target: Target): string | undefined {
  return target.backup?.channel ?? config.slack.channels[0];
}

export type SlotOutcome =
  | { outcome: "started"; slot: Date; request: RestoreRequest }
  /** First sight of this schedule: the current slot is recorded, the next one runs. */
  | { outcome: "baseline"; slot: Date }
  | { outcome: "not_due"; slot: Date }
  | { outcome: "busy"; slot: Date; activeId: string | undefined }
  | { outcome: "no_channel" };

/** Claims the latest due slot of one target and starts its backup. */
export async function startDueBackup(deps: SchedulerDeps, target: Target): Promise<SlotOutcome> {
  const schedule = target.backup?.schedule;
  if (!schedule) throw new Error(`${target.name} has no backup.schedule`);
  const channel = scheduleChannel(deps.config, target);
  if (!channel) return { outcome: "no_channel" };
  const now = deps.clock();
  const slot = latestSlot(schedule, now);
  type Claim = SlotOutcome | { outcome: "claimed"; request: RestoreRequest };
  let claim: Claim;
  try {
    claim = await withTransaction<Claim>(deps.db, async (tx) => {
      const inserted = await tx.query(
        `INSERT INTO backup_schedule_slots (target, last_slot) VALUES ($1, $2)
         ON CONFLICT (target) DO NOTHING RETURNING target`,
        [target.name, slot],
      );
      if ((inserted.rowCount ?? 0) > 0) return { outcome: "baseline", slot };
      // The row lock serialises workers: the second one reads the slot the first one claimed.
      const { rows } = await tx.query<{ last_slot: Date }>(
        "SELECT last_slot FROM backup_schedule_slots WHERE target = $1 FOR UPDATE",
        [target.name],
      );
      const row = rows[0];
      if (!row) throw new Error("the schedule row vanished");
      if (row.last_slot.getTime() >= slot.getTime()) return { outcome: "not_due", slot };
      await tx.query(
        "UPDATE backup_schedule_slots SET last_slot = $2, updated_at = now() WHERE target = $1",
        [target.name, slot],
      );
      const request = await insertBackupRequest(tx, {
        target,
        reason: `scheduled backup (${schedule}, slot ${slot.toISOString()})`,
        requester: SCHEDULE_ACTOR,
        channelId: channel,
        requiredApprovals: 0,
        now,
      });
      return { outcome: "claimed", request };
    });
  } catch (err) {
    if (err instanceof CodedError && err.code === "conflict") {
      const activeId = (err.details as { activeRequestId?: string } | undefined)?.activeRequestId;
      return { outcome: "busy", slot, activeId };
    }
    throw err;
  }
  if (claim.outcome !== "claimed") return claim;
  const published = await publishBackup(deps, claim.request, (card) =>
    deps.postCard(channel, card),
  );
  deps.logger.info(
    { target: target.name, slot: slot.toISOString(), requestId: claim.request.id },
    "started a scheduled backup",
  );
  return { outcome: "started", slot, request: published.request };
}

/** One tick over every target with a schedule whose kind takes backups. */
export async function runScheduledBackups(
  deps: SchedulerDeps,
): Promise<Array<{ target: string } & SlotOutcome>> {
  const outcomes: Array<{ target: string } & SlotOutcome> = [];
  for (const target of deps.config.targets) {
    if (!target.backup?.schedule || !deps.kinds.of(target).runbooks.backup) continue;
    try {
      const outcome = await startDueBackup(deps, target);
      if (outcome.outcome === "no_channel")
        deps.logger.warn(
          { target: target.name },
          "backup.schedule is set but no channel is configured (backup.channel or slack.channels); no scheduled backup runs",
        );
      outcomes.push({ target: target.name, ...outcome });
    } catch (err) {
      deps.logger.warn(
        { target: target.name, err: err instanceof Error ? err.message : String(err) },
        "scheduled backup check failed; the next tick tries again",
      );
    }
  }
  return outcomes;
}
