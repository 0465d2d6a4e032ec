import { parsePointRef } from "../slack/commands/recovery-point-time.js";
import type { RecoveryPointIndex, RecoveryPointRef } from "./recovery-point.js";

/**
 * Reads the common prefixes of a delimited listing (`<prefix><as-of>/`) as recovery points.
 * Anything that is not an RFC 3339 time is skipped and reported, never fatal: buckets
 * collect stray folders (manual copies, tooling) and one of them must not hide the rest.
 */
export function indexFolders(prefixes: readonly string[], basePrefix: string): RecoveryPointIndex {
  const points: RecoveryPointRef[] = [];
  const skipped: string[] = [];
  const seen = new Set<number>();
  for (const folder of prefixes) {
    const name = folderName(folder, basePrefix);
    const time = name === undefined ? undefined : pointTimeOf(name);
    if (name === undefined || time === undefined) {
      skipped.push(name ?? folder);
      continue;
    }
    // Two spellings of one instant (…+00:00 and …Z) would make "the point at 14:00"
    // ambiguous: keep the first in key order and report the other.
    if (seen.has(time.getTime())) {
      skipped.push(name);
      continue;
    }
    seen.add(time.getTime());
    points.push({ id: name, time });
  }
  points.sort((a, b) => b.time.getTime() - a.time.getTime());
  return { points, skipped };
}

function folderName(folder: string, basePrefix: string): string | undefined {
  if (!folder.startsWith(basePrefix) || !folder.endsWith("/")) return undefined;
  const name = folder.slice(basePrefix.length, -1);
  return name === "" || name.includes("/") ? undefined : name;
}

/** The time a folder name stands for; only full RFC 3339 times count (not `latest`). */
export function pointTimeOf(name: string): Date | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T/.test(name)) return undefined;
  const ref = parsePointRef(name);
  return ref?.kind === "time" ? ref.time : undefined;
}

/** The point at exactly this time, if the index has it. */
export function findPoint(index: RecoveryPointIndex, time: Date): RecoveryPointRef | undefined {
  return index.points.find((p) => p.time.getTime() === time.getTime());
}

/** The points closest in time, nearest first (for "did you mean"). */
export function nearestPoints(
  index: RecoveryPointIndex,
  time: Date,
  count = 3,
): RecoveryPointRef[] {
  return [...index.points]
    .sort(
      (a, b) =>
        Math.abs(a.time.getTime() - time.getTime()) - Math.abs(b.time.getTime() - time.getTime()) ||
        b.time.getTime() - a.time.getTime(),
    )
    .slice(0, count);
}
