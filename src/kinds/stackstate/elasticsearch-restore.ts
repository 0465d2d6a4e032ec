import { setTimeout as delay } from "node:timers/promises";
import { CodedError } from "../../errors.js";
import { callElasticsearch, type ElasticsearchHttp } from "./elasticsearch-http.js";
import type { ElasticsearchPoint } from "./points.js";

/**
 * The indices a restore deletes and then restores: exactly those the snapshot holds, or the
 * `--indices a,b` subset of them. A name the snapshot does not hold is refused (deleting it
 * would lose data the snapshot cannot bring back). Pure.
 */
export function indicesToRestore(
  snapshot: ElasticsearchPoint,
  requested?: readonly string[],
): string[] {
  if (requested === undefined || requested.length === 0) return [...snapshot.indices];
  const unknown = requested.filter((name) => !snapshot.indices.includes(name));
  if (unknown.length > 0) {
    const sample = snapshot.indices.slice(0, 5).join(",");
    throw new CodedError(
      "usage",
      `--indices names ${unknown.map((n) => `"${n}"`).join(", ")}, which snapshot "${snapshot.name}" does not hold, so restorebot will not delete ${unknown.length === 1 ? "it" : "them"}. The snapshot holds ${snapshot.indices.length} indices${sample === "" ? "" : `, e.g. ${sample}`}; name only those, or leave --indices out to restore all of them.`,
    );
  }
  return [...new Set(requested)];
}

/** `--indices a,b` as typed; empty parts and spaces are ignored. */
export function parseIndicesOption(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const names = text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  return names.length === 0 ? undefined : names;
}

/** The indices of `names` that exist now (those are the ones to delete). */
export async function existingIndices(
  http: ElasticsearchHttp,
  names: readonly string[],
): Promise<string[]> {
  if (names.length === 0) return [];
  const rows = (await callElasticsearch(
    http,
    { method: "GET", path: "_cat/indices", query: { format: "json", h: "index" } },
    "list the cluster's indices",
  )) as Array<{ index?: string }>;
  const present = new Set(rows.map((r) => r.index));
  return names.filter((n) => present.has(n));
}

/** Deletes each index that exists; idempotent (a resumed run finds some already gone). */
export async function deleteIndices(
  http: ElasticsearchHttp,
  names: readonly string[],
): Promise<string[]> {
  const present = await existingIndices(http, names);
  for (const name of present) {
    try {
      await callElasticsearch(
        http,
        { method: "DELETE", path: encodeURIComponent(name) },
        `delete index "${name}"`,
      );
    } catch (err) {
      // Gone between the listing and the delete: that is what we wanted.
      if (!(err instanceof CodedError && err.code === "not_found")) throw err;
    }
  }
  return present;
}

/** `POST _snapshot/<repo>/<snap>/_restore` for exactly these indices; returns at once. */
export function restoreRequest(repository: string, snapshot: string, indices: readonly string[]) {
  return {
    method: "POST" as const,
    path: `_snapshot/${encodeURIComponent(repository)}/${encodeURIComponent(snapshot)}/_restore`,
    query: { wait_for_completion: "false" },
    body: { indices: indices.join(","), include_global_state: false },
  };
}

export async function startSnapshotRestore(
  http: ElasticsearchHttp,
  repository: string,
  snapshot: string,
  indices: readonly string[],
): Promise<void> {
  await callElasticsearch(
    http,
    restoreRequest(repository, snapshot, indices),
    `restore snapshot "${snapshot}"`,
  );
}

export interface RecoveryProgress {
  indices: number;
  primaries: number;
  primariesDone: number;
  /** Indices not yet created by the restore. */
  missing: string[];
}

export type RecoveryState =
  | { state: "done"; progress: RecoveryProgress }
  | { state: "running"; progress: RecoveryProgress }
  | { state: "failed"; progress: RecoveryProgress; failures: string[] };

type CatIndex = { index?: string; health?: string; pri?: string };
type CatShard = {
  index?: string;
  shard?: string;
  prirep?: string;
  state?: string;
  "unassigned.reason"?: string | null;
  "unassigned.details"?: string | null;
};
type Recovery = Record<
  string,
  { shards?: Array<{ id?: number; stage?: string; primary?: boolean; type?: string }> }
>;

/**
 * Where a restore's recovery stands, from three documented views: `_cat/indices` (how many
 * primaries each index has, its health), `<indices>/_recovery` (each shard's stage) and
 * `_cat/shards` (a primary left UNASSIGNED with ALLOCATION_FAILED is a failed restore). Pure.
 */
export function recoveryState(
  indices: readonly string[],
  cat: CatIndex[],
  recovery: Recovery,
  shards: CatShard[],
): RecoveryState {
  const byName = new Map(cat.map((row) => [row.index, row]));
  const missing = indices.filter((n) => !byName.has(n));
  let primaries = 0;
  let primariesDone = 0;
  for (const name of indices) {
    const row = byName.get(name);
    if (row === undefined) continue;
    const pri = Number(row.pri ?? "0");
    primaries += pri;
    const done = (recovery[name]?.shards ?? []).filter(
      (s) => s.primary !== false && s.stage === "DONE",
    ).length;
    primariesDone += Math.min(done, pri);
  }
  const progress = { indices: indices.length, primaries, primariesDone, missing };
  const failures = shards
    .filter(
      (s) =>
        s.index !== undefined &&
        indices.includes(s.index) &&
        s.prirep === "p" &&
        s.state === "UNASSIGNED" &&
        s["unassigned.reason"] === "ALLOCATION_FAILED",
    )
    .map((s) => `${s.index} shard ${s.shard}: ${s["unassigned.details"] ?? "allocation failed"}`);
  if (failures.length > 0) return { state: "failed", progress, failures };
  const done =
    missing.length === 0 &&
    primariesDone === primaries &&
    indices.every((n) => byName.get(n)?.health !== "red");
  return { state: done ? "done" : "running", progress };
}

export interface WaitForRecoveryOptions {
  /** Give up after this long (the target's timeouts.podsReady by default in the kind). */
  timeoutMs: number;
  /** First poll interval; doubles up to `maxIntervalMs`. */
  initialIntervalMs?: number;
  maxIntervalMs?: number;
  onProgress?: (progress: RecoveryProgress) => void;
  signal?: AbortSignal;
}

/**
 * Waits until every restored index's primaries have recovered (DONE) and none is red.
 * Elasticsearch has no watch for recovery, so this polls with backoff (100 ms, doubling to
 * 5 s): a small restore is noticed within a fraction of a second, a long one costs a request
 * every few seconds. Failed shards stop the wait with each shard and Elasticsearch's reason.
 */
export async function waitForRestoreRecovery(
  http: ElasticsearchHttp,
  indices: readonly string[],
  opts: WaitForRecoveryOptions,
): Promise<RecoveryProgress> {
  const list = indices.map(encodeURIComponent).join(",");
  const started = Date.now();
  let interval = opts.initialIntervalMs ?? 100;
  const maxInterval = opts.maxIntervalMs ?? 5_000;
  let last: RecoveryState | undefined;
  for (;;) {
    const cat = (await callElasticsearch(
      http,
      {
        method: "GET",
        path: `_cat/indices/${list}`,
        query: { format: "json", h: "index,health,status,pri", ignore_unavailable: "true" },
      },
      "read the restored indices",
    )) as CatIndex[];
    const present = indices.filter((n) => cat.some((row) => row.index === n));
    const presentList = present.map(encodeURIComponent).join(",");
    const recovery =
      present.length === 0
        ? {}
        : ((await callElasticsearch(
            http,
            { method: "GET", path: `${presentList}/_recovery` },
            "read the restore's recovery",
          )) as Recovery);
    const shards =
      present.length === 0
        ? []
        : ((await callElasticsearch(
            http,
            {
              method: "GET",
              path: `_cat/shards/${presentList}`,
              query: {
                format: "json",
                h: "index,shard,prirep,state,unassigned.reason,unassigned.details",
              },
            },
            "read the restored shards",
          )) as CatShard[]);
    last = recoveryState(indices, cat, recovery, shards);
    opts.onProgress?.(last.progress);
    if (last.state === "done") return last.progress;
    if (last.state === "failed") {
      throw new CodedError(
        "restore_failed",
        `Elasticsearch could not restore ${last.failures.length} primary shard${last.failures.length === 1 ? "" : "s"}: ${last.failures.join("; ")}. The other indices are restored; the failed ones are red and hold no data.`,
        { details: { failures: last.failures } },
      );
    }
    const elapsed = Date.now() - started;
    if (elapsed >= opts.timeoutMs) {
      const p = last.progress;
      throw new CodedError(
        "timeout",
        `The restore's recovery did not finish within ${Math.round(opts.timeoutMs / 1000)} s: ${p.primariesDone} of ${p.primaries} primary shards recovered${p.missing.length > 0 ? `, ${p.missing.length} indices not created yet (${p.missing.slice(0, 5).join(", ")})` : ""}.`,
      );
    }
    await delay(
      Math.min(interval, opts.timeoutMs - elapsed),
      undefined,
      opts.signal === undefined ? {} : { signal: opts.signal },
    );
    interval = Math.min(interval * 2, maxInterval);
  }
}
