import { type ChildProcess, execFile, spawn } from "node:child_process";
import { Transform } from "node:stream";
import { promisify } from "node:util";
import { createGzip } from "node:zlib";
import type { ObjectStore } from "../../adapters/s3/object-store.js";
import { type BackupLocation, type PointFile, uploadPointFile } from "../../backups/index.js";
import { newDatabaseClient } from "../../db/database.js";
import { CodedError, redactSecrets } from "../../errors.js";

/**
 * Database dumps with the real `pg_dump`: plain format, without --clean or --create (DESIGN:
 * restorable by psql into an empty database), streamed through gzip into the point's folder
 * with bounded memory. pg_dump refuses servers of a newer major version than itself, so the
 * image ships the newest client (see the README) and `checkPgDumpCanDump` says so up front.
 */

const run = promisify(execFile);

/** The DSN as pg_dump takes it: the password moves to PGPASSWORD so it is not in argv. */
export function pgDumpConnection(dsn: string): { dbname: string; env: Record<string, string> } {
  if (/^postgres(ql)?:\/\//i.test(dsn)) {
    let url: URL;
    try {
      url = new URL(dsn);
    } catch {
      throw new CodedError("config_invalid", "The database DSN is not a valid postgres:// URL.");
    }
    const password = decodeURIComponent(url.password);
    url.password = "";
    return { dbname: url.toString(), env: password === "" ? {} : { PGPASSWORD: password } };
  }
  // key=value form: take password=… out the same way.
  const match = /(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/.exec(dsn);
  if (match === null) return { dbname: dsn, env: {} };
  const raw = match[1] ?? "";
  const password = raw.startsWith("'") ? raw.slice(1, -1).replace(/\\(.)/g, "$1") : raw;
  return {
    dbname: dsn.replace(match[0], " ").replace(/\s+/g, " ").trim(),
    env: { PGPASSWORD: password },
  };
}

/** pg_dump's major version, e.g. 17 for "pg_dump (PostgreSQL) 17.2". */
export async function pgDumpMajorVersion(pgDump = "pg_dump"): Promise<number> {
  let out: string;
  try {
    out = (await run(pgDump, ["--version"])).stdout;
  } catch (err) {
    throw new CodedError(
      "internal",
      `pg_dump could not be run (${(err as NodeJS.ErrnoException).code ?? String(err)}). Install the PostgreSQL client (postgresql-client-17 or newer) in restorebot's image.`,
      { cause: err },
    );
  }
  const major = /\(PostgreSQL\)\s+(\d+)/.exec(out)?.[1];
  if (major === undefined)
    throw new CodedError("internal", `pg_dump --version said "${out.trim()}".`);
  return Number(major);
}

export async function serverMajorVersion(dsn: string): Promise<number> {
  const client = newDatabaseClient({
    connectionString: dsn,
    application_name: "restorebot version check",
  });
  client.on("error", () => undefined);
  try {
    await client.connect();
    const row = (
      await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")
    ).rows[0];
    return Math.floor(Number(row?.v) / 10_000);
  } catch (err) {
    throw new CodedError(
      "database_error",
      `Cannot connect to the database to check its version: ${redactSecrets(err instanceof Error ? err.message : String(err))}.`,
      { cause: err },
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Refuses, before anything is paused, when pg_dump is older than the server. */
export async function checkPgDumpCanDump(
  dsn: string,
  database: string,
  pgDump = "pg_dump",
): Promise<{ client: number; server: number }> {
  const [client, server] = await Promise.all([pgDumpMajorVersion(pgDump), serverMajorVersion(dsn)]);
  if (client < server) {
    throw new CodedError(
      "precondition_failed",
      `pg_dump ${client} cannot dump database "${database}": its server runs PostgreSQL ${server}, and pg_dump must be the same major version or newer. Install postgresql-client-${server} (or newer) in restorebot's image. Nothing was changed.`,
    );
  }
  return { client, server };
}

export interface DumpDatabaseOptions {
  store: Pick<ObjectStore, "upload">;
  backups: BackupLocation;
  asOf: string;
  /** The point's file name, e.g. "pachyderm.sql.gz". */
  fileName: string;
  /** The database's name in the config ("pachyderm", "dex"), for messages. */
  database: string;
  dsn: string;
  pgDump?: string;
  /**
   * What pg_dump inherits besides its connection settings (PATH, locale): the worker passes
   * `env.childProcess`, read once at start. Without PATH the system's default path is searched.
   */
  childEnv?: Readonly<Record<string, string>>;
  signal?: AbortSignal;
  /** Upload part size; 8 MiB by default (memory ≈ partSize × (queueSize + 1)). */
  partSize?: number;
}

/**
 * pg_dump → gzip → S3, hashed on the way. The stream does not end until pg_dump has exited
 * 0: a pg_dump that fails halfway (lost connection, killed, permissions) fails the upload,
 * which then leaves no object, and the caller never writes complete.json.
 */
export async function dumpDatabaseToPoint(opts: DumpDatabaseOptions): Promise<PointFile> {
  const { dbname, env } = pgDumpConnection(opts.dsn);
  const child: ChildProcess = spawn(
    opts.pgDump ?? "pg_dump",
    ["--format=plain", "--no-password", `--dbname=${dbname}`],
    { env: { ...opts.childEnv, ...env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (text: string) => {
    stderr = (stderr + text).slice(-4000);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
    (resolve) => {
      child.once("error", (error) => resolve({ code: null, signal: null, error }));
      child.once("close", (code, signal) => resolve({ code, signal }));
    },
  );
  const failure = async (): Promise<CodedError | undefined> => {
    const { code, signal, error } = await exited;
    if (code === 0) return undefined;
    const why =
      error !== undefined
        ? `could not start (${(error as NodeJS.ErrnoException).code ?? error.message}); install the PostgreSQL client`
        : signal !== null
          ? `was stopped by ${signal}`
          : `exited with status ${code}`;
    const said = redactSecrets(stderr.trim().split("\n").slice(-3).join(" "));
    return new CodedError(
      "database_error",
      `pg_dump of database "${opts.database}" ${why}${said === "" ? "" : `: ${said}`}. The backup has no complete.json, so this point is incomplete and never restorable.`,
    );
  };
  // Holds back the end of the stream until pg_dump's exit status is known.
  const gate = new Transform({
    transform(chunk, _enc, done) {
      done(null, chunk);
    },
    flush(done) {
      failure().then((err) => done(err ?? null), done);
    },
  });
  const stdout = child.stdout;
  if (stdout === null) throw new CodedError("internal", "pg_dump has no stdout");
  stdout.on("error", (err) => gate.destroy(err));
  void failure().then((err) => {
    if (err !== undefined) gate.destroy(err);
  });
  const gzip = createGzip({ level: 6 });
  gate.on("error", (err) => gzip.destroy(err));
  stdout.pipe(gate).pipe(gzip);
  const onAbort = () => child.kill("SIGTERM");
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    return await uploadPointFile(opts.store, opts.backups, opts.asOf, opts.fileName, gzip, {
      contentType: "application/gzip",
      ...(opts.partSize === undefined ? {} : { partSize: opts.partSize }),
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    });
  } catch (err) {
    // The upload failed (S3, cancelled) or carried pg_dump's own failure: either way no
    // pg_dump is left running.
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
    throw err;
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
  }
}
