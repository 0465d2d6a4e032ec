import type { ClusterPort } from "../../adapters/kubernetes/cluster-port.js";
import { escapeMrkdwn } from "../../approvals/format.js";
import { asCodedError, CodedError } from "../../errors.js";
import { formatBytes, formatDuration, formatUtc } from "../../text/format.js";
import type {
  JsonValue,
  NamedListing,
  NamedPointResolution,
  NamedPoints,
  PointAccess,
} from "../kind.js";
import type { FolderListingCache } from "./cached-listing.js";
import type { ClickHouseMetadataCache } from "./clickhouse-points.js";
import type { StackStateTarget } from "./config.js";
import { type ServiceProxyCaller, serviceProxyElasticsearchHttp } from "./elasticsearch-http.js";
import { freezeStackStatePoint } from "./frozen-point.js";
import {
  configuredStores,
  findStackStatePoint,
  listStackStatePoints,
  type StackStateReaders,
  type StoreGroup,
} from "./list-stackstate-points.js";
import type { MetricsCompletionCache } from "./metrics-points.js";
import { formatStackStatePoint, parseStackStatePoint } from "./point-ref.js";
import type { StackStatePoint, StackStateStore } from "./points.js";
import { verifyStackStatePoint } from "./verify-point.js";

export const STACKSTATE_POINT_SYNTAX =
  "`<store>:<name>` or `<store>:latest` (stores: stackgraph, metrics, clickhouse, elasticsearch; e.g. `stackgraph:latest`)";

/** The cluster as a service-proxy caller; the production adapter is one. */
export function serviceProxyOf(cluster: ClusterPort): ServiceProxyCaller {
  const caller = cluster as Partial<ServiceProxyCaller>;
  if (typeof caller.callServiceProxy !== "function")
    throw new CodedError(
      "internal",
      "the Kubernetes client given to the StackState kind cannot reach services through the API server's proxy",
    );
  return caller as ServiceProxyCaller;
}

// Completed older metrics versions and ClickHouse metadata never change, and the metrics
// instances' folder listings are re-read only at their ends: kept per target for the life of
// the process, so warm listings skip them.
const caches = new Map<
  string,
  {
    metrics: MetricsCompletionCache;
    clickhouse: ClickHouseMetadataCache;
    listings: FolderListingCache;
  }
>();

/** The readers of a target's stores, each client built only when a configured store needs it. */
export function readersFor(
  target: StackStateTarget,
  access: Pick<PointAccess, "objectStore" | "cluster">,
  signal?: AbortSignal,
): StackStateReaders {
  const { stackgraph, metrics, clickhouse, elasticsearch } = target.stores;
  let cache = caches.get(target.name);
  if (cache === undefined) {
    cache = { metrics: new Map(), clickhouse: new Map(), listings: new Map() };
    caches.set(target.name, cache);
  }
  return {
    ...(stackgraph || metrics || clickhouse ? { objectStore: access.objectStore() } : {}),
    ...(elasticsearch
      ? {
          elasticsearch: serviceProxyElasticsearchHttp(
            serviceProxyOf(access.cluster()),
            { name: elasticsearch.service, port: elasticsearch.port },
            signal,
          ),
        }
      : {}),
    caches: cache,
  };
}

function pointLine(point: StackStatePoint, now: Date): string {
  const parts: string[] = [];
  if (point.time) parts.push(formatUtc(point.time, now));
  switch (point.store) {
    case "stackgraph":
      parts.push(formatBytes(point.sizeBytes));
      break;
    case "metrics":
      parts.push(
        point.lastCompleted
          ? `last completed ${formatUtc(point.lastCompleted, now)}`
          : "never completed",
      );
      break;
    case "clickhouse":
      parts.push(
        point.kind === "incremental"
          ? `incremental on ${escapeMrkdwn(point.requiredBackup ?? "?")}`
          : "full",
      );
      if (point.sizeBytes !== undefined) parts.push(formatBytes(point.sizeBytes));
      break;
    case "elasticsearch":
      parts.push(`${point.state}, ${point.indices.length} indices`);
      break;
  }
  const name = `\`${escapeMrkdwn(formatStackStatePoint(point.store, point.name))}\``;
  const why = point.notRestorable
    ? ` — :no_entry_sign: not restorable: ${escapeMrkdwn(point.notRestorable)}`
    : "";
  return `• ${name} — ${parts.join(" · ")}${why}`;
}

function groupText(group: StoreGroup, now: Date): string {
  const head = `*${group.store}* — ${escapeMrkdwn(group.location)}`;
  if (group.error !== undefined)
    return `${head}\n:warning: could not be read: ${escapeMrkdwn(group.error)}`;
  if (group.total === 0) return `${head}\nNo backups yet.`;
  const newest = group.newestComplete;
  const rpo =
    newest === undefined
      ? ":warning: no restorable backup"
      : `newest restorable \`${escapeMrkdwn(formatStackStatePoint(newest.store, newest.name))}\`${group.rpoMs === undefined ? "" : ` (RPO ${formatDuration(group.rpoMs)})`}`;
  const lines = [`${head} · ${group.total} backup${group.total === 1 ? "" : "s"} · ${rpo}`];
  for (const i of group.instances ?? [])
    lines.push(
      `   ${escapeMrkdwn(i.instance)}: ${i.newestComplete ? `newest \`${escapeMrkdwn(i.newestComplete.version)}\`` : "no complete version"}`,
    );
  for (const point of group.points) lines.push(pointLine(point, now));
  if (group.total > group.points.length)
    lines.push(
      `_${group.total - group.points.length} older not shown (\`--limit\` applies per store)_`,
    );
  return lines.join("\n");
}

/**
 * `/recovery-points <sts> [--store S] [--limit N]`, as Slack mrkdwn: a header and one part per
 * store, whose button requests a restore of the store's newest restorable point.
 */
export async function stackstateListing(
  target: StackStateTarget,
  query: { store: string | undefined; limit: number },
  access: PointAccess,
): Promise<NamedListing> {
  const groups = await listStackStatePoints({
    stores: target.stores,
    readers: readersFor(target, access),
    ...(query.store === undefined ? {} : { store: query.store as StackStateStore }),
    limit: query.limit,
    now: access.now,
  });
  const sections = [
    {
      text: `*Recovery points of \`${escapeMrkdwn(target.name)}\`* (StackState; one group per store, newest first). Restore one with \`/restore ${escapeMrkdwn(target.name)} <store>:<name> [--force] [--indices a,b] <reason…>\`, or with a store's *Restore…* button (the form takes any point of the store and the options).\n*Expiry:* unknown — the chart's own clean-up deletes old backups by its retention settings, which restorebot.yaml does not hold, so no point here says when it goes.`,
      restorePoint: undefined,
    },
    ...groups.map((g) => ({
      text: groupText(g, access.now),
      restorePoint:
        g.newestComplete === undefined
          ? undefined
          : formatStackStatePoint(g.newestComplete.store, g.newestComplete.name),
    })),
  ];
  return { text: sections.map((s) => s.text).join("\n\n"), sections };
}

/** A request's point: parsed, found in its store and frozen; refusals say what to type. */
export async function resolveStackStatePoint(
  target: StackStateTarget,
  text: string,
  access: PointAccess,
): Promise<NamedPointResolution> {
  try {
    const ref = parseStackStatePoint(text, configuredStores(target.stores));
    const point = await findStackStatePoint(ref, {
      stores: target.stores,
      readers: readersFor(target, access),
      now: access.now,
    });
    const frozen = freezeStackStatePoint(point);
    return {
      ok: true,
      point: {
        id: formatStackStatePoint(point.store, point.name),
        time: point.time ?? access.now,
        point: frozen as unknown as JsonValue,
      },
    };
  } catch (err) {
    const coded = asCodedError(err);
    return {
      ok: false,
      message: coded.message.replace("<target>", target.name),
    };
  }
}

/** `/recovery-points verify <sts> <store>:<name>`, as Slack mrkdwn. */
export async function verifyStackStateText(
  target: StackStateTarget,
  text: string,
  access: PointAccess,
): Promise<string> {
  const ref = parseStackStatePoint(text, configuredStores(target.stores));
  const readers = readersFor(target, access);
  const point = await findStackStatePoint(ref, {
    stores: target.stores,
    readers,
    now: access.now,
  }).catch((err) => {
    throw new CodedError(
      asCodedError(err).code,
      asCodedError(err).message.replace("<target>", target.name),
    );
  });
  const label = formatStackStatePoint(point.store, point.name);
  const result = await verifyStackStatePoint(point, target.stores, readers);
  const head = result.ok
    ? `:white_check_mark: \`${escapeMrkdwn(label)}\` of \`${escapeMrkdwn(target.name)}\` is complete and readable.`
    : `:x: \`${escapeMrkdwn(label)}\` of \`${escapeMrkdwn(target.name)}\` cannot be restored as it is:`;
  return [
    head,
    ...result.problems.map((p) => `• ${escapeMrkdwn(p)}`),
    ...result.checked.map((c) => `Checked: ${escapeMrkdwn(c)}`),
    `(${result.requests} requests)`,
  ].join("\n");
}

export const stackstateNamedPoints: NamedPoints<StackStateTarget> = {
  syntax: STACKSTATE_POINT_SYNTAX,
  stores: (target) => configuredStores(target.stores),
  list: stackstateListing,
  resolve: resolveStackStatePoint,
  verify: verifyStackStateText,
};
