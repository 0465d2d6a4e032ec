import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import type { ObjectStore, ObjectSummary } from "../../adapters/s3/object-store.js";
import { CodedError } from "../../errors.js";
import { mapWithConcurrency } from "../../recovery-points/concurrency.js";
import type {
  VerificationProgress,
  VerificationReport,
  VerifyOptions,
} from "../../recovery-points/recovery-point.js";
import { formatCount } from "../../text/format.js";

const DUMP_FILE = "pg_dump.gz";
const BLOOM_FILE = "bloom.bin.gz";
const PAGE = 1000;
export const MISSING_SAMPLE_SIZE = 10;
const MAX_PROBLEMS = 10;
/** How much of the decompressed dump is kept to recognise it. */
const DUMP_HEAD_BYTES = 1024;
/** How much of its end is kept to find pg_dump's closing line (and the `\unrestrict` after it). */
const DUMP_TAIL_BYTES = 4096;
const COMPLETION_LINE = "-- PostgreSQL database dump complete";
/** Progress callbacks at most this often, so a fast loop does not flood the caller. */
const PROGRESS_EVERY_MS = 250;

interface Counters {
  lists: number;
  objectLists: number;
  reads: number;
}

/**
 * Proves one InfluxDB snapshot folder restorable: `bloom.bin.gz` present (the snapshot
 * finished), `pg_dump.gz` decompresses end to end (gzip checks its CRC-32 and length at the
 * end) and is a PostgreSQL dump, and every Parquet file the table file lists reference is in
 * the bucket — a restore cannot bring back files missing from the object store (vendor
 * document, "Recommendations").
 *
 * Existence is checked by listing each referenced `<namespace-id>/<table-id>/` prefix once,
 * so the cost is (prefixes + objects / 1000) list requests, not one request per file.
 */
export async function verifyInfluxDbSnapshot(
  store: ObjectStore,
  bucket: string,
  folder: string,
  options: VerifyOptions = {},
): Promise<VerificationReport> {
  const started = performance.now();
  const counters: Counters = { lists: 0, objectLists: 0, reads: 0 };
  const report = throttle(options.onProgress);

  const files: ObjectSummary[] = [];
  await listAll(store, bucket, folder, counters, "lists", (o) => files.push(o));
  if (files.length === 0) {
    throw new CodedError("not_found", `s3://${bucket}/${folder} holds no snapshot (it is empty).`);
  }
  const byName = new Map(files.map((o) => [o.key.slice(folder.length), o]));
  const dumpObject = byName.get(DUMP_FILE);
  const tableLists = files.filter(
    (o) => o.key.endsWith(".txt.gz") && o.key.slice(folder.length).includes("/"),
  );
  const problems: string[] = [];

  const [dump, references] = await Promise.all([
    checkDump(store, bucket, dumpObject, counters, report),
    readFileLists(store, bucket, folder, tableLists, counters, report, problems),
  ]);

  const prefixes = [...references.byPrefix.keys()].sort();
  let prefixesDone = 0;
  let objectsListed = 0;
  let missingFiles = 0;
  const missing: string[] = [];
  await mapWithConcurrency(prefixes, 8, async (tablePrefix) => {
    const referenced = references.byPrefix.get(tablePrefix) as Set<string>;
    await listAll(store, bucket, tablePrefix, counters, "objectLists", (o) => {
      objectsListed++;
      referenced.delete(o.key);
    });
    missingFiles += referenced.size;
    // Keep the first ten in key order, whichever table finishes first.
    for (const key of referenced) {
      missing.push(key);
      if (missing.length > MISSING_SAMPLE_SIZE * 4) keepSmallest(missing, MISSING_SAMPLE_SIZE);
    }
    // Free each table's paths as soon as it is checked: memory peaks while reading lists.
    references.byPrefix.delete(tablePrefix);
    prefixesDone++;
    report({ stage: "objects", prefixesDone, prefixesTotal: prefixes.length, objectsListed });
  });
  report.flush();

  const referencedFiles = references.referencedFiles;
  const complete = byName.has(BLOOM_FILE);
  const ok = complete && dump.problem === undefined && missingFiles === 0 && problems.length === 0;
  return {
    ok,
    complete,
    dump,
    tableLists: tableLists.length,
    referencedFiles,
    referencedPrefixes: prefixes.length,
    missingFiles,
    missingSample: keepSmallest(missing, MISSING_SAMPLE_SIZE),
    problems,
    requests: { ...counters },
    durationMs: Math.round(performance.now() - started),
  };
}

async function listAll(
  store: ObjectStore,
  bucket: string,
  prefix: string,
  counters: Counters,
  counter: "lists" | "objectLists",
  each: (object: ObjectSummary) => void,
): Promise<void> {
  let token: string | undefined;
  do {
    counters[counter]++;
    const page = await store.listPrefixes(bucket, prefix, "", {
      maxKeys: PAGE,
      ...(token === undefined ? {} : { continuationToken: token }),
    });
    for (const object of page.objects) each(object);
    token = page.nextToken;
  } while (token !== undefined);
}

async function checkDump(
  store: ObjectStore,
  bucket: string,
  object: ObjectSummary | undefined,
  counters: Counters,
  report: (p: VerificationProgress) => void,
): Promise<VerificationReport["dump"]> {
  if (object === undefined) {
    return {
      present: false,
      bytes: 0,
      sqlBytes: undefined,
      etag: undefined,
      problem: `${DUMP_FILE} is missing: there is no catalog to restore`,
    };
  }
  const base = { present: true, bytes: object.size, etag: object.etag };
  counters.reads++;
  const stream = await store.getStream(bucket, object.key);
  let bytesRead = 0;
  let sqlBytes = 0;
  const head: Buffer[] = [];
  let headBytes = 0;
  let tail: Buffer = Buffer.alloc(0);
  stream.body.on("data", (chunk: Buffer) => {
    bytesRead += chunk.length;
    report({ stage: "dump", bytesRead, totalBytes: object.size });
  });
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      sqlBytes += chunk.length;
      if (headBytes < DUMP_HEAD_BYTES) {
        head.push(chunk.subarray(0, DUMP_HEAD_BYTES - headBytes));
        headBytes += Math.min(chunk.length, DUMP_HEAD_BYTES - headBytes);
      }
      tail =
        chunk.length >= DUMP_TAIL_BYTES
          ? chunk.subarray(chunk.length - DUMP_TAIL_BYTES)
          : Buffer.concat([tail, chunk]).subarray(-DUMP_TAIL_BYTES);
      done();
    },
  });
  try {
    await pipeline(stream.body, createGunzip(), sink);
  } catch (err) {
    if (err instanceof CodedError) throw err;
    const reason = (err as { code?: string }).code?.startsWith("Z_")
      ? (err as Error).message
      : `the download broke off (${(err as Error).message})`;
    return {
      ...base,
      sqlBytes: undefined,
      problem: `${DUMP_FILE} does not decompress end to end after ${formatCount(sqlBytes)} bytes: ${reason}`,
    };
  }
  const text = Buffer.concat(head).toString("utf8");
  if (!looksLikePgDump(text)) {
    const start = JSON.stringify(text.slice(0, 40));
    return {
      ...base,
      sqlBytes,
      problem: `${DUMP_FILE} decompresses but is not a PostgreSQL dump (it starts with ${start})`,
    };
  }
  // gzip's own checks pass on a dump that was cut short and compressed as it was (a pg_dump
  // killed mid-way, piped through gzip): only pg_dump's closing line proves it ran to the end.
  const ending = tail.toString("utf8");
  const restrictKey = restrictKeyOf(text);
  if (!endsLikeCompletePgDump(ending, restrictKey)) {
    const lastLine = ending.trimEnd().split("\n").pop() ?? "";
    return {
      ...base,
      sqlBytes,
      problem: `${DUMP_FILE} ends without ${endsLikeCompletePgDump(ending) ? "the \\unrestrict that closes its opening \\restrict" : `pg_dump's closing "${COMPLETION_LINE}" line`}: the dump was cut short (it stops after ${formatCount(sqlBytes)} bytes, at ${JSON.stringify(lastLine.slice(0, 60))}), and restoring it would leave out everything after that point`,
    };
  }
  return { ...base, sqlBytes, problem: undefined };
}

/** The key of the `\restrict <key>` that recent pg_dump releases write first, if any. */
export function restrictKeyOf(head: string): string | undefined {
  for (const raw of head.split("\n").slice(0, 20)) {
    const match = /^\\restrict\s+(\S+)\s*$/.exec(raw.trim());
    if (match) return match[1];
  }
  return undefined;
}

/**
 * Whether the end of a plain-format dump is pg_dump's own: its closing
 * `-- PostgreSQL database dump complete` comment, followed only by comment markers, blank lines
 * and the `\unrestrict <key>` meta-command that recent pg_dump releases write last — required
 * when the dump opened with `\restrict <key>` (as the catalog restore requires it).
 */
export function endsLikeCompletePgDump(tail: string, restrictKey?: string): boolean {
  const lines = tail.split("\n").map((line) => line.replace(/\r$/, ""));
  let unrestricted = false;
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = (lines[i] as string).trim();
    if (line === COMPLETION_LINE) return restrictKey === undefined || unrestricted;
    if (line === "" || line === "--") continue;
    const unrestrict = /^\\unrestrict\s+(\S+)$/.exec(line);
    if (unrestrict && (restrictKey === undefined || unrestrict[1] === restrictKey)) {
      unrestricted = true;
      continue;
    }
    return false;
  }
  return false;
}

/**
 * A plain-format `pg_dump` opens with its banner comment (`-- PostgreSQL database dump`);
 * blank lines and other comments before it are tolerated.
 */
export function looksLikePgDump(head: string): boolean {
  const lines = head.split("\n").slice(0, 20);
  for (const line of lines) {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed === "--") continue;
    if (!trimmed.startsWith("--") && !trimmed.startsWith("\\restrict")) return false;
    if (/PostgreSQL database dump/i.test(trimmed)) return true;
  }
  return false;
}

interface References {
  byPrefix: Map<string, Set<string>>;
  referencedFiles: number;
  unreadable: number;
  invalidLines: number;
}

/**
 * Reads every table file list and groups the Parquet paths by `<namespace-id>/<table-id>/`,
 * the prefix listed later. Paths are relative to the bucket root (DESIGN.md).
 */
async function readFileLists(
  store: ObjectStore,
  bucket: string,
  folder: string,
  lists: readonly ObjectSummary[],
  counters: Counters,
  report: (p: VerificationProgress) => void,
  problems: string[],
): Promise<References> {
  const refs: References = {
    byPrefix: new Map(),
    referencedFiles: 0,
    unreadable: 0,
    invalidLines: 0,
  };
  let done = 0;
  await mapWithConcurrency(lists, 16, async (list) => {
    const name = list.key.slice(folder.length);
    counters.reads++;
    try {
      const stream = await store.getStream(bucket, list.key);
      const gunzip = createGunzip();
      stream.body.on("error", (err) => gunzip.destroy(err));
      const lines = createInterface({
        input: stream.body.pipe(gunzip),
        crlfDelay: Number.POSITIVE_INFINITY,
      });
      let lineNo = 0;
      for await (const raw of lines) {
        lineNo++;
        const path = raw.trim();
        if (path === "") continue;
        const tablePrefix = tablePrefixOf(path);
        if (tablePrefix === undefined) {
          if (refs.invalidLines++ < MAX_PROBLEMS)
            problems.push(
              `${name} line ${lineNo} is not a Parquet path: ${JSON.stringify(path.slice(0, 80))}`,
            );
          continue;
        }
        let set = refs.byPrefix.get(tablePrefix);
        if (set === undefined) {
          set = new Set();
          refs.byPrefix.set(tablePrefix, set);
        }
        if (!set.has(path)) {
          set.add(path);
          refs.referencedFiles++;
        }
      }
    } catch (err) {
      // The store being down or refusing us fails the whole check; a list that vanished
      // (garbage-collected mid-check) or does not decompress is a finding about this point.
      if (err instanceof CodedError && err.code !== "not_found") throw err;
      if (refs.unreadable++ < MAX_PROBLEMS)
        problems.push(`${name} cannot be read: ${(err as Error).message}`);
    }
    done++;
    report({
      stage: "file-lists",
      done,
      total: lists.length,
      referencedFiles: refs.referencedFiles,
    });
  });
  if (refs.unreadable > MAX_PROBLEMS)
    problems.push(
      `… ${formatCount(refs.unreadable - MAX_PROBLEMS)} more file lists cannot be read`,
    );
  if (refs.invalidLines > MAX_PROBLEMS)
    problems.push(
      `… ${formatCount(refs.invalidLines - MAX_PROBLEMS)} more lines that are not Parquet paths`,
    );
  return refs;
}

/** `<namespace-id>/<table-id>/` of `<namespace-id>/<table-id>/<partition>/<uuid>.parquet`. */
export function tablePrefixOf(path: string): string | undefined {
  if (!path.endsWith(".parquet") || path.startsWith("/")) return undefined;
  const parts = path.split("/");
  if (parts.length < 3 || parts.some((p) => p === "")) return undefined;
  return `${parts[0]}/${parts[1]}/`;
}

function throttle(
  onProgress: ((p: VerificationProgress) => void) | undefined,
): ((p: VerificationProgress) => void) & { flush(): void } {
  let last = 0;
  let pending: VerificationProgress | undefined;
  const send = (p: VerificationProgress): void => {
    pending = p;
    const now = performance.now();
    if (now - last < PROGRESS_EVERY_MS) return;
    last = now;
    pending = undefined;
    onProgress?.(p);
  };
  return Object.assign(send, {
    flush() {
      if (pending !== undefined) onProgress?.(pending);
      pending = undefined;
    },
  });
}

function keepSmallest(keys: string[], count: number): string[] {
  keys.sort();
  keys.length = Math.min(keys.length, count);
  return keys;
}
