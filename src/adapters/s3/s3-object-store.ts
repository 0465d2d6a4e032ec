import { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { CodedError } from "../../errors.js";
import type {
  ByteRange,
  CopySource,
  ListPage,
  ListPageOptions,
  MultipartUploadSummary,
  ObjectHead,
  ObjectStore,
  ObjectStream,
  ObjectSummary,
  PutOptions,
  UploadOptions,
} from "./object-store.js";
import { mapS3Error, type S3CallContext } from "./s3-errors.js";

export interface S3ClientOptions {
  /** For S3-compatible stores (MinIO, Ceph, the test stand-in); AWS when omitted. */
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  /** Attempts per call including retries; the SDK's default (3) when omitted. */
  maxAttempts?: number;
  /** How long to wait for a TCP connection; 5 s by default so a dead endpoint fails fast. */
  connectionTimeoutMs?: number;
  /**
   * Explicit credentials for tests and the sandbox. Production leaves this out: the SDK's
   * standard chain reads AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profiles or the pod's role.
   */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/** Builds the SDK client; only composition roots (and tests) call this. */
export function createS3Client(opts: S3ClientOptions): S3Client {
  const config: S3ClientConfig = {
    region: opts.region,
    forcePathStyle: opts.forcePathStyle,
    // No request timeout: a catalog dump streams for minutes while PostgreSQL applies it.
    requestHandler: { connectionTimeout: opts.connectionTimeoutMs ?? 5_000 },
  };
  if (opts.endpoint !== undefined) config.endpoint = opts.endpoint;
  if (opts.maxAttempts !== undefined) config.maxAttempts = opts.maxAttempts;
  if (opts.credentials !== undefined) config.credentials = opts.credentials;
  const client = new S3Client(config);
  // A multipart part is a Buffer, and SigV4 would sign its sha256: a second hash of every byte
  // of an archive that the SDK's CRC32 checksum of the part already covers. Parts go as
  // UNSIGNED-PAYLOAD (S3 and the compatible stores accept it); the request itself stays signed.
  client.middlewareStack.add(
    (next, context) => (args) => {
      const request = args.request as { headers?: Record<string, string> } | undefined;
      if (context.commandName === "UploadPartCommand" && request?.headers)
        request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
      return next(args);
    },
    { step: "build", name: "restorebotUnsignedPartPayload" },
  );
  return client;
}

const MAX_PAGE = 1000;
const MIN_PART_BYTES = 5 * 1024 * 1024;

function quoteEtag(etag: string): string {
  const bare = etag.trim().replace(/^"|"$/g, "");
  return `"${bare}"`;
}

/** The copy source is a URL path: encode each key segment, keep the slashes. */
function encodeCopyKey(key: string): string {
  return key.split("/").map(encodeURIComponent).join("/");
}

/** Errors that came from the body stream, not from S3 (they carry no HTTP metadata). */
function isBodyFailure(err: unknown): boolean {
  return (
    err instanceof CodedError ||
    (typeof err === "object" &&
      err !== null &&
      (err as { bodyFailure?: unknown }).bodyFailure === true)
  );
}

function where(opts: { endpoint?: string; region: string }): string {
  if (opts.endpoint === undefined) return `AWS S3 (${opts.region})`;
  try {
    // Only scheme, host and port: an endpoint URL could carry userinfo.
    return new URL(opts.endpoint).origin;
  } catch {
    return "the configured endpoint";
  }
}

function summaries(page: ListObjectsV2CommandOutput): ObjectSummary[] {
  return (page.Contents ?? []).map((o) => ({
    key: o.Key ?? "",
    size: o.Size ?? 0,
    etag: o.ETag ?? "",
    lastModified: o.LastModified,
  }));
}

function rangeHeader(range: ByteRange): string {
  if (
    !Number.isInteger(range.start) ||
    range.start < 0 ||
    (range.end !== undefined && range.end < range.start)
  ) {
    throw new CodedError("usage", `invalid byte range ${range.start}-${range.end ?? ""}`);
  }
  return `bytes=${range.start}-${range.end ?? ""}`;
}

async function bufferStream(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}

/**
 * The `ObjectStore` port over the AWS SDK. `location` (endpoint/region) only feeds error
 * messages, so they can say where the failing store is.
 */
export function createS3ObjectStore(
  client: S3Client,
  location: { endpoint?: string; region: string },
): ObjectStore {
  const at = where(location);

  async function call<T>(ctx: Omit<S3CallContext, "where">, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw mapS3Error(err, { ...ctx, where: at });
    }
  }

  async function listPrefixes(
    bucket: string,
    prefix: string,
    delimiter: string,
    opts: ListPageOptions = {},
  ): Promise<ListPage> {
    const page = await call(
      { operation: "list", bucket, key: prefix === "" ? undefined : prefix },
      () =>
        client.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: prefix,
            Delimiter: delimiter === "" ? undefined : delimiter,
            MaxKeys: Math.min(opts.maxKeys ?? MAX_PAGE, MAX_PAGE),
            ContinuationToken: opts.continuationToken,
            StartAfter: opts.continuationToken === undefined ? opts.startAfter : undefined,
          }),
        ),
    );
    return {
      prefixes: (page.CommonPrefixes ?? []).flatMap((p) =>
        p.Prefix === undefined ? [] : [p.Prefix],
      ),
      objects: summaries(page),
      nextToken: page.IsTruncated === true ? page.NextContinuationToken : undefined,
    };
  }

  async function* listObjects(
    bucket: string,
    prefix: string,
    opts: { pageSize?: number } = {},
  ): AsyncGenerator<ObjectSummary> {
    let token: string | undefined;
    do {
      const page = await listPrefixes(bucket, prefix, "", {
        maxKeys: opts.pageSize ?? MAX_PAGE,
        ...(token === undefined ? {} : { continuationToken: token }),
      });
      yield* page.objects;
      token = page.nextToken;
    } while (token !== undefined);
  }

  async function head(bucket: string, key: string): Promise<ObjectHead | undefined> {
    try {
      const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return {
        size: out.ContentLength ?? 0,
        etag: out.ETag ?? "",
        lastModified: out.LastModified ?? new Date(0),
      };
    } catch (err) {
      const mapped = mapS3Error(err, { operation: "read", bucket, key, where: at });
      // A HEAD 404 carries no body, so a missing key and a missing bucket look alike;
      // both mean "not there" to the caller.
      if (mapped.code === "not_found") return undefined;
      throw mapped;
    }
  }

  async function getStream(bucket: string, key: string, range?: ByteRange): Promise<ObjectStream> {
    const out = await call({ operation: "read", bucket, key }, () =>
      client.send(
        new GetObjectCommand({
          Bucket: bucket,
          Key: key,
          Range: range === undefined ? undefined : rangeHeader(range),
        }),
      ),
    );
    const body = out.Body;
    if (!(body instanceof Readable)) {
      throw new CodedError("internal", `S3 returned no readable body for s3://${bucket}/${key}`);
    }
    const size = out.ContentLength ?? 0;
    const total = /\/(\d+)$/.exec(out.ContentRange ?? "")?.[1];
    return {
      body,
      size,
      totalSize: total === undefined ? size : Number(total),
      etag: out.ETag ?? "",
    };
  }

  async function put(
    bucket: string,
    key: string,
    body: Buffer | string | Readable,
    opts: PutOptions = {},
  ): Promise<{ etag: string }> {
    // The SDK cannot sign a stream of unknown length (it must announce the decoded length).
    const payload =
      body instanceof Readable && opts.contentLength === undefined
        ? await bufferStream(body)
        : body;
    const out = await call({ operation: "write", bucket, key }, () =>
      client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: payload,
          ContentType: opts.contentType,
          ContentLength: opts.contentLength,
        }),
      ),
    );
    return { etag: out.ETag ?? "" };
  }

  async function copyObject(
    source: CopySource,
    destination: { bucket: string; key: string },
  ): Promise<{ etag: string }> {
    const ifMatch = source.ifMatch === undefined ? undefined : quoteEtag(source.ifMatch);
    try {
      const out = await client.send(
        new CopyObjectCommand({
          Bucket: destination.bucket,
          Key: destination.key,
          CopySource: `${source.bucket}/${encodeCopyKey(source.key)}`,
          CopySourceIfMatch: ifMatch,
        }),
      );
      return { etag: out.CopyObjectResult?.ETag ?? "" };
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 412 || (err as { name?: string }).name === "PreconditionFailed") {
        throw new CodedError(
          "precondition_failed",
          `s3://${source.bucket}/${source.key} changed before it could be copied (its ETag is no longer ${ifMatch ?? "the one listed"}).`,
          { cause: err, details: { bucket: source.bucket, key: source.key } },
        );
      }
      throw mapS3Error(err, {
        operation: "copy",
        bucket: source.bucket,
        key: source.key,
        where: at,
      });
    }
  }

  async function upload(
    bucket: string,
    key: string,
    body: Readable,
    opts: UploadOptions = {},
  ): Promise<{ etag: string }> {
    const partSize = Math.max(opts.partSize ?? 8 * 1024 * 1024, MIN_PART_BYTES);
    const task = new Upload({
      client,
      params: { Bucket: bucket, Key: key, Body: body, ContentType: opts.contentType },
      partSize,
      queueSize: Math.max(1, opts.queueSize ?? 2),
      // An aborted or failed upload removes its parts: nothing half-written stays billed.
      leavePartsOnError: false,
    });
    const onAbort = () => {
      void task.abort();
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      if (opts.signal?.aborted)
        throw new CodedError("cancelled", `The upload of s3://${bucket}/${key} was cancelled.`);
      const out = await task.done();
      return { etag: out.ETag ?? "" };
    } catch (err) {
      body.destroy();
      if (opts.signal?.aborted) {
        throw new CodedError("cancelled", `The upload of s3://${bucket}/${key} was cancelled.`, {
          cause: err,
        });
      }
      // A failure of the body itself (the producer) is the caller's to explain.
      if (isBodyFailure(err)) throw err;
      throw mapS3Error(err, { operation: "write", bucket, key, where: at });
    } finally {
      opts.signal?.removeEventListener("abort", onAbort);
    }
  }

  async function deleteObjects(
    bucket: string,
    keys: readonly string[],
  ): Promise<{ deleted: number }> {
    let deleted = 0;
    for (let i = 0; i < keys.length; i += MAX_PAGE) {
      const batch = keys.slice(i, i + MAX_PAGE);
      const out = await call({ operation: "delete", bucket }, () =>
        client.send(
          new DeleteObjectsCommand({
            Bucket: bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
        ),
      );
      const errors = out.Errors ?? [];
      if (errors.length > 0) {
        const first = errors
          .slice(0, 3)
          .map((e) => `${e.Key ?? "?"} (${e.Code ?? "error"})`)
          .join(", ");
        throw new CodedError(
          "internal",
          `S3 refused to delete ${errors.length} of ${batch.length} objects in bucket "${bucket}" at ${at}: ${first}.`,
          { details: { bucket, refused: errors.length } },
        );
      }
      deleted += batch.length;
    }
    return { deleted };
  }

  async function* listMultipartUploads(
    bucket: string,
    prefix: string,
  ): AsyncGenerator<MultipartUploadSummary> {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await call(
        { operation: "list", bucket, key: prefix === "" ? undefined : prefix },
        () =>
          client.send(
            new ListMultipartUploadsCommand({
              Bucket: bucket,
              Prefix: prefix,
              MaxUploads: MAX_PAGE,
              KeyMarker: keyMarker,
              UploadIdMarker: uploadIdMarker,
            }),
          ),
      );
      for (const u of page.Uploads ?? [])
        if (u.Key !== undefined && u.UploadId !== undefined)
          yield { key: u.Key, uploadId: u.UploadId, initiated: u.Initiated };
      if (page.IsTruncated !== true) return;
      // A truncated page without markers would list the same page again, forever.
      if (page.NextKeyMarker === undefined || page.NextKeyMarker === "")
        throw new CodedError(
          "internal",
          `the store at ${at} answered a truncated list of multipart uploads in bucket "${bucket}" without a next marker`,
        );
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  async function abortMultipartUpload(bucket: string, key: string, uploadId: string) {
    try {
      await client.send(
        new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }),
      );
    } catch (err) {
      // Completed or aborted meanwhile: nothing of it is left to remove.
      if ((err as { name?: string }).name === "NoSuchUpload") return;
      throw mapS3Error(err, { operation: "delete", bucket, key, where: at });
    }
  }

  return {
    listPrefixes,
    listObjects,
    head,
    getStream,
    put,
    copyObject,
    upload,
    deleteObjects,
    listMultipartUploads,
    abortMultipartUpload,
  };
}
