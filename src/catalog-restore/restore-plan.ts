import { type DumpObjectRef, describeObject } from "./dump-splitter.js";
import { COMPARED_KINDS, type LiveInventory } from "./live-catalog.js";
import type { DumpPreflight } from "./preflight.js";

/**
 * A dry run's answer: what a restore would remove, add and replace, compared by pg_dump's
 * names. Everything in the catalog is dropped and everything in the snapshot created, so
 * "replace" objects come back as the snapshot has them (with the snapshot's rows).
 */
export interface RestorePlan {
  /** In the live catalog, not in the snapshot: gone after the restore. */
  drop: DumpObjectRef[];
  /** In the snapshot, not in the live catalog. */
  create: DumpObjectRef[];
  /** In both: dropped and recreated from the snapshot. */
  replace: DumpObjectRef[];
  tables: PlannedTableRows[];
}

export interface PlannedTableRows {
  schema: string;
  name: string;
  /** null: the table is not in the live catalog. */
  liveRows: number | null;
  liveEstimated: boolean;
  /** null: the table has no data in the snapshot (or is not in it). */
  snapshotRows: number | null;
}

const COMPARED = new Set<string>(COMPARED_KINDS);

function key(object: DumpObjectRef): string {
  return `${object.type}\0${object.schema}\0${object.name}`;
}

export function planRestore(snapshot: DumpPreflight, live: LiveInventory): RestorePlan {
  const wanted = snapshot.objects.filter((o) => COMPARED.has(o.type));
  const wantedKeys = new Set(wanted.map(key));
  const liveKeys = new Set(live.objects.map(key));
  const byName = (a: DumpObjectRef, b: DumpObjectRef) =>
    describeObject(a).localeCompare(describeObject(b));
  const strip = ({ type, schema, name }: DumpObjectRef): DumpObjectRef => ({ type, schema, name });

  const tables = new Map<string, PlannedTableRows>();
  for (const t of live.tables) {
    tables.set(`${t.schema}.${t.name}`, {
      schema: t.schema,
      name: t.name,
      liveRows: t.rows,
      liveEstimated: t.estimated,
      snapshotRows: null,
    });
  }
  for (const t of snapshot.tableRows) {
    const id = `${t.schema}.${t.name}`;
    const entry = tables.get(id) ?? {
      schema: t.schema,
      name: t.name,
      liveRows: null,
      liveEstimated: false,
      snapshotRows: null,
    };
    entry.snapshotRows = (entry.snapshotRows ?? 0) + t.rows;
    tables.set(id, entry);
  }
  return {
    drop: live.objects.filter((o) => !wantedKeys.has(key(o))).sort(byName),
    create: wanted
      .filter((o) => !liveKeys.has(key(o)))
      .map(strip)
      .sort(byName),
    replace: wanted
      .filter((o) => liveKeys.has(key(o)))
      .map(strip)
      .sort(byName),
    tables: [...tables.values()].sort((a, b) =>
      `${a.schema}.${a.name}`.localeCompare(`${b.schema}.${b.name}`),
    ),
  };
}
