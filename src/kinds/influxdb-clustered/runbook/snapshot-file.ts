import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ObjectStore } from "../../../adapters/s3/object-store.js";
import { CodedError } from "../../../errors.js";

/**
 * The snapshot's pg_dump.gz on local disk. Phase 2 downloads it (and checks it byte for byte
 * against the ETag frozen at request time); phase 7 restores from it, downloading it again when
 * it runs on another worker than phase 2 did. A marker file written after the checks makes a
 * finished download reusable and a half-written one invisible.
 */

export interface SnapshotFile {
  path: string;
  size: number;
  /** False when a verified copy was already on disk. */
  downloaded: boolean;
}

export interface EnsureSnapshotOptions {
  store: Pick<ObjectStore, "getStream">;
  bucket: string;
  key: string;
  /** The ETag frozen at request time; the download must match it. */
  expectedEtag: string | null;
  dir: string;
  signal?: AbortSignal;
  onProgress?: (bytes: number, total: number) => void;
}

const FILE_NAME = "pg_dump.gz";
const MARKER = "pg_dump.gz.verified";

/** A plain (non-multipart) S3 ETag is the MD5 of the object, which the download can check. */
function md5OfEtag(etag: string | null): string | undefined {
  const bare = etag?.replace(/"/g, "").toLowerCase();
  return bare && /^[0-9a-f]{32}$/.test(bare) ? bare : undefined;
}

export async function ensureSnapshotFile(options: EnsureSnapshotOptions): Promise<SnapshotFile> {
  const { dir } = options;
  const path = join(dir, FILE_NAME);
  const marker = join(dir, MARKER);
  const existing = await readMarker(marker);
  if (existing && options.expectedEtag && existing.etag === options.expectedEtag) {
    const size = await stat(path)
      .then((s) => s.size)
      .catch(() => undefined);
    if (size === existing.size) return { path, size, downloaded: false };
  }
  await rm(marker, { force: true });
  await mkdir(dir, { recursive: true });
  const where = `s3://${options.bucket}/${options.key}`;
  // Only the ETag proves the download is the object approved: a missing one is never taken as
  // a match (the MD5 check below cannot stand in for it; it does not apply to multipart ETags).
  if (!options.expectedEtag) {
    throw new CodedError(
      "precondition_failed",
      `No ETag was frozen for ${where}, so I cannot check that the download is the dump approved. Nothing was changed; make a new request for the point.`,
    );
  }
  const object = await options.store.getStream(options.bucket, options.key);
  if (!object.etag) {
    object.body.destroy();
    throw new CodedError(
      "precondition_failed",
      `The store sent ${where} without an ETag, so I cannot check that the download is the dump approved (ETag ${options.expectedEtag}). Nothing was changed; check that the store returns ETags on downloads and that nothing is rewriting the snapshot, then make a new request for the point.`,
    );
  }
  if (object.etag !== options.expectedEtag) {
    object.body.destroy();
    throw new CodedError(
      "precondition_failed",
      `${where} changed since the request was approved (ETag ${object.etag}, approved ${options.expectedEtag}). Nothing was changed; make a new request for the point as it is now.`,
    );
  }
  const hash = createHash("md5");
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      options.onProgress?.(bytes, object.size);
      callback(null, chunk);
    },
  });
  const partial = `${path}.part`;
  try {
    await pipeline(object.body, counter, createWriteStream(partial), {
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (err) {
    await rm(partial, { force: true });
    if (options.signal?.aborted)
      throw new CodedError("cancelled", "The snapshot download was interrupted.", { cause: err });
    throw new CodedError(
      "s3_unreachable",
      `Downloading s3://${options.bucket}/${options.key} failed after ${bytes} bytes: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (bytes !== object.size) {
    await rm(partial, { force: true });
    throw new CodedError(
      "dump_invalid",
      `The download of s3://${options.bucket}/${options.key} ended after ${bytes} of ${object.size} bytes.`,
    );
  }
  const expectedMd5 = md5OfEtag(options.expectedEtag);
  const actual = hash.digest("hex");
  if (expectedMd5 && actual !== expectedMd5) {
    await rm(partial, { force: true });
    throw new CodedError(
      "dump_invalid",
      `The downloaded snapshot does not match its ETag (MD5 ${actual}, expected ${expectedMd5}): it was corrupted in transit or in the store.`,
    );
  }
  await rename(partial, path);
  await writeFile(marker, JSON.stringify({ etag: options.expectedEtag, size: bytes }));
  return { path, size: bytes, downloaded: true };
}

async function readMarker(path: string): Promise<{ etag: string; size: number } | undefined> {
  try {
    const parsed = JSON.parse(await readFile(path, "utf8")) as { etag?: unknown; size?: unknown };
    if (typeof parsed.etag === "string" && typeof parsed.size === "number")
      return { etag: parsed.etag, size: parsed.size };
  } catch {
    // No marker, or a torn one: download again.
  }
  return undefined;
}

/** Removes a request's downloaded snapshot (after the run ends). */
export async function removeSnapshotFiles(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/**
 * Removes snapshot folders untouched for `maxAgeMs`: those of runs that were abandoned, or
 * finished on another worker. A halted run that is retried later simply downloads again.
 */
export async function removeStaleSnapshots(
  workDir: string,
  maxAgeMs: number,
  now = Date.now(),
): Promise<number> {
  let removed = 0;
  const entries = await readdir(workDir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const dir = join(workDir, entry.name);
    const modified = await stat(dir)
      .then((s) => s.mtimeMs)
      .catch(() => now);
    if (now - modified > maxAgeMs) {
      await rm(dir, { recursive: true, force: true });
      removed++;
    }
  }
  return removed;
}
