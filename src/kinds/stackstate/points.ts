/**
 * What a StackState recovery point is. StackState keeps four stores, each backed up on its own
 * schedule by the chart, so a point always names its store: `<store>:<name>`.
 */

export const STACKSTATE_STORES = ["stackgraph", "metrics", "clickhouse", "elasticsearch"] as const;
export type StackStateStore = (typeof STACKSTATE_STORES)[number];

/** The target's `stores:` block (DESIGN.md, `stackstate`); every store is optional. */
export interface StackStateStoresConfig {
  stackgraph?: { bucket: string; prefix?: string };
  metrics?: { bucket: string; instances: string[]; prefix?: string };
  clickhouse?: { bucket: string; prefix?: string; pod?: string; container?: string };
  elasticsearch?: { service: string; port: number; repository: string; indexers?: string[] };
}

interface PointBase {
  /** As typed after `<store>:` in `/restore`. */
  name: string;
  /** When the data was taken; undefined when neither the name nor the store says. */
  time: Date | undefined;
  /** The tool finished writing it. */
  complete: boolean;
  /** Why it cannot be restored, for people; undefined when it can. */
  notRestorable: string | undefined;
}

export interface StackGraphPoint extends PointBase {
  store: "stackgraph";
  /** Object keys, in order: one `.graph` file, or the `.graph.00`, `.01`, … parts of a split archive. */
  keys: string[];
  sizeBytes: number;
}

export interface MetricsPoint extends PointBase {
  store: "metrics";
  instance: string;
  /** The version folder, e.g. `victoria-metrics-0-20231128160000`. */
  version: string;
  /** When vmbackup last completed into this version (its `backup_complete.ignore`). */
  lastCompleted: Date | undefined;
}

export interface ClickHousePoint extends PointBase {
  store: "clickhouse";
  kind: "full" | "incremental";
  /** `required_backup` of an incremental. */
  requiredBackup: string | undefined;
  /** Every backup a restore reads, the full one first, this one last. */
  chain: string[];
  sizeBytes: number | undefined;
}

export interface ElasticsearchPoint extends PointBase {
  store: "elasticsearch";
  state: string;
  indices: string[];
  startTime: Date | undefined;
  endTime: Date | undefined;
  shards: { total: number; failed: number; successful: number };
}

export type StackStatePoint = StackGraphPoint | MetricsPoint | ClickHousePoint | ElasticsearchPoint;

/** Newest first by time; points without a time go last, then by name descending. */
export function newestFirst(
  a: Pick<PointBase, "name" | "time">,
  b: Pick<PointBase, "name" | "time">,
): number {
  const ta = a.time?.getTime() ?? Number.NEGATIVE_INFINITY;
  const tb = b.time?.getTime() ?? Number.NEGATIVE_INFINITY;
  if (ta !== tb) return tb - ta;
  return a.name < b.name ? 1 : a.name > b.name ? -1 : 0;
}

/** `20231128160000` → that instant in UTC; undefined for anything else. */
export function parseCompactUtc(digits: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?$/.exec(digits);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s] = m;
  const date = new Date(Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +(s ?? "0")));
  // Reject 20231340…: Date.UTC rolls invalid fields over instead of failing.
  const back = date
    .toISOString()
    .replace(/[-:T]/g, "")
    .slice(0, s === undefined ? 12 : 14);
  return back === digits ? date : undefined;
}
