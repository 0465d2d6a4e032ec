import pg from "pg";

/**
 * The port through which code outside the database adapter reaches restorebot's PostgreSQL:
 * only the operations it really uses. A pool satisfies `Database`; the client a transaction
 * runs on satisfies `TransactionClient`. Code outside src/db/ imports these, never `pg`.
 */

/** Something that runs one statement: a pool, or a client inside a transaction. */
export type Queryable = Pick<pg.Pool, "query"> | Pick<pg.PoolClient, "query">;

/** restorebot's database: single statements, and a client to run a transaction on. */
export type Database = Pick<pg.Pool, "query" | "connect">;

/** The client of a transaction in progress (`withTransaction` hands one to its work). */
export type TransactionClient = pg.PoolClient;

/** The pool itself, for the composition roots and health checks that also end it. */
export type DatabasePool = pg.Pool;

/** A pg error's fields restorebot reads (SQLSTATE code, constraint name). */
export type DatabaseError = pg.DatabaseError;

/** Whether `db` is a transaction's client (it has `release`), not a pool. */
export function isTransactionClient(db: Queryable | Database): db is TransactionClient {
  return typeof (db as Partial<TransactionClient>).release === "function";
}

/** Connection settings of a PostgreSQL client (a catalog DSN, parsed). */
export type DatabaseClientConfig = pg.ClientConfig;

/** One connection to a target's PostgreSQL database (not restorebot's own). */
export type DatabaseClient = pg.Client;

/** A new, not yet connected client for a target's database; the caller connects and ends it. */
export function newDatabaseClient(config: DatabaseClientConfig): DatabaseClient {
  return new pg.Client(config);
}
