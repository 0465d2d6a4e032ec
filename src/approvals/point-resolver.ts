import type { Target } from "../config/file.js";
import { asCodedError } from "../errors.js";
import { findPoint, nearestPoints } from "../recovery-points/folder-names.js";
import { DUMP_FILE, normalizePrefix } from "../recovery-points/influxdb-s3-source.js";
import type {
  RecoveryPointDetails,
  RecoveryPointIndex,
  RecoveryPointRef,
  RecoveryPointSource,
} from "../recovery-points/recovery-point.js";
import type { PointRef } from "../slack/commands/recovery-point-time.js";
import { formatUtc } from "../text/format.js";

/**
 * Freezing a recovery point: a request records the exact snapshot it will restore (folder,
 * dump key, ETag, size) when it is made, so a later upload to the same folder or a newer
 * "latest" cannot change what an approver approved. Incomplete or missing points are refused
 * here, and the runner checks the frozen point again before it touches anything.
 */

export interface FrozenPoint {
  /** The point as listed, e.g. `2024-08-12T14:00:00+00:00`. */
  id: string;
  time: Date;
  /** The snapshot folder, e.g. `catalog_backup_file_lists/2024-08-12T14:00:00+00:00/`. */
  prefix: string;
  dumpKey: string;
  dumpEtag: string;
  dumpSize: number;
}

export type PointResolution = { ok: true; point: FrozenPoint } | { ok: false; message: string };

export interface PointResolver {
  /** `latest` → the newest complete point; a time → that point if it is complete. */
  resolve(target: Target, ref: PointRef): Promise<PointResolution>;
}

/** How many points `latest` describes per round trip while looking for a complete one. */
const LATEST_BATCH = 6;

function pointFrom(
  target: Target,
  ref: RecoveryPointRef,
  details: RecoveryPointDetails,
): FrozenPoint {
  const prefix = `${normalizePrefix(target.snapshots.prefix)}${ref.id}/`;
  return {
    id: ref.id,
    time: ref.time,
    prefix,
    dumpKey: `${prefix}${DUMP_FILE}`,
    dumpEtag: details.dumpEtag as string,
    dumpSize: details.dumpSize as number,
  };
}

function usable(details: RecoveryPointDetails | undefined): boolean {
  return (
    details?.complete === true &&
    details.dumpEtag !== undefined &&
    details.dumpEtag !== "" &&
    details.dumpSize !== undefined
  );
}

/**
 * A complete point whose dump the store names without an ETag cannot be frozen: the runner
 * could not tell at run time that the dump is still the one approved. Refused, never skipped.
 */
function withoutEtag(details: RecoveryPointDetails | undefined): boolean {
  return details?.complete === true && details.dumpSize !== undefined && !details.dumpEtag;
}

function noEtagMessage(target: Target, id: string): string {
  return `The object store gave no ETag for ${DUMP_FILE} of the recovery point \`${id}\` of \`${target.name}\`, so restorebot could not check at run time that the dump restored is the one approved. Nothing was requested. Use an object store that returns ETags (every S3-compatible store should), or restore by hand with \`restorebot restore-catalog\`.`;
}

function listHint(target: Target): string {
  return `See \`/recovery-points ${target.name}\` for the points that exist.`;
}

/** A resolver over the recovery-point source of each target. */
export function createSourcePointResolver(
  sourceFor: (target: Target) => RecoveryPointSource,
): PointResolver {
  return {
    async resolve(target, ref) {
      const source = sourceFor(target);
      let index: RecoveryPointIndex;
      try {
        index = await source.listPoints();
      } catch (err) {
        return {
          ok: false,
          message: `I could not list the recovery points of \`${target.name}\` in ${source.location}: ${asCodedError(err).message}. Nothing was requested; try again when the store answers.`,
        };
      }
      try {
        if (ref.kind === "latest") return await resolveLatest(target, source, index);
        const found = findPoint(index, ref.time);
        if (!found) {
          const near = nearestPoints(index, ref.time)
            .map((p) => `\`${p.id}\``)
            .join(", ");
          return {
            ok: false,
            message: `There is no recovery point of \`${target.name}\` at ${formatUtc(ref.time)}.${near ? ` Nearest: ${near}.` : ""} ${listHint(target)}`,
          };
        }
        const details = (await source.describePoints([found], index)).get(found.id);
        if (!details) {
          return {
            ok: false,
            message: `The recovery point \`${found.id}\` of \`${target.name}\` disappeared while I was reading it (retention may have removed it). ${listHint(target)}`,
          };
        }
        if (!details.complete) {
          return {
            ok: false,
            message: `The recovery point \`${found.id}\` of \`${target.name}\` is incomplete (its snapshot was never finished: bloom.bin.gz, written last, is missing), so it must never be restored. Choose another point or \`latest\`. ${listHint(target)}`,
          };
        }
        if (withoutEtag(details)) return { ok: false, message: noEtagMessage(target, found.id) };
        if (!usable(details)) {
          return {
            ok: false,
            message: `The recovery point \`${found.id}\` of \`${target.name}\` has no catalog dump (${DUMP_FILE} is missing), so it cannot be restored. Choose another point. ${listHint(target)}`,
          };
        }
        return { ok: true, point: pointFrom(target, found, details) };
      } catch (err) {
        return {
          ok: false,
          message: `I could not read the recovery point of \`${target.name}\`: ${asCodedError(err).message}. Nothing was requested; try again.`,
        };
      }
    },
  };
}

async function resolveLatest(
  target: Target,
  source: RecoveryPointSource,
  index: RecoveryPointIndex,
): Promise<PointResolution> {
  if (index.points.length === 0) {
    return {
      ok: false,
      message: `\`${target.name}\` has no recovery points in ${source.location}, so there is nothing to restore.`,
    };
  }
  // Newest first; a snapshot still being written is skipped in favour of the last finished one.
  for (let i = 0; i < index.points.length; i += LATEST_BATCH) {
    const batch = index.points.slice(i, i + LATEST_BATCH);
    const details = await source.describePoints(batch, index);
    for (const ref of batch) {
      const d = details.get(ref.id);
      if (usable(d)) return { ok: true, point: pointFrom(target, ref, d as RecoveryPointDetails) };
      // The newest complete point is the one `latest` means; never fall back past it silently.
      if (withoutEtag(d)) return { ok: false, message: noEtagMessage(target, ref.id) };
    }
  }
  return {
    ok: false,
    message: `None of the ${index.points.length} recovery points of \`${target.name}\` is complete, so there is nothing safe to restore. ${listHint(target)}`,
  };
}

export type FrozenPointCheck = { ok: true } | { ok: false; message: string };

/**
 * Checks that a frozen point is still what was approved: present, complete, same dump ETag.
 * For the runner's first phase.
 */
export async function recheckFrozenPoint(
  source: RecoveryPointSource,
  frozen: { pointTime: Date; dumpEtag: string | null },
): Promise<FrozenPointCheck> {
  if (!frozen.dumpEtag)
    return {
      ok: false,
      message: `the request froze no ETag for the catalog dump, so there is no way to tell it is still the one approved; make a new request`,
    };
  const index = await source.listPoints();
  const ref = findPoint(index, frozen.pointTime);
  if (!ref)
    return {
      ok: false,
      message: `the recovery point of ${formatUtc(frozen.pointTime)} no longer exists`,
    };
  const details = (await source.describePoints([ref], index)).get(ref.id);
  if (!details?.complete)
    return { ok: false, message: `the recovery point ${ref.id} is no longer complete` };
  if (details.dumpEtag !== frozen.dumpEtag) {
    return {
      ok: false,
      message: `the catalog dump of ${ref.id} changed since the request was approved (ETag ${details.dumpEtag ?? "none"}, approved ${frozen.dumpEtag ?? "none"})`,
    };
  }
  return { ok: true };
}
