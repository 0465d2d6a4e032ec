import { CodedError } from "../../errors.js";
import type { MultipartUploadSummary, ObjectStore } from "./object-store.js";

/**
 * A writer killed in the middle of a multipart upload (kill -9, a lost node) never completes
 * nor aborts it: its parts stay stored, and billed, with no object to show for them. Before a
 * resumable writer uploads into a folder that only it writes (a backup point's own folder),
 * it calls this to abort every upload left under that folder by an earlier, interrupted run.
 *
 * Only uploads whose key starts with `prefix` are touched, even if a store ignored the
 * `Prefix` of the listing; an empty prefix (the whole bucket) is refused. All uploads are
 * listed before the first is aborted, so aborting never disturbs the listing's markers.
 */
export async function abortStaleUploads(
  store: Pick<ObjectStore, "listMultipartUploads" | "abortMultipartUpload">,
  bucket: string,
  prefix: string,
): Promise<MultipartUploadSummary[]> {
  if (prefix === "")
    throw new CodedError(
      "internal",
      `refusing to abort the multipart uploads of the whole bucket "${bucket}": give the folder whose uploads are stale`,
    );
  const stale: MultipartUploadSummary[] = [];
  for await (const upload of store.listMultipartUploads(bucket, prefix))
    if (upload.key.startsWith(prefix)) stale.push(upload);
  for (const upload of stale) await store.abortMultipartUpload(bucket, upload.key, upload.uploadId);
  return stale;
}

/** "2 incomplete multipart uploads (pachyderm.sql.gz started 11:00:07Z, …)", for a thread. */
export function describeAbortedUploads(
  aborted: readonly MultipartUploadSummary[],
  bucket: string,
  prefix: string,
): string {
  const each = aborted
    .slice(0, 5)
    .map(
      (u) =>
        `${u.key.slice(prefix.length)}${u.initiated ? ` started ${u.initiated.toISOString().slice(0, 19)}Z` : ""}`,
    )
    .join(", ");
  const more = aborted.length > 5 ? `, and ${aborted.length - 5} more` : "";
  return `Aborted ${aborted.length} incomplete multipart upload${aborted.length === 1 ? "" : "s"} that an interrupted run left under s3://${bucket}/${prefix} (${each}${more}); their parts are no longer stored.`;
}
