import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type S3StandIn, startS3StandIn } from "../../../stand-ins/s3/server.js";

let s3: S3StandIn;

function client(accessKeyId = "AKIDTEST", maxAttempts = 1): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    maxAttempts,
    credentials: { accessKeyId, secretAccessKey: "not-checked" },
  });
}

async function s3ErrorOf(promise: Promise<unknown>): Promise<S3ServiceException> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof S3ServiceException) return err;
    throw err;
  }
  throw new Error("expected the S3 call to fail");
}

async function listAll(
  c: S3Client,
  input: { Bucket: string; Prefix?: string; Delimiter?: string; MaxKeys?: number },
) {
  const keys: string[] = [];
  const prefixes: string[] = [];
  const pages: ListObjectsV2CommandOutput[] = [];
  let token: string | undefined;
  do {
    const page = await c.send(new ListObjectsV2Command({ ...input, ContinuationToken: token }));
    pages.push(page);
    for (const o of page.Contents ?? []) keys.push(o.Key ?? "");
    for (const p of page.CommonPrefixes ?? []) prefixes.push(p.Prefix ?? "");
    token = page.NextContinuationToken;
  } while (token !== undefined);
  return { keys, prefixes, pages };
}

beforeAll(async () => {
  s3 = await startS3StandIn({ buckets: ["snapshots"] });
});

afterAll(async () => {
  await s3.close();
});

beforeEach(() => {
  s3.resetCounts();
  s3.clearFaults();
});

describe("S3 stand-in with the real S3Client", () => {
  it("creates buckets and answers HeadBucket", async () => {
    const c = client();
    await c.send(new CreateBucketCommand({ Bucket: "fresh-bucket" }));
    await expect(c.send(new HeadBucketCommand({ Bucket: "fresh-bucket" }))).resolves.toBeDefined();
    const err = await s3ErrorOf(c.send(new HeadBucketCommand({ Bucket: "no-such-bucket" })));
    expect(err.$metadata.httpStatusCode).toBe(404);
    const again = await s3ErrorOf(c.send(new CreateBucketCommand({ Bucket: "fresh-bucket" })));
    expect(again.name).toBe("BucketAlreadyOwnedByYou");
  });

  it("puts, heads and gets objects with MD5 ETags and byte ranges", async () => {
    const c = client();
    const body = "0123456789abcdefghij";
    const put = await c.send(
      new PutObjectCommand({ Bucket: "snapshots", Key: "dir/a.txt", Body: body }),
    );
    const md5 = createHash("md5").update(body).digest("hex");
    expect(put.ETag).toBe(`"${md5}"`);

    const head = await c.send(new HeadObjectCommand({ Bucket: "snapshots", Key: "dir/a.txt" }));
    expect(head.ETag).toBe(`"${md5}"`);
    expect(head.ContentLength).toBe(20);
    expect(head.LastModified).toBeInstanceOf(Date);

    const full = await c.send(new GetObjectCommand({ Bucket: "snapshots", Key: "dir/a.txt" }));
    expect(await full.Body?.transformToString()).toBe(body);

    const part = await c.send(
      new GetObjectCommand({ Bucket: "snapshots", Key: "dir/a.txt", Range: "bytes=2-5" }),
    );
    expect(part.$metadata.httpStatusCode).toBe(206);
    expect(part.ContentRange).toBe("bytes 2-5/20");
    expect(await part.Body?.transformToString()).toBe("2345");

    const tail = await c.send(
      new GetObjectCommand({ Bucket: "snapshots", Key: "dir/a.txt", Range: "bytes=-3" }),
    );
    expect(await tail.Body?.transformToString()).toBe("hij");

    const bad = await s3ErrorOf(
      c.send(new GetObjectCommand({ Bucket: "snapshots", Key: "dir/a.txt", Range: "bytes=50-60" })),
    );
    expect(bad.name).toBe("InvalidRange");
    expect(bad.$metadata.httpStatusCode).toBe(416);
  });

  it("serves a multipart object it keeps as the parts' chunks: whole, by ranges across parts, copied, listed", async () => {
    const c = client();
    const key = "multi/archive.tar";
    const first = Buffer.alloc(5 * 1024 * 1024);
    for (let i = 0; i < first.length; i++) first[i] = (i * 7 + 3) & 0xff;
    const second = Buffer.from("the last part, short");
    const whole = Buffer.concat([first, second]);
    const { UploadId } = await c.send(
      new CreateMultipartUploadCommand({ Bucket: "snapshots", Key: key }),
    );
    const etags: string[] = [];
    for (const [i, body] of [first, second].entries()) {
      const part = await c.send(
        new UploadPartCommand({
          Bucket: "snapshots",
          Key: key,
          UploadId,
          PartNumber: i + 1,
          Body: body,
        }),
      );
      etags.push(part.ETag ?? "");
    }
    const done = await c.send(
      new CompleteMultipartUploadCommand({
        Bucket: "snapshots",
        Key: key,
        UploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
      }),
    );
    const md5s = Buffer.concat([first, second].map((b) => createHash("md5").update(b).digest()));
    expect(done.ETag).toBe(`"${createHash("md5").update(md5s).digest("hex")}-2"`);
    // Kept as received: more than one chunk, never joined by the upload itself.
    expect(s3.store.get("snapshots", key)?.chunks.length).toBeGreaterThan(2);
    expect(s3.store.get("snapshots", key)?.size).toBe(whole.length);

    const full = await c.send(new GetObjectCommand({ Bucket: "snapshots", Key: key }));
    expect(full.ContentLength).toBe(whole.length);
    expect(Buffer.from((await full.Body?.transformToByteArray()) ?? []).equals(whole)).toBe(true);

    const start = first.length - 3;
    const across = await c.send(
      new GetObjectCommand({ Bucket: "snapshots", Key: key, Range: `bytes=${start}-${start + 7}` }),
    );
    expect(across.ContentRange).toBe(`bytes ${start}-${start + 7}/${whole.length}`);
    expect(Buffer.from((await across.Body?.transformToByteArray()) ?? [])).toEqual(
      whole.subarray(start, start + 8),
    );

    await c.send(
      new CopyObjectCommand({
        Bucket: "snapshots",
        Key: "multi/copy.tar",
        CopySource: `snapshots/${key}`,
      }),
    );
    const copy = await c.send(new GetObjectCommand({ Bucket: "snapshots", Key: "multi/copy.tar" }));
    expect(Buffer.from((await copy.Body?.transformToByteArray()) ?? []).equals(whole)).toBe(true);
    const listed = await c.send(
      new ListObjectsV2Command({ Bucket: "snapshots", Prefix: "multi/" }),
    );
    expect(listed.Contents?.map((o) => [o.Key, o.Size])).toEqual([
      ["multi/archive.tar", whole.length],
      ["multi/copy.tar", whole.length],
    ]);
  });

  it("accepts the SDK's aws-chunked streaming uploads and validates checksums on GET", async () => {
    const c = client();
    const chunks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(16 * 1024, i));
    const expected = Buffer.concat(chunks);
    await c.send(
      new PutObjectCommand({
        Bucket: "snapshots",
        Key: "stream/pg_dump.gz",
        Body: Readable.from(chunks),
        ContentLength: expected.length,
      }),
    );
    const put = s3.requests().find((r) => r.op === "PutObject");
    expect(put?.status).toBe(200);
    expect(put?.headers["content-encoding"]).toContain("aws-chunked");
    expect(s3.getObjectDirect("snapshots", "stream/pg_dump.gz")?.equals(expected)).toBe(true);

    // The SDK asks for checksums on GET and verifies the CRC32 it sent with the upload.
    const got = await c.send(
      new GetObjectCommand({ Bucket: "snapshots", Key: "stream/pg_dump.gz" }),
    );
    expect(got.ChecksumCRC32).toBeDefined();
    const bytes = await got.Body?.transformToByteArray();
    expect(Buffer.from(bytes ?? []).equals(expected)).toBe(true);
  });

  it("lists with prefix, delimiter, paging, start-after and awkward keys", async () => {
    const c = client();
    for (let h = 0; h < 30; h++) {
      const folder = `catalog_backup_file_lists/2024-08-12T${String(h % 24).padStart(2, "0")}:00:00+00:00-${h}/`;
      s3.putObjectDirect("snapshots", `${folder}pg_dump.gz`, "x");
      s3.putObjectDirect("snapshots", `${folder}bloom.bin.gz`, "y");
    }
    const odd = [
      "list/a b.txt",
      "list/a+b.txt",
      "list/ä-ü.txt",
      "list/x&y<z>.txt",
      "list/日本.txt",
    ];
    for (const key of odd) s3.putObjectDirect("snapshots", key, key);

    const folders = await listAll(c, {
      Bucket: "snapshots",
      Prefix: "catalog_backup_file_lists/",
      Delimiter: "/",
      MaxKeys: 7,
    });
    expect(folders.keys).toEqual([]);
    expect(folders.prefixes).toHaveLength(30);
    expect(new Set(folders.prefixes).size).toBe(30);
    expect(folders.pages).toHaveLength(5);
    expect(folders.pages[0]?.KeyCount).toBe(7);
    expect(folders.pages[0]?.IsTruncated).toBe(true);
    expect(folders.pages[4]?.IsTruncated).toBe(false);
    expect([...folders.prefixes].sort()).toEqual(folders.prefixes);

    const flat = await listAll(c, {
      Bucket: "snapshots",
      Prefix: "catalog_backup_file_lists/",
      MaxKeys: 1000,
    });
    expect(flat.keys).toHaveLength(60);
    expect(flat.pages).toHaveLength(1);

    const listed = await listAll(c, { Bucket: "snapshots", Prefix: "list/" });
    expect(listed.keys).toEqual([...odd].sort());
    const body = await c.send(
      new GetObjectCommand({ Bucket: "snapshots", Key: "list/x&y<z>.txt" }),
    );
    expect(await body.Body?.transformToString()).toBe("list/x&y<z>.txt");

    const after = await c.send(
      new ListObjectsV2Command({
        Bucket: "snapshots",
        Prefix: "list/",
        StartAfter: "list/a+b.txt",
      }),
    );
    expect(after.Contents?.map((o) => o.Key)).toEqual([
      "list/x&y<z>.txt",
      "list/ä-ü.txt",
      "list/日本.txt",
    ]);
    expect(after.StartAfter).toBe("list/a+b.txt");

    const capped = await c.send(new ListObjectsV2Command({ Bucket: "snapshots", MaxKeys: 5000 }));
    expect(capped.KeyCount).toBeLessThanOrEqual(1000);
  });

  it("answers S3 errors the SDK recognises", async () => {
    const c = client();
    const missingKey = await s3ErrorOf(
      c.send(new GetObjectCommand({ Bucket: "snapshots", Key: "nope" })),
    );
    expect(missingKey.name).toBe("NoSuchKey");
    expect(missingKey.$metadata.httpStatusCode).toBe(404);

    const missingBucket = await s3ErrorOf(c.send(new ListObjectsV2Command({ Bucket: "nobucket" })));
    expect(missingBucket.name).toBe("NoSuchBucket");

    const headMissing = await s3ErrorOf(
      c.send(new HeadObjectCommand({ Bucket: "snapshots", Key: "nope" })),
    );
    expect(headMissing.$metadata.httpStatusCode).toBe(404);

    s3.denyAccessKey("AKIDREVOKED");
    const refused = await s3ErrorOf(
      client("AKIDREVOKED").send(new ListObjectsV2Command({ Bucket: "snapshots" })),
    );
    expect(refused.name).toBe("InvalidAccessKeyId");
    expect(refused.$metadata.httpStatusCode).toBe(403);
    s3.allowAccessKey("AKIDREVOKED");
    await expect(
      client("AKIDREVOKED").send(new ListObjectsV2Command({ Bucket: "snapshots" })),
    ).resolves.toBeDefined();

    s3.failNext({ op: "ListObjectsV2", status: 403, code: "AccessDenied" });
    const denied = await s3ErrorOf(c.send(new ListObjectsV2Command({ Bucket: "snapshots" })));
    expect(denied.name).toBe("AccessDenied");

    s3.failNext({ op: "GetObject", status: 500 });
    const internal = await s3ErrorOf(
      c.send(new GetObjectCommand({ Bucket: "snapshots", Key: "dir/a.txt" })),
    );
    expect(internal.name).toBe("InternalError");
  });

  it("lets the SDK retry through transient faults and counts every request", async () => {
    s3.failNext({ op: "HeadObject", status: 503, code: "SlowDown", count: 1 });
    s3.failNext({ op: "HeadObject", reset: true });
    const head = await client("AKIDTEST", 3).send(
      new HeadObjectCommand({ Bucket: "snapshots", Key: "dir/a.txt" }),
    );
    expect(head.ContentLength).toBe(20);
    expect(s3.requestCounts()).toEqual({ HeadObject: 3 });
    expect(s3.totalRequests()).toBe(3);
    s3.resetCounts();
    expect(s3.totalRequests()).toBe(0);
  });

  it("deletes objects", async () => {
    const c = client();
    s3.putObjectDirect("snapshots", "gone/soon", "z");
    await c.send(new DeleteObjectCommand({ Bucket: "snapshots", Key: "gone/soon" }));
    expect(s3.getObjectDirect("snapshots", "gone/soon")).toBeUndefined();
    expect(s3.requestCounts().DeleteObject).toBe(1);
  });

  it("applies latency", async () => {
    s3.setLatency(150, "HeadBucket");
    const started = performance.now();
    await client().send(new HeadBucketCommand({ Bucket: "snapshots" }));
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    s3.setLatency(0, "HeadBucket");
  });

  it("keeps connections open for the SDK's keep-alive agent, and reports requests handled at once", async () => {
    const c = client();
    for (let i = 0; i < 8; i++)
      await c.send(new HeadObjectCommand({ Bucket: "snapshots", Key: "dir/a.txt" }));
    // Node's Agent retires a socket 1 s before the server's advertised keep-alive timeout;
    // sequential requests must still share one connection.
    expect(s3.connections()).toBe(1);
    expect(s3.peakInFlight()).toEqual({ HeadObject: 1 });
    s3.setLatency(50, "HeadObject");
    await Promise.all(
      Array.from({ length: 5 }, () =>
        c.send(new HeadObjectCommand({ Bucket: "snapshots", Key: "dir/a.txt" })),
      ),
    );
    s3.setLatency(0, "HeadObject");
    expect(s3.peakInFlight()).toEqual({ HeadObject: 5 });
    s3.resetCounts();
    expect(s3.peakInFlight()).toEqual({});
    expect(s3.connections()).toBe(0);
  });

  it("seeds and pages through 20 000 keys (within the test timeout)", async () => {
    for (let i = 0; i < 20_000; i++)
      s3.putObjectDirect("big", `h/${String(i).padStart(6, "0")}`, "b");
    const c = client();
    const { keys, pages } = await listAll(c, { Bucket: "big", Prefix: "h/" });
    expect(keys).toHaveLength(20_000);
    expect(pages).toHaveLength(20);
    expect(keys[19_999]).toBe("h/019999");
  });
});
