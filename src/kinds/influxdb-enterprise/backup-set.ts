/**
 * InfluxDB Enterprise 1.7 backup sets: what `influxd-ctl backup` printed, and the
 * complete.json restorebot writes last for a set it uploaded (DESIGN.md, `influxdb-enterprise`).
 * Output shapes follow the seed (influxdb-enterprise-1.7-backup-restore.md, "Backup examples").
 */

import { z } from "zod";
import { CodedError } from "../../errors.js";

export interface BackedUpShard {
  node: string;
  database: string;
  retentionPolicy: string;
  shard: number;
  bytes: number;
}

export interface BackupOutput {
  metaBytes: number;
  shards: BackedUpShard[];
  /** Sorted, distinct. */
  databases: string[];
  /** Sorted by database then name, distinct. */
  retentionPolicies: Array<{ database: string; retentionPolicy: string }>;
  directory: string;
  totalBytes: number;
}

const META_LINE = /^Backing up meta data\.\.\. Done\. (\d+) bytes transferred$/;
const SHARD_LINE =
  /^Backing up node (\S+), db (.+?), rp (.+), shard (\d+)\.\.\. Done\. Backed up in \S+, (\d+) bytes transferred$/;
const FINAL_LINE = /^Backed up to (.+) in \S+, transferred (\d+) bytes$/;

/**
 * Reads `influxd-ctl backup` output into the set's databases, retention policies and shards.
 * Refuses output without the final "Backed up to … transferred N bytes" line, or whose byte
 * counts do not add up: the set would not be what the tool says it is.
 */
export function parseBackupOutput(output: string): BackupOutput {
  let metaBytes: number | undefined;
  const shards: BackedUpShard[] = [];
  let final: { directory: string; totalBytes: number } | undefined;
  for (const raw of output.split(/\r?\n/)) {
    const line = raw.trim();
    const meta = META_LINE.exec(line);
    if (meta) {
      metaBytes = Number(meta[1]);
      continue;
    }
    const shard = SHARD_LINE.exec(line);
    if (shard) {
      shards.push({
        node: shard[1] ?? "",
        database: shard[2] ?? "",
        retentionPolicy: shard[3] ?? "",
        shard: Number(shard[4]),
        bytes: Number(shard[5]),
      });
      continue;
    }
    const end = FINAL_LINE.exec(line);
    if (end) final = { directory: end[1] ?? "", totalBytes: Number(end[2]) };
  }
  if (!final)
    throw new CodedError(
      "restore_failed",
      `influxd-ctl backup did not print its final "Backed up to … transferred N bytes" line; the set is incomplete and was not uploaded. Its last output: ${lastLines(output)}`,
    );
  if (metaBytes === undefined)
    throw new CodedError(
      "restore_failed",
      "influxd-ctl backup did not report backing up the meta data; the set cannot be restored and was not uploaded",
    );
  const sum = metaBytes + shards.reduce((n, s) => n + s.bytes, 0);
  if (sum !== final.totalBytes)
    throw new CodedError(
      "restore_failed",
      `influxd-ctl backup reported ${final.totalBytes} bytes in all but ${sum} for the meta data and shards it listed; the set was not uploaded`,
    );
  return { metaBytes, ...holdings(shards), ...final };
}

/**
 * What a directory of incremental backups holds after several runs of the tool into it: each
 * shard as the newest run that copied it listed it (`influxd-ctl restore <dir>` restores the
 * newest copy of each shard across the directory's manifests). The meta data, directory and
 * bytes transferred are the newest run's. `runs` oldest first.
 */
export function mergeBackupOutputs(runs: readonly BackupOutput[]): BackupOutput {
  const newest = runs.at(-1);
  if (!newest) throw new CodedError("internal", "no influxd-ctl backup output to merge");
  const byShard = new Map<number, BackedUpShard>();
  for (const run of runs) for (const s of run.shards) byShard.set(s.shard, s);
  const shards = [...byShard.values()].sort((a, b) => a.shard - b.shard);
  return {
    metaBytes: newest.metaBytes,
    ...holdings(shards),
    directory: newest.directory,
    totalBytes: newest.totalBytes,
  };
}

function holdings(
  shards: BackedUpShard[],
): Pick<BackupOutput, "shards" | "databases" | "retentionPolicies"> {
  const databases = [...new Set(shards.map((s) => s.database))].sort();
  const rpKeys = new Map<string, { database: string; retentionPolicy: string }>();
  for (const s of shards)
    rpKeys.set(JSON.stringify([s.database, s.retentionPolicy]), {
      database: s.database,
      retentionPolicy: s.retentionPolicy,
    });
  const retentionPolicies = [...rpKeys.values()].sort(
    (a, b) =>
      a.database.localeCompare(b.database) || a.retentionPolicy.localeCompare(b.retentionPolicy),
  );
  return { shards, databases, retentionPolicies };
}

function lastLines(output: string): string {
  const lines = output.trim().split(/\r?\n/).slice(-3).join(" / ");
  return lines === "" ? "(nothing)" : lines;
}

const fileSchema = z.object({
  name: z.string().min(1),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

export const enterpriseCompleteSchema = z
  .object({
    format: z.literal(1),
    kind: z.literal("influxdb-enterprise"),
    target: z.string().min(1),
    asOf: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/),
    files: z.array(fileSchema).min(1),
    restorebotVersion: z.string(),
    /** Taken with `-full` (restored with `-full <manifest>`), or incremental. */
    full: z.boolean(),
    /** The set's manifest file name, e.g. `20170130T184058Z.manifest`. */
    manifest: z.string().regex(/\.manifest$/),
    databases: z.array(z.string()),
    retentionPolicies: z.array(z.object({ database: z.string(), retentionPolicy: z.string() })),
    shards: z.array(
      z.object({
        id: z.number().int(),
        database: z.string(),
        retentionPolicy: z.string(),
        bytes: z.number().int().nonnegative(),
      }),
    ),
    transferredBytes: z.number().int().nonnegative(),
  })
  .passthrough();

export type EnterpriseComplete = z.infer<typeof enterpriseCompleteSchema>;

/** complete.json for an uploaded set: the files as uploaded plus what the tool said it holds. */
export function buildEnterpriseComplete(fields: {
  target: string;
  asOf: string;
  full: boolean;
  files: Array<{ name: string; size: number; sha256: string }>;
  output: BackupOutput;
  restorebotVersion: string;
}): EnterpriseComplete {
  const manifests = fields.files.filter((f) => f.name.endsWith(".manifest"));
  // A directory holding incremental backups has a manifest per run; the newest names the set.
  const manifest = manifests
    .map((f) => f.name)
    .sort()
    .at(-1);
  if (!manifest)
    throw new CodedError(
      "restore_failed",
      `the backup set in ${fields.output.directory} has no .manifest file; it cannot be restored and was not recorded`,
    );
  return enterpriseCompleteSchema.parse({
    format: 1,
    kind: "influxdb-enterprise",
    target: fields.target,
    asOf: fields.asOf,
    files: fields.files,
    restorebotVersion: fields.restorebotVersion,
    full: fields.full,
    manifest,
    databases: fields.output.databases,
    retentionPolicies: fields.output.retentionPolicies,
    shards: fields.output.shards.map((s) => ({
      id: s.shard,
      database: s.database,
      retentionPolicy: s.retentionPolicy,
      bytes: s.bytes,
    })),
    transferredBytes: fields.output.totalBytes,
  });
}

export function parseEnterpriseComplete(text: string, where: string): EnterpriseComplete {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new CodedError("precondition_failed", `${where} is not JSON; the point is damaged`);
  }
  const kind = (raw as { kind?: unknown } | null)?.kind;
  if (typeof kind === "string" && kind !== "influxdb-enterprise")
    throw new CodedError(
      "usage",
      `${where} is a ${kind} point, not an influxdb-enterprise backup set; pick a point listed by /recovery-points for this target`,
    );
  const parsed = enterpriseCompleteSchema.safeParse(raw);
  if (!parsed.success)
    throw new CodedError(
      "precondition_failed",
      `${where} does not describe an influxdb-enterprise backup set (${parsed.error.issues[0]?.path.join(".") ?? "?"}: ${parsed.error.issues[0]?.message ?? "invalid"}); the point is damaged`,
    );
  return parsed.data;
}
