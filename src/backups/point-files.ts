import { createHash } from "node:crypto";
import { type Readable, Transform, type TransformCallback } from "node:stream";
import type { ObjectStore, UploadOptions } from "../adapters/s3/object-store.js";
import { CodedError } from "../errors.js";
import type { CompleteManifest, PointFile } from "./complete-manifest.js";
import { type BackupLocation, pointFileKey, pointPrefix } from "./layout.js";

/**
 * Writing and reading the files of a point. The writer hashes while it uploads, so
 * complete.json can list sha256 without a second read; the reader checks the size before
 * the first byte and the sha256 at the end, and fails the stream instead of ending it when
 * either differs, so a consumer that commits only on a clean end never commits bad data.
 */

/** Counts and hashes what passes through; `digest()` once the stream has ended. */
class DigestPassThrough extends Transform {
  private readonly hash = createHash("sha256");
  bytes = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }

  digest(): string {
    return this.hash.digest("hex");
  }
}

/**
 * Streams `source` into the point's folder as `name` (bounded memory: parts of the
 * upload's size) and returns its complete.json entry. A failing source fails the upload and
 * leaves no object.
 */
export async function uploadPointFile(
  store: Pick<ObjectStore, "upload">,
  location: BackupLocation,
  asOf: string,
  name: string,
  source: Readable,
  opts: UploadOptions = {},
): Promise<PointFile> {
  const digest = new DigestPassThrough();
  source.on("error", (err) => digest.destroy(err));
  source.pipe(digest);
  await store.upload(
    location.bucket,
    pointFileKey(location.prefix, asOf, name, location.pointsFolder),
    digest,
    opts,
  );
  return { name, size: digest.bytes, sha256: digest.digest() };
}

function mismatch(location: BackupLocation, key: string, what: string): CodedError {
  return new CodedError(
    "dump_invalid",
    `s3://${location.bucket}/${key} ${what} than complete.json records: the point changed after it was written and cannot be trusted. Nothing was changed.`,
    { details: { bucket: location.bucket, key } },
  );
}

/**
 * The file's stream, refused before reading when its stored size differs from complete.json;
 * its bytes are NOT checked. Only for a caller that hashes every byte it passes on and compares
 * size and sha256 with `file` itself, as the InfluxDB OSS extract does (one sha256 per byte, not
 * two). Everyone else uses `openCheckedPointFile`.
 */
export async function openSizedPointFile(
  store: Pick<ObjectStore, "getStream">,
  location: BackupLocation,
  asOf: string,
  file: PointFile,
): Promise<{ body: Readable; size: number; key: string }> {
  const key = pointFileKey(location.prefix, asOf, file.name, location.pointsFolder);
  const stream = await store.getStream(location.bucket, key);
  if (stream.size !== file.size) {
    stream.body.destroy();
    throw mismatch(
      location,
      key,
      `is ${stream.size} bytes, ${stream.size > file.size ? "more" : "fewer"}`,
    );
  }
  return { body: stream.body, size: file.size, key };
}

/**
 * The file as complete.json describes it: refused before reading when its stored size
 * differs; the stream errors (instead of ending) when it runs longer, or when its sha256
 * differs at the end.
 */
export async function openCheckedPointFile(
  store: Pick<ObjectStore, "getStream">,
  location: BackupLocation,
  asOf: string,
  file: PointFile,
): Promise<{ body: Readable; size: number }> {
  const { body, key } = await openSizedPointFile(store, location, asOf, file);
  const hash = createHash("sha256");
  let bytes = 0;
  const checked = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      if (bytes > file.size) {
        done(mismatch(location, key, "holds more bytes"));
        return;
      }
      hash.update(chunk);
      done(null, chunk);
    },
    flush(done) {
      if (bytes !== file.size) done(mismatch(location, key, `ended at ${bytes} bytes, fewer`));
      else if (hash.digest("hex") !== file.sha256)
        done(mismatch(location, key, "has a different sha256"));
      else done();
    },
  });
  body.on("error", (err) => checked.destroy(err));
  body.pipe(checked);
  return { body: checked, size: file.size };
}

export interface PointFileProblem {
  name: string;
  problem: "missing" | "size";
  expected: number;
  actual: number | undefined;
}

/**
 * One LIST of the point's folder against complete.json: every listed file present with its
 * size. Cheap enough to run before anything is stopped; the sha256 is checked while reading.
 */
export async function checkPointFileSizes(
  store: Pick<ObjectStore, "listObjects">,
  location: BackupLocation,
  manifest: CompleteManifest,
): Promise<PointFileProblem[]> {
  const folder = pointPrefix(location.prefix, manifest.asOf, location.pointsFolder);
  const sizes = new Map<string, number>();
  for await (const o of store.listObjects(location.bucket, folder))
    sizes.set(o.key.slice(folder.length), o.size);
  const problems: PointFileProblem[] = [];
  for (const file of manifest.files) {
    const actual = sizes.get(file.name);
    if (actual === undefined)
      problems.push({ name: file.name, problem: "missing", expected: file.size, actual });
    else if (actual !== file.size)
      problems.push({ name: file.name, problem: "size", expected: file.size, actual });
  }
  return problems;
}
