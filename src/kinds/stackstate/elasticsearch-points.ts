import { callElasticsearch, type ElasticsearchHttp } from "./elasticsearch-http.js";
import { type ElasticsearchPoint, newestFirst } from "./points.js";

interface SnapshotInfo {
  snapshot?: unknown;
  state?: unknown;
  indices?: unknown;
  start_time_in_millis?: unknown;
  end_time_in_millis?: unknown;
  shards?: { total?: unknown; failed?: unknown; successful?: unknown };
  failures?: unknown;
}

function num(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? value : 0;
}

function date(value: unknown): Date | undefined {
  return typeof value === "number" && value > 0 ? new Date(value) : undefined;
}

/** One snapshot as `GET _snapshot/<repo>/_all` describes it. Pure. */
export function elasticsearchPointFrom(info: SnapshotInfo): ElasticsearchPoint | undefined {
  if (typeof info.snapshot !== "string") return undefined;
  const state = typeof info.state === "string" ? info.state : "UNKNOWN";
  const indices = Array.isArray(info.indices)
    ? info.indices.filter((i): i is string => typeof i === "string").sort()
    : [];
  const shards = {
    total: num(info.shards?.total),
    failed: num(info.shards?.failed),
    successful: num(info.shards?.successful),
  };
  const notRestorable =
    state === "SUCCESS"
      ? indices.length === 0
        ? "the snapshot holds no indices"
        : undefined
      : state === "IN_PROGRESS"
        ? "the snapshot is still being taken"
        : `the snapshot's state is ${state}${shards.failed > 0 ? ` (${shards.failed} of ${shards.total} shards failed)` : ""}`;
  return {
    store: "elasticsearch",
    name: info.snapshot,
    time: date(info.start_time_in_millis),
    complete: state === "SUCCESS",
    notRestorable,
    state,
    indices,
    startTime: date(info.start_time_in_millis),
    endTime: date(info.end_time_in_millis),
    shards,
  };
}

/** Every snapshot in the repository, newest first: one request. */
export async function listElasticsearchSnapshots(
  http: ElasticsearchHttp,
  config: { repository: string },
): Promise<{ points: ElasticsearchPoint[]; skipped: string[]; requests: number }> {
  const body = (await callElasticsearch(
    http,
    { method: "GET", path: `_snapshot/${encodeURIComponent(config.repository)}/_all` },
    `list the snapshots in repository "${config.repository}"`,
  )) as { snapshots?: unknown };
  const list = Array.isArray(body?.snapshots) ? (body.snapshots as SnapshotInfo[]) : [];
  const points: ElasticsearchPoint[] = [];
  const skipped: string[] = [];
  for (const info of list) {
    const point = elasticsearchPointFrom(info);
    if (point === undefined) skipped.push(JSON.stringify(info).slice(0, 80));
    else points.push(point);
  }
  return { points: points.sort(newestFirst), skipped, requests: 1 };
}
