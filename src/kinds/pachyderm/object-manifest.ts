import { createInterface } from "node:readline";
import { Readable } from "node:stream";
import { createGunzip, createGzip } from "node:zlib";
import type { ObjectStore } from "../../adapters/s3/object-store.js";
import {
  type BackupLocation,
  openCheckedPointFile,
  type PointFile,
  uploadPointFile,
} from "../../backups/index.js";
import { CodedError } from "../../errors.js";
import type { LiveObject } from "./object-pool.js";

export const OBJECT_MANIFEST = "objects.ndjson.gz";

/** Writes `objects.ndjson.gz`: one `{"key","size","etag"}` line per live object, streamed. */
export async function writeObjectManifest(
  store: Pick<ObjectStore, "upload">,
  backups: BackupLocation,
  asOf: string,
  objects: Iterable<LiveObject> | AsyncIterable<LiveObject>,
): Promise<PointFile> {
  // Lines go to gzip in batches of about 64 KiB: one write per line made gzip's per-call
  // cost dominate (about a second for 20,000 objects), and memory stays bounded either way.
  async function* lines(): AsyncGenerator<string> {
    let batch = "";
    for await (const o of objects) {
      batch += `${JSON.stringify({ key: o.key, size: o.size, etag: o.etag })}\n`;
      if (batch.length >= 64 * 1024) {
        yield batch;
        batch = "";
      }
    }
    if (batch !== "") yield batch;
  }
  const gzip = Readable.from(lines()).pipe(createGzip());
  return uploadPointFile(store, backups, asOf, OBJECT_MANIFEST, gzip, {
    contentType: "application/gzip",
  });
}

function isLiveObject(value: unknown): value is LiveObject {
  const v = value as Partial<LiveObject> | null;
  return (
    typeof v === "object" &&
    v !== null &&
    typeof v.key === "string" &&
    typeof v.etag === "string" &&
    typeof v.size === "number" &&
    Number.isInteger(v.size) &&
    v.size >= 0
  );
}

/**
 * The manifest's objects, one at a time (a manifest of millions never sits in memory), read
 * through the checked reader: a size or sha256 different from complete.json fails the read.
 */
export async function* readObjectManifest(
  store: Pick<ObjectStore, "getStream">,
  backups: BackupLocation,
  asOf: string,
  file: PointFile,
): AsyncGenerator<LiveObject> {
  const opened = await openCheckedPointFile(store, backups, asOf, file);
  const gunzip = createGunzip();
  opened.body.on("error", (err) => gunzip.destroy(err));
  const lines = createInterface({
    input: opened.body.pipe(gunzip),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line === "") continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      parsed = undefined;
    }
    if (!isLiveObject(parsed)) {
      throw new CodedError(
        "dump_invalid",
        `Line ${n} of ${OBJECT_MANIFEST} in point ${asOf} is not a {"key","size","etag"} object.`,
      );
    }
    yield parsed;
  }
}
