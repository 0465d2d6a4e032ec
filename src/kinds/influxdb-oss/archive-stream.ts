/**
 * The InfluxDB OSS file work, streamed: the helper pod's tar goes straight to the object store
 * (and back), with the sha256 and byte count computed as the bytes pass, in bounded memory
 * and without a temporary file on either side.
 */

import { createHash } from "node:crypto";
import { type Readable, Transform, type TransformCallback } from "node:stream";
import type { ObjectStore } from "../../adapters/s3/object-store.js";
import { CodedError } from "../../errors.js";
import {
  type ArchiveWriter,
  execCollect,
  type HelperExec,
  type OpenArchiveWriter,
  tailCollector,
} from "./helper-exec.js";
import {
  type ArchiveEstimate,
  backupScript,
  confirmArchiveScript,
  deleteOldDirectoriesScript,
  estimateArchiveScript,
  extractArchiveScript,
  type LandedArchive,
  type PreparedRestore,
  parseEstimateLine,
  parseLandedLine,
  parsePreparedLine,
  prepareRestoreScript,
  putBackScript,
  scriptReason,
  shCommand,
} from "./helper-scripts.js";

/** Size and sha256 of a stream, as it passed. */
export interface StreamDigest {
  size: number;
  sha256: string;
}

/** Bytes buffered between the object store's download and the restore's exec. */
const STREAM_BUFFER = 1024 * 1024;

/**
 * Runs the backup script and writes its stdout to the archive writer opened for `key`.
 * Each stdout frame is hashed and handed to the writer as it arrives, which copies it once
 * into a part buffer of a fixed pool (no intermediate stream, no other copy); the writer's
 * promise, when its pool is full, pauses the exec and so the tar. Resolves with the archive's
 * size and sha256 once the object is stored; the caller writes complete.json after that, and
 * only then starts the node again. A failed tar or upload aborts the upload and rejects,
 * leaving no complete.json: the point stays incomplete.
 */
export async function streamBackupToStore(opts: {
  exec: HelperExec;
  dataDir: string;
  open: OpenArchiveWriter;
  key: string;
  signal?: AbortSignal;
  onProgress?: (bytes: number) => void;
  /**
   * The archive's size at most, when known — typically measured while the tar already runs
   * (see estimateArchive), so that it adds no downtime: the writer's parts grow from then on to
   * fit S3's part limit. Resolving to undefined changes nothing; rejecting fails the backup.
   */
  expectedSize?: Promise<number | undefined>;
}): Promise<StreamDigest> {
  const controller = new AbortController();
  const stopOuter = () => controller.abort(opts.signal?.reason);
  opts.signal?.addEventListener("abort", stopOuter, { once: true });
  try {
    const hash = createHash("sha256");
    let size = 0;
    const stderr = tailCollector(8 * 1024);
    let writer: ArchiveWriter;
    try {
      writer = await opts.open(opts.key);
    } catch (err) {
      throw uploadFailed(opts.key, err);
    }
    let writeError: unknown;
    const failedWrite = (err: unknown): never => {
      writeError ??= err;
      throw err;
    };
    opts.expectedSize?.then(
      (bytes) => {
        if (bytes !== undefined) writer.expectTotal?.(bytes);
      },
      // Stops the exec, and so the tar; the upload is aborted below and this is the reason.
      (err: unknown) => {
        writeError ??= err;
        controller.abort(err);
      },
    );
    const onStdout = (chunk: Buffer): undefined | Promise<void> => {
      // Failed already: the exec is being stopped, what it still hands on is dropped.
      if (writeError !== undefined) return undefined;
      hash.update(chunk);
      size += chunk.length;
      opts.onProgress?.(size);
      let pending: undefined | Promise<void>;
      try {
        pending = writer.write(chunk);
      } catch (err) {
        failedWrite(err);
      }
      return pending?.catch(failedWrite);
    };
    let status: number | undefined;
    try {
      status = await opts.exec(shCommand(backupScript({ dataDir: opts.dataDir })), {
        signal: controller.signal,
        onStdout,
        onStderr: stderr.push,
      });
    } catch (err) {
      await writer.abort(err).catch(() => undefined);
      if (writeError !== undefined) throw uploadFailed(opts.key, writeError);
      throw err;
    }
    if (status !== 0) {
      const reason = scriptReason(stderr.text()) ?? lastLine(stderr.text());
      const failure = new CodedError(
        "restore_failed",
        `the backup tar in the helper pod ${status === undefined ? "ended without an exit status" : `exited with ${status}`}${reason ? `: ${reason}` : ""}; no point was written`,
      );
      await writer.abort(failure).catch(() => undefined);
      throw failure;
    }
    try {
      await writer.finish();
    } catch (err) {
      throw uploadFailed(opts.key, err);
    }
    return { size, sha256: hash.digest("hex") };
  } finally {
    opts.signal?.removeEventListener("abort", stopOuter);
  }
}

function uploadFailed(key: string, err: unknown): CodedError {
  // A refusal (the archive is larger than S3 stores) is not an unreachable store.
  if (err instanceof CodedError && err.code === "precondition_failed")
    return new CodedError(
      err.code,
      `${err.message}; the upload was aborted, no point was written`,
      {
        cause: err,
      },
    );
  const message = err instanceof Error ? err.message : String(err);
  return new CodedError(
    "s3_unreachable",
    `uploading ${key} failed: ${message}; no point was written`,
    {
      cause: err,
    },
  );
}

function lastLine(text: string): string {
  return text.trim().split("\n").at(-1)?.trim() ?? "";
}

/**
 * Runs the estimate script: an upper bound of the backup tar's size, read from the files'
 * metadata (beside the tar, in the archive phase), for sizing the upload's parts.
 */
export async function estimateArchive(opts: {
  exec: HelperExec;
  dataDir: string;
  signal?: AbortSignal;
}): Promise<ArchiveEstimate> {
  return runParsedScript(
    opts,
    estimateArchiveScript({ dataDir: opts.dataDir }),
    parseEstimateLine,
    "measuring the data directory for the backup",
  );
}

/**
 * Runs a short script and returns what `parse` reads from its stdout; fails, naming `what`
 * and the script's reason, when it exits non-zero or prints no such line.
 */
async function runParsedScript<T>(
  opts: { exec: HelperExec; signal?: AbortSignal },
  script: string,
  parse: (stdout: string) => T | undefined,
  what: string,
): Promise<T> {
  const result = await execCollect(
    opts.exec,
    shCommand(script),
    opts.signal ? { signal: opts.signal } : {},
  );
  const parsed = parse(result.stdout);
  if (result.status !== 0 || parsed === undefined)
    throw failedScript(what, {
      ...(result.status !== undefined ? { status: result.status } : {}),
      stderr: result.stderr,
    });
  return parsed;
}

/** A pass-through that hashes and counts what goes by. */
export class DigestingStream extends Transform {
  readonly #hash = createHash("sha256");
  size = 0;
  #digest: string | undefined;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#hash.update(chunk);
    this.size += chunk.length;
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.#digest = this.#hash.digest("hex");
    done();
  }

  /** The sha256 of everything, once the stream has ended; undefined before. */
  get sha256(): string | undefined {
    return this.#digest;
  }
}

interface RestoreIds {
  exec: HelperExec;
  dataDir: string;
  restoreId: string;
  signal?: AbortSignal;
}

function failedScript(what: string, result: { status?: number; stderr: string }): CodedError {
  const reason = scriptReason(result.stderr) ?? lastLine(result.stderr);
  return new CodedError(
    "restore_failed",
    `${what} ${result.status === undefined ? "ended without an exit status" : `exited with ${result.status}`}${reason ? `: ${reason}` : ""}`,
  );
}

/**
 * Checks free space, records ownership and the present directories, and moves meta/ data/
 * wal/ aside. Refuses (nothing moved) when the volume lacks room for the archive.
 */
export async function prepareRestore(
  opts: RestoreIds & { archiveSize: number },
): Promise<PreparedRestore> {
  return runParsedScript(
    opts,
    prepareRestoreScript({
      dataDir: opts.dataDir,
      restoreId: opts.restoreId,
      archiveSize: opts.archiveSize,
    }),
    parsePreparedLine,
    "preparing the data directory",
  );
}

/**
 * Streams `source` into the extract script, hashing what is sent: this is the one sha256 of the
 * download (the source is only size-checked, `openSizedPointFile`). The exec's own status is
 * not trusted (see `HelperExec`); `confirmArchiveLanded` decides. Rejects when the source
 * failed or did not match `expected` (bytes the object store served).
 */
export async function streamArchiveIn(
  opts: RestoreIds & { source: Readable; expected: StreamDigest },
): Promise<{ sent: StreamDigest; execStatus: number | undefined; stderr: string }> {
  const digest = new DigestingStream({ highWaterMark: STREAM_BUFFER });
  // A source failing late (a connection reset near the end) can destroy the digest after the
  // exec stopped listening to it; the failure is reported below through `sourceError`.
  digest.on("error", () => undefined);
  let sourceError: unknown;
  opts.source.once("error", (err) => {
    sourceError = err;
    digest.destroy(err);
  });
  opts.source.pipe(digest);
  let execStatus: number | undefined;
  let execError: unknown;
  let stderr = "";
  try {
    const result = await execCollect(
      opts.exec,
      shCommand(extractArchiveScript({ dataDir: opts.dataDir, restoreId: opts.restoreId })),
      { stdin: digest, ...(opts.signal ? { signal: opts.signal } : {}) },
    );
    execStatus = result.status;
    stderr = result.stderr;
  } catch (err) {
    execError = err;
  }
  if (sourceError !== undefined) {
    const message = sourceError instanceof Error ? sourceError.message : String(sourceError);
    throw new CodedError(
      "s3_unreachable",
      `reading the archive failed after ${digest.size} of ${opts.expected.size} bytes: ${message}`,
      { cause: sourceError },
    );
  }
  if (execError !== undefined && digest.sha256 === undefined) throw execError;
  const sent = { size: digest.size, sha256: digest.sha256 ?? "" };
  if (sent.size !== opts.expected.size || sent.sha256 !== opts.expected.sha256)
    throw new CodedError(
      "precondition_failed",
      `the object store served ${sent.size} bytes with sha256 ${sent.sha256}, but complete.json records ${opts.expected.size} bytes with sha256 ${opts.expected.sha256}; the archive is damaged`,
    );
  return { sent, execStatus, stderr };
}

/**
 * The second, short exec: what landed in the pod, checked against `expected`. Only this says
 * the archive is written.
 */
export async function confirmArchiveLanded(
  opts: RestoreIds & { expected: StreamDigest; waitSeconds?: number },
): Promise<LandedArchive> {
  return runParsedScript(
    opts,
    confirmArchiveScript({
      dataDir: opts.dataDir,
      restoreId: opts.restoreId,
      expectedSize: opts.expected.size,
      expectedSha256: opts.expected.sha256,
      ...(opts.waitSeconds !== undefined ? { waitSeconds: opts.waitSeconds } : {}),
    }),
    // Only with its "confirmed" line: what landed is the expected archive.
    (stdout) => (/^restorebot: confirmed$/m.test(stdout) ? parseLandedLine(stdout) : undefined),
    "checking the extracted archive",
  );
}

/** Puts the old directories back (after a failed restore). Safe to run again. */
export async function putOldDirectoriesBack(
  opts: RestoreIds & { waitSeconds?: number },
): Promise<void> {
  const result = await execCollect(
    opts.exec,
    shCommand(
      putBackScript({
        dataDir: opts.dataDir,
        restoreId: opts.restoreId,
        ...(opts.waitSeconds !== undefined ? { waitSeconds: opts.waitSeconds } : {}),
      }),
    ),
    opts.signal ? { signal: opts.signal } : {},
  );
  if (result.status !== 0)
    throw failedScript("putting the old directories back", {
      ...(result.status !== undefined ? { status: result.status } : {}),
      stderr: result.stderr,
    });
}

/** Deletes the old directories, once the restored node answers. Safe to run again. */
export async function deleteOldDirectories(opts: RestoreIds): Promise<void> {
  const result = await execCollect(
    opts.exec,
    shCommand(deleteOldDirectoriesScript({ dataDir: opts.dataDir, restoreId: opts.restoreId })),
    opts.signal ? { signal: opts.signal } : {},
  );
  if (result.status !== 0)
    throw failedScript("deleting the old directories", {
      ...(result.status !== undefined ? { status: result.status } : {}),
      stderr: result.stderr,
    });
}

/**
 * Checks the stored archive's size against complete.json. Called before the node is stopped
 * and again before anything moves: a truncated or replaced archive is refused untouched.
 */
export async function checkStoredArchive(opts: {
  store: Pick<ObjectStore, "head">;
  bucket: string;
  key: string;
  expected: StreamDigest;
}): Promise<void> {
  const head = await opts.store.head(opts.bucket, opts.key);
  if (!head)
    throw new CodedError(
      "precondition_failed",
      `s3://${opts.bucket}/${opts.key} is missing although complete.json lists it; the point is damaged, pick another with /recovery-points`,
    );
  if (head.size !== opts.expected.size)
    throw new CodedError(
      "precondition_failed",
      `s3://${opts.bucket}/${opts.key} holds ${head.size} bytes but complete.json records ${opts.expected.size}; the archive is damaged (nothing was changed), pick another point with /recovery-points`,
    );
}

/**
 * The whole restore of the file work, for one helper pod: size check, prepare, stream in,
 * confirm; on any failure after prepare, the old directories go back and the error says so.
 * The kind's runbook runs these as separate checkpointed phases; this composition is what they
 * add up to.
 */
export async function restoreArchiveFromStore(
  opts: RestoreIds & {
    store: Pick<ObjectStore, "head" | "getStream">;
    bucket: string;
    key: string;
    expected: StreamDigest;
    waitSeconds?: number;
  },
): Promise<{ prepared: PreparedRestore; landed: LandedArchive }> {
  await checkStoredArchive(opts);
  const prepared = await prepareRestore({ ...opts, archiveSize: opts.expected.size });
  try {
    const object = await opts.store.getStream(opts.bucket, opts.key);
    try {
      await streamArchiveIn({ ...opts, source: object.body });
    } catch (err) {
      object.body.destroy();
      throw err;
    }
    const landed = await confirmArchiveLanded(opts);
    return { prepared, landed };
  } catch (err) {
    const failure = err instanceof CodedError ? err : new CodedError("restore_failed", String(err));
    try {
      await putOldDirectoriesBack(opts);
    } catch (putBackErr) {
      const why = putBackErr instanceof Error ? putBackErr.message : String(putBackErr);
      throw new CodedError(
        "restore_failed",
        `${failure.message}; putting the old directories back ALSO failed: ${why}. They are in ${opts.dataDir}/.restorebot-old-${opts.restoreId}/`,
        { cause: err },
      );
    }
    throw new CodedError(
      failure.code,
      `${failure.message}; the old directories are back in place`,
      { cause: err },
    );
  }
}
