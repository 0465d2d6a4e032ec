import type { Readable } from "node:stream";

/**
 * The object-store operations restorebot uses, and nothing more. The S3 implementation is
 * in `s3-object-store.ts`; tests run the real one against the S3 stand-in.
 *
 * Every method throws `CodedError` ("s3_unreachable", "s3_access_denied", "not_found", …)
 * with a message naming the bucket and what the store said.
 */
export interface ObjectStore {
  /**
   * One page of a delimited listing: the common prefixes ("folders") and the objects
   * directly under `prefix`. Pass `nextToken` back as `continuationToken` for the next page;
   * it is undefined on the last page.
   */
  listPrefixes(
    bucket: string,
    prefix: string,
    delimiter: string,
    opts?: ListPageOptions,
  ): Promise<ListPage>;
  /** Every object under `prefix`, in key order, page by page as the caller consumes them. */
  listObjects(
    bucket: string,
    prefix: string,
    opts?: { pageSize?: number },
  ): AsyncIterable<ObjectSummary>;
  /** Size, ETag and modification time; undefined when the key does not exist. */
  head(bucket: string, key: string): Promise<ObjectHead | undefined>;
  /** The object's bytes as a stream (optionally a byte range); "not_found" when it is missing. */
  getStream(bucket: string, key: string, range?: ByteRange): Promise<ObjectStream>;
  put(
    bucket: string,
    key: string,
    body: Buffer | string | Readable,
    opts?: PutOptions,
  ): Promise<{ etag: string }>;
  /**
   * Server-side copy (one request, objects up to 5 GiB). With `ifMatch` the store copies
   * only while the source still has that ETag, and throws "precondition_failed" otherwise.
   * Returns the new object's ETag (S3 gives a copy of a multipart object a new one).
   */
  copyObject(
    source: CopySource,
    destination: { bucket: string; key: string },
  ): Promise<{ etag: string }>;
  /**
   * Streams a body of unknown length (a pg_dump through gzip) in parts of `partSize`
   * bytes, at most `queueSize` parts in memory; small bodies go in one PUT. On failure or
   * abort the multipart upload is aborted, so no partial object and no orphan parts remain.
   */
  upload(
    bucket: string,
    key: string,
    body: Readable,
    opts?: UploadOptions,
  ): Promise<{ etag: string }>;
  /**
   * A multipart upload written chunk by chunk (an archive streamed out of a pod): each chunk
   * is copied once into a fixed pool of part buffers, each full part is sent with its CRC32,
   * and `write` returns a promise while every buffer is full or in flight. `finish` sends the
   * last part and completes; any failure, or `abort`, aborts the multipart upload.
   */
  openUploadWriter(bucket: string, key: string, opts?: UploadWriterOptions): Promise<UploadWriter>;
  /** Deletes keys in batches of 1000; throws naming the first keys the store refused. */
  deleteObjects(bucket: string, keys: readonly string[]): Promise<{ deleted: number }>;
  /**
   * Multipart uploads started under `prefix` and neither completed nor aborted (their parts
   * are stored, and billed, until they are aborted), page by page (ListMultipartUploads).
   */
  listMultipartUploads(bucket: string, prefix: string): AsyncIterable<MultipartUploadSummary>;
  /** Aborts one multipart upload, removing its parts; an upload already gone is not an error. */
  abortMultipartUpload(bucket: string, key: string, uploadId: string): Promise<void>;
}

export interface MultipartUploadSummary {
  key: string;
  uploadId: string;
  /** When the upload was started; undefined when the store does not say. */
  initiated: Date | undefined;
}

export interface CopySource {
  bucket: string;
  key: string;
  /** Copy only if the source still has this ETag (quoted or not). */
  ifMatch?: string;
}

export interface UploadOptions {
  contentType?: string;
  /** Bytes per part, at least 5 MiB (S3's minimum); 8 MiB by default. */
  partSize?: number;
  /** Parts uploaded at once (and held in memory); 2 by default. */
  queueSize?: number;
  signal?: AbortSignal;
}

export interface UploadWriterOptions {
  contentType?: string;
  /** Bytes per part, at least 5 MiB (S3's minimum); 8 MiB by default. */
  partSize?: number;
  /** Part buffers, allocated once and reused: parts in memory and in flight at most; 3 by default. */
  poolParts?: number;
  signal?: AbortSignal;
}

export interface UploadWriter {
  readonly uploadId: string;
  /** Bytes taken so far. */
  readonly bytesWritten: number;
  /**
   * Copies `chunk` (the caller may reuse it at once). Returns a promise when it had to wait
   * for a part buffer (hold further writes until it settles); rejects once the upload failed.
   */
  write(chunk: Uint8Array): undefined | Promise<void>;
  /**
   * Told, once the upload is under way, that it will be at most `totalBytes` long: the parts
   * still to come grow (whole MiB, never shrinking) so the rest fits in S3's 10 000 parts with
   * a tenth to spare. Returns the part size now used. Writers that cannot resize omit it.
   */
  expectTotal?(totalBytes: number): number;
  /** Sends the last part and completes the upload; on failure the upload is aborted. */
  finish(): Promise<{ etag: string; size: number }>;
  /** Aborts the multipart upload (parts in flight are awaited first). Safe to call twice. */
  abort(reason?: unknown): Promise<void>;
}

export interface ListPageOptions {
  /** At most 1000 (S3's limit). */
  maxKeys?: number;
  continuationToken?: string;
  /** List only keys after this one (ignored when a continuation token is given). */
  startAfter?: string;
}

export interface ObjectSummary {
  key: string;
  size: number;
  /** Quoted, as S3 reports it. */
  etag: string;
  lastModified: Date | undefined;
}

export interface ListPage {
  prefixes: string[];
  objects: ObjectSummary[];
  nextToken: string | undefined;
}

export interface ObjectHead {
  size: number;
  etag: string;
  lastModified: Date;
}

/** Inclusive byte range; `end` omitted means "to the end". */
export interface ByteRange {
  start: number;
  end?: number;
}

export interface ObjectStream {
  body: Readable;
  /** Bytes in `body` (the range's length for a ranged read). */
  size: number;
  /** Size of the whole object. */
  totalSize: number;
  etag: string;
}

export interface PutOptions {
  contentType?: string;
  /** Required for streams to be sent without buffering; streams without it are buffered. */
  contentLength?: number;
}
