import type {
  RecoveryPointDetails,
  RecoveryPointIndex,
  RecoveryPointRef,
  RecoveryPointSource,
} from "./recovery-point.js";

/** How many points are described per round trip while looking for a complete one. */
const BATCH = 6;

/**
 * `latest`: the newest point whose snapshot was finished (a snapshot still being written is
 * skipped in favour of the last finished one). Describes points in small batches, newest
 * first, so the usual answer costs one round trip.
 */
export async function newestCompletePoint(
  source: RecoveryPointSource,
  index: RecoveryPointIndex,
): Promise<{ ref: RecoveryPointRef; details: RecoveryPointDetails } | undefined> {
  for (let i = 0; i < index.points.length; i += BATCH) {
    const batch = index.points.slice(i, i + BATCH);
    const details = await source.describePoints(batch, index);
    for (const ref of batch) {
      const d = details.get(ref.id);
      if (d?.complete && d.dumpEtag !== undefined && d.dumpSize !== undefined)
        return { ref, details: d };
    }
  }
  return undefined;
}
