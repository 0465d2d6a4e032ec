import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import pg from "pg";
import type { ObjectStore } from "../adapters/s3/object-store.js";
import { formatS3Url, parseS3Url } from "../adapters/s3/s3-url.js";
import { connectionConfig, describeDatabaseUrl } from "../db/pool.js";
import { asCodedError, CodedError, redactSecrets } from "../errors.js";
import { formatBytes, formatCount, formatDuration } from "../text/format.js";
import { describeObject } from "./dump-splitter.js";
import {
  assertSupportedServer,
  describeSessions,
  findPrivilegeProblems,
  readLiveInventory,
  readOtherSessions,
} from "./live-catalog.js";
import { type DumpPreflight, preflightDump } from "./preflight.js";
import { formatProgressBar, formatProgressLine } from "./progress-format.js";
import { type CatalogRestoreProgress, restoreCatalog } from "./restore-engine.js";
import { planRestore, type RestorePlan } from "./restore-plan.js";

/**
 * `restorebot restore-catalog`: the catalog restore without Slack — the operators'
 * break-glass tool and the benchmark's entry point. It checks the whole snapshot first (so a
 * bad file is refused before the database is touched), then restores in one transaction.
 * Exit codes: 0 restored (or, with --dry-run, restorable); 1 failed, catalog unchanged;
 * 2 usage; 3 connection lost during COMMIT and the outcome could not be confirmed;
 * 130 cancelled (Ctrl-C), catalog unchanged.
 */

export const RESTORE_CATALOG_USAGE = `Usage: restorebot restore-catalog --snapshot <file.gz | s3://bucket/key> --dsn-env <VAR> [--dry-run]

Makes the catalog database equal to a snapshot (a gzipped plain pg_dump), in one
transaction: on any error the catalog is left exactly as it was.

  --snapshot <src>     a local pg_dump.gz, or s3://<bucket>/<key> (downloaded to a temp file first)
  --dsn-env <VAR>      name of the environment variable holding the catalog DSN
                       (postgres://user@host:5432/db); the DSN itself is never printed
  --dry-run            check the snapshot and the catalog; print what would be dropped,
                       created and replaced; change nothing
  --s3-endpoint <url>  S3-compatible endpoint (default: $AWS_ENDPOINT_URL_S3 or $AWS_ENDPOINT_URL)
  --s3-region <name>   default: $AWS_REGION, else us-east-1

Stop every client of the database first (the system's pods scaled to 0). Exit status: 0 done,
1 failed (catalog unchanged), 2 usage, 3 outcome unknown (connection lost while
committing), 130 cancelled (catalog unchanged).`;

export interface RestoreCatalogCliIo {
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Draw a progress bar (default: whether stderr is a terminal). */
  isTTY?: boolean;
  /** Cancels the restore; when absent, SIGINT/SIGTERM do. */
  signal?: AbortSignal;
}

export interface RestoreCatalogArgs {
  snapshot: string;
  dsnEnv: string;
  dryRun: boolean;
  s3Endpoint: string | undefined;
  s3Region: string | undefined;
}

export function parseRestoreCatalogArgs(argv: string[]): RestoreCatalogArgs | "help" {
  const values = new Map<string, string>();
  let dryRun = false;
  const withValue = new Set(["--snapshot", "--dsn-env", "--s3-endpoint", "--s3-region"]);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--help" || arg === "-h") return "help";
    if (arg === "--dry-run") {
      dryRun = true;
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (!withValue.has(name)) {
      throw new CodedError("usage", `unknown option "${arg}".\n\n${RESTORE_CATALOG_USAGE}`);
    }
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || value === "" || (eq < 0 && value.startsWith("--"))) {
      throw new CodedError("usage", `${name} needs a value.\n\n${RESTORE_CATALOG_USAGE}`);
    }
    values.set(name, value);
  }
  const snapshot = values.get("--snapshot");
  const dsnEnv = values.get("--dsn-env");
  if (snapshot === undefined || dsnEnv === undefined) {
    const missing = [
      snapshot === undefined ? "--snapshot" : "",
      dsnEnv === undefined ? "--dsn-env" : "",
    ]
      .filter(Boolean)
      .join(" and ");
    throw new CodedError(
      "usage",
      `${missing} ${missing.includes(" and ") ? "are" : "is"} required.\n\n${RESTORE_CATALOG_USAGE}`,
    );
  }
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(dsnEnv)) {
    throw new CodedError(
      "usage",
      `--dsn-env takes the NAME of an environment variable (like PROD_CATALOG_DSN), not "${dsnEnv.includes("://") ? "a DSN" : dsnEnv}"; the DSN stays out of the command line and shell history.`,
    );
  }
  return {
    snapshot,
    dsnEnv,
    dryRun,
    s3Endpoint: values.get("--s3-endpoint"),
    s3Region: values.get("--s3-region"),
  };
}

export async function runRestoreCatalogCommand(
  argv: string[],
  io: RestoreCatalogCliIo,
): Promise<number> {
  const say = (text: string) => io.stdout.write(`${text}\n`);
  const warn = (text: string) => io.stderr.write(`${text}\n`);
  let args: RestoreCatalogArgs | "help";
  try {
    args = parseRestoreCatalogArgs(argv);
  } catch (err) {
    warn(`restore-catalog: ${asCodedError(err).message}`);
    return 2;
  }
  if (args === "help") {
    say(RESTORE_CATALOG_USAGE);
    return 0;
  }
  const dsn = io.env[args.dsnEnv];
  if (dsn === undefined || dsn.trim() === "") {
    warn(
      `restore-catalog: the environment variable ${args.dsnEnv} (from --dsn-env) is not set. Put the catalog's DSN in it, e.g.\n  read -rs ${args.dsnEnv} && export ${args.dsnEnv}\nthen run the command again. Nothing was changed.`,
    );
    return 2;
  }

  const controller = new AbortController();
  const signal = io.signal ?? controller.signal;
  const onSignal = () => controller.abort();
  if (io.signal === undefined) {
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  }
  const database = describeDatabaseUrl(dsn);
  const tty = io.isTTY ?? io.stderr.isTTY === true;
  let tempDir: string | undefined;
  let touchedDatabase = false;
  try {
    const local = await locateSnapshot(args, io, signal, tty, (dir) => {
      tempDir = dir;
    });
    const connection = connectionConfig(dsn);
    if (args.dryRun) {
      const snapshot = local.checked ?? (await checkSnapshot(local, signal, say));
      say(describeSnapshot(snapshot));
      return await dryRun(snapshot, connection, database, args.dsnEnv, say);
    }

    // A local snapshot is checked while the restore runs, not before: the restore commits
    // only once the check has passed, and stops (rolling back) as soon as it fails. The dump
    // kinds restorebot refuses outright (not gzip, not a pg_dump, pg_dump --create) are
    // refused by the restore itself before it contacts the catalog.
    let checked = local.checked;
    let checkFailure: CodedError | undefined;
    const stopRestore = new AbortController();
    const checking =
      checked !== undefined
        ? Promise.resolve(checked)
        : preflightDump(createReadStream(local.path), {
            compressedBytesTotal: local.size,
            signal,
          }).then(
            (snapshot) => {
              checked = snapshot;
              return snapshot;
            },
            (err: unknown) => {
              checkFailure = asCodedError(err);
              stopRestore.abort();
              throw err;
            },
          );
    checking.catch(() => undefined); // reported through checkFailure
    if (local.checked !== undefined) say(describeSnapshot(local.checked));
    say(
      `Restoring ${database} (DSN from $${args.dsnEnv}) to the snapshot ${local.label} (${formatBytes(local.size)}): everything in the database is replaced, in one transaction${local.checked === undefined ? ", while the snapshot is checked in full" : ""}.`,
    );
    touchedDatabase = true;
    const render = progressRenderer(io, tty, () => checked?.rows);
    let result: Awaited<ReturnType<typeof restoreCatalog>>;
    try {
      result = await restoreCatalog({
        source: createReadStream(local.path),
        compressedBytesTotal: local.size,
        connection,
        signal: AbortSignal.any([signal, stopRestore.signal]),
        snapshotOwners: local.checked?.owners,
        snapshotObjects: local.checked?.objects,
        beforeCommit: () => checking,
        progressIntervalMs: tty ? 200 : 5_000,
        onProgress: render.update,
        onWarning: (message) => {
          render.clear();
          warn(`restore-catalog: warning: ${message}`);
        },
      });
    } catch (err) {
      render.clear();
      const coded = asCodedError(err);
      if (checkFailure !== undefined && coded.code === "cancelled" && !signal.aborted) {
        throw new CodedError(
          checkFailure.code,
          `${checkFailure.message} The restore was stopped; the catalog was left unchanged.`,
          { cause: checkFailure, details: checkFailure.details },
        );
      }
      throw err;
    }
    render.clear();
    if (local.checked === undefined && checked !== undefined) say(describeSnapshot(checked));
    say(
      `Done: ${database} now equals the snapshot (committed after ${formatDuration(result.durationMs)}): ${formatCount(result.rowsCopied)} rows in ${result.copyBlocks} tables, ${formatCount(result.statementsExecuted)} statements; ${result.cleared.schemas} schema(s) cleared first.`,
    );
    return 0;
  } catch (err) {
    const coded = asCodedError(err);
    warn("");
    warn(`restore-catalog: FAILED — ${redactSecrets(coded.message)}`);
    if (!touchedDatabase && coded.code !== "cancelled")
      warn("The catalog database was not touched.");
    if (coded.details?.outcome === "unknown") return 3;
    if (coded.code === "cancelled") return 130;
    if (coded.code === "usage") return 2;
    return 1;
  } finally {
    if (io.signal === undefined) {
      process.removeListener("SIGINT", onSignal);
      process.removeListener("SIGTERM", onSignal);
    }
    if (tempDir !== undefined) await rm(tempDir, { recursive: true, force: true });
  }
}

interface LocalSnapshot {
  path: string;
  size: number;
  label: string;
  /** Present when the snapshot was already checked while it was downloaded. */
  checked?: DumpPreflight;
}

/** A local file as is; an S3 object downloaded to a private temp file (read twice, pinned). */
async function locateSnapshot(
  args: RestoreCatalogArgs,
  io: RestoreCatalogCliIo,
  signal: AbortSignal,
  tty: boolean,
  onTempDir: (dir: string) => void,
): Promise<LocalSnapshot> {
  if (!args.snapshot.startsWith("s3://")) {
    try {
      const info = await stat(args.snapshot);
      if (!info.isFile())
        throw new CodedError("usage", `--snapshot ${args.snapshot} is not a file.`);
      return { path: args.snapshot, size: info.size, label: args.snapshot };
    } catch (err) {
      if (err instanceof CodedError) throw err;
      throw new CodedError(
        "usage",
        `--snapshot ${args.snapshot}: cannot read that file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}). Give the path of a pg_dump.gz, or s3://<bucket>/<key>.`,
      );
    }
  }
  const location = parseS3Url(args.snapshot);
  const store = await createObjectStore(args, io.env);
  const label = formatS3Url(location);
  const object = await store.getStream(location.bucket, location.key);
  const dir = await mkdtemp(join(tmpdir(), "restorebot-snapshot-"));
  onTempDir(dir);
  const path = join(dir, "pg_dump.gz");
  io.stdout.write(
    `Downloading and checking ${label} (${formatBytes(object.totalSize)}) to a private temporary file…\n`,
  );
  // The snapshot is checked as it arrives, so the download and the check take one pass.
  const toCheck = new PassThrough();
  const stopDownload = new AbortController();
  const checked = preflightDump(toCheck, { signal }).catch((err: unknown) => {
    stopDownload.abort(err);
    throw err;
  });
  checked.catch(() => undefined); // awaited below; this only keeps an early failure handled
  let received = 0;
  let lastDraw = 0;
  const tee = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      received += chunk.length;
      const now = Date.now();
      if (tty && now - lastDraw > 200) {
        lastDraw = now;
        io.stderr.write(`\r\x1b[2K  ${formatBytes(received)} of ${formatBytes(object.totalSize)}`);
      }
      if (toCheck.write(chunk)) done(null, chunk);
      else toCheck.once("drain", () => done(null, chunk));
    },
    flush(done) {
      toCheck.end();
      done();
    },
  });
  try {
    await pipeline(object.body, tee, createWriteStream(path, { mode: 0o600 }), {
      signal: AbortSignal.any([signal, stopDownload.signal]),
    });
  } catch (err) {
    toCheck.destroy();
    // When the check refused the snapshot (and so stopped the download), say why.
    if (stopDownload.signal.aborted) await checked;
    throw err;
  } finally {
    if (tty) io.stderr.write("\r\x1b[2K");
  }
  return { path, size: received, label, checked: await checked };
}

async function createObjectStore(
  args: RestoreCatalogArgs,
  env: NodeJS.ProcessEnv,
): Promise<ObjectStore> {
  // Loaded only for s3:// snapshots: the AWS SDK alone is ~15 MB of the process's memory.
  const { createS3Client, createS3ObjectStore } = await import("../adapters/s3/s3-object-store.js");
  const endpoint = args.s3Endpoint ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  const region = args.s3Region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1";
  const credentials =
    env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? {
          accessKeyId: env.AWS_ACCESS_KEY_ID,
          secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
          ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
        }
      : undefined;
  const client = createS3Client({
    region,
    // S3-compatible stores (MinIO and the like) want path-style URLs.
    forcePathStyle: endpoint !== undefined,
    ...(endpoint !== undefined ? { endpoint } : {}),
    ...(credentials !== undefined ? { credentials } : {}),
  });
  return createS3ObjectStore(client, { region, ...(endpoint !== undefined ? { endpoint } : {}) });
}

async function checkSnapshot(
  local: LocalSnapshot,
  signal: AbortSignal,
  say: (text: string) => void,
): Promise<DumpPreflight> {
  say(`Checking the snapshot ${local.label} (${formatBytes(local.size)})…`);
  return preflightDump(createReadStream(local.path), { compressedBytesTotal: local.size, signal });
}

function describeSnapshot(s: DumpPreflight): string {
  const tables = s.tableRows.length;
  const version = s.pgDumpVersion ? `pg_dump ${s.pgDumpVersion.split(" ")[0]}` : "pg_dump";
  return `Snapshot OK: ${version} output, ${formatBytes(s.sqlBytes)} of SQL, ${formatCount(s.statements)} statements, ${tables} tables with ${formatCount(s.rows)} rows, ${formatCount(s.objects.length)} objects; gzip checksum and pg_dump's closing line verified.`;
}

async function dryRun(
  snapshot: DumpPreflight,
  connection: pg.ClientConfig,
  database: string,
  dsnEnv: string,
  say: (text: string) => void,
): Promise<number> {
  const client = new pg.Client({
    ...connection,
    application_name: "restorebot restore-catalog (dry run)",
  });
  client.on("error", () => undefined);
  try {
    try {
      await client.connect();
    } catch (err) {
      throw new CodedError(
        "database_error",
        `cannot connect to the catalog database ${database} (DSN from $${dsnEnv}): ${redactSecrets((err as Error).message)}.`,
      );
    }
    await client.query("BEGIN READ ONLY");
    await assertSupportedServer(client);
    const live = await readLiveInventory(client);
    const sessions = await readOtherSessions(client);
    const problems = await findPrivilegeProblems(client, snapshot.owners, snapshot.objects);
    await client.query("ROLLBACK");
    const plan = planRestore(snapshot, live);
    say(`Dry run of a restore of ${database} (DSN from $${dsnEnv}); nothing was changed.`);
    for (const line of describePlan(plan)) say(line);
    if (sessions.length > 0)
      say(
        `Other sessions connected now: ${describeSessions(sessions)}. Stop them (scale the pods that use this database to 0) before restoring.`,
      );
    if (problems.length > 0) {
      say(`The restore would fail: ${problems.join("; ")}.`);
      return 1;
    }
    say("The DSN's user has the privileges the restore needs.");
    return 0;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Plain lines describing a plan, longest lists shortened. */
export function describePlan(plan: RestorePlan, limit = 40): string[] {
  const lines: string[] = [];
  const list = (title: string, objects: RestorePlan["drop"]) => {
    lines.push(`${title}: ${objects.length === 0 ? "none" : objects.length}`);
    for (const o of objects.slice(0, limit)) lines.push(`  ${describeObject(o)}`);
    if (objects.length > limit) lines.push(`  … and ${objects.length - limit} more`);
  };
  list("Would drop (in the catalog, not in the snapshot)", plan.drop);
  list("Would create (in the snapshot, missing from the catalog)", plan.create);
  lines.push(`Would replace with the snapshot's version (in both): ${plan.replace.length} objects`);
  const changed = plan.tables.filter((t) => t.liveRows !== t.snapshotRows);
  lines.push(
    `Table rows (catalog → snapshot), ${changed.length} of ${plan.tables.length} tables differ:`,
  );
  for (const t of plan.tables.slice(0, limit)) {
    const live =
      t.liveRows === null ? "absent" : `${t.liveEstimated ? "≈" : ""}${formatCount(t.liveRows)}`;
    const snap = t.snapshotRows === null ? "absent" : formatCount(t.snapshotRows);
    lines.push(`  ${t.schema}.${t.name}: ${live} → ${snap}`);
  }
  if (plan.tables.length > limit) lines.push(`  … and ${plan.tables.length - limit} more`);
  return lines;
}

/** `totalRows` is known once the snapshot check has finished. */
function progressRenderer(
  io: RestoreCatalogCliIo,
  tty: boolean,
  totalRows: () => number | undefined,
) {
  let drawn = false;
  return {
    update(p: CatalogRestoreProgress) {
      if (tty) {
        io.stderr.write(`\r\x1b[2K${formatProgressBar(p, totalRows(), io.stderr.columns ?? 100)}`);
        drawn = true;
      } else {
        io.stderr.write(`${formatProgressLine(p, totalRows())}\n`);
      }
    },
    clear() {
      if (drawn) io.stderr.write("\r\x1b[2K");
      drawn = false;
    },
  };
}
