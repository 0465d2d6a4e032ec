import { CodedError, redactSecrets } from "../../errors.js";

export interface S3CallContext {
  operation: string;
  bucket: string;
  key?: string;
  /** Where the client points, for messages ("AWS S3 in us-east-1" or the endpoint URL). */
  where: string;
}

const ACCESS_DENIED = new Set([
  "AccessDenied",
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "ExpiredToken",
  "InvalidToken",
  "TokenRefreshRequired",
  "AllAccessDisabled",
  "Forbidden",
]);

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "ECONNABORTED",
]);

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  Code?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  $fault?: unknown;
}

function describe(err: SdkErrorShape): { name: string; status: number | undefined; said: string } {
  const name = typeof err.name === "string" ? err.name : "Error";
  const code =
    typeof err.code === "string" ? err.code : typeof err.Code === "string" ? err.Code : undefined;
  const status =
    typeof err.$metadata?.httpStatusCode === "number" ? err.$metadata.httpStatusCode : undefined;
  const message = typeof err.message === "string" && err.message !== "" ? err.message : undefined;
  // HEAD errors have no body: the SDK calls them "NotFound"/"Forbidden" with "UnknownError".
  const label = code !== undefined && code !== name ? `${name} (${code})` : name;
  const said = message === undefined || message === "UnknownError" ? label : `${label}: ${message}`;
  return {
    name: code !== undefined && NETWORK_CODES.has(code) ? code : name,
    status,
    said: redactSecrets(said),
  };
}

function target(ctx: S3CallContext): string {
  return ctx.key === undefined ? `bucket "${ctx.bucket}"` : `s3://${ctx.bucket}/${ctx.key}`;
}

/**
 * Turns whatever the SDK threw into a `CodedError` an operator can act on: which bucket,
 * where, what S3 said, and what to check. Credentials never appear (the SDK does not put
 * them in errors, and messages pass through `redactSecrets` anyway).
 */
export function mapS3Error(err: unknown, ctx: S3CallContext): CodedError {
  if (err instanceof CodedError) return err;
  const shape: SdkErrorShape =
    typeof err === "object" && err !== null ? (err as SdkErrorShape) : { message: String(err) };
  const { name, status, said } = describe(shape);
  const details = {
    operation: ctx.operation,
    bucket: ctx.bucket,
    ...(ctx.key === undefined ? {} : { key: ctx.key }),
    s3Error: name,
    ...(status === undefined ? {} : { status }),
  };
  const options = { cause: err, details };

  if (name === "CredentialsProviderError" || /Could not load credentials/i.test(said)) {
    return new CodedError(
      "s3_access_denied",
      `No S3 credentials were found for ${target(ctx)}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or an AWS profile or role) for restorebot.`,
      options,
    );
  }
  if (ACCESS_DENIED.has(name) || status === 403) {
    return new CodedError(
      "s3_access_denied",
      `S3 refused ${ctx.operation} on ${target(ctx)} at ${ctx.where} (${said}). Check restorebot's AWS credentials and that they may list and read this bucket.`,
      options,
    );
  }
  if (name === "NoSuchBucket") {
    return new CodedError(
      "not_found",
      `Bucket "${ctx.bucket}" does not exist at ${ctx.where} (${said}). Check the target's bucket and endpoint in restorebot.yaml (snapshots:, backups:, or the store's own bucket).`,
      options,
    );
  }
  if (name === "NoSuchKey" || name === "NotFound" || status === 404) {
    return new CodedError(
      "not_found",
      `${target(ctx)} does not exist at ${ctx.where} (${said}).`,
      options,
    );
  }
  if (
    NETWORK_CODES.has(name) ||
    name === "TimeoutError" ||
    name === "RequestTimeout" ||
    (status === undefined && /socket hang up|ECONN|timed? ?out|network/i.test(said)) ||
    (status !== undefined && status >= 500)
  ) {
    return new CodedError(
      "s3_unreachable",
      `Could not ${ctx.operation} ${target(ctx)}: the object store at ${ctx.where} ${status === undefined ? "could not be reached" : `answered ${status}`} (${said}). Check the target's endpoint in restorebot.yaml and the network, then try again.`,
      options,
    );
  }
  return new CodedError(
    "internal",
    `S3 ${ctx.operation} on ${target(ctx)} at ${ctx.where} failed (${said}).`,
    options,
  );
}
