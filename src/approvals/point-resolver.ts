import type { ClusterPort } from "../adapters/kubernetes/cluster-port.js";
import type { ObjectStore } from "../adapters/s3/object-store.js";
import type { Target } from "../config/file.js";
import { asCodedError } from "../errors.js";
import type { FrozenPoint } from "../kinds/kind.js";
import type { KindRegistry } from "../kinds/registry.js";
import { findPoint, nearestPoints } from "../recovery-points/folder-names.js";
import type { RecoveryPointIndex, RecoveryPointSource } from "../recovery-points/recovery-point.js";
import type { PointRef } from "../slack/commands/recovery-point-time.js";
import { formatUtc } from "../text/format.js";

/**
 * Freezing a recovery point: a request records the exact point it will restore when it is
 * made (what the target's kind needs to tell it again, e.g. a dump's key and ETag), so a later
 * upload or a newer "latest" cannot change what an approver approved. Points the kind will not
 * freeze (incomplete, missing their data) are refused here, and the kind's runbook checks the
 * frozen point again before it touches anything.
 */

export type { FrozenPoint };

export type PointResolution = { ok: true; point: FrozenPoint } | { ok: false; message: string };

export interface PointResolver {
  /** `latest` → the newest point the kind can freeze; a time → that point if it can. */
  resolve(target: Target, ref: PointRef): Promise<PointResolution>;
}

/** How many points `latest` describes per round trip while looking for a complete one. */
const LATEST_BATCH = 6;

function listHint(target: Target): string {
  return `See \`/recovery-points ${target.name}\` for the points that exist.`;
}

/** What a kind that names its own points reads them through (see `NamedPoints`). */
export interface NamedPointClients {
  objectStoreFor: (target: Target) => ObjectStore;
  clusterFor?: (target: Target) => ClusterPort;
  clock: () => Date;
}

/** The `PointAccess` of a target, each client built when first asked. */
export function pointAccessFor(clients: NamedPointClients, target: Target) {
  return {
    objectStore: () => clients.objectStoreFor(target),
    cluster: () => {
      if (!clients.clusterFor)
        throw new Error("this process was built without access to the target's cluster");
      return clients.clusterFor(target);
    },
    now: clients.clock(),
  };
}

/** A resolver over the recovery-point source of each target. */
export function createSourcePointResolver(
  sourceFor: (target: Target) => RecoveryPointSource,
  kinds: KindRegistry,
  named?: NamedPointClients,
): PointResolver {
  return {
    async resolve(target, ref) {
      const namedPoints = kinds.of(target).points.named;
      if (ref.kind === "named" || namedPoints !== undefined) {
        const text =
          ref.kind === "named"
            ? ref.text
            : ref.kind === "latest"
              ? "latest"
              : ref.time.toISOString();
        if (namedPoints === undefined || named === undefined)
          return {
            ok: false,
            message: `\`${text}\` is not a recovery point of \`${target.name}\`. ${listHint(target)}`,
          };
        try {
          return await namedPoints.resolve(target, text, pointAccessFor(named, target));
        } catch (err) {
          return {
            ok: false,
            message: `I could not read the recovery point \`${text}\` of \`${target.name}\`: ${asCodedError(err).message}. Nothing was requested; try again.`,
          };
        }
      }
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
        if (ref.kind === "latest") return await resolveLatest(kinds, target, source, index);
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
        const frozen = kinds.of(target).points.freeze(target, found, details);
        if (!frozen.ok) return { ok: false, message: frozen.message };
        return { ok: true, point: { id: found.id, time: found.time, point: frozen.point } };
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
  kinds: KindRegistry,
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
      const frozen = kinds.of(target).points.freeze(target, ref, details.get(ref.id));
      if (frozen.ok)
        return { ok: true, point: { id: ref.id, time: ref.time, point: frozen.point } };
      // The newest finished point is the one `latest` means; never fall back past it silently.
      if (frozen.final) return { ok: false, message: frozen.message };
    }
  }
  return {
    ok: false,
    message: `None of the ${index.points.length} recovery points of \`${target.name}\` is complete, so there is nothing safe to restore. ${listHint(target)}`,
  };
}
