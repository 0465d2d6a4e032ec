/**
 * An InfluxDB OSS recovery point: `<prefix><as-of>/influxdb.tar` with `complete.json` written
 * last (DESIGN.md, "Points that restorebot writes"). The archive is the only file.
 */

import { z } from "zod";
import { CodedError } from "../../errors.js";

export const ARCHIVE_NAME = "influxdb.tar";
export const COMPLETE_NAME = "complete.json";

const fileSchema = z.object({
  name: z.string().min(1),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

export const ossCompleteSchema = z
  .object({
    format: z.literal(1),
    kind: z.literal("influxdb-oss"),
    target: z.string().min(1),
    asOf: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/),
    files: z.array(fileSchema).min(1),
    restorebotVersion: z.string(),
    /** The directories the archive holds (meta, data, and wal when the node had one). */
    directories: z.array(z.enum(["meta", "data", "wal"])).optional(),
    /** How long the node was down for the backup, pod gone → ready again. */
    downtimeMs: z.number().int().nonnegative().optional(),
  })
  .passthrough();

export type OssComplete = z.infer<typeof ossCompleteSchema>;

/** `2026-12-02T11:00:05Z`: RFC 3339 UTC to the second, the moment the node was stopped. */
export function asOfOf(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

export function archiveKeyOf(prefix: string, asOf: string): string {
  return `${prefix}${asOf}/${ARCHIVE_NAME}`;
}

export function completeKeyOf(prefix: string, asOf: string): string {
  return `${prefix}${asOf}/${COMPLETE_NAME}`;
}

export function buildOssComplete(fields: {
  target: string;
  asOf: string;
  archive: { size: number; sha256: string };
  restorebotVersion: string;
  directories?: Array<"meta" | "data" | "wal">;
  downtimeMs?: number;
}): OssComplete {
  return ossCompleteSchema.parse({
    format: 1,
    kind: "influxdb-oss",
    target: fields.target,
    asOf: fields.asOf,
    files: [{ name: ARCHIVE_NAME, size: fields.archive.size, sha256: fields.archive.sha256 }],
    restorebotVersion: fields.restorebotVersion,
    ...(fields.directories ? { directories: fields.directories } : {}),
    ...(fields.downtimeMs !== undefined ? { downtimeMs: fields.downtimeMs } : {}),
  });
}

/** Parses a point's complete.json; a point of another kind is refused by name. */
export function parseOssComplete(text: string, where: string): OssComplete {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new CodedError("precondition_failed", `${where} is not JSON; the point is damaged`);
  }
  const kind = (raw as { kind?: unknown } | null)?.kind;
  if (typeof kind === "string" && kind !== "influxdb-oss")
    throw new CodedError(
      "usage",
      `${where} is a ${kind} point, not an influxdb-oss archive; pick a point listed by /recovery-points for this target`,
    );
  const parsed = ossCompleteSchema.safeParse(raw);
  if (!parsed.success)
    throw new CodedError(
      "precondition_failed",
      `${where} does not describe an influxdb-oss archive (${parsed.error.issues[0]?.path.join(".") ?? "?"}: ${parsed.error.issues[0]?.message ?? "invalid"}); the point is damaged`,
    );
  return parsed.data;
}

/** The archive's entry in complete.json. */
export function archiveEntryOf(complete: OssComplete): { size: number; sha256: string } {
  const entry = complete.files.find((f) => f.name === ARCHIVE_NAME);
  if (!entry)
    throw new CodedError(
      "precondition_failed",
      `complete.json of ${complete.asOf} lists no ${ARCHIVE_NAME}; the point is damaged`,
    );
  return { size: entry.size, sha256: entry.sha256 };
}
