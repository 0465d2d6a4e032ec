import { CodedError } from "../errors.js";
import { type DumpSource, openDumpStream } from "./dump-source.js";
import { type DumpObjectRef, DumpSplitter } from "./dump-splitter.js";
import { DumpPolicy } from "./statement-policy.js";

/** What a whole dump holds, found without a database. */
export interface DumpPreflight {
  compressedBytes: number;
  sqlBytes: number;
  lines: number;
  statements: number;
  copyBlocks: number;
  rows: number;
  serverVersion: string | undefined;
  pgDumpVersion: string | undefined;
  /** pg_dump's table of contents, in dump order, each entry once. */
  objects: DumpObjectRef[];
  /** True when the dump had more entries than `objects` keeps. */
  objectsTruncated: boolean;
  /** Rows each COPY block loads. */
  tableRows: Array<{ schema: string; name: string; rows: number }>;
  /** Roles the dump makes owners of its objects; they must exist in the target server. */
  owners: string[];
}

export interface PreflightProgress {
  compressedBytesRead: number;
  compressedBytesTotal: number | null;
  sqlBytesRead: number;
  statements: number;
  rows: number;
}

export interface PreflightOptions {
  compressedBytesTotal?: number | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((progress: PreflightProgress) => void) | undefined;
  progressIntervalMs?: number | undefined;
}

const MAX_OBJECTS = 200_000;

/**
 * Reads a whole gzipped dump and checks everything that can be checked without a database:
 * gzip integrity (CRC and length), the pg_dump header and closing line, every statement and
 * meta-command against what restorebot will run. Throws `dump_invalid` with the line and a
 * reason on the first problem, `cancelled` when the signal fires. For the runner's "download
 * and prepare" phase and for `--dry-run`; restoreCatalog makes the same checks as it goes.
 */
export async function preflightDump(
  source: DumpSource,
  options: PreflightOptions = {},
): Promise<DumpPreflight> {
  const { signal } = options;
  signal?.throwIfAborted();
  const dump = await openDumpStream(source);
  const onAbort = () =>
    dump.destroy(new CodedError("cancelled", "The snapshot check was cancelled."));
  signal?.addEventListener("abort", onAbort, { once: true });
  if (signal?.aborted) onAbort();
  const splitter = new DumpSplitter();
  const policy = new DumpPolicy();
  const seen = new Set<string>();
  const result: DumpPreflight = {
    compressedBytes: 0,
    sqlBytes: 0,
    lines: 0,
    statements: 0,
    copyBlocks: 0,
    rows: 0,
    serverVersion: undefined,
    pgDumpVersion: undefined,
    objects: [],
    objectsTruncated: false,
    tableRows: [],
    owners: [],
  };
  const owners = new Set<string>();
  const note = (object: DumpObjectRef | undefined) => {
    if (object === undefined) return;
    if (object.owner !== undefined) owners.add(object.owner);
    const key = `${object.type}\0${object.schema}\0${object.name}`;
    if (seen.has(key)) return;
    if (result.objects.length >= MAX_OBJECTS) {
      result.objectsTruncated = true;
      return;
    }
    seen.add(key);
    result.objects.push(object);
  };
  let copyObject: DumpObjectRef | undefined;
  const interval = options.progressIntervalMs ?? 500;
  let lastReport = 0;
  const report = (force: boolean) => {
    if (!options.onProgress) return;
    const now = Date.now();
    if (!force && now - lastReport < interval) return;
    lastReport = now;
    options.onProgress({
      compressedBytesRead: dump.compressedBytesRead,
      compressedBytesTotal: options.compressedBytesTotal ?? null,
      sqlBytesRead: dump.sqlBytesRead,
      statements: result.statements,
      rows: result.rows,
    });
  };

  try {
    const handle = (events: ReturnType<DumpSplitter["push"]>) => {
      for (const event of events) {
        switch (event.kind) {
          case "statement":
            policy.statement(event.sql, event.line, event.object);
            result.statements++;
            note(event.object);
            break;
          case "copy-start":
            result.statements++;
            result.copyBlocks++;
            copyObject = event.object;
            note(event.object);
            break;
          case "copy-data":
            result.rows += event.rows;
            break;
          case "copy-end":
            result.tableRows.push({
              schema: copyObject?.schema ?? "",
              name: copyObject?.name ?? "",
              rows: event.rows,
            });
            copyObject = undefined;
            break;
          case "meta":
            policy.meta(event.command, event.argument, event.line);
            break;
        }
      }
    };
    for await (const chunk of dump.chunks) {
      handle(splitter.push(chunk));
      report(false);
    }
    handle(splitter.end());
    policy.finish(splitter.complete, splitter.currentLine);
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  result.owners = [...owners].sort();
  result.compressedBytes = dump.compressedBytesRead;
  result.sqlBytes = dump.sqlBytesRead;
  result.lines = splitter.currentLine;
  result.serverVersion = splitter.dumpVersions.server;
  result.pgDumpVersion = splitter.dumpVersions.pgDump;
  report(true);
  return result;
}
