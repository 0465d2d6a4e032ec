import type { ObjectStore } from "../../adapters/s3/object-store.js";
import { asFolder, listAllPages } from "./list-all.js";
import { newestFirst, parseCompactUtc, type StackGraphPoint } from "./points.js";

export interface StackGraphStoreListing {
  points: StackGraphPoint[];
  /** Objects in the bucket that are not a StackGraph backup (never fatal). */
  skipped: string[];
  requests: number;
}

/** `sts-backup-20210216-0300.graph` (the chart's `date +%Y%m%d-%H%M`, UTC in its container). */
const GRAPH_NAME =
  /^(?<base>.*?(?<date>\d{8})-(?<time>\d{4})(?<secs>\d{2})?\.graph)(?:\.(?<part>\d+))?$/;

/**
 * StackGraph backups are whole `.graph` files in the bucket; the time is in the name. When the
 * chart splits archives (`backup.stackGraph.splitArchiveSize`), the parts `.graph.00`, `.01`, …
 * form one point named like the unsplit file, as the chart's restore script joins them.
 * One listing, no reads: the cost grows with the number of files only.
 */
export async function listStackGraphBackups(
  store: ObjectStore,
  config: { bucket: string; prefix?: string },
): Promise<StackGraphStoreListing> {
  const prefix = asFolder(config.prefix);
  const { objects, requests } = await listAllPages(store, config.bucket, prefix);
  const byName = new Map<string, StackGraphPoint>();
  const skipped: string[] = [];
  for (const object of objects) {
    const file = object.key.slice(prefix.length);
    const m = GRAPH_NAME.exec(file);
    const time =
      m?.groups === undefined
        ? undefined
        : parseCompactUtc(`${m.groups.date}${m.groups.time}${m.groups.secs ?? ""}`);
    if (m?.groups === undefined || time === undefined) {
      skipped.push(file);
      continue;
    }
    const name = m.groups.base!;
    const existing = byName.get(name);
    if (existing === undefined) {
      byName.set(name, {
        store: "stackgraph",
        name,
        time,
        complete: true,
        notRestorable: undefined,
        keys: [object.key],
        sizeBytes: object.size,
      });
    } else {
      existing.keys.push(object.key);
      existing.sizeBytes += object.size;
    }
  }
  const points = [...byName.values()];
  for (const point of points) {
    point.keys.sort();
    const split = point.keys.some((k) => /\.graph\.\d+$/.test(k));
    const whole = point.keys.some((k) => k.endsWith(".graph"));
    if (split && whole) {
      point.notRestorable = `both ${point.name} and its split parts are in the bucket; the chart's restore cannot tell which to use`;
    } else if (split) {
      // Parts are numbered from 00 without gaps; a gap means an upload that did not finish.
      const numbers = point.keys.map((k) => Number(/\.(\d+)$/.exec(k)?.[1]));
      const gap = numbers.findIndex((n, i) => n !== i);
      if (gap !== -1) {
        point.complete = false;
        point.notRestorable = `part .${String(gap).padStart(2, "0")} of the split archive is missing`;
      }
    }
    if (point.sizeBytes === 0) {
      point.complete = false;
      point.notRestorable = "the backup file is empty";
    }
  }
  points.sort(newestFirst);
  return { points, skipped, requests };
}
