import { findPoint } from "../../recovery-points/folder-names.js";
import type {
  RecoveryPointDetails,
  RecoveryPointRef,
  RecoveryPointSource,
} from "../../recovery-points/recovery-point.js";
import type { RunRequest } from "../../runbook/types.js";
import { formatUtc } from "../../text/format.js";
import type { FreezeResult, FrozenPointCheck, JsonValue } from "../kind.js";
import type { InfluxTarget } from "./config.js";
import { DUMP_FILE, normalizePrefix } from "./s3-source.js";

/**
 * An InfluxDB Clustered recovery point as a request freezes it: the snapshot folder, its
 * catalog dump and the dump's ETag and size, so a later upload to the same folder cannot change
 * what an approver approved (the first phase checks the ETag again).
 */
export interface InfluxPoint {
  /** The snapshot folder, e.g. `catalog_backup_file_lists/2024-08-12T14:00:00+00:00/`. */
  prefix: string;
  dumpKey: string;
  dumpEtag: string | null;
  dumpSize: number | null;
}

/** The frozen point of a request, read back from its JSON column. */
export function influxPointOf(point: JsonValue): InfluxPoint {
  const p = (point ?? {}) as Record<string, JsonValue>;
  return {
    prefix: typeof p.prefix === "string" ? p.prefix : "",
    dumpKey: typeof p.dumpKey === "string" ? p.dumpKey : "",
    dumpEtag: typeof p.dumpEtag === "string" ? p.dumpEtag : null,
    dumpSize: typeof p.dumpSize === "number" ? p.dumpSize : null,
  };
}

function listHint(target: InfluxTarget): string {
  return `See \`/recovery-points ${target.name}\` for the points that exist.`;
}

/** A complete point whose dump has an ETag and a size is frozen; anything else is refused. */
export function freezeInfluxPoint(
  target: InfluxTarget,
  ref: RecoveryPointRef,
  details: RecoveryPointDetails | undefined,
): FreezeResult {
  if (!details?.complete) {
    return {
      ok: false,
      final: false,
      message: `The recovery point \`${ref.id}\` of \`${target.name}\` is incomplete (its snapshot was never finished: bloom.bin.gz, written last, is missing), so it must never be restored. Choose another point or \`latest\`. ${listHint(target)}`,
    };
  }
  // A dump the store names without an ETag cannot be frozen: the runner could not tell at run
  // time that it is still the one approved. Refused, never skipped (also by `latest`).
  if (details.dumpSize !== undefined && !details.dumpEtag) {
    return {
      ok: false,
      final: true,
      message: `The object store gave no ETag for ${DUMP_FILE} of the recovery point \`${ref.id}\` of \`${target.name}\`, so restorebot could not check at run time that the dump restored is the one approved. Nothing was requested. Use an object store that returns ETags (every S3-compatible store should), or restore by hand with \`restorebot restore-catalog\`.`,
    };
  }
  if (details.dumpEtag === undefined || details.dumpSize === undefined) {
    return {
      ok: false,
      final: false,
      message: `The recovery point \`${ref.id}\` of \`${target.name}\` has no catalog dump (${DUMP_FILE} is missing), so it cannot be restored. Choose another point. ${listHint(target)}`,
    };
  }
  const prefix = `${normalizePrefix(target.snapshots.prefix)}${ref.id}/`;
  const point: InfluxPoint = {
    prefix,
    dumpKey: `${prefix}${DUMP_FILE}`,
    dumpEtag: details.dumpEtag,
    dumpSize: details.dumpSize,
  };
  return { ok: true, point: { ...point } };
}

/**
 * Checks that a frozen point is still what was approved: present, complete, same dump ETag.
 * The runbook's first phase does the same against the object store directly.
 */
export async function recheckInfluxPoint(
  source: RecoveryPointSource,
  request: Pick<RunRequest, "pointTime" | "point">,
): Promise<FrozenPointCheck> {
  const { dumpEtag } = influxPointOf(request.point);
  if (!dumpEtag)
    return {
      ok: false,
      message: `the request froze no ETag for the catalog dump, so there is no way to tell it is still the one approved; make a new request`,
    };
  const index = await source.listPoints();
  const ref = findPoint(index, request.pointTime);
  if (!ref)
    return {
      ok: false,
      message: `the recovery point of ${formatUtc(request.pointTime)} no longer exists`,
    };
  const details = (await source.describePoints([ref], index)).get(ref.id);
  if (!details?.complete)
    return { ok: false, message: `the recovery point ${ref.id} is no longer complete` };
  if (details.dumpEtag !== dumpEtag) {
    return {
      ok: false,
      message: `the catalog dump of ${ref.id} changed since the request was approved (ETag ${details.dumpEtag ?? "none"}, approved ${dumpEtag})`,
    };
  }
  return { ok: true };
}
