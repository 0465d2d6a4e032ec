import { pipeline, Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { CodedError } from "../errors.js";
import { noteStreamedBytes } from "../runtime/young-garbage.js";
import { formatCount } from "../text/format.js";
import { assertPlainDumpHeader, HEADER_BYTES } from "./statement-policy.js";

/**
 * A gzipped dump opened for reading: decompressed chunks, with the compressed and
 * decompressed byte counts kept for progress. Opening checks the gzip magic and the pg_dump
 * header, so a wrong file is refused before anyone touches a database. The gzip CRC is only
 * known at the very end, which is why the engine commits only after the last chunk.
 */
export interface DumpStream {
  chunks: AsyncIterable<Buffer>;
  readonly compressedBytesRead: number;
  readonly sqlBytesRead: number;
  /** Stops reading (cancellation); the chunk iterator then throws `reason`. */
  destroy(reason: Error): void;
}

/** Decompressed chunk size: big enough that per-chunk overhead disappears. */
const CHUNK_BYTES = 64 * 1024;

export type DumpSource = AsyncIterable<Uint8Array> | Readable;

export async function openDumpStream(source: DumpSource): Promise<DumpStream> {
  let compressed = 0;
  let sql = 0;
  let firstChunk = true;
  async function* counted(): AsyncGenerator<Buffer> {
    for await (const part of source) {
      const chunk = Buffer.isBuffer(part) ? part : Buffer.from(part);
      if (firstChunk && chunk.length > 0) {
        firstChunk = false;
        assertGzipMagic(chunk);
      }
      compressed += chunk.length;
      yield chunk;
    }
    if (firstChunk) throw new CodedError("dump_invalid", "The snapshot file is empty (0 bytes).");
  }

  const input = Readable.from(counted(), { objectMode: false });
  const gunzip = createGunzip({ chunkSize: CHUNK_BYTES });
  let stopReason: Error | undefined;
  pipeline(input, gunzip, () => {
    // Errors reach the reader through the gunzip iterator; nothing to do here.
  });

  const iterator = gunzip[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const next = async (): Promise<IteratorResult<Buffer>> => {
    try {
      const result = await iterator.next();
      if (!result.done) {
        sql += result.value.length;
        noteStreamedBytes(result.value.length);
      }
      return result;
    } catch (err) {
      throw explainReadError(stopReason ?? err, compressed);
    }
  };

  // Read just enough to recognise the dump before handing it on.
  const head: Buffer[] = [];
  let headBytes = 0;
  let ended = false;
  while (headBytes < HEADER_BYTES) {
    const result = await next();
    if (result.done) {
      ended = true;
      break;
    }
    head.push(result.value);
    headBytes += result.value.length;
  }
  try {
    assertPlainDumpHeader(Buffer.concat(head));
  } catch (err) {
    gunzip.destroy();
    input.destroy();
    throw err;
  }

  async function* chunks(): AsyncGenerator<Buffer> {
    for (const chunk of head) yield chunk;
    head.length = 0;
    if (ended) return;
    for (;;) {
      const result = await next();
      if (result.done) return;
      yield result.value;
    }
  }

  return {
    chunks: chunks(),
    get compressedBytesRead() {
      return compressed;
    },
    get sqlBytesRead() {
      return sql;
    },
    destroy(reason: Error) {
      stopReason ??= reason;
      input.destroy(reason);
      gunzip.destroy(reason);
    },
  };
}

function assertGzipMagic(chunk: Buffer): void {
  if (chunk[0] === 0x1f && (chunk.length < 2 || chunk[1] === 0x8b)) return;
  const text = chunk.subarray(0, 40).toString("latin1");
  const hint = text.startsWith("--")
    ? "It looks like an uncompressed SQL file; snapshots are gzipped (pg_dump.gz)."
    : text.startsWith("PGDMP")
      ? "It is a pg_dump custom-format archive, not a gzipped plain dump."
      : "It does not start with the gzip signature.";
  throw new CodedError("dump_invalid", `The snapshot is not a gzip file. ${hint}`);
}

/** Turns zlib and source errors into messages for the person running the restore. */
export function explainReadError(err: unknown, compressedOffset: number): Error {
  if (err instanceof CodedError) return err;
  const e = err as NodeJS.ErrnoException;
  const at = `after ${formatCount(compressedOffset)} compressed bytes`;
  if (e?.code === "Z_BUF_ERROR" || /unexpected end of file/i.test(e?.message ?? "")) {
    return new CodedError(
      "dump_invalid",
      `The snapshot's gzip data ends early (${at}): the file is truncated — an incomplete upload or download.`,
      { cause: err },
    );
  }
  if (e?.code === "Z_DATA_ERROR") {
    const what = /data check/i.test(e.message)
      ? "its checksum does not match the data (the file is corrupt)"
      : /header check/i.test(e.message)
        ? "it has bytes that are not gzip data (corrupt, or something appended to the file)"
        : `it is corrupt (${e.message})`;
    return new CodedError(
      "dump_invalid",
      `The snapshot's gzip data cannot be read ${at}: ${what}.`,
      {
        cause: err,
      },
    );
  }
  if (e?.code?.startsWith("Z_")) {
    return new CodedError(
      "dump_invalid",
      `The snapshot's gzip data cannot be read ${at}: ${e.message}.`,
      {
        cause: err,
      },
    );
  }
  return err instanceof Error ? err : new Error(String(err));
}
