import pg from "pg";
import { connectionConfig } from "../../../db/pool.js";

/** What the console shows of the live catalog, so a restore is seen to change it. */
export interface CatalogSummary {
  namespaces: number;
  tables: number;
  parquetFiles: number;
  /** Namespaces created after the snapshots were taken (the sandbox's drift). */
  driftedNamespaces: string[];
  /** True while a restore holds the catalog's tables (the counts are then the last known). */
  busy: boolean;
}

const SUMMARY_SQL = `
SELECT (SELECT count(*) FROM iox_catalog.namespace)::int AS namespaces,
       (SELECT count(*) FROM iox_catalog.table_name)::int AS tables,
       (SELECT count(*) FROM iox_catalog.parquet_file)::int AS parquet_files,
       ARRAY(SELECT name FROM iox_catalog.namespace WHERE name LIKE 'drifted%' ORDER BY name)
         AS drifted`;

/**
 * Reads the catalog's counts, on a connection of its own each time: an idle connection kept
 * open would show up in the restore's "other sessions are connected" check.
 */
export function catalogSummaryReader(catalogUrl: string): {
  read(): Promise<CatalogSummary | undefined>;
} {
  let last: CatalogSummary | undefined;
  const busy = (): CatalogSummary | undefined => (last ? { ...last, busy: true } : undefined);
  return {
    async read() {
      const client = new pg.Client({
        ...connectionConfig(catalogUrl),
        connectionTimeoutMillis: 2_000,
        // A restore replaces the catalog in one transaction and holds its locks meanwhile: a
        // short lock timeout answers "busy" at once instead of queueing behind it.
        options: "-c lock_timeout=150 -c statement_timeout=2000",
      });
      client.on("error", () => undefined);
      try {
        await client.connect();
        const { rows } = await client.query<{
          namespaces: number;
          tables: number;
          parquet_files: number;
          drifted: string[];
        }>(SUMMARY_SQL);
        const row = rows[0];
        if (!row) return busy();
        last = {
          namespaces: row.namespaces,
          tables: row.tables,
          parquetFiles: row.parquet_files,
          driftedNamespaces: row.drifted,
          busy: false,
        };
        return last;
      } catch {
        return busy();
      } finally {
        await client.end().catch(() => undefined);
      }
    },
  };
}
