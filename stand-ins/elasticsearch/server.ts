import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * An Elasticsearch stand-in for the snapshot and restore endpoints restorebot uses, with the
 * response shapes of Elasticsearch 7.x (the version StackState's chart ships):
 *
 * - `GET _snapshot/<repo>/_all` → `{ snapshots: [{ snapshot, uuid, state, indices, start_time,
 *   start_time_in_millis, end_time, end_time_in_millis, duration_in_millis, failures, shards }] }`
 * - `POST _snapshot/<repo>/<snap>/_restore` with `{ indices }` → `{ accepted: true }`, or with
 *   `?wait_for_completion=true` → `{ snapshot: { snapshot, indices, shards } }` once recovered
 * - `GET _cat/indices[/<indices>]?format=json` → `[{ health, status, index, uuid, pri, rep,
 *   "docs.count", … }]` (numbers as strings, as Elasticsearch prints them)
 * - `GET _cat/shards[/<indices>]?format=json` → `[{ index, shard, prirep, state,
 *   "unassigned.reason" }]`
 * - `GET <indices>/_recovery` → `{ <index>: { shards: [{ id, type, stage, primary, source }] } }`
 * - `DELETE <index>` → `{ acknowledged: true }`
 *
 * Errors use Elasticsearch's envelope `{ error: { root_cause, type, reason, … }, status }`.
 * Test hooks: `failShards(index, shardIds)` makes a restore leave those primaries unassigned
 * (`ALLOCATION_FAILED`), and `holdRecovery()` keeps restored shards in stage `INDEX` until
 * `releaseRecovery()`, so a caller's wait can be observed in progress.
 */

export interface StandInSnapshot {
  snapshot: string;
  indices: string[];
  /** SUCCESS by default; PARTIAL, FAILED and IN_PROGRESS as Elasticsearch names them. */
  state?: "SUCCESS" | "PARTIAL" | "FAILED" | "IN_PROGRESS";
  startTime: Date;
  endTime?: Date;
  /** Primary shards per index in the snapshot (1 unless given). */
  shardsPerIndex?: number;
}

export type ShardStage = "INIT" | "INDEX" | "DONE" | "FAILED";

export interface StandInIndex {
  name: string;
  primaries: number;
  docs: number;
  /** Where the index came from, for `_recovery`: created here, or restored from a snapshot. */
  origin: { type: "EMPTY_STORE" } | { type: "SNAPSHOT"; repository: string; snapshot: string };
  /** Shard id → stage; failed shards are absent from recovery and unassigned in `_cat/shards`. */
  shards: Map<number, ShardStage>;
}

export interface ElasticsearchRequestRecord {
  method: string;
  path: string;
  query: string;
  status: number;
}

export interface ElasticsearchStandIn {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  addSnapshot(repository: string, snap: StandInSnapshot): void;
  addIndex(name: string, opts?: { primaries?: number; docs?: number }): void;
  indexNames(): string[];
  index(name: string): StandInIndex | undefined;
  /** The next restore leaves these primary shards of `index` unassigned. */
  failShards(index: string, shardIds: number[]): void;
  /** Restored shards stay in stage INDEX until `releaseRecovery()`. */
  holdRecovery(): void;
  releaseRecovery(): void;
  requests(): ElasticsearchRequestRecord[];
  resetRequests(): void;
  close(): Promise<void>;
}

interface EsErrorBody {
  error: {
    root_cause: Array<{ type: string; reason: string }>;
    type: string;
    reason: string;
    [extra: string]: unknown;
  };
  status: number;
}

function esError(status: number, type: string, reason: string, extra = {}): EsErrorBody {
  return { error: { root_cause: [{ type, reason, ...extra }], type, reason, ...extra }, status };
}

function randomUuid(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(16)))
    .toString("base64url")
    .slice(0, 22);
}

function iso(d: Date): string {
  return d.toISOString();
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  if (chunks.length === 0) return undefined;
  const text = Buffer.concat(chunks).toString("utf8");
  return text.trim() === "" ? undefined : JSON.parse(text);
}

/** Elasticsearch accepts `indices` as a comma-separated string or an array. */
function indicesParam(value: unknown): string[] | undefined {
  if (typeof value === "string") return value.split(",").filter((s) => s !== "");
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === "string");
  return undefined;
}

export async function startElasticsearchStandIn(): Promise<ElasticsearchStandIn> {
  const repositories = new Map<string, Map<string, StandInSnapshot & { uuid: string }>>();
  const indices = new Map<string, StandInIndex>();
  const pendingFailures = new Map<string, number[]>();
  const log: ElasticsearchRequestRecord[] = [];
  let held = false;
  const waiters = new Set<() => void>();

  function settle(): void {
    for (const index of indices.values()) {
      for (const [id, stage] of index.shards) {
        if (stage === "INIT" || stage === "INDEX") index.shards.set(id, held ? "INDEX" : "DONE");
      }
    }
    if (!held) for (const wake of waiters) wake();
  }

  function health(index: StandInIndex): "green" | "yellow" | "red" {
    return [...index.shards.values()].every((s) => s === "DONE") ? "green" : "red";
  }

  function selectIndices(expr: string | undefined): StandInIndex[] {
    if (expr === undefined || expr === "" || expr === "_all" || expr === "*") {
      return [...indices.values()];
    }
    const out: StandInIndex[] = [];
    for (const part of expr.split(",")) {
      if (part.includes("*")) {
        const re = new RegExp(
          `^${part.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`,
        );
        for (const index of indices.values()) if (re.test(index.name)) out.push(index);
      } else {
        const index = indices.get(part);
        if (index !== undefined) out.push(index);
      }
    }
    return out;
  }

  function snapshotJson(snap: StandInSnapshot & { uuid: string }) {
    const shardsPerIndex = snap.shardsPerIndex ?? 1;
    const total = snap.indices.length * shardsPerIndex;
    const state = snap.state ?? "SUCCESS";
    const failed = state === "PARTIAL" ? 1 : state === "FAILED" ? total : 0;
    const end = snap.endTime ?? new Date(snap.startTime.getTime() + 60_000);
    return {
      snapshot: snap.snapshot,
      uuid: snap.uuid,
      version_id: 7_170_999,
      version: "7.17.9",
      indices: snap.indices,
      data_streams: [],
      include_global_state: false,
      state,
      start_time: iso(snap.startTime),
      start_time_in_millis: snap.startTime.getTime(),
      ...(state === "IN_PROGRESS"
        ? { end_time_in_millis: 0 }
        : { end_time: iso(end), end_time_in_millis: end.getTime() }),
      duration_in_millis: state === "IN_PROGRESS" ? 0 : end.getTime() - snap.startTime.getTime(),
      failures:
        failed === 0
          ? []
          : [
              {
                index: snap.indices[0],
                shard_id: 0,
                reason: "IOException[stand-in]",
                status: "INTERNAL_SERVER_ERROR",
              },
            ],
      shards: { total, failed, successful: total - failed },
    };
  }

  async function restore(
    repo: string,
    snapName: string,
    body: unknown,
    waitForCompletion: boolean,
  ): Promise<{ status: number; body: unknown }> {
    const snap = repositories.get(repo)?.get(snapName);
    if (snap === undefined) {
      if (!repositories.has(repo)) {
        return {
          status: 404,
          body: esError(404, "repository_missing_exception", `[${repo}] missing`),
        };
      }
      return {
        status: 404,
        body: esError(404, "snapshot_missing_exception", `[${repo}:${snapName}] is missing`),
      };
    }
    const requested =
      indicesParam((body as { indices?: unknown } | undefined)?.indices) ?? snap.indices;
    const chosen = snap.indices.filter((name) =>
      requested.some((r) =>
        r.includes("*") ? new RegExp(`^${r.replace(/\*/g, ".*")}$`).test(name) : r === name,
      ),
    );
    for (const name of chosen) {
      if (indices.has(name)) {
        return {
          status: 500,
          body: esError(
            500,
            "snapshot_restore_exception",
            `[${repo}:${snapName}/${snap.uuid}] cannot restore index [${name}] because an open index with same name already exists in the cluster. Either close or delete the existing index or restore the index under a different name by providing a rename pattern and replacement name`,
          ),
        };
      }
    }
    const primaries = snap.shardsPerIndex ?? 1;
    for (const name of chosen) {
      const failing = pendingFailures.get(name) ?? [];
      pendingFailures.delete(name);
      const shards = new Map<number, ShardStage>();
      for (let id = 0; id < primaries; id++)
        shards.set(id, failing.includes(id) ? "FAILED" : "INIT");
      indices.set(name, {
        name,
        primaries,
        docs: 0,
        origin: { type: "SNAPSHOT", repository: repo, snapshot: snapName },
        shards,
      });
    }
    // Recovery moves on after the answer, as in Elasticsearch (the restore returns at once).
    setImmediate(settle);
    if (!waitForCompletion) return { status: 200, body: { accepted: true } };
    if (held) await new Promise<void>((resolve) => waiters.add(resolve));
    let failed = 0;
    for (const name of chosen) {
      for (const stage of indices.get(name)?.shards.values() ?? [])
        if (stage === "FAILED") failed++;
    }
    const total = chosen.length * primaries;
    return {
      status: 200,
      body: {
        snapshot: {
          snapshot: snapName,
          indices: chosen,
          shards: { total, failed, successful: total - failed },
        },
      },
    };
  }

  async function route(
    method: string,
    url: URL,
    req: IncomingMessage,
  ): Promise<{ status: number; body: unknown }> {
    const parts = url.pathname
      .split("/")
      .filter((p) => p !== "")
      .map(decodeURIComponent);
    const [first, second, third, fourth] = parts;

    if (first === "_snapshot" && second !== undefined) {
      if (method === "GET" && parts.length === 3) {
        const repo = repositories.get(second);
        if (repo === undefined) {
          return {
            status: 404,
            body: esError(404, "repository_missing_exception", `[${second}] missing`),
          };
        }
        const wanted =
          third === "_all" || third === "*"
            ? [...repo.values()]
            : (third ?? "").split(",").flatMap((n) => {
                const s = repo.get(n);
                return s === undefined ? [] : [s];
              });
        if (third !== "_all" && third !== "*" && wanted.length === 0) {
          return {
            status: 404,
            body: esError(404, "snapshot_missing_exception", `[${second}:${third}] is missing`),
          };
        }
        wanted.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
        return { status: 200, body: { snapshots: wanted.map(snapshotJson) } };
      }
      if (method === "POST" && third !== undefined && fourth === "_restore" && parts.length === 4) {
        const body = await readBody(req);
        return restore(second, third, body, url.searchParams.get("wait_for_completion") === "true");
      }
    }

    if (first === "_cat" && (second === "indices" || second === "shards") && method === "GET") {
      if (url.searchParams.get("format") !== "json") {
        return {
          status: 400,
          body: esError(400, "illegal_argument_exception", "the stand-in answers format=json only"),
        };
      }
      const selected = selectIndices(third);
      if (second === "indices") {
        return {
          status: 200,
          body: selected.map((index) => ({
            health: health(index),
            status: "open",
            index: index.name,
            uuid: randomUuid(),
            pri: String(index.primaries),
            rep: "0",
            "docs.count": String(index.docs),
            "docs.deleted": "0",
            "store.size": "1kb",
            "pri.store.size": "1kb",
          })),
        };
      }
      return {
        status: 200,
        body: selected.flatMap((index) =>
          [...index.shards].map(([id, stage]) => ({
            index: index.name,
            shard: String(id),
            prirep: "p",
            state:
              stage === "DONE" ? "STARTED" : stage === "FAILED" ? "UNASSIGNED" : "INITIALIZING",
            "unassigned.reason": stage === "FAILED" ? "ALLOCATION_FAILED" : null,
            "unassigned.details":
              stage === "FAILED"
                ? "failed shard on node [stand-in]: failed recovery, failure RecoveryFailedException[[index][0]: Recovery failed]; nested: IndexShardRestoreFailedException[failed to restore snapshot]"
                : null,
          })),
        ),
      };
    }

    if (second === "_recovery" && first !== undefined && method === "GET") {
      const selected = selectIndices(first);
      if (selected.length === 0 && !first.includes("*")) {
        return {
          status: 404,
          body: esError(404, "index_not_found_exception", `no such index [${first}]`, {
            "resource.type": "index_or_alias",
            "resource.id": first,
            index: first,
          }),
        };
      }
      const out: Record<string, unknown> = {};
      for (const index of selected) {
        out[index.name] = {
          shards: [...index.shards]
            .filter(([, stage]) => stage !== "FAILED")
            .map(([id, stage]) => ({
              id,
              type: index.origin.type,
              stage,
              primary: true,
              start_time_in_millis: Date.now(),
              ...(index.origin.type === "SNAPSHOT"
                ? {
                    source: {
                      repository: index.origin.repository,
                      snapshot: index.origin.snapshot,
                      version: "7.17.9",
                      index: index.name,
                    },
                  }
                : { source: {} }),
              index: {
                size: {
                  total_in_bytes: 1024,
                  recovered_in_bytes: stage === "DONE" ? 1024 : 512,
                  percent: stage === "DONE" ? "100.0%" : "50.0%",
                },
                files: {
                  total: 4,
                  recovered: stage === "DONE" ? 4 : 2,
                  percent: stage === "DONE" ? "100.0%" : "50.0%",
                },
              },
            })),
        };
      }
      return { status: 200, body: out };
    }

    if (
      method === "DELETE" &&
      first !== undefined &&
      parts.length === 1 &&
      !first.startsWith("_")
    ) {
      const names = first.split(",");
      const missing = names.find((n) => !indices.has(n));
      if (missing !== undefined) {
        return {
          status: 404,
          body: esError(404, "index_not_found_exception", `no such index [${missing}]`, {
            "resource.type": "index_or_alias",
            "resource.id": missing,
            index: missing,
          }),
        };
      }
      for (const n of names) indices.delete(n);
      return { status: 200, body: { acknowledged: true } };
    }

    return {
      status: 405,
      body: esError(
        405,
        "stand_in_unsupported",
        `${method} ${url.pathname} is not part of the stand-in`,
      ),
    };
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://stand-in");
    const method = req.method ?? "GET";
    void route(method, url, req)
      .catch((err: unknown) => ({
        status: 400,
        body: esError(400, "parse_exception", err instanceof Error ? err.message : String(err)),
      }))
      .then(({ status, body }) => {
        log.push({ method, path: url.pathname, query: url.search, status });
        res.writeHead(status, { "content-type": "application/json; charset=UTF-8" });
        res.end(JSON.stringify(body));
      });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    addSnapshot(repository, snap) {
      let repo = repositories.get(repository);
      if (repo === undefined) {
        repo = new Map();
        repositories.set(repository, repo);
      }
      repo.set(snap.snapshot, { ...snap, uuid: randomUuid() });
    },
    addIndex(name, opts = {}) {
      const primaries = opts.primaries ?? 1;
      indices.set(name, {
        name,
        primaries,
        docs: opts.docs ?? 0,
        origin: { type: "EMPTY_STORE" },
        shards: new Map(Array.from({ length: primaries }, (_, id) => [id, "DONE" as ShardStage])),
      });
    },
    indexNames: () => [...indices.keys()].sort(),
    index: (name) => indices.get(name),
    failShards(index, shardIds) {
      pendingFailures.set(index, shardIds);
    },
    holdRecovery() {
      held = true;
    },
    releaseRecovery() {
      held = false;
      settle();
      waiters.clear();
    },
    requests: () => [...log],
    resetRequests() {
      log.length = 0;
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
}
