import { createGunzip } from "node:zlib";
import type { ObjectStore } from "../../adapters/s3/object-store.js";
import {
  type BackupLocation,
  type CompleteManifest,
  openCheckedPointFile,
  poolEntry,
} from "../../backups/index.js";
import { CodedError } from "../../errors.js";
import { OBJECT_MANIFEST, readObjectManifest } from "./object-manifest.js";
import { readPoolIndex } from "./object-pool.js";

export interface PachydermVerifyResult {
  ok: boolean;
  problems: string[];
  dumps: Array<{ name: string; compressedBytes: number; sqlBytes: number }>;
  objects: number;
  objectBytes: number;
  /** Objects whose ETag was compared (a multipart ETag changes on copy: compared by size only). */
  etagsCompared: number;
  /** Whether the object manifest was read to its end (every object in it checked). */
  manifestRead: boolean;
  /** Objects absent from the pool, and present with another size or ETag. */
  absent: number;
  differing: number;
}

/**
 * Checks a complete point: every dump is read to its end through gunzip with its sha256
 * matching complete.json, and every manifest object is in the pool with its size (and its
 * ETag, where it was not a multipart ETag that a copy changes). The pool is LISTed, never
 * HEADed object by object.
 */
export async function verifyPachydermPoint(
  store: Pick<ObjectStore, "getStream" | "listObjects">,
  backups: BackupLocation,
  manifest: CompleteManifest,
): Promise<PachydermVerifyResult> {
  const problems: string[] = [];
  const dumps: PachydermVerifyResult["dumps"] = [];
  for (const file of manifest.files.filter((f) => f.name.endsWith(".sql.gz"))) {
    try {
      const opened = await openCheckedPointFile(store, backups, manifest.asOf, file);
      const gunzip = createGunzip();
      opened.body.on("error", (err) => gunzip.destroy(err));
      let sqlBytes = 0;
      for await (const chunk of opened.body.pipe(gunzip)) sqlBytes += (chunk as Buffer).length;
      dumps.push({ name: file.name, compressedBytes: file.size, sqlBytes });
    } catch (err) {
      problems.push(`${file.name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const manifestFile = manifest.files.find((f) => f.name === OBJECT_MANIFEST);
  let objects = 0;
  let objectBytes = 0;
  let etagsCompared = 0;
  let manifestRead = false;
  let absentCount = 0;
  let differingCount = 0;
  if (manifestFile === undefined) {
    problems.push(`complete.json lists no ${OBJECT_MANIFEST}.`);
  } else {
    const pool = await readPoolIndex(store, backups);
    const absent: string[] = [];
    const differing: string[] = [];
    try {
      for await (const o of readObjectManifest(store, backups, manifest.asOf, manifestFile)) {
        objects++;
        objectBytes += o.size;
        const pooled = pool.get(poolEntry(o.key, o.etag));
        const compareEtag = !o.etag.includes("-");
        if (compareEtag) etagsCompared++;
        if (pooled === undefined) absent.push(o.key);
        else if (pooled.size !== o.size || (compareEtag && pooled.etag !== o.etag))
          differing.push(o.key);
      }
      manifestRead = true;
    } catch (err) {
      problems.push(
        `${OBJECT_MANIFEST}: ${err instanceof CodedError || err instanceof Error ? err.message : String(err)}`,
      );
    }
    absentCount = absent.length;
    differingCount = differing.length;
    if (absent.length > 0)
      problems.push(
        `${absent.length} object(s) missing from the pool (first: ${absent.slice(0, 3).join(", ")}).`,
      );
    if (differing.length > 0)
      problems.push(
        `${differing.length} pool object(s) with a different size or ETag (first: ${differing.slice(0, 3).join(", ")}).`,
      );
  }
  return {
    ok: problems.length === 0,
    problems,
    dumps,
    objects,
    objectBytes,
    etagsCompared,
    manifestRead,
    absent: absentCount,
    differing: differingCount,
  };
}
