/**
 * An S3-compatible HTTP server for tests: the real `@aws-sdk/client-s3` talks to it
 * unchanged (path-style). It keeps objects in memory, counts requests per operation, and
 * injects faults (errors, dropped connections, latency, refused access keys).
 *
 * SigV4 signatures are not verified; the access key id is read from the Authorization
 * header (or a presigned URL's X-Amz-Credential) so tests can refuse credentials.
 */
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { crc32 } from "node:zlib";
import { ChunkedBodyError, decodeAwsChunked } from "./aws-chunked.js";
import {
  InMemoryObjectStore,
  type ListEntry,
  type StoredObject,
  sizeOf,
  type WriteRecord,
} from "./object-store.js";

export type S3Operation =
  | "CreateBucket"
  | "HeadBucket"
  | "DeleteBucket"
  | "ListObjectsV2"
  | "GetObject"
  | "HeadObject"
  | "PutObject"
  | "DeleteObject"
  | "DeleteObjects"
  | "CopyObject"
  | "CreateMultipartUpload"
  | "UploadPart"
  | "CompleteMultipartUpload"
  | "AbortMultipartUpload"
  | "ListMultipartUploads"
  | "Unsupported";

export interface FaultSpec {
  /** Operation to fail; any operation when omitted. */
  op?: S3Operation;
  /** Only requests on this bucket (and key, when given). */
  bucket?: string;
  key?: string;
  /** HTTP status of the S3 error; 500 when omitted. */
  status?: number;
  /** S3 error code, e.g. "AccessDenied", "SlowDown"; derived from the status when omitted. */
  code?: string;
  message?: string;
  /** How many matching requests fail; 1 when omitted. */
  count?: number;
  /** Drop the connection without an answer instead of sending an error. */
  reset?: boolean;
}

export interface RecordedRequest {
  op: S3Operation;
  method: string;
  bucket: string;
  key: string;
  query: Record<string, string>;
  accessKeyId: string | undefined;
  /** Request headers, without Authorization. */
  headers: Record<string, string | undefined>;
  status: number;
}

export interface S3StandInOptions {
  /** Buckets to create at start. */
  buckets?: string[];
  port?: number;
  /**
   * Answer without ETags (no header, no listing element), as some S3-compatible stores do:
   * `true` for every operation, or only the listed ones (e.g. `["GetObject"]`).
   */
  omitEtags?: boolean | readonly S3Operation[];
}

export interface S3StandIn {
  /** `http://127.0.0.1:<port>`, for `endpoint` with `forcePathStyle: true`. */
  readonly endpoint: string;
  readonly port: number;
  /** The storage behind the server; writes here are visible to clients at once. */
  readonly store: InMemoryObjectStore;
  createBucket(bucket: string): void;
  /** Stores an object without HTTP (fast seeding); creates the bucket when missing. */
  putObjectDirect(
    bucket: string,
    key: string,
    body: Buffer | string,
    opts?: { lastModified?: Date; contentType?: string },
  ): void;
  getObjectDirect(bucket: string, key: string): Buffer | undefined;
  deleteObjectDirect(bucket: string, key: string): boolean;
  listKeys(bucket: string, prefix?: string): string[];
  /** Every write in order, HTTP and direct; `via: "http"` entries are real PutObject calls. */
  writeLog(): readonly WriteRecord[];
  clearWriteLog(): void;
  /** Requests received per operation since the last reset (failed ones included). */
  requestCounts(): Partial<Record<S3Operation, number>>;
  /**
   * The most requests of each operation the server was handling at once since the last reset
   * (from arrival to the end of the answer), e.g. how many CopyObjects a copy ran in parallel.
   */
  peakInFlight(): Partial<Record<S3Operation, number>>;
  /** TCP connections accepted since the last reset (keep-alive reuse keeps this low). */
  connections(): number;
  totalRequests(): number;
  requests(): readonly RecordedRequest[];
  resetCounts(): void;
  failNext(fault: FaultSpec): void;
  clearFaults(): void;
  /** Delay every answer (or one operation's) by `ms`. */
  setLatency(ms: number, op?: S3Operation): void;
  /** Answer 403 InvalidAccessKeyId (or the given code) to requests signed with this key id. */
  denyAccessKey(
    accessKeyId: string,
    code?: "InvalidAccessKeyId" | "AccessDenied" | "SignatureDoesNotMatch",
  ): void;
  allowAccessKey(accessKeyId: string): void;
  /** Changes `omitEtags` from now on (e.g. after a request froze the ETag). */
  setOmitEtags(omit: boolean | readonly S3Operation[]): void;
  /** Each CopyObject also waits size ÷ rate seconds (bytes per second); undefined turns it off. */
  setCopyRate(bytesPerSecond: number | undefined): void;
  /** Multipart uploads created and neither completed nor aborted (what S3 would bill for). */
  pendingUploads(): Array<{ bucket: string; key: string; uploadId: string; parts: number }>;
  /**
   * Holds every request matching `op` (and `bucket`/`key` when given) before it is handled,
   * until `release()` (or `close()`): e.g. an UploadPart held so a test can kill the client
   * while its multipart upload is in flight. Released requests are then handled as usual.
   */
  holdRequests(match: { op: S3Operation; bucket?: string; key?: string }): {
    /** Requests held so far (and still arriving while the hold is on). */
    held(): number;
    release(): void;
  };
  close(): Promise<void>;
}

const XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/";
const MAX_KEYS = 1000;
const OWNER_ID = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a";

const STATUS_CODES: Record<number, string> = {
  400: "InvalidRequest",
  403: "AccessDenied",
  404: "NoSuchKey",
  409: "OperationAborted",
  412: "PreconditionFailed",
  500: "InternalError",
  503: "SlowDown",
};

const ERROR_MESSAGES: Record<string, string> = {
  NoSuchKey: "The specified key does not exist.",
  NoSuchBucket: "The specified bucket does not exist",
  AccessDenied: "Access Denied",
  InvalidAccessKeyId: "The AWS Access Key Id you provided does not exist in our records.",
  SignatureDoesNotMatch:
    "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
  InternalError: "We encountered an internal error. Please try again.",
  SlowDown: "Please reduce your request rate.",
  InvalidRange: "The requested range is not satisfiable",
  BucketAlreadyOwnedByYou:
    "Your previous request to create the named bucket succeeded and you already own it.",
  BucketNotEmpty: "The bucket you tried to delete is not empty",
  BadDigest:
    "The Content-MD5 or checksum value that you specified did not match what the server received.",
  IncompleteBody:
    "You did not provide the number of bytes specified by the Content-Length HTTP header.",
  InvalidArgument: "Invalid Argument",
  NotImplemented:
    "A header or operation you provided implies functionality that is not implemented.",
  KeyTooLongError: "Your key is too long",
  NoSuchUpload: "The specified upload does not exist.",
  PreconditionFailed: "At least one of the pre-conditions you specified did not hold",
  MalformedXML:
    "The XML you provided was not well-formed or did not validate against our published schema",
};

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) =>
    c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&apos;",
  );
}

function el(name: string, value: string | number | boolean): string {
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

class S3Error extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message?: string,
    readonly extra: Record<string, string> = {},
  ) {
    super(message ?? ERROR_MESSAGES[code] ?? code);
  }
}

interface ParsedRequest {
  method: string;
  bucket: string;
  key: string;
  query: URLSearchParams;
  op: S3Operation;
  accessKeyId: string | undefined;
}

function operationOf(
  method: string,
  bucket: string,
  key: string,
  query: URLSearchParams,
  copySource: boolean,
): S3Operation {
  if (bucket === "") return "Unsupported";
  if (key === "") {
    if (method === "PUT" && query.size === 0) return "CreateBucket";
    if (method === "HEAD") return "HeadBucket";
    if (method === "DELETE") return "DeleteBucket";
    if (method === "GET" && query.get("list-type") === "2") return "ListObjectsV2";
    if (method === "GET" && query.has("uploads")) return "ListMultipartUploads";
    if (method === "POST" && query.has("delete")) return "DeleteObjects";
    return "Unsupported";
  }
  if (method === "POST" && query.has("uploads")) return "CreateMultipartUpload";
  if (method === "POST" && query.has("uploadId")) return "CompleteMultipartUpload";
  if (method === "PUT" && query.has("uploadId") && query.has("partNumber")) {
    // UploadPartCopy is not implemented: it would need ranges of the copy source.
    return copySource ? "Unsupported" : "UploadPart";
  }
  if (method === "DELETE" && query.has("uploadId")) return "AbortMultipartUpload";
  if (method === "PUT" && copySource && !query.has("uploadId")) return "CopyObject";
  if (method === "GET" && !query.has("uploadId") && !query.has("acl") && !query.has("tagging"))
    return "GetObject";
  if (method === "HEAD") return "HeadObject";
  if (method === "PUT" && !query.has("uploadId") && !query.has("acl") && !query.has("tagging"))
    return "PutObject";
  if (method === "DELETE" && !query.has("uploadId")) return "DeleteObject";
  return "Unsupported";
}

function accessKeyOf(req: IncomingMessage, query: URLSearchParams): string | undefined {
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    const match = /Credential=([^/,\s]+)\//.exec(auth);
    if (match?.[1] !== undefined) return match[1];
  }
  return query.get("X-Amz-Credential")?.split("/", 1)[0];
}

// Parsed by hand rather than with `new URL`, which would resolve "." and ".." segments
// that are legal inside S3 keys.
function parseRequest(req: IncomingMessage): ParsedRequest {
  const url = req.url ?? "/";
  const q = url.indexOf("?");
  const rawPath = q < 0 ? url : url.slice(0, q);
  const query = new URLSearchParams(q < 0 ? "" : url.slice(q + 1));
  const path = rawPath.startsWith("/") ? rawPath.slice(1) : rawPath;
  const slash = path.indexOf("/");
  const bucket = decodeURIComponent(slash < 0 ? path : path.slice(0, slash));
  const key = slash < 0 ? "" : decodeURIComponent(path.slice(slash + 1));
  const method = (req.method ?? "GET").toUpperCase();
  return {
    method,
    bucket,
    key,
    query,
    op: operationOf(method, bucket, key, query, req.headers["x-amz-copy-source"] !== undefined),
    accessKeyId: accessKeyOf(req, query),
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  return Buffer.concat(await readChunks(req));
}

/**
 * The request's bytes as they arrived, not joined: an object body is kept so, because joining
 * a part means allocating and touching a fresh copy of it, which costs as much CPU as the
 * upload itself on a small machine and would be counted against the client in benchmarks.
 */
async function readChunks(req: IncomingMessage): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return chunks;
}

/** Writes the chunks in order, waiting for the socket to drain when its buffer is full. */
async function writeChunks(res: ServerResponse, chunks: readonly Buffer[]): Promise<void> {
  for (const chunk of chunks) {
    if (res.destroyed) return;
    if (!res.write(chunk))
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off("drain", done);
          res.off("close", done);
          resolve();
        };
        res.on("drain", done);
        res.on("close", done);
      });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Parses `bytes=a-b`, `bytes=a-`, `bytes=-n`; undefined means "send the whole object". */
function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // S3 ignores what it cannot parse (including several ranges) and sends everything.
  if (match === null) return undefined;
  const [, a = "", b = ""] = match;
  if (a === "" && b === "") return undefined;
  let start: number;
  let end: number;
  if (a === "") {
    const suffix = Number(b);
    if (suffix === 0) throw new S3Error(416, "InvalidRange");
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(a);
    end = b === "" ? size - 1 : Math.min(Number(b), size - 1);
    if (b !== "" && Number(b) < start) return undefined;
  }
  if (start >= size) throw new S3Error(416, "InvalidRange", undefined, { RangeRequested: header });
  return { start, end };
}

function verifyChecksums(
  body: readonly Buffer[],
  headers: Record<string, string | undefined>,
): Record<string, string> {
  const stored: Record<string, string> = {};
  const digest = (algorithm: string): string => {
    const hash = createHash(algorithm);
    for (const chunk of body) hash.update(chunk);
    return hash.digest("base64");
  };
  const md5 = headers["content-md5"];
  if (md5 !== undefined && digest("md5") !== md5) {
    throw new S3Error(400, "BadDigest");
  }
  for (const [name, value] of Object.entries(headers)) {
    if (
      !name.startsWith("x-amz-checksum-") ||
      name === "x-amz-checksum-type" ||
      value === undefined
    )
      continue;
    const algorithm = name.slice("x-amz-checksum-".length);
    let expected: string | undefined;
    if (algorithm === "crc32") {
      let crc = 0;
      for (const chunk of body) crc = crc32(chunk, crc);
      const buf = Buffer.alloc(4);
      buf.writeUInt32BE(crc >>> 0);
      expected = buf.toString("base64");
    } else if (algorithm === "sha1" || algorithm === "sha256") {
      expected = digest(algorithm);
    }
    // crc32c and crc64nvme are stored unverified: node has no implementation at hand.
    if (expected !== undefined && expected !== value) {
      throw new S3Error(400, "BadDigest", `Value for ${name} header is invalid.`);
    }
    stored[name] = value;
  }
  return stored;
}

function headerMap(req: IncomingMessage): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    out[name] = Array.isArray(value) ? value.join(",") : value;
  }
  return out;
}

function encodeListValue(value: string, urlEncode: boolean): string {
  return urlEncode ? encodeURIComponent(value).replace(/%2F/g, "/") : value;
}

function encodeToken(marker: { key: string; isPrefix: boolean }): string {
  return Buffer.from(JSON.stringify(marker), "utf8").toString("base64");
}

function decodeToken(token: string): { key: string; isPrefix: boolean } {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, "base64").toString("utf8"));
    if (
      typeof parsed === "object" &&
      parsed !== null &&
      typeof (parsed as { key?: unknown }).key === "string" &&
      typeof (parsed as { isPrefix?: unknown }).isPrefix === "boolean"
    ) {
      return parsed as { key: string; isPrefix: boolean };
    }
  } catch {
    // fall through to the S3 error below
  }
  throw new S3Error(400, "InvalidArgument", "The continuation token provided is incorrect");
}

function unquote(etag: string): string {
  return etag.trim().replace(/^"|"$/g, "");
}

function unescapeXml(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, name: string) => {
    if (name === "amp") return "&";
    if (name === "lt") return "<";
    if (name === "gt") return ">";
    if (name === "quot") return '"';
    if (name === "apos") return "'";
    return String.fromCodePoint(
      name.startsWith("#x") ? Number.parseInt(name.slice(2), 16) : Number(name.slice(1)),
    );
  });
}

/** `x-amz-copy-source`: `bucket/key` or `/bucket/key`, URL-encoded, maybe `?versionId=`. */
function parseCopySource(header: string): { bucket: string; key: string } {
  const path = header.split("?", 1)[0] ?? "";
  const trimmed = path.startsWith("/") ? path.slice(1) : path;
  const slash = trimmed.indexOf("/");
  if (slash <= 0 || slash === trimmed.length - 1)
    throw new S3Error(
      400,
      "InvalidArgument",
      "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
    );
  return {
    bucket: decodeURIComponent(trimmed.slice(0, slash)),
    key: decodeURIComponent(trimmed.slice(slash + 1)),
  };
}

const MIN_PART_BYTES = 5 * 1024 * 1024;

interface PendingUpload {
  bucket: string;
  key: string;
  contentType: string;
  parts: Map<number, { body: readonly Buffer[]; size: number; etag: string }>;
  initiated: Date;
  /** Creation order, for uploads of one key initiated in the same millisecond. */
  seq: number;
}

export async function startS3StandIn(opts: S3StandInOptions = {}): Promise<S3StandIn> {
  const store = new InMemoryObjectStore();
  const uploads = new Map<string, PendingUpload>();
  let uploadSeq = 0;
  const holds = new Set<{
    op: S3Operation;
    bucket?: string;
    key?: string;
    count: number;
    gate: Promise<void>;
    open: () => void;
  }>();
  let copyRate: number | undefined;
  for (const bucket of opts.buckets ?? []) store.createBucket(bucket);
  const counts = new Map<S3Operation, number>();
  const inFlight = new Map<S3Operation, number>();
  const peaks = new Map<S3Operation, number>();
  let connections = 0;
  let log: RecordedRequest[] = [];
  let faults: Array<FaultSpec & { remaining: number }> = [];
  const latency = new Map<S3Operation | "*", number>();
  const deniedKeys = new Map<string, string>();
  let omitEtags: boolean | readonly S3Operation[] = opts.omitEtags ?? false;
  const omitsEtag = (op: S3Operation): boolean =>
    omitEtags === true || (Array.isArray(omitEtags) && omitEtags.includes(op));

  function takeFault(r: ParsedRequest): FaultSpec | undefined {
    const index = faults.findIndex(
      (f) =>
        (f.op === undefined || f.op === r.op) &&
        (f.bucket === undefined || f.bucket === r.bucket) &&
        (f.key === undefined || f.key === r.key),
    );
    const fault = faults[index];
    if (fault === undefined) return undefined;
    fault.remaining -= 1;
    if (fault.remaining <= 0) faults.splice(index, 1);
    return fault;
  }

  function sendError(res: ServerResponse, r: ParsedRequest, err: S3Error, requestId: string): void {
    const resource = `/${r.bucket}${r.key === "" ? "" : `/${r.key}`}`;
    res.statusCode = err.status;
    res.setHeader("x-amz-request-id", requestId);
    if (err.status === 416 && r.key !== "") {
      const size = store.get(r.bucket, r.key)?.size;
      if (size !== undefined) res.setHeader("Content-Range", `bytes */${size}`);
    }
    // HEAD answers carry no body; the SDK then names the error after the status.
    if (r.method === "HEAD") {
      res.end();
      return;
    }
    const extras = Object.entries(err.extra)
      .map(([k, v]) => el(k, v))
      .join("");
    const target =
      r.key !== "" ? el("Key", r.key) : r.bucket !== "" ? el("BucketName", r.bucket) : "";
    const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error>${el("Code", err.code)}${el("Message", err.message)}${target}${extras}${el("Resource", resource)}${el("RequestId", requestId)}</Error>`;
    res.setHeader("Content-Type", "application/xml");
    res.setHeader("Content-Length", Buffer.byteLength(xml));
    res.end(xml);
  }

  function requireBucket(bucket: string): void {
    if (!store.hasBucket(bucket)) {
      throw new S3Error(404, "NoSuchBucket", undefined, { BucketName: bucket });
    }
  }

  function objectHeaders(res: ServerResponse, object: StoredObject, op: S3Operation): void {
    if (!omitsEtag(op)) res.setHeader("ETag", object.etag);
    res.setHeader("Last-Modified", object.lastModified.toUTCString());
    res.setHeader("Content-Type", object.contentType);
    res.setHeader("Accept-Ranges", "bytes");
  }

  async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    r: ParsedRequest,
  ): Promise<void> {
    switch (r.op) {
      case "CreateBucket": {
        await readBody(req);
        if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(r.bucket))
          throw new S3Error(400, "InvalidBucketName");
        if (!store.createBucket(r.bucket)) throw new S3Error(409, "BucketAlreadyOwnedByYou");
        res.setHeader("Location", `/${r.bucket}`);
        res.end();
        return;
      }
      case "HeadBucket":
        requireBucket(r.bucket);
        res.setHeader("x-amz-bucket-region", "us-east-1");
        res.end();
        return;
      case "DeleteBucket": {
        const outcome = store.deleteBucket(r.bucket);
        if (outcome === "missing") throw new S3Error(404, "NoSuchBucket");
        if (outcome === "not_empty") throw new S3Error(409, "BucketNotEmpty");
        res.statusCode = 204;
        res.end();
        return;
      }
      case "ListObjectsV2":
        return listObjectsV2(res, r);
      case "GetObject":
      case "HeadObject": {
        requireBucket(r.bucket);
        const object = store.get(r.bucket, r.key);
        if (object === undefined) throw new S3Error(404, "NoSuchKey");
        const range = parseRange(headerMap(req).range, object.size);
        objectHeaders(res, object, r.op);
        let body = object.chunks;
        if (range !== undefined) {
          res.statusCode = 206;
          res.setHeader("Content-Range", `bytes ${range.start}-${range.end}/${object.size}`);
          body = [object.body.subarray(range.start, range.end + 1)];
        } else if (req.headers["x-amz-checksum-mode"] === "ENABLED") {
          for (const [name, value] of Object.entries(object.checksums)) res.setHeader(name, value);
        }
        res.setHeader("Content-Length", sizeOf(body));
        if (r.op === "GetObject") await writeChunks(res, body);
        res.end();
        return;
      }
      case "PutObject":
        return putObject(req, res, r);
      case "CopyObject":
        return copyObject(req, res, r);
      case "DeleteObjects":
        return deleteObjects(req, res, r);
      case "CreateMultipartUpload":
        return createMultipartUpload(req, res, r);
      case "UploadPart":
        return uploadPart(req, res, r);
      case "CompleteMultipartUpload":
        return completeMultipartUpload(req, res, r);
      case "AbortMultipartUpload": {
        await readBody(req);
        const uploadId = r.query.get("uploadId") ?? "";
        const upload = uploads.get(uploadId);
        if (upload === undefined || upload.bucket !== r.bucket || upload.key !== r.key)
          throw new S3Error(404, "NoSuchUpload");
        uploads.delete(uploadId);
        res.statusCode = 204;
        res.end();
        return;
      }
      case "ListMultipartUploads":
        return listMultipartUploads(res, r);
      case "DeleteObject":
        requireBucket(r.bucket);
        store.delete(r.bucket, r.key);
        res.statusCode = 204;
        res.end();
        return;
      case "Unsupported":
        await readBody(req);
        throw new S3Error(
          501,
          "NotImplemented",
          `The S3 stand-in does not implement ${r.method} ${req.url ?? ""}`,
        );
    }
  }

  /** The request's bytes, decoded from aws-chunked when sent so, with verified checksums. */
  async function readObjectBody(req: IncomingMessage): Promise<{
    body: readonly Buffer[];
    size: number;
    checksums: Record<string, string>;
    headers: Record<string, string | undefined>;
  }> {
    const raw = await readChunks(req);
    const headers = headerMap(req);
    let body: readonly Buffer[] = raw;
    const encodings = (headers["content-encoding"] ?? "").split(",").map((e) => e.trim());
    const sha = headers["x-amz-content-sha256"] ?? "";
    if (encodings.includes("aws-chunked") || sha.startsWith("STREAMING-")) {
      try {
        const decoded = decodeAwsChunked(Buffer.concat(raw));
        body = [decoded.body];
        Object.assign(headers, decoded.trailers);
      } catch (err) {
        if (err instanceof ChunkedBodyError) throw new S3Error(400, "IncompleteBody", err.message);
        throw err;
      }
      const declared = headers["x-amz-decoded-content-length"];
      if (declared !== undefined && Number(declared) !== sizeOf(body))
        throw new S3Error(400, "IncompleteBody");
    }
    return { body, size: sizeOf(body), checksums: verifyChecksums(body, headers), headers };
  }

  async function putObject(
    req: IncomingMessage,
    res: ServerResponse,
    r: ParsedRequest,
  ): Promise<void> {
    const { body, checksums, headers } = await readObjectBody(req);
    requireBucket(r.bucket);
    if (Buffer.byteLength(r.key) > 1024) throw new S3Error(400, "KeyTooLongError");
    const contentType = headers["content-type"];
    const object = store.put(r.bucket, r.key, body, {
      via: "http",
      checksums,
      ...(contentType === undefined ? {} : { contentType }),
    });
    res.setHeader("ETag", object.etag);
    for (const [name, value] of Object.entries(checksums)) res.setHeader(name, value);
    res.end();
  }

  async function copyObject(
    req: IncomingMessage,
    res: ServerResponse,
    r: ParsedRequest,
  ): Promise<void> {
    await readBody(req);
    requireBucket(r.bucket);
    const headers = headerMap(req);
    const source = parseCopySource(headers["x-amz-copy-source"] ?? "");
    requireBucket(source.bucket);
    const object = store.get(source.bucket, source.key);
    if (object === undefined) throw new S3Error(404, "NoSuchKey");
    const ifMatch = headers["x-amz-copy-source-if-match"];
    if (ifMatch !== undefined && unquote(ifMatch) !== unquote(object.etag))
      throw new S3Error(
        412,
        "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold",
        { Condition: "x-amz-copy-source-If-Match" },
      );
    const ifNoneMatch = headers["x-amz-copy-source-if-none-match"];
    if (ifNoneMatch !== undefined && unquote(ifNoneMatch) === unquote(object.etag))
      throw new S3Error(
        412,
        "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold",
        { Condition: "x-amz-copy-source-If-None-Match" },
      );
    if (Buffer.byteLength(r.key) > 1024) throw new S3Error(400, "KeyTooLongError");
    // A server-side copy takes time in proportion to its size on a real store.
    if (copyRate !== undefined) await sleep((object.size / copyRate) * 1000);
    // As S3 does for a copy in one request: the new object's ETag is the MD5 of its bytes,
    // so a copy of a multipart object gets a different ETag than its source.
    const copied = store.put(r.bucket, r.key, object.chunks, {
      via: "http",
      contentType: object.contentType,
    });
    const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<CopyObjectResult xmlns="${XMLNS}">${el("LastModified", copied.lastModified.toISOString())}${el("ETag", copied.etag)}</CopyObjectResult>`;
    res.setHeader("Content-Type", "application/xml");
    res.setHeader("Content-Length", Buffer.byteLength(xml));
    res.end(xml);
  }

  async function deleteObjects(
    req: IncomingMessage,
    res: ServerResponse,
    r: ParsedRequest,
  ): Promise<void> {
    const { body } = await readObjectBody(req);
    requireBucket(r.bucket);
    const xml = Buffer.concat(body).toString("utf8");
    const keys = [...xml.matchAll(/<Object>\s*<Key>([\s\S]*?)<\/Key>[\s\S]*?<\/Object>/g)].map(
      (m) => unescapeXml(m[1] ?? ""),
    );
    if (keys.length === 0 || keys.length > MAX_KEYS)
      throw new S3Error(
        400,
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema",
      );
    const quiet = /<Quiet>\s*true\s*<\/Quiet>/i.test(xml);
    const parts = [`<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns="${XMLNS}">`];
    for (const key of keys) {
      store.delete(r.bucket, key);
      if (!quiet) parts.push(`<Deleted>${el("Key", key)}</Deleted>`);
    }
    parts.push("</DeleteResult>");
    const out = parts.join("");
    res.setHeader("Content-Type", "application/xml");
    res.setHeader("Content-Length", Buffer.byteLength(out));
    res.end(out);
  }

  async function createMultipartUpload(
    req: IncomingMessage,
    res: ServerResponse,
    r: ParsedRequest,
  ): Promise<void> {
    await readBody(req);
    requireBucket(r.bucket);
    if (Buffer.byteLength(r.key) > 1024) throw new S3Error(400, "KeyTooLongError");
    const uploadId = randomBytes(16).toString("hex");
    uploads.set(uploadId, {
      bucket: r.bucket,
      key: r.key,
      contentType: req.headers["content-type"] ?? "application/octet-stream",
      parts: new Map(),
      initiated: new Date(),
      seq: ++uploadSeq,
    });
    const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<InitiateMultipartUploadResult xmlns="${XMLNS}">${el("Bucket", r.bucket)}${el("Key", r.key)}${el("UploadId", uploadId)}</InitiateMultipartUploadResult>`;
    res.setHeader("Content-Type", "application/xml");
    res.setHeader("Content-Length", Buffer.byteLength(xml));
    res.end(xml);
  }

  function uploadFor(r: ParsedRequest): PendingUpload {
    const upload = uploads.get(r.query.get("uploadId") ?? "");
    if (upload === undefined || upload.bucket !== r.bucket || upload.key !== r.key)
      throw new S3Error(
        404,
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
      );
    return upload;
  }

  async function uploadPart(
    req: IncomingMessage,
    res: ServerResponse,
    r: ParsedRequest,
  ): Promise<void> {
    const { body, size, checksums } = await readObjectBody(req);
    const upload = uploadFor(r);
    const partNumber = Number(r.query.get("partNumber"));
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10_000)
      throw new S3Error(
        400,
        "InvalidArgument",
        "Part number must be an integer between 1 and 10000, inclusive",
      );
    const md5 = createHash("md5");
    for (const chunk of body) md5.update(chunk);
    const etag = `"${md5.digest("hex")}"`;
    upload.parts.set(partNumber, { body, size, etag });
    res.setHeader("ETag", etag);
    for (const [name, value] of Object.entries(checksums)) res.setHeader(name, value);
    res.end();
  }

  async function completeMultipartUpload(
    req: IncomingMessage,
    res: ServerResponse,
    r: ParsedRequest,
  ): Promise<void> {
    const xml = (await readBody(req)).toString("utf8");
    const upload = uploadFor(r);
    const listed = [...xml.matchAll(/<Part>([\s\S]*?)<\/Part>/g)].map((m) => {
      const inner = m[1] ?? "";
      return {
        number: Number(/<PartNumber>(\d+)<\/PartNumber>/.exec(inner)?.[1]),
        etag: unescapeXml(/<ETag>([\s\S]*?)<\/ETag>/.exec(inner)?.[1] ?? ""),
      };
    });
    if (listed.length === 0) throw new S3Error(400, "MalformedXML");
    const bodies: Buffer[] = [];
    const digests: Buffer[] = [];
    let previous = 0;
    for (const [i, part] of listed.entries()) {
      if (part.number <= previous)
        throw new S3Error(
          400,
          "InvalidPartOrder",
          "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
        );
      previous = part.number;
      const stored = upload.parts.get(part.number);
      if (stored === undefined || unquote(stored.etag) !== unquote(part.etag))
        throw new S3Error(
          400,
          "InvalidPart",
          "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag.",
        );
      // S3 refuses parts under 5 MiB except the last one.
      if (i < listed.length - 1 && stored.size < MIN_PART_BYTES)
        throw new S3Error(
          400,
          "EntityTooSmall",
          "Your proposed upload is smaller than the minimum allowed object size.",
        );
      bodies.push(...stored.body);
      digests.push(Buffer.from(unquote(stored.etag), "hex"));
    }
    const etag = `"${createHash("md5").update(Buffer.concat(digests)).digest("hex")}-${listed.length}"`;
    const object = store.put(r.bucket, r.key, bodies, {
      via: "http",
      contentType: upload.contentType,
      etag,
    });
    uploads.delete(r.query.get("uploadId") ?? "");
    const out = `<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUploadResult xmlns="${XMLNS}">${el("Location", `/${r.bucket}/${r.key}`)}${el("Bucket", r.bucket)}${el("Key", r.key)}${el("ETag", object.etag)}</CompleteMultipartUploadResult>`;
    res.setHeader("Content-Type", "application/xml");
    res.setHeader("Content-Length", Buffer.byteLength(out));
    res.end(out);
  }

  /**
   * ListMultipartUploads as S3 answers it: uploads in key order, several uploads of one key in
   * the order they were initiated; `prefix`, `max-uploads` (capped at 1000), `key-marker` and
   * `upload-id-marker` (uploads after that one of the marker's key, then later keys),
   * `NextKeyMarker`/`NextUploadIdMarker` when truncated, `encoding-type=url`. `delimiter` is
   * not implemented (501), so a caller relying on it fails instead of getting a wrong answer.
   */
  function listMultipartUploads(res: ServerResponse, r: ParsedRequest): void {
    requireBucket(r.bucket);
    if (r.query.has("delimiter")) throw new S3Error(501, "NotImplemented");
    const prefix = r.query.get("prefix") ?? "";
    const maxRaw = r.query.get("max-uploads");
    const maxUploads = maxRaw === null ? MAX_KEYS : Number(maxRaw);
    if (!Number.isInteger(maxUploads) || maxUploads < 0)
      throw new S3Error(
        400,
        "InvalidArgument",
        "Argument max-uploads must be an integer between 0 and 2147483647",
      );
    const keyMarker = r.query.get("key-marker") ?? "";
    const uploadIdMarker = r.query.get("upload-id-marker") ?? "";
    const urlEncode = r.query.get("encoding-type") === "url";
    const all = [...uploads.entries()]
      .filter(([, u]) => u.bucket === r.bucket && u.key.startsWith(prefix))
      .map(([uploadId, u]) => ({ uploadId, ...u }))
      .sort(
        (a, b) =>
          Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)) ||
          a.initiated.getTime() - b.initiated.getTime() ||
          a.seq - b.seq,
      );
    let start = 0;
    if (keyMarker !== "") {
      const markerIndex =
        uploadIdMarker === ""
          ? -1
          : all.findIndex((u) => u.key === keyMarker && u.uploadId === uploadIdMarker);
      // An upload-id-marker that no longer exists (completed or aborted since the last page):
      // uploads of the marker's key with a greater upload id, as S3 documents, then later keys.
      const after = (u: { key: string; uploadId: string }) => {
        const c = Buffer.compare(Buffer.from(u.key), Buffer.from(keyMarker));
        return c > 0 || (c === 0 && uploadIdMarker !== "" && u.uploadId > uploadIdMarker);
      };
      start = markerIndex >= 0 ? markerIndex + 1 : all.findIndex(after);
      if (start < 0) start = all.length;
    }
    const page = all.slice(start, start + Math.min(maxUploads, MAX_KEYS));
    const truncated = start + page.length < all.length;
    const last = page.at(-1);
    const enc = (v: string) => escapeXml(encodeListValue(v, urlEncode));
    const parts: string[] = [
      `<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult xmlns="${XMLNS}">`,
      el("Bucket", r.bucket),
      `<KeyMarker>${enc(keyMarker)}</KeyMarker>`,
      el("UploadIdMarker", uploadIdMarker),
    ];
    if (truncated && last !== undefined)
      parts.push(
        `<NextKeyMarker>${enc(last.key)}</NextKeyMarker>`,
        el("NextUploadIdMarker", last.uploadId),
      );
    if (urlEncode) parts.push(el("EncodingType", "url"));
    parts.push(
      `<Prefix>${enc(prefix)}</Prefix>`,
      el("MaxUploads", maxUploads),
      el("IsTruncated", truncated),
    );
    const owner = `${el("ID", OWNER_ID)}${el("DisplayName", "restorebot-stand-in")}`;
    for (const u of page)
      parts.push(
        `<Upload><Key>${enc(u.key)}</Key>${el("UploadId", u.uploadId)}<Initiator>${owner}</Initiator><Owner>${owner}</Owner><StorageClass>STANDARD</StorageClass>${el("Initiated", u.initiated.toISOString())}</Upload>`,
      );
    parts.push("</ListMultipartUploadsResult>");
    const xml = parts.join("");
    res.setHeader("Content-Type", "application/xml");
    res.setHeader("Content-Length", Buffer.byteLength(xml));
    res.end(xml);
  }

  function listObjectsV2(res: ServerResponse, r: ParsedRequest): void {
    requireBucket(r.bucket);
    const prefix = r.query.get("prefix") ?? "";
    const delimiter = r.query.get("delimiter") ?? "";
    const maxKeysRaw = r.query.get("max-keys");
    const maxKeys = maxKeysRaw === null ? MAX_KEYS : Number(maxKeysRaw);
    if (!Number.isInteger(maxKeys) || maxKeys < 0) {
      throw new S3Error(
        400,
        "InvalidArgument",
        "Provided max-keys not an integer or within integer range",
      );
    }
    const startAfter = r.query.get("start-after") ?? undefined;
    const token = r.query.get("continuation-token") ?? undefined;
    const urlEncode = r.query.get("encoding-type") === "url";
    const marker = token === undefined ? undefined : decodeToken(token);
    const page = store.list(r.bucket, {
      prefix,
      delimiter,
      maxKeys: Math.min(maxKeys, MAX_KEYS),
      ...(marker !== undefined
        ? { startAfter: marker.key, ...(marker.isPrefix ? { skipPrefix: marker.key } : {}) }
        : startAfter !== undefined
          ? { startAfter }
          : {}),
    });
    const enc = (v: string) => escapeXml(encodeListValue(v, urlEncode));
    const parts: string[] = [
      `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="${XMLNS}">`,
      el("Name", r.bucket),
      `<Prefix>${enc(prefix)}</Prefix>`,
    ];
    if (delimiter !== "") parts.push(`<Delimiter>${enc(delimiter)}</Delimiter>`);
    parts.push(
      el("MaxKeys", maxKeys),
      el("KeyCount", page.entries.length),
      el("IsTruncated", page.isTruncated),
    );
    if (urlEncode) parts.push(el("EncodingType", "url"));
    if (token !== undefined) parts.push(el("ContinuationToken", token));
    if (page.isTruncated && page.lastMarker !== undefined) {
      parts.push(el("NextContinuationToken", encodeToken(page.lastMarker)));
    }
    if (startAfter !== undefined) parts.push(`<StartAfter>${enc(startAfter)}</StartAfter>`);
    const prefixes: ListEntry[] = [];
    for (const entry of page.entries) {
      if (entry.kind === "prefix") {
        prefixes.push(entry);
        continue;
      }
      const o = entry.object as StoredObject;
      parts.push(
        `<Contents><Key>${enc(entry.key)}</Key>${el("LastModified", o.lastModified.toISOString())}${omitsEtag("ListObjectsV2") ? "" : el("ETag", o.etag)}${el("Size", o.size)}<StorageClass>STANDARD</StorageClass></Contents>`,
      );
    }
    for (const p of prefixes)
      parts.push(`<CommonPrefixes><Prefix>${enc(p.key)}</Prefix></CommonPrefixes>`);
    parts.push("</ListBucketResult>");
    const xml = parts.join("");
    res.setHeader("Content-Type", "application/xml");
    res.setHeader("Content-Length", Buffer.byteLength(xml));
    res.end(xml);
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomBytes(8).toString("hex").toUpperCase();
    let r: ParsedRequest;
    try {
      r = parseRequest(req);
    } catch {
      r = {
        method: req.method ?? "GET",
        bucket: "",
        key: "",
        query: new URLSearchParams(),
        op: "Unsupported",
        accessKeyId: undefined,
      };
    }
    counts.set(r.op, (counts.get(r.op) ?? 0) + 1);
    const op = r.op;
    const now = (inFlight.get(op) ?? 0) + 1;
    inFlight.set(op, now);
    if (now > (peaks.get(op) ?? 0)) peaks.set(op, now);
    res.on("close", () => {
      inFlight.set(op, (inFlight.get(op) ?? 1) - 1);
    });
    const entry: RecordedRequest = {
      op: r.op,
      method: r.method,
      bucket: r.bucket,
      key: r.key,
      query: Object.fromEntries(r.query),
      accessKeyId: r.accessKeyId,
      headers: { ...headerMap(req), authorization: undefined },
      status: 0,
    };
    log.push(entry);
    res.on("finish", () => {
      entry.status = res.statusCode;
    });
    const delay = latency.get(r.op) ?? latency.get("*") ?? 0;
    if (delay > 0) await sleep(delay);
    for (const hold of holds)
      if (
        hold.op === r.op &&
        (hold.bucket === undefined || hold.bucket === r.bucket) &&
        (hold.key === undefined || hold.key === r.key)
      ) {
        hold.count += 1;
        await hold.gate;
      }
    try {
      const denied = r.accessKeyId === undefined ? undefined : deniedKeys.get(r.accessKeyId);
      if (denied !== undefined) throw new S3Error(403, denied);
      const fault = takeFault(r);
      if (fault?.reset === true) {
        req.socket.destroy();
        return;
      }
      if (fault !== undefined) {
        const status = fault.status ?? 500;
        throw new S3Error(
          status,
          fault.code ?? STATUS_CODES[status] ?? "InternalError",
          fault.message,
        );
      }
      await handle(req, res, r);
    } catch (err) {
      if (!req.complete) req.resume();
      const s3err = err instanceof S3Error ? err : new S3Error(500, "InternalError", String(err));
      if (!res.headersSent) sendError(res, r, s3err, requestId);
      else res.destroy();
    }
  }

  const server: Server = createServer((req, res) => {
    void onRequest(req, res);
  });
  // Node's Agent retires an idle socket `agentKeepAliveTimeoutBuffer` (1 s) before the server's
  // advertised timeout: at 1 s every request opened a new connection. At Node's default of 5 s a
  // client whose event loop lags more than a second on a busy machine could still write into a
  // socket the server was closing, and get ECONNRESET (tests run with one attempt per call). A
  // minute, as object stores keep idle connections, leaves that race to clients idle a minute.
  // close() ends idle keep-alive sockets itself.
  server.keepAliveTimeout = 60_000;
  server.on("connection", () => {
    connections++;
  });
  server.listen(opts.port ?? 0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    store,
    createBucket(bucket) {
      store.createBucket(bucket);
    },
    putObjectDirect(bucket, key, body, o) {
      store.put(bucket, key, typeof body === "string" ? Buffer.from(body, "utf8") : body, {
        via: "direct",
        ...(o?.lastModified === undefined ? {} : { lastModified: o.lastModified }),
        ...(o?.contentType === undefined ? {} : { contentType: o.contentType }),
      });
    },
    getObjectDirect: (bucket, key) => store.get(bucket, key)?.body,
    deleteObjectDirect: (bucket, key) => store.delete(bucket, key),
    listKeys: (bucket, prefix) => store.keys(bucket, prefix),
    writeLog: () => store.writeLog(),
    clearWriteLog: () => store.clearWriteLog(),
    requestCounts: () => Object.fromEntries(counts) as Partial<Record<S3Operation, number>>,
    peakInFlight: () => Object.fromEntries(peaks) as Partial<Record<S3Operation, number>>,
    connections: () => connections,
    totalRequests: () => [...counts.values()].reduce((a, b) => a + b, 0),
    requests: () => log,
    resetCounts() {
      counts.clear();
      peaks.clear();
      connections = 0;
      log = [];
    },
    failNext(fault) {
      faults.push({ ...fault, remaining: fault.count ?? 1 });
    },
    clearFaults() {
      faults = [];
    },
    setLatency(ms, op) {
      latency.set(op ?? "*", ms);
    },
    denyAccessKey(accessKeyId, code = "InvalidAccessKeyId") {
      deniedKeys.set(accessKeyId, code);
    },
    allowAccessKey(accessKeyId) {
      deniedKeys.delete(accessKeyId);
    },
    setOmitEtags(omit) {
      omitEtags = omit;
    },
    setCopyRate(bytesPerSecond) {
      copyRate = bytesPerSecond;
    },
    pendingUploads: () =>
      [...uploads.entries()].map(([uploadId, u]) => ({
        bucket: u.bucket,
        key: u.key,
        uploadId,
        parts: u.parts.size,
      })),
    holdRequests(match) {
      let open: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      const hold = { ...match, count: 0, gate, open };
      holds.add(hold);
      return {
        held: () => hold.count,
        release() {
          holds.delete(hold);
          hold.open();
        },
      };
    },
    async close() {
      for (const hold of holds) hold.open();
      holds.clear();
      const closed = once(server, "close");
      server.close();
      server.closeAllConnections();
      await closed;
    },
  };
}
