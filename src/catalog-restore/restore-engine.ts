import type { Writable } from "node:stream";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { CodedError, redactSecrets } from "../errors.js";
import type { Logger } from "../logging/logger.js";
import { formatDuration } from "../text/format.js";
import { BinaryCopyEncoder, binaryCopyStatement, readCopyColumnCodecs } from "./binary-copy.js";
import { type DumpSource, openDumpStream } from "./dump-source.js";
import {
  type DumpEvent,
  type DumpObjectRef,
  DumpSplitter,
  describeObject,
} from "./dump-splitter.js";
import {
  assertSupportedServer,
  type ClearedCatalog,
  clearCatalog,
  describeSessions,
  findPrivilegeProblems,
  readOtherSessions,
} from "./live-catalog.js";
import { DumpPolicy, preview, type StatementDecision } from "./statement-policy.js";

/**
 * The catalog restore: makes the catalog database equal to a gzipped plain pg_dump, in one
 * transaction on one dedicated connection. Everything is streamed: compressed bytes in,
 * statements executed one by one, COPY data written through with backpressure. Nothing is
 * committed unless the whole dump was read, its gzip checksum matched, pg_dump's closing
 * line was seen and every statement succeeded; any failure, cancellation or lost connection
 * rolls back, and PostgreSQL itself rolls back a transaction whose client disappears.
 */

export type CatalogRestorePhase =
  | "connecting"
  | "clearing"
  | "restoring"
  | "committing"
  | "committed"
  | "prepared"
  | "rolled-back";

/** What the runner narrates; sent at phase changes and at most every `progressIntervalMs`. */
export interface CatalogRestoreProgress {
  phase: CatalogRestorePhase;
  compressedBytesRead: number;
  /** Size of the compressed snapshot when known (S3 object or file size). */
  compressedBytesTotal: number | null;
  sqlBytesRead: number;
  statementsExecuted: number;
  rowsCopied: number;
  /** pg_dump's name for what is being restored, e.g. "TABLE DATA public.orders". */
  currentObject: string | null;
  /** Line of the dump being executed. */
  line: number;
  elapsedMs: number;
}

export interface RestoreCatalogOptions {
  /** The gzipped plain pg_dump: a file or S3 body stream, or any async iterable of bytes. */
  source: DumpSource;
  compressedBytesTotal?: number | undefined;
  /** The catalog database: a DSN or node-pg client settings (TLS and so on). */
  connection: string | pg.ClientConfig;
  signal?: AbortSignal | undefined;
  onProgress?: ((progress: CatalogRestoreProgress) => void) | undefined;
  progressIntervalMs?: number | undefined;
  /** How long to wait for another session's lock before giving up; default 30 s. */
  lockTimeoutMs?: number | undefined;
  /**
   * Memory PostgreSQL may use per index build during the restore (server side); larger
   * values build the catalog's big indexes in one sort. Default "256MB".
   */
  maintenanceWorkMem?: string | undefined;
  /**
   * Send COPY data in PostgreSQL's binary format for tables whose column types convert
   * exactly (see binary-copy.ts), so the database skips parsing text; default true.
   */
  binaryCopy?: boolean | undefined;
  /**
   * Roles the snapshot makes owners (`DumpPreflight.owners`), when it was preflighted: the
   * restore then refuses up front, rather than rolling back late, when one is missing.
   */
  snapshotOwners?: string[] | undefined;
  /**
   * The snapshot's entries (`DumpPreflight.objects`), when it was preflighted: a DSN user
   * that is not a superuser is then refused up front, rather than rolled back late, when the
   * snapshot has objects only a superuser can create (event triggers, …).
   */
  snapshotObjects?: DumpObjectRef[] | undefined;
  /**
   * Awaited just before COMMIT; a rejection rolls the restore back. The CLI passes its
   * concurrent full check of the snapshot here.
   */
  beforeCommit?: (() => Promise<unknown>) | undefined;
  /** Sentences for the operator about conditions that do not stop the restore. */
  onWarning?: ((message: string) => void) | undefined;
  logger?: EngineLogger | undefined;
  /** How messages name the database; the catalog's wording by default. */
  wording?: RestoreWording | undefined;
  /**
   * End with `PREPARE TRANSACTION '<id>'` instead of COMMIT: the restore is then durable but
   * invisible until someone runs COMMIT PREPARED (or ROLLBACK PREPARED) with this id, so
   * several databases can be restored together. Needs max_prepared_transactions > 0.
   */
  prepareAs?: string | undefined;
}

/**
 * The two logger methods the engine uses; the runner passes its pino logger. Without one the
 * engine logs nothing, and the CLI does not load pino at all (it would only slow start-up).
 */
export type EngineLogger = Pick<Logger, "info" | "warn">;

const silentLogger: EngineLogger = { info: () => undefined, warn: () => undefined };

export interface RestoreCatalogResult {
  compressedBytes: number;
  sqlBytes: number;
  statementsExecuted: number;
  copyBlocks: number;
  /** COPY blocks sent in binary format. */
  binaryCopyBlocks: number;
  rowsCopied: number;
  cleared: ClearedCatalog;
  durationMs: number;
  /** The prepared transaction's id when `prepareAs` was given (not yet committed). */
  prepared?: string;
}

/** COPY data buffered toward the server before waiting for it to drain. */
const COPY_BUFFER_BYTES = 1024 * 1024;

interface Reviewed {
  event: DumpEvent;
  /** The policy's decision, for statements. */
  decision: StatementDecision | undefined;
}

/**
 * How messages name the database. The engine restores any database exactly; a kind passes its
 * own wording (who its clients are), and the default names a catalog database plainly.
 */
export interface RestoreWording {
  /** "the catalog", `database "pachyderm"`. */
  subject: string;
  /** "the catalog database", `database "pachyderm"`. */
  database: string;
  /** Who must stop before a retry when another session holds a lock. */
  stopClients: string;
  /** What to do when the commit's outcome is unknown. */
  beforeClients: string;
}

export const CATALOG_WORDING: RestoreWording = {
  subject: "the catalog",
  database: "the catalog database",
  stopClients: "every client of the catalog database",
  beforeClients: "before starting the catalog's clients",
};

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function unchangedText(w: RestoreWording): string {
  return `${capitalise(w.subject)} was left unchanged (the restore transaction was rolled back).`;
}

function notContactedText(w: RestoreWording): string {
  return `Nothing was changed: ${w.database} was not contacted.`;
}

export async function restoreCatalog(
  options: RestoreCatalogOptions,
): Promise<RestoreCatalogResult> {
  const started = performance.now();
  const logger = options.logger ?? silentLogger;
  const wording = options.wording ?? CATALOG_WORDING;
  const UNCHANGED = unchangedText(wording);
  const NOT_CONTACTED = notContactedText(wording);
  const cancelledError = (contacted = true) => cancelledErrorFor(wording, contacted);
  const { signal } = options;
  if (signal?.aborted) throw cancelledError(false);

  // The file is checked (gzip, pg_dump header) before any connection is opened.
  let dump: Awaited<ReturnType<typeof openDumpStream>>;
  try {
    dump = await openDumpStream(options.source);
  } catch (err) {
    const coded = err instanceof CodedError ? err : new CodedError("dump_invalid", errorText(err));
    throw new CodedError(coded.code, `${coded.message} ${NOT_CONTACTED}`, {
      cause: err,
      details: coded.details,
    });
  }
  const splitter = new DumpSplitter();
  const policy = new DumpPolicy();
  const progress = new ProgressReporter(options, dump, started);
  const config: pg.ClientConfig =
    typeof options.connection === "string"
      ? { connectionString: options.connection }
      : { ...options.connection };
  config.application_name ??= "restorebot restore-catalog";

  let client: pg.Client | undefined;
  let connectionLost: Error | undefined;
  let backendPid = 0;
  let copy: ReturnType<typeof copyFrom> | undefined;
  let copyError: Error | undefined;
  let encoder: BinaryCopyEncoder | undefined;
  let binaryCopyBlocks = 0;
  let committing = false;
  let cancelled = false;
  let current: { line: number; object: DumpObjectRef | undefined; sql: string } = {
    line: 0,
    object: undefined,
    sql: "",
  };
  let statementsExecuted = 0;
  let copyBlocks = 0;
  let rowsCopied = 0;
  let cleared: ClearedCatalog | undefined;

  const onAbort = () => {
    if (committing) return; // too late: COMMIT is on the wire
    cancelled = true;
    const reason = cancelledError(client !== undefined);
    dump.destroy(reason);
    copy?.destroy(reason);
    // A long statement (an index build, a foreign key check) is interrupted server side.
    if (backendPid !== 0) void cancelBackend(config, backendPid, logger);
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  // The signal may have fired while the snapshot was being opened.
  if (signal?.aborted) onAbort();
  const stopIfCancelled = () => {
    if (cancelled) throw cancelledError(client !== undefined);
  };

  // The policy sees every event once, in order; statements carry its decision to `handle`.
  const review = (event: DumpEvent): Reviewed => {
    if (event.kind === "statement")
      return { event, decision: policy.statement(event.sql, event.line, event.object) };
    if (event.kind === "meta") policy.meta(event.command, event.argument, event.line);
    return { event, decision: undefined };
  };
  const chunks = dump.chunks[Symbol.asyncIterator]();

  try {
    // The first chunk holds the preamble, where pg_dump --create puts CREATE DATABASE and
    // \connect: such dumps are refused before the database is contacted.
    const first = await chunks.next();
    const ahead = first.done ? [] : splitter.push(first.value).map(review);
    stopIfCancelled();
    progress.phase("connecting");
    client = new pg.Client(config);
    client.on("error", (err) => {
      connectionLost ??= err;
    });
    try {
      await client.connect();
    } catch (err) {
      throw new CodedError(
        "database_error",
        `Cannot connect to ${wording.database}: ${redactSecrets(errorText(err))}. Nothing was changed.`,
        { cause: err },
      );
    }
    const db = client;
    await assertSupportedServer(db);
    const problems = await findPrivilegeProblems(
      db,
      options.snapshotOwners,
      options.snapshotObjects,
    );
    if (problems.length > 0) {
      throw new CodedError(
        "forbidden",
        `${capitalise(wording.subject)}'s DSN user cannot do this restore: ${problems.join("; ")}. Nothing was changed. See docs/catalog-restore.md for the privileges it needs.`,
      );
    }
    const others = await readOtherSessions(db);
    if (others.length > 0) {
      logger.warn({ sessions: others.length }, "other sessions are connected to the catalog");
      options.onWarning?.(
        `${others.length} other session(s) are connected to ${wording.database}: ${describeSessions(others)}. If they hold locks, the restore waits up to ${formatDuration(options.lockTimeoutMs ?? 30_000)} and then stops without changing anything.`,
      );
    }
    backendPid =
      (await db.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]?.pid ?? 0;

    stopIfCancelled();
    await db.query("BEGIN");
    await db.query(
      `SET LOCAL lock_timeout = ${Math.max(1, Math.round(options.lockTimeoutMs ?? 30_000))}`,
    );
    await db.query("SET LOCAL statement_timeout = 0");
    await db.query("SET LOCAL idle_in_transaction_session_timeout = 0");
    await db.query("SET LOCAL client_min_messages = warning");
    await db.query(
      `SET LOCAL maintenance_work_mem = ${quoteLiteral(options.maintenanceWorkMem ?? "256MB")}`,
    );

    progress.phase("clearing");
    try {
      cleared = await clearCatalog(db);
    } catch (err) {
      if (isLockTimeout(err)) {
        throw new CodedError(
          "restore_failed",
          `Another session holds a lock on ${wording.subject}, so its objects cannot be replaced: ${describeSessions(others) || "(it has gone since)"}. Stop ${wording.stopClients}, then run the restore again. ${UNCHANGED}`,
          { cause: err },
        );
      }
      throw err;
    }

    stopIfCancelled();
    progress.phase("restoring");
    const handle = async ({ event, decision }: Reviewed): Promise<void> => {
      switch (event.kind) {
        case "statement": {
          current = { line: event.line, object: event.object, sql: event.sql };
          progress.object(event.object, event.line);
          if (decision === undefined || decision.action === "skip") return;
          await db.query(decision.sql);
          statementsExecuted++;
          progress.update(statementsExecuted, rowsCopied);
          return;
        }
        case "copy-start": {
          current = { line: event.line, object: event.object, sql: event.sql };
          progress.object(event.object, event.line);
          copyError = undefined;
          const codecs =
            options.binaryCopy === false ? undefined : await readCopyColumnCodecs(db, event.sql);
          encoder =
            codecs === undefined
              ? undefined
              : new BinaryCopyEncoder(codecs, describeObject(event.object), event.line);
          const sql = encoder === undefined ? event.sql : binaryCopyStatement(event.sql);
          const stream = db.query(copyFrom(sql, { highWaterMark: COPY_BUFFER_BYTES }));
          stream.on("error", (err: Error) => {
            copyError ??= err;
          });
          copy = stream;
          if (encoder !== undefined) {
            binaryCopyBlocks++;
            stream.write(encoder.header());
          }
          return;
        }
        case "copy-data": {
          const stream = copy;
          if (stream === undefined) return;
          if (copyError) throw copyError;
          rowsCopied += event.rows;
          const data = encoder === undefined ? event.data : encoder.encode(event.data);
          if (data.length > 0 && !stream.write(data)) await drained(stream, () => copyError);
          progress.update(statementsExecuted, rowsCopied);
          return;
        }
        case "copy-end": {
          const stream = copy;
          if (stream === undefined) return;
          if (copyError) throw copyError;
          if (encoder !== undefined) stream.write(encoder.finish());
          await endCopy(stream, () => copyError);
          copy = undefined;
          encoder = undefined;
          copyBlocks++;
          statementsExecuted++;
          return;
        }
        case "meta":
          // Reviewed (and accepted) by the policy already; nothing to run.
          current = {
            line: event.line,
            object: undefined,
            sql: `${event.command} ${event.argument}`,
          };
          return;
      }
    };

    for (const reviewed of ahead) await handle(reviewed);
    for (;;) {
      const next = await chunks.next();
      if (next.done) break;
      for (const event of splitter.push(next.value)) await handle(review(event));
    }
    for (const event of splitter.end()) await handle(review(event));
    policy.finish(splitter.complete, splitter.currentLine);
    if (options.beforeCommit) await options.beforeCommit();

    progress.phase("committing");
    const xid = (await db.query<{ xid: string }>("SELECT pg_current_xact_id()::text AS xid"))
      .rows[0]?.xid;
    committing = true;
    signal?.removeEventListener("abort", onAbort);
    if (options.prepareAs !== undefined) {
      try {
        await db.query(`PREPARE TRANSACTION ${quoteLiteral(options.prepareAs)}`);
      } catch (err) {
        if (isServerError(err)) throw err; // e.g. prepared transactions disabled: rolled back
        await confirmPrepared(config, options.prepareAs, backendPid, err, wording);
      }
    } else {
      try {
        await db.query("COMMIT");
      } catch (err) {
        if (isServerError(err)) throw err; // e.g. a deferred constraint: rolled back
        await confirmCommit(config, xid, err, wording);
      }
    }
    progress.phase(options.prepareAs !== undefined ? "prepared" : "committed");
    await db.end().catch(() => undefined);
    const result: RestoreCatalogResult = {
      compressedBytes: dump.compressedBytesRead,
      sqlBytes: dump.sqlBytesRead,
      statementsExecuted,
      copyBlocks,
      binaryCopyBlocks,
      rowsCopied,
      cleared,
      durationMs: Math.round(performance.now() - started),
      ...(options.prepareAs !== undefined ? { prepared: options.prepareAs } : {}),
    };
    logger.info({ ...result, cleared: undefined }, "catalog restored");
    return result;
  } catch (err) {
    signal?.removeEventListener("abort", onAbort);
    dump.destroy(err instanceof Error ? err : new Error(String(err)));
    if (err instanceof CodedError && err.code === "restore_failed" && committing) {
      // The outcome of COMMIT is unknown: do not pretend it rolled back.
      if (client) await closeQuietly(client);
      throw err;
    }
    if (client) await rollbackQuietly(client);
    progress.phase("rolled-back");
    throw explainFailure(err, wording, {
      cancelled,
      connectionLost,
      current,
      clearing: cleared === undefined && backendPid !== 0,
      contacted: client !== undefined,
    });
  }
}

function cancelledErrorFor(wording: RestoreWording, contacted = true): CodedError {
  return new CodedError(
    "cancelled",
    `The restore was cancelled. ${contacted ? unchangedText(wording) : notContactedText(wording)}`,
  );
}

/** Turns whatever went wrong into one message that says what, where, and the outcome. */
function explainFailure(
  err: unknown,
  wording: RestoreWording,
  context: {
    cancelled: boolean;
    connectionLost: Error | undefined;
    current: { line: number; object: DumpObjectRef | undefined; sql: string };
    clearing: boolean;
    contacted: boolean;
  },
): CodedError {
  const UNCHANGED = unchangedText(wording);
  const NOT_CONTACTED = notContactedText(wording);
  const cancelledError = (contacted: boolean) => cancelledErrorFor(wording, contacted);
  if (context.cancelled) return cancelledError(context.contacted);
  if (!context.contacted && err instanceof CodedError && err.code !== "cancelled") {
    return new CodedError(err.code, `${err.message} ${NOT_CONTACTED}`, {
      cause: err,
      details: err.details,
    });
  }
  const where =
    context.current.line > 0
      ? `at line ${context.current.line} of the dump (${describeObject(context.current.object)})`
      : context.clearing
        ? `while clearing ${wording.subject} before the restore`
        : "before the restore started";
  if (err instanceof CodedError) {
    if (err.code === "cancelled") return cancelledError(context.contacted);
    if (err.code === "dump_invalid")
      return new CodedError("dump_invalid", `${err.message} ${UNCHANGED}`, {
        cause: err,
        details: err.details,
      });
    if (err.message.includes(UNCHANGED) || err.message.includes("Nothing was changed")) return err;
    return new CodedError(err.code, `${err.message} ${UNCHANGED}`, {
      cause: err,
      details: err.details,
    });
  }
  if (isServerError(err)) {
    const e = err as pg.DatabaseError;
    const sentence = (text: string) => (/[.!?]$/.test(text) ? text : `${text}.`);
    const parts = [`PostgreSQL rejected the statement ${where}: ${sentence(e.message)}`];
    if (e.detail) parts.push(`Detail: ${sentence(e.detail)}`);
    if (e.hint) parts.push(`Hint: ${sentence(e.hint)}`);
    if (e.code === "57014") parts.push("(The statement was cancelled on the server.)");
    if (e.code === "57P01" || e.code === "57P02" || e.code === "57P03")
      parts.push("The database server shut down or terminated the restore's connection.");
    if (context.current.sql) parts.push(`Statement: ${preview(context.current.sql)}`);
    parts.push(UNCHANGED);
    return new CodedError("restore_failed", redactSecrets(parts.join(" ")), {
      cause: err,
      details: { line: context.current.line, sqlstate: e.code },
    });
  }
  if (context.connectionLost || isConnectionError(err)) {
    return new CodedError(
      "database_error",
      `The connection to ${wording.database} was lost ${where}: ${redactSecrets(errorText(context.connectionLost ?? err))}. PostgreSQL rolls back a transaction whose connection drops, so ${wording.subject} is unchanged.`,
      { cause: err },
    );
  }
  return new CodedError(
    "restore_failed",
    `The restore failed ${where}: ${redactSecrets(errorText(err))}. ${context.contacted ? UNCHANGED : NOT_CONTACTED}`,
    { cause: err },
  );
}

function isServerError(err: unknown): boolean {
  return (
    err instanceof pg.DatabaseError ||
    (typeof (err as { code?: unknown })?.code === "string" &&
      /^[0-9A-Z]{5}$/.test((err as { code: string }).code) &&
      typeof (err as { severity?: unknown }).severity === "string")
  );
}

function isLockTimeout(err: unknown): boolean {
  return isServerError(err) && (err as pg.DatabaseError).code === "55P03";
}

function isConnectionError(err: unknown): boolean {
  const text = errorText(err);
  return (
    /Connection terminated|ECONNRESET|EPIPE|ECONNREFUSED|not queryable|socket/i.test(text) ||
    (err as NodeJS.ErrnoException)?.code === "ECONNRESET"
  );
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

async function drained(stream: Writable, failure: () => Error | undefined): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const failed = failure();
    if (failed) return reject(failed);
    const onDrain = () => {
      stream.removeListener("error", onError);
      stream.removeListener("close", onClose);
      resolve();
    };
    const onError = (err: Error) => {
      stream.removeListener("drain", onDrain);
      stream.removeListener("close", onClose);
      reject(err);
    };
    const onClose = () => {
      stream.removeListener("drain", onDrain);
      stream.removeListener("error", onError);
      reject(failure() ?? new Error("the COPY stream closed before its data was sent"));
    };
    stream.once("drain", onDrain);
    stream.once("error", onError);
    stream.once("close", onClose);
  });
}

async function endCopy(
  stream: ReturnType<typeof copyFrom>,
  failure: () => Error | undefined,
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onFinish = () => {
      stream.removeListener("error", onError);
      stream.removeListener("close", onClose);
      resolve();
    };
    const onError = (err: Error) => {
      stream.removeListener("finish", onFinish);
      stream.removeListener("close", onClose);
      reject(err);
    };
    const onClose = () => {
      stream.removeListener("finish", onFinish);
      stream.removeListener("error", onError);
      const failed = failure();
      if (failed) reject(failed);
      else resolve();
    };
    stream.once("finish", onFinish);
    stream.once("error", onError);
    stream.once("close", onClose);
    stream.end();
  });
}

async function rollbackQuietly(client: pg.Client): Promise<void> {
  const rollback = client.query("ROLLBACK").then(
    () => undefined,
    () => undefined,
  );
  await Promise.race([rollback, delay(10_000)]);
  await closeQuietly(client);
}

async function closeQuietly(client: pg.Client): Promise<void> {
  await Promise.race([client.end().catch(() => undefined), delay(5_000)]);
  client.connection.stream.destroy();
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Interrupts the restore's running statement from a second connection. */
async function cancelBackend(
  config: pg.ClientConfig,
  pid: number,
  logger: EngineLogger,
): Promise<void> {
  const side = new pg.Client({
    ...config,
    application_name: "restorebot restore-catalog (cancel)",
  });
  side.on("error", () => undefined);
  try {
    await side.connect();
    await side.query("SELECT pg_cancel_backend($1)", [pid]);
  } catch (err) {
    logger.warn({ err: redactSecrets(errorText(err)) }, "could not cancel the restore's statement");
  } finally {
    await side.end().catch(() => undefined);
  }
}

/**
 * The connection dropped while COMMIT was in flight: ask the server what became of the
 * transaction instead of guessing.
 */
async function confirmCommit(
  config: pg.ClientConfig,
  xid: string | undefined,
  commitError: unknown,
  wording: RestoreWording,
): Promise<void> {
  const UNCHANGED = unchangedText(wording);
  const unknown = (why: string) =>
    new CodedError(
      "restore_failed",
      `The connection was lost while committing the restore, and ${why}. ${capitalise(wording.subject)} is either fully restored or unchanged — never partly. Check it (for example, compare a pg_dump with the snapshot) ${wording.beforeClients}, or run the restore again.`,
      { cause: commitError, details: { outcome: "unknown" } },
    );
  if (xid === undefined) throw unknown("its transaction id is unknown");
  for (let attempt = 0; attempt < 10; attempt++) {
    const side = new pg.Client({
      ...config,
      application_name: "restorebot restore-catalog (check)",
    });
    side.on("error", () => undefined);
    try {
      await side.connect();
      const { rows } = await side.query<{ status: string | null }>(
        "SELECT pg_xact_status($1::xid8) AS status",
        [xid],
      );
      const status = rows[0]?.status;
      if (status === "committed") return;
      if (status === "aborted")
        throw new CodedError(
          "database_error",
          `The connection was lost while committing, and PostgreSQL reports the transaction rolled back. ${UNCHANGED}`,
          { cause: commitError },
        );
    } catch (err) {
      if (err instanceof CodedError) throw err;
    } finally {
      await side.end().catch(() => undefined);
    }
    await delay(1_000);
  }
  throw unknown("the server could not be asked whether it committed");
}

/**
 * The connection dropped while PREPARE TRANSACTION was in flight: once the old session is
 * gone, the prepared transaction either exists (prepared) or does not (rolled back).
 */
async function confirmPrepared(
  config: pg.ClientConfig,
  gid: string,
  backendPid: number,
  prepareError: unknown,
  wording: RestoreWording,
): Promise<void> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const side = new pg.Client({ ...config, application_name: "restorebot restore (check)" });
    side.on("error", () => undefined);
    try {
      await side.connect();
      const alive = await side.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1", [backendPid]);
      if (alive.rowCount === 0) {
        const found = await side.query("SELECT 1 FROM pg_prepared_xacts WHERE gid = $1", [gid]);
        if ((found.rowCount ?? 0) > 0) return;
        throw new CodedError(
          "database_error",
          `The connection was lost while preparing the restore's transaction, and PostgreSQL holds no prepared transaction "${gid}". ${unchangedText(wording)}`,
          { cause: prepareError },
        );
      }
    } catch (err) {
      if (err instanceof CodedError) throw err;
    } finally {
      await side.end().catch(() => undefined);
    }
    await delay(1_000);
  }
  throw new CodedError(
    "restore_failed",
    `The connection was lost while preparing the restore's transaction, and the server could not be asked whether "${gid}" was prepared. Look in pg_prepared_xacts ${wording.beforeClients}: ROLLBACK PREPARED '${gid}' leaves ${wording.subject} unchanged.`,
    { cause: prepareError, details: { outcome: "unknown" } },
  );
}

/** Throttled progress events. */
class ProgressReporter {
  private last = 0;
  private currentObject: string | null = null;
  private line = 0;
  private statements = 0;
  private rows = 0;
  private currentPhase: CatalogRestorePhase = "connecting";

  constructor(
    private readonly options: RestoreCatalogOptions,
    private readonly dump: { compressedBytesRead: number; sqlBytesRead: number },
    private readonly started: number,
  ) {}

  phase(phase: CatalogRestorePhase): void {
    this.currentPhase = phase;
    this.emit();
  }

  object(object: DumpObjectRef | undefined, line: number): void {
    if (object !== undefined) this.currentObject = describeObject(object);
    this.line = line;
  }

  update(statements: number, rows: number): void {
    this.statements = statements;
    this.rows = rows;
    const now = performance.now();
    if (now - this.last >= (this.options.progressIntervalMs ?? 500)) this.emit();
  }

  private emit(): void {
    const listener = this.options.onProgress;
    this.last = performance.now();
    if (!listener) return;
    try {
      listener({
        phase: this.currentPhase,
        compressedBytesRead: this.dump.compressedBytesRead,
        compressedBytesTotal: this.options.compressedBytesTotal ?? null,
        sqlBytesRead: this.dump.sqlBytesRead,
        statementsExecuted: this.statements,
        rowsCopied: this.rows,
        currentObject: this.currentObject,
        line: this.line,
        elapsedMs: Math.round(this.last - this.started),
      });
    } catch {
      // A narration problem never fails a restore.
    }
  }
}
