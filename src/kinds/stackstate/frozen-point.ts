import { CodedError } from "../../errors.js";
import type { JsonValue } from "../kind.js";
import { findStackStatePoint, type StackStateReaders } from "./list-stackstate-points.js";
import { formatStackStatePoint } from "./point-ref.js";
import type { StackStatePoint, StackStateStore, StackStateStoresConfig } from "./points.js";

/**
 * What a StackState request freezes (column `point`): the store, the backup's name and what
 * the runbook must find again unchanged — StackGraph's files and size, the ClickHouse chain,
 * the Elasticsearch snapshot's indices. Dates are ISO strings.
 */
export interface FrozenStackStatePoint {
  store: StackStateStore;
  name: string;
  time: string | null;
  /** stackgraph */
  keys?: string[];
  sizeBytes?: number;
  /** metrics */
  instance?: string;
  version?: string;
  lastCompleted?: string | null;
  /** clickhouse */
  chain?: string[];
  /** elasticsearch */
  indices?: string[];
  state?: string;
}

export function freezeStackStatePoint(point: StackStatePoint): FrozenStackStatePoint {
  const base = { store: point.store, name: point.name, time: point.time?.toISOString() ?? null };
  switch (point.store) {
    case "stackgraph":
      return { ...base, keys: [...point.keys], sizeBytes: point.sizeBytes };
    case "metrics":
      return {
        ...base,
        instance: point.instance,
        version: point.version,
        lastCompleted: point.lastCompleted?.toISOString() ?? null,
      };
    case "clickhouse":
      return { ...base, chain: [...point.chain] };
    case "elasticsearch":
      return { ...base, indices: [...point.indices], state: point.state };
  }
}

/** The frozen value read back from a request row; a value of another shape is a bug. */
export function frozenStackStatePoint(value: JsonValue): FrozenStackStatePoint {
  const v = value as unknown as FrozenStackStatePoint;
  if (
    typeof v !== "object" ||
    v === null ||
    typeof v.store !== "string" ||
    typeof v.name !== "string"
  )
    throw new CodedError("internal", `not a frozen StackState point: ${JSON.stringify(value)}`);
  return v;
}

export function frozenLabel(point: FrozenStackStatePoint): string {
  return formatStackStatePoint(point.store, point.name);
}

const same = (a: readonly string[] | undefined, b: readonly string[] | undefined) =>
  JSON.stringify(a ?? []) === JSON.stringify(b ?? []);

/**
 * The frozen point found again in its store, before anything changes: still there, still
 * restorable and still the same backup. Returns a note for the thread when it changed in a way
 * that is expected (a Victoria Metrics version takes further hourly backups into itself).
 */
export async function recheckFrozenPoint(
  frozen: FrozenStackStatePoint,
  stores: StackStateStoresConfig,
  readers: StackStateReaders,
  now: Date,
): Promise<{ point: StackStatePoint; note: string | undefined }> {
  const label = frozenLabel(frozen);
  const point = await findStackStatePoint(
    { store: frozen.store, latest: false, name: frozen.name },
    { stores, readers, now },
  );
  const changed = (what: string) =>
    new CodedError(
      "precondition_failed",
      `${label} changed since the request was approved (${what}), so it is not what the approvers approved. Nothing was changed; request the restore again.`,
    );
  switch (point.store) {
    case "stackgraph":
      if (!same(point.keys, frozen.keys) || point.sizeBytes !== frozen.sizeBytes)
        throw changed(
          `its files are now ${point.keys.join(", ")}, ${point.sizeBytes} bytes; they were ${(frozen.keys ?? []).join(", ")}, ${frozen.sizeBytes} bytes`,
        );
      return { point, note: undefined };
    case "clickhouse":
      if (!same(point.chain, frozen.chain))
        throw changed(
          `its chain is now ${point.chain.join(" → ")}; it was ${(frozen.chain ?? []).join(" → ")}`,
        );
      return { point, note: undefined };
    case "elasticsearch":
      if (!same(point.indices, frozen.indices))
        throw changed(
          `it now holds ${point.indices.length} indices; it held ${(frozen.indices ?? []).length}`,
        );
      return { point, note: undefined };
    case "metrics": {
      const now = point.lastCompleted?.toISOString() ?? null;
      return {
        point,
        note:
          now !== (frozen.lastCompleted ?? null)
            ? `${label} took another backup since the request (last completed ${now ?? "never"}, was ${frozen.lastCompleted ?? "never"}): vmbackup backs up into the same version every hour, so the restore brings back its newest completed state.`
            : undefined,
      };
    }
  }
}
