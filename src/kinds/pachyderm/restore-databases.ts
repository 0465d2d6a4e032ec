import type { Readable } from "node:stream";
import {
  type CatalogRestoreProgress,
  type RestoreCatalogResult,
  type RestoreWording,
  restoreCatalog,
} from "../../catalog-restore/index.js";
import { type DatabaseClient, newDatabaseClient } from "../../db/database.js";
import { CodedError, redactSecrets } from "../../errors.js";

/**
 * Restores Pachyderm's databases (`pachyderm`, and `dex` when configured) each exactly — the
 * catalog engine: one transaction that clears the database and replays the dump — and
 * together: with prepared transactions both commit or neither does; where a server does
 * not allow them, one after the other, and a failure says exactly which committed.
 */

export interface DatabaseToRestore {
  /** The config's name: "pachyderm" or "dex". */
  name: string;
  dsn: string;
  /** Opens the point's dump (the checked reader: size, then sha256 at the end). */
  openDump: () => Promise<{ body: Readable; size: number }>;
}

export type CommitMode = "prepared" | "sequential";

export interface CommitModeReport {
  mode: CommitMode;
  /** max_prepared_transactions per database's server. */
  servers: Array<{ name: string; maxPreparedTransactions: number }>;
}

function errorText(err: unknown): string {
  return redactSecrets(err instanceof Error ? err.message : String(err));
}

async function withClient<T>(
  dsn: string,
  work: (client: DatabaseClient) => Promise<T>,
): Promise<T> {
  const client = newDatabaseClient({
    connectionString: dsn,
    application_name: "restorebot pachyderm",
  });
  client.on("error", () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Prepared transactions when every server involved allows them (max_prepared_transactions
 * > 0), sequential commits otherwise; the approval card states which, before approval.
 */
export async function readCommitMode(
  databases: ReadonlyArray<Pick<DatabaseToRestore, "name" | "dsn">>,
): Promise<CommitModeReport> {
  const servers = await Promise.all(
    databases.map(async (db) => {
      try {
        const value = await withClient(db.dsn, async (c) => {
          const row = (
            await c.query<{ v: string }>("SELECT current_setting('max_prepared_transactions') AS v")
          ).rows[0];
          return Number(row?.v ?? 0);
        });
        return { name: db.name, maxPreparedTransactions: value };
      } catch (err) {
        throw new CodedError(
          "database_error",
          `Cannot connect to database "${db.name}": ${errorText(err)}. Nothing was changed.`,
          { cause: err },
        );
      }
    }),
  );
  const mode: CommitMode =
    databases.length > 1 && servers.every((s) => s.maxPreparedTransactions > 0)
      ? "prepared"
      : "sequential";
  return { mode, servers };
}

export function commitModeSentence(report: CommitModeReport): string {
  if (report.servers.length < 2) return "One database: it commits in one transaction.";
  if (report.mode === "prepared")
    return "Both databases commit together (prepared transactions): both are restored or neither is.";
  const off = report.servers.filter((s) => s.maxPreparedTransactions === 0).map((s) => s.name);
  return `The databases commit one after the other: the server of ${off.map((n) => `"${n}"`).join(" and ")} has max_prepared_transactions = 0, so they cannot commit together. If the second fails, the first stays restored and the thread says so.`;
}

export function wordingFor(name: string): RestoreWording {
  return {
    subject: `database "${name}"`,
    database: `database "${name}"`,
    stopClients: "pachd and every pipeline worker (they must be scaled to 0)",
    beforeClients: "before scaling pachd up",
  };
}

/** The prepared transaction's id for one database of one run (at most 200 characters). */
export function preparedId(runId: string, database: string): string {
  return `restorebot:${runId}:${database}`.slice(0, 200);
}

export interface DatabasesRestoreResult {
  mode: CommitMode;
  /** In commit order. */
  committed: string[];
  results: Record<string, RestoreCatalogResult>;
}

export interface RestoreDatabasesOptions {
  databases: readonly DatabaseToRestore[];
  /** Names the prepared transactions, so a resumed run can find them. */
  runId: string;
  mode: CommitMode;
  signal?: AbortSignal;
  onProgress?: (database: string, progress: CatalogRestoreProgress) => void;
  onWarning?: (message: string) => void;
  lockTimeoutMs?: number;
  /**
   * Prepared mode: called once every database is prepared, before the first COMMIT PREPARED
   * (a runbook records the decision durably here, so a resumed run commits rather than rolls
   * back what is prepared).
   */
  onPrepared?: () => Promise<void>;
}

/**
 * Settles this run's prepared transactions: commits or rolls back each one that is still
 * prepared, and reports those already gone. Idempotent, so a resumed run calls it again.
 */
export async function settlePrepared(
  databases: ReadonlyArray<Pick<DatabaseToRestore, "name" | "dsn">>,
  runId: string,
  decision: "commit" | "rollback",
): Promise<Array<{ name: string; outcome: "committed" | "rolled back" | "not prepared" }>> {
  const out: Array<{ name: string; outcome: "committed" | "rolled back" | "not prepared" }> = [];
  for (const db of databases) {
    const gid = preparedId(runId, db.name);
    const outcome = await withClient(db.dsn, async (c) => {
      const found = await c.query("SELECT 1 FROM pg_prepared_xacts WHERE gid = $1", [gid]);
      if (found.rowCount === 0) return "not prepared" as const;
      const literal = `'${gid.replace(/'/g, "''")}'`;
      await c.query(`${decision === "commit" ? "COMMIT" : "ROLLBACK"} PREPARED ${literal}`);
      return decision === "commit" ? ("committed" as const) : ("rolled back" as const);
    });
    out.push({ name: db.name, outcome });
  }
  return out;
}

function quoted(names: readonly string[]): string {
  return names.map((n) => `"${n}"`).join(" and ");
}

export async function restoreDatabases(
  opts: RestoreDatabasesOptions,
): Promise<DatabasesRestoreResult> {
  const results: Record<string, RestoreCatalogResult> = {};
  const done: string[] = [];
  for (const db of opts.databases) {
    try {
      const dump = await db.openDump();
      results[db.name] = await restoreCatalog({
        source: dump.body,
        compressedBytesTotal: dump.size,
        connection: db.dsn,
        wording: wordingFor(db.name),
        signal: opts.signal,
        lockTimeoutMs: opts.lockTimeoutMs,
        onProgress: (p) => opts.onProgress?.(db.name, p),
        onWarning: opts.onWarning,
        ...(opts.mode === "prepared" ? { prepareAs: preparedId(opts.runId, db.name) } : {}),
      });
      done.push(db.name);
    } catch (err) {
      const why = err instanceof CodedError ? err.message : errorText(err);
      const code = err instanceof CodedError ? err.code : "restore_failed";
      const rest = opts.databases.slice(done.length + 1).map((d) => d.name);
      if (opts.mode === "prepared") {
        let settled: string;
        try {
          await settlePrepared(
            opts.databases.filter((d) => done.includes(d.name)),
            opts.runId,
            "rollback",
          );
          settled =
            done.length === 0
              ? "No database was changed."
              : `The prepared restore of ${quoted(done)} was rolled back, so every database is as it was.`;
        } catch (rollbackErr) {
          settled = `The prepared restore of ${quoted(done)} could not be rolled back (${errorText(rollbackErr)}); it is still prepared and changes nothing until committed: Roll back ends it, Retry tries again.`;
        }
        throw new CodedError(code, `Restoring database "${db.name}" failed: ${why} ${settled}`, {
          cause: err,
          details: { committed: [], failed: db.name, mode: "prepared" },
        });
      }
      const account =
        done.length === 0
          ? "No database was committed."
          : `${quoted(done)} ${done.length === 1 ? "was" : "were"} restored and committed; "${db.name}" is unchanged${rest.length > 0 ? `, and ${quoted(rest)} ${rest.length === 1 ? "was" : "were"} not started` : ""}. The databases now come from different points: Retry restores them all again.`;
      throw new CodedError(code, `Restoring database "${db.name}" failed: ${why} ${account}`, {
        cause: err,
        details: { committed: [...done], failed: db.name, mode: "sequential" },
      });
    }
  }
  if (opts.mode === "prepared") {
    // Every database is prepared: the decision is taken. A failure from here on leaves the
    // rest prepared (durable, invisible); settlePrepared(..., "commit") finishes them.
    try {
      await opts.onPrepared?.();
      await settlePrepared(opts.databases, opts.runId, "commit");
    } catch (err) {
      throw new CodedError(
        "restore_failed",
        `Every database's restore was prepared, but committing them failed: ${errorText(err)}. Those not yet committed stay prepared and change nothing until committed; Retry commits them.`,
        { cause: err, details: { mode: "prepared", outcome: "commit pending" } },
      );
    }
  }
  return { mode: opts.mode, committed: done, results };
}
