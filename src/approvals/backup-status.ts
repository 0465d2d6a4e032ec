import { formatAsOf } from "../backups/as-of.js";
import { nextSlot } from "../config/cron.js";
import type { Config, Target } from "../config/file.js";
import type { Queryable } from "../db/database.js";
import type { KindRegistry } from "../kinds/registry.js";
import { BACKUP_POINT_FACT } from "../runbook/types.js";
import { formatBytes, formatDuration, formatUtc } from "../text/format.js";
import { listRequests, type RestoreRequest } from "./request-store.js";

/** `/backup status [target]`: the last backups of each target and its next scheduled one. */

const LAST_BACKUPS = 5;

export interface BackupRow {
  request: RestoreRequest;
  /** The point's size, when the backup reported it (`backupPoint.bytes`). */
  bytes: number | undefined;
}

/** The sizes backups reported, by request id. */
async function reportedSizes(db: Queryable, ids: readonly string[]): Promise<Map<string, number>> {
  if (ids.length === 0) return new Map();
  const { rows } = await db.query<{ request_id: string; bytes: string | null }>(
    `SELECT request_id, facts -> $2 ->> 'bytes' AS bytes FROM phase_runs
      WHERE request_id = ANY($1::text[]) AND facts ? $2`,
    [[...ids], BACKUP_POINT_FACT],
  );
  const sizes = new Map<string, number>();
  for (const r of rows) {
    const n = Number(r.bytes);
    if (r.bytes !== null && Number.isFinite(n)) sizes.set(r.request_id, n);
  }
  return sizes;
}

export async function readBackupRows(db: Queryable, target: string): Promise<BackupRow[]> {
  const requests = await listRequests(db, { target, operation: "backup", limit: LAST_BACKUPS });
  const sizes = await reportedSizes(
    db,
    requests.map((r) => r.id),
  );
  return requests.map((request) => ({ request, bytes: sizes.get(request.id) }));
}

function who(requester: string): string {
  return requester === "schedule" ? "schedule" : `<@${requester}>`;
}

export function formatBackupLine(row: BackupRow, now: Date): string {
  const { request } = row;
  const parts = [`\`${request.id}\` ${request.state}`];
  if (request.point !== null) parts.push(`as of \`${formatAsOf(request.pointTime)}\``);
  if (request.startedAt) {
    const end = request.finishedAt ?? now;
    parts.push(
      `${request.finishedAt ? "took" : "running for"} ${formatDuration(end.getTime() - request.startedAt.getTime())}`,
    );
  }
  if (row.bytes !== undefined) parts.push(formatBytes(row.bytes));
  parts.push(`by ${who(request.requester)} at ${formatUtc(request.createdAt, now)}`);
  return `• ${parts.join(" · ")}`;
}

export function formatTargetBackups(
  kinds: KindRegistry,
  target: Target,
  rows: readonly BackupRow[],
  now: Date,
): string {
  const kind = kinds.of(target);
  if (!kind.runbooks.backup)
    return `*\`${target.name}\`* — restorebot does not take backups of ${kind.id} targets; its points come from ${kind.config.describe(target)}.`;
  const lines = [`*\`${target.name}\`* (${kind.id})`];
  lines.push(
    rows.length
      ? rows.map((r) => formatBackupLine(r, now)).join("\n")
      : `• no backups yet: \`/backup ${target.name} <reason…>\` takes one`,
  );
  const schedule = target.backup?.schedule;
  lines.push(
    schedule
      ? `Next scheduled backup: ${formatUtc(nextSlot(schedule, now), now)} (\`${schedule}\`, UTC)${
          target.backup?.retention !== undefined
            ? ` · points kept ${formatDuration(target.backup.retention)}`
            : ""
        }`
      : "No schedule (`backup.schedule` is not set).",
  );
  return lines.join("\n");
}

export async function backupStatusText(
  deps: { db: Queryable; kinds: KindRegistry; config: Config; clock: () => Date },
  targetName: string | undefined,
): Promise<string> {
  const now = deps.clock();
  const targets = targetName
    ? deps.config.targets.filter((t) => t.name === targetName)
    : deps.config.targets.filter((t) => deps.kinds.of(t).runbooks.backup);
  if (targets.length === 0)
    return "No target takes backups through restorebot (none of their kinds has a backup runbook).";
  const sections: string[] = [];
  for (const target of targets)
    sections.push(
      formatTargetBackups(deps.kinds, target, await readBackupRows(deps.db, target.name), now),
    );
  return sections.join("\n\n");
}
