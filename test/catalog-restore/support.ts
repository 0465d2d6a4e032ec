import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import pg from "pg";
import { type DumpEvent, DumpSplitter } from "../../src/catalog-restore/dump-splitter.js";

/** Events of a whole input split into chunks of `chunkSize` bytes, COPY data joined per block. */
export function splitAll(
  input: string | Buffer,
  chunkSize = 1 << 20,
): { events: SplitEvent[]; complete: boolean } {
  const bytes = typeof input === "string" ? Buffer.from(input, "utf8") : input;
  const splitter = new DumpSplitter();
  const raw: DumpEvent[] = [];
  for (let i = 0; i < bytes.length; i += chunkSize)
    raw.push(...splitter.push(bytes.subarray(i, i + chunkSize)));
  raw.push(...splitter.end());
  return { events: joinCopyData(raw), complete: splitter.complete };
}

export type SplitEvent =
  | { kind: "statement" | "copy-start"; sql: string; line: number; object?: string }
  | { kind: "copy-data"; data: string; rows: number }
  | { kind: "copy-end"; line: number; rows: number }
  | { kind: "meta"; command: string; argument: string; line: number };

function joinCopyData(events: DumpEvent[]): SplitEvent[] {
  const out: SplitEvent[] = [];
  for (const e of events) {
    if (e.kind === "copy-data") {
      const last = out[out.length - 1];
      if (last?.kind === "copy-data") {
        last.data += e.data.toString("utf8");
        last.rows += e.rows;
      } else out.push({ kind: "copy-data", data: e.data.toString("utf8"), rows: e.rows });
    } else if (e.kind === "statement" || e.kind === "copy-start") {
      out.push({
        kind: e.kind,
        sql: e.sql,
        line: e.line,
        ...(e.object ? { object: `${e.object.type} ${e.object.schema}.${e.object.name}` } : {}),
      });
    } else out.push({ ...e });
  }
  return out;
}

/** The parts of a dump that must match: everything but the version header and \restrict keys. */
export function comparableDump(dump: string): string {
  return dump
    .split("\n")
    .filter(
      (line) =>
        !line.startsWith("-- Dumped from database version") &&
        !line.startsWith("-- Dumped by pg_dump version") &&
        !line.startsWith("\\restrict ") &&
        !line.startsWith("\\unrestrict "),
    )
    .join("\n");
}

/** A Readable over a buffer, in chunks, as a file or S3 body delivers it. */
export function bufferSource(data: Buffer, chunkSize = 64 * 1024): Readable {
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunkSize) chunks.push(data.subarray(i, i + chunkSize));
  return Readable.from(chunks, { objectMode: false });
}

/**
 * A source that stops after `pauseAt` bytes until `resume()` is called — for killing the
 * connection or cancelling while the restore is in the middle of a COPY.
 */
export function pausingSource(
  data: Buffer,
  pauseAt: number,
): { source: AsyncIterable<Buffer>; paused: Promise<void>; resume: () => void } {
  let resume = () => {};
  let reachedPause = () => {};
  const paused = new Promise<void>((resolve) => {
    reachedPause = resolve;
  });
  const gate = new Promise<void>((resolve) => {
    resume = resolve;
  });
  async function* source(): AsyncGenerator<Buffer> {
    yield data.subarray(0, pauseAt);
    reachedPause();
    await gate;
    for (let i = pauseAt; i < data.length; i += 64 * 1024) yield data.subarray(i, i + 64 * 1024);
  }
  return { source: source(), paused, resume };
}

export function gzip(text: string | Buffer): Buffer {
  return gzipSync(typeof text === "string" ? Buffer.from(text, "utf8") : text);
}

/** Runs SQL on a database in one simple query. */
export async function sql(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

export async function queryRows<T extends pg.QueryResultRow>(
  url: string,
  text: string,
  values: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** Loads a gzipped SQL file with psql in one transaction: set-up independent of restorebot. */
export async function loadWithPsql(url: string, gzipped: Buffer): Promise<void> {
  const { spawn } = await import("node:child_process");
  const { gunzipSync: gunzip } = await import("node:zlib");
  const child = spawn(
    "psql",
    ["-q", "-X", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-d", url],
    { stdio: ["pipe", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  child.stdin.end(gunzip(gzipped));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  if (code !== 0) throw new Error(`psql exited with ${String(code)}: ${stderr.trim()}`);
}

/** Resolves once `test()` holds, checking every 20 ms (gives up after `timeoutMs`). */
export async function until(test: () => boolean, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!test()) {
    if (Date.now() - started > timeoutMs) throw new Error("condition not reached in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
