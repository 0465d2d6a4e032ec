import { createHash } from "node:crypto";

/** One stored object; `seq` orders every write the store has seen. */
export interface StoredObject {
  /**
   * The bytes. An object stored as several chunks (a multipart upload's parts, each as its
   * requests' socket reads) is joined on first use only, so an upload never pays for a copy of
   * the whole object that nobody reads; `chunks` serves it without joining.
   */
  readonly body: Buffer;
  /** The bytes as stored, in order: one Buffer, or the received chunks. */
  readonly chunks: readonly Buffer[];
  readonly size: number;
  /** Quoted hex MD5, as S3 reports it for single-part uploads. */
  etag: string;
  lastModified: Date;
  contentType: string;
  /** Checksums the client sent (`x-amz-checksum-*`), returned on full GETs that ask for them. */
  checksums: Record<string, string>;
  seq: number;
}

export interface WriteRecord {
  bucket: string;
  key: string;
  via: "http" | "direct";
  seq: number;
}

export interface ListEntry {
  kind: "object" | "prefix";
  key: string;
  object?: StoredObject;
}

export interface ListPage {
  entries: ListEntry[];
  isTruncated: boolean;
  /** The last key or common prefix returned, for the next continuation token. */
  lastMarker?: { key: string; isPrefix: boolean };
}

/** S3 orders keys by their UTF-8 bytes; comparing code points gives the same order. */
function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  // Fast path: UTF-16 order equals code-point order unless a surrogate pair meets a
  // character in U+E000..U+FFFF, which keys here almost never contain.
  const len = Math.min(a.length, b.length);
  for (let i = 0; i < len; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    const sa = ca >= 0xd800 && ca <= 0xdfff;
    const sb = cb >= 0xd800 && cb <= 0xdfff;
    if (sa !== sb) return sa ? 1 : -1;
    return ca - cb;
  }
  return a.length - b.length;
}

const SURROGATE = /[\uD800-\uDFFF]/;

// Seeding reuses one body Buffer for thousands of objects; hash it once. Stored bodies are
// never mutated (HTTP uploads get fresh Buffers; seeders must not change theirs afterwards).
const etagCache = new WeakMap<Buffer, string>();

function etagOf(body: Buffer | readonly Buffer[]): string {
  // One chunk (a copy of a seeded object, say) takes the cached path.
  if (!Buffer.isBuffer(body) && body.length === 1) return etagOf(body[0] as Buffer);
  if (!Buffer.isBuffer(body)) {
    const md5 = createHash("md5");
    for (const chunk of body) md5.update(chunk);
    return `"${md5.digest("hex")}"`;
  }
  let etag = etagCache.get(body);
  if (etag === undefined) {
    etag = `"${createHash("md5").update(body).digest("hex")}"`;
    etagCache.set(body, etag);
  }
  return etag;
}

/** Sum of the chunks' lengths. */
export function sizeOf(chunks: readonly Buffer[]): number {
  let size = 0;
  for (const chunk of chunks) size += chunk.length;
  return size;
}

function wholeSeconds(time: Date): Date {
  const ms = time.getTime();
  return ms % 1000 === 0 ? time : new Date(ms - (ms % 1000));
}

class Bucket {
  readonly objects = new Map<string, StoredObject>();
  readonly createdAt = new Date();
  private sorted: string[] | undefined;

  set(key: string, object: StoredObject): void {
    if (!this.objects.has(key)) this.sorted = undefined;
    this.objects.set(key, object);
  }

  delete(key: string): boolean {
    const existed = this.objects.delete(key);
    if (existed) this.sorted = undefined;
    return existed;
  }

  /** Sorted once per change burst, so seeding 100k keys and then listing stays fast. */
  sortedKeys(): string[] {
    if (this.sorted === undefined) {
      const keys = [...this.objects.keys()];
      // The engine's own string sort is several times faster and agrees with byte order
      // whenever no key holds a surrogate pair.
      this.sorted = keys.some((k) => SURROGATE.test(k)) ? keys.sort(compareKeys) : keys.sort();
    }
    return this.sorted;
  }

  /** Index of the first key strictly greater than `after` (or the first key at all). */
  firstAfter(after: string | undefined): number {
    const keys = this.sortedKeys();
    if (after === undefined || after === "") return 0;
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(keys[mid] as string, after) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First index whose key is ≥ `prefix`. */
  firstAtLeast(prefix: string): number {
    const keys = this.sortedKeys();
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(keys[mid] as string, prefix) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** The in-memory buckets behind the S3 stand-in; also used directly for fast seeding. */
export class InMemoryObjectStore {
  private readonly buckets = new Map<string, Bucket>();
  private seq = 0;
  private readonly writes: WriteRecord[] = [];

  hasBucket(bucket: string): boolean {
    return this.buckets.has(bucket);
  }

  /** Returns false when the bucket already existed. */
  createBucket(bucket: string): boolean {
    if (this.buckets.has(bucket)) return false;
    this.buckets.set(bucket, new Bucket());
    return true;
  }

  deleteBucket(bucket: string): "deleted" | "missing" | "not_empty" {
    const b = this.buckets.get(bucket);
    if (b === undefined) return "missing";
    if (b.objects.size > 0) return "not_empty";
    this.buckets.delete(bucket);
    return "deleted";
  }

  bucketNames(): string[] {
    return [...this.buckets.keys()].sort();
  }

  get(bucket: string, key: string): StoredObject | undefined {
    return this.buckets.get(bucket)?.objects.get(key);
  }

  put(
    bucket: string,
    key: string,
    body: Buffer | readonly Buffer[],
    opts: {
      via: "http" | "direct";
      contentType?: string;
      lastModified?: Date;
      checksums?: Record<string, string>;
      /** A multipart upload's ETag (`"<md5 of part md5s>-<parts>"`); MD5 of the body otherwise. */
      etag?: string;
    },
  ): StoredObject {
    let b = this.buckets.get(bucket);
    if (b === undefined) {
      if (opts.via === "http") throw new Error(`no bucket ${bucket}`);
      // Direct seeding creates buckets on demand: less ceremony in tests.
      b = new Bucket();
      this.buckets.set(bucket, b);
    }
    const seq = ++this.seq;
    const chunks: readonly Buffer[] = Buffer.isBuffer(body) ? [body] : body;
    let joined: Buffer | undefined = Buffer.isBuffer(body) ? body : undefined;
    const object: StoredObject = {
      get body(): Buffer {
        joined ??= chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
        return joined;
      },
      chunks,
      size: sizeOf(chunks),
      etag: opts.etag ?? etagOf(body),
      // S3 reports times to the second in headers; keep milliseconds off so both agree.
      lastModified: wholeSeconds(opts.lastModified ?? new Date()),
      contentType: opts.contentType ?? "application/octet-stream",
      checksums: opts.checksums ?? {},
      seq,
    };
    b.set(key, object);
    this.writes.push({ bucket, key, via: opts.via, seq });
    return object;
  }

  delete(bucket: string, key: string): boolean {
    return this.buckets.get(bucket)?.delete(key) ?? false;
  }

  keys(bucket: string, prefix = ""): string[] {
    const b = this.buckets.get(bucket);
    if (b === undefined) return [];
    const keys = b.sortedKeys();
    const out: string[] = [];
    for (let i = b.firstAtLeast(prefix); i < keys.length; i++) {
      const key = keys[i] as string;
      if (!key.startsWith(prefix)) break;
      out.push(key);
    }
    return out;
  }

  /** Every write in order (PUTs over HTTP and direct seeding), for ordering assertions. */
  writeLog(): readonly WriteRecord[] {
    return this.writes;
  }

  clearWriteLog(): void {
    this.writes.length = 0;
  }

  /**
   * One ListObjectsV2 page: keys under `prefix`, after `startAfter`, rolled up at the
   * first `delimiter` after the prefix into common prefixes; each key or prefix counts
   * once toward `maxKeys`, as S3 counts them.
   */
  list(
    bucket: string,
    opts: {
      prefix: string;
      delimiter: string;
      maxKeys: number;
      startAfter?: string;
      skipPrefix?: string;
    },
  ): ListPage {
    const b = this.buckets.get(bucket);
    if (b === undefined) throw new Error(`no bucket ${bucket}`);
    const keys = b.sortedKeys();
    const { prefix, delimiter, maxKeys } = opts;
    let i = b.firstAfter(opts.startAfter);
    const fromPrefix = b.firstAtLeast(prefix);
    if (i < fromPrefix) i = fromPrefix;
    const entries: ListEntry[] = [];
    let lastPrefix: string | undefined = opts.skipPrefix;
    let lastMarker: ListPage["lastMarker"];
    for (; i < keys.length; i++) {
      const key = keys[i] as string;
      if (!key.startsWith(prefix)) break;
      let rollup: string | undefined;
      if (delimiter !== "") {
        const at = key.indexOf(delimiter, prefix.length);
        if (at >= 0) rollup = key.slice(0, at + delimiter.length);
      }
      if (rollup !== undefined && rollup === lastPrefix) continue;
      if (entries.length >= maxKeys) return { entries, isTruncated: true, lastMarker };
      if (rollup !== undefined) {
        entries.push({ kind: "prefix", key: rollup });
        lastPrefix = rollup;
        lastMarker = { key: rollup, isPrefix: true };
      } else {
        entries.push({ kind: "object", key, object: b.objects.get(key) as StoredObject });
        lastMarker = { key, isPrefix: false };
      }
    }
    return { entries, isTruncated: false, lastMarker };
  }
}
