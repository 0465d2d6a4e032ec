/**
 * An InfluxDB OSS recovery point: `<prefix><as-of>/influxdb.tar` with `complete.json` written
 * last. Names, complete.json (format 1), listing and the checked reader are src/backups'; this
 * file adds only what is the kind's own: the archive's name, the points' folder (directly under
 * the prefix, as DESIGN.md lays it out) and the directories the archive holds.
 */

import {
  type BackupLocation,
  COMPLETE_FILE,
  type CompleteManifest,
  formatAsOf,
  parseCompleteManifest,
  pointFileKey,
} from "../../backups/index.js";
import { CodedError } from "../../errors.js";

export const ARCHIVE_NAME = "influxdb.tar";
export const KIND_ID = "influxdb-oss";

/** Where a target's archives are: `<prefix><as-of>/`, no `points/` folder. */
export function archiveLocation(backups: { bucket: string; prefix: string }): BackupLocation {
  return { bucket: backups.bucket, prefix: backups.prefix, pointsFolder: "" };
}

/** `2026-12-02T11:00:05Z`: the moment the node was stopped. */
export const asOfOf = formatAsOf;

export function archiveKeyOf(location: BackupLocation, asOf: string): string {
  return pointFileKey(location.prefix, asOf, ARCHIVE_NAME, location.pointsFolder);
}

export type OssDirectory = "meta" | "data" | "wal";

export function buildOssComplete(fields: {
  target: string;
  asOf: string;
  archive: { size: number; sha256: string };
  restorebotVersion: string;
  directories?: OssDirectory[];
}): CompleteManifest {
  return {
    format: 1,
    kind: KIND_ID,
    target: fields.target,
    asOf: fields.asOf,
    files: [{ name: ARCHIVE_NAME, size: fields.archive.size, sha256: fields.archive.sha256 }],
    restorebotVersion: fields.restorebotVersion,
    ...(fields.directories ? { directories: fields.directories } : {}),
  };
}

/** Parses a point's complete.json; a point of another kind is refused by name. */
export function parseOssComplete(text: string, where: string): CompleteManifest {
  const manifest = parseCompleteManifest(text, where);
  checkOssManifest(manifest, where);
  return manifest;
}

export function checkOssManifest(manifest: CompleteManifest, where: string): void {
  if (manifest.kind !== KIND_ID)
    throw new CodedError(
      "usage",
      `${where} is a ${manifest.kind} point, not an influxdb-oss archive; pick a point listed by /recovery-points for this target`,
    );
  archiveEntryOf(manifest);
}

/** The archive's entry in complete.json. */
export function archiveEntryOf(complete: CompleteManifest): {
  name: string;
  size: number;
  sha256: string;
} {
  const entry = complete.files.find((f) => f.name === ARCHIVE_NAME);
  if (!entry)
    throw new CodedError(
      "precondition_failed",
      `complete.json of ${complete.asOf} lists no ${ARCHIVE_NAME}; the point is damaged`,
    );
  return entry;
}

export function completeKeyOf(location: BackupLocation, asOf: string): string {
  return pointFileKey(location.prefix, asOf, COMPLETE_FILE, location.pointsFolder);
}
