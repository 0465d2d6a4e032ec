import { CodedError } from "../../errors.js";

export interface S3Location {
  bucket: string;
  key: string;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Parses `s3://bucket/key`. The key is taken literally (S3 URLs are not percent-encoded
 * by the tools operators copy them from), so spaces and `+` survive.
 */
export function parseS3Url(url: string): S3Location {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(url.trim());
  const usage =
    "expected s3://<bucket>/<key>, e.g. s3://backups/catalog/2024-08-12T14:00:00+00:00/pg_dump.gz";
  if (match === null) throw new CodedError("usage", `"${url}" is not an S3 URL: ${usage}`);
  const [, bucket = "", key = ""] = match;
  if (!BUCKET.test(bucket)) {
    throw new CodedError(
      "usage",
      `"${bucket}" is not a valid S3 bucket name in "${url}": ${usage}`,
    );
  }
  return { bucket, key };
}

/** The inverse of `parseS3Url`, for messages. */
export function formatS3Url(location: S3Location): string {
  return `s3://${location.bucket}/${location.key}`;
}
