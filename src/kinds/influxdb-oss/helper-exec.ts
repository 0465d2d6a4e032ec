import type { Readable } from "node:stream";

/**
 * What the InfluxDB OSS file work needs from "exec in the helper pod", and nothing more. The
 * Kubernetes adapter's `execInPod` plugs in by binding namespace, pod and container; tests run
 * the command locally with /bin/sh.
 */
export interface ExecIo {
  /** Streamed to the command's stdin; its end closes stdin. */
  stdin?: Readable;
  /**
   * Called with each chunk of stdout. When it returns a promise, the exec holds further output
   * until it settles: that is how a slow upload slows the tar instead of filling memory.
   */
  onStdout(chunk: Buffer): undefined | Promise<void>;
  onStderr(chunk: Buffer): void;
  signal?: AbortSignal;
}

/**
 * Runs `command` in the helper pod. Resolves with the exit status, or `undefined` when the
 * status was lost: exec with stdin against a v4-only API server closes the whole session at
 * the end of stdin, so a streamed-in archive is never taken as written on this answer alone.
 */
export type HelperExec = (command: string[], io: ExecIo) => Promise<number | undefined>;

/**
 * Where the backup's archive goes, chunk by chunk, as the exec hands it on (the object store's
 * `UploadWriter`: multipart, bounded memory, no temporary file).
 */
export interface ArchiveWriter {
  /** Takes `chunk` (copied or sent before the promise settles); a promise holds the exec back. */
  write(chunk: Buffer): undefined | Promise<void>;
  /** Stores what was written; resolves once the object is stored. */
  finish(): Promise<unknown>;
  /** Drops what was written (the upload is aborted). */
  abort(reason: unknown): Promise<void>;
  /** Told the archive's size at most, to size what is still to come (UploadWriter's). */
  expectTotal?(totalBytes: number): number;
}

/** Opens the writer for the archive at `key`. */
export type OpenArchiveWriter = (key: string) => Promise<ArchiveWriter>;

/** What a finished exec said: status plus output (stdout whole, stderr's tail). */
export interface ExecResult {
  status: number | undefined;
  stdout: string;
  stderr: string;
}

const STDERR_TAIL = 16 * 1024;

/** Runs a short command that prints little and returns its status and output as text. */
export async function execCollect(
  exec: HelperExec,
  command: string[],
  opts: { stdin?: Readable; signal?: AbortSignal } = {},
): Promise<ExecResult> {
  const out: Buffer[] = [];
  const err = tailCollector(STDERR_TAIL);
  const status = await exec(command, {
    ...(opts.stdin ? { stdin: opts.stdin } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    onStdout: (chunk) => {
      out.push(chunk);
      return undefined;
    },
    onStderr: err.push,
  });
  return { status, stdout: Buffer.concat(out).toString("utf8"), stderr: err.text() };
}

/** Keeps the last `limit` bytes of a stream of chunks (error messages come last). */
export function tailCollector(limit: number): { push(chunk: Buffer): void; text(): string } {
  let chunks: Buffer[] = [];
  let size = 0;
  return {
    push(chunk: Buffer) {
      chunks.push(chunk);
      size += chunk.length;
      if (size > limit * 2) {
        const all = Buffer.concat(chunks);
        chunks = [all.subarray(all.length - limit)];
        size = limit;
      }
    },
    text() {
      const all = Buffer.concat(chunks);
      return all.subarray(Math.max(0, all.length - limit)).toString("utf8");
    },
  };
}
