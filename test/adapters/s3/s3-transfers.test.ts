import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ObjectStore } from "../../../src/adapters/s3/object-store.js";
import { CodedError } from "../../../src/errors.js";
import { type S3StandIn, startS3StandIn } from "../../../stand-ins/s3/server.js";
import { objectStoreFor } from "../../support/s3.js";

let s3: S3StandIn;
let store: ObjectStore;

beforeAll(async () => {
  s3 = await startS3StandIn({ buckets: ["live", "backups"] });
  store = objectStoreFor(s3);
});

afterAll(async () => {
  await s3.close();
});

beforeEach(() => {
  s3.resetCounts();
  s3.clearFaults();
});

/** A stream of `total` bytes in chunks, with no length announced. */
function unknownLength(total: number, chunk = 64 * 1024, failAt?: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (failAt !== undefined && sent >= failAt) {
        this.destroy(new Error("producer died"));
        return;
      }
      if (sent >= total) {
        this.push(null);
        return;
      }
      const n = Math.min(chunk, total - sent);
      sent += n;
      this.push(Buffer.alloc(n, sent % 251));
    },
  });
}

async function codedErrorOf(promise: Promise<unknown>): Promise<CodedError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(CodedError);
    return err as CodedError;
  }
  throw new Error("expected a CodedError");
}

describe("copyObject", () => {
  it("copies server-side between buckets while the source keeps the listed ETag", async () => {
    s3.putObjectDirect("live", "chunks/a b+c", "hello");
    const listed = await store.head("live", "chunks/a b+c");
    const out = await store.copyObject(
      { bucket: "live", key: "chunks/a b+c", ifMatch: listed?.etag ?? "" },
      { bucket: "backups", key: "objects/chunks/a b+c/x" },
    );
    expect(s3.getObjectDirect("backups", "objects/chunks/a b+c/x")?.toString()).toBe("hello");
    expect(out.etag).toBe(listed?.etag);
    expect(s3.requestCounts()).toEqual({ HeadObject: 1, CopyObject: 1 });
  });

  it("refuses with precondition_failed when the source changed since it was listed", async () => {
    s3.putObjectDirect("live", "chunks/changing", "v1");
    const listed = await store.head("live", "chunks/changing");
    s3.putObjectDirect("live", "chunks/changing", "v2");
    const err = await codedErrorOf(
      store.copyObject(
        { bucket: "live", key: "chunks/changing", ifMatch: listed?.etag ?? "" },
        { bucket: "backups", key: "objects/changing" },
      ),
    );
    expect(err.code).toBe("precondition_failed");
    expect(err.message).toContain("s3://live/chunks/changing changed");
    expect(s3.getObjectDirect("backups", "objects/changing")).toBeUndefined();
  });

  it("says which object is missing", async () => {
    const err = await codedErrorOf(
      store.copyObject({ bucket: "live", key: "nope" }, { bucket: "backups", key: "x" }),
    );
    expect(err.code).toBe("not_found");
  });
});

describe("upload of unknown length", () => {
  it("sends a small body in one PUT", async () => {
    const out = await store.upload("backups", "small.gz", unknownLength(1000));
    expect(s3.getObjectDirect("backups", "small.gz")?.length).toBe(1000);
    expect(out.etag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(s3.requestCounts().CreateMultipartUpload ?? 0).toBe(0);
  });

  it("sends a large body in parts and the object is byte-exact", async () => {
    const total = 13 * 1024 * 1024 + 17;
    const expected = createHash("sha256");
    const source = unknownLength(total);
    source.on("data", (c: Buffer) => expected.update(c));
    const out = await store.upload("backups", "large.gz", source, { partSize: 5 * 1024 * 1024 });
    const stored = s3.getObjectDirect("backups", "large.gz");
    expect(stored?.length).toBe(total);
    expect(
      createHash("sha256")
        .update(stored ?? Buffer.alloc(0))
        .digest("hex"),
    ).toBe(expected.digest("hex"));
    expect(out.etag).toMatch(/-3"$/);
    expect(s3.requestCounts()).toMatchObject({
      CreateMultipartUpload: 1,
      UploadPart: 3,
      CompleteMultipartUpload: 1,
    });
    expect(s3.pendingUploads()).toEqual([]);
    // Each part carries its CRC32 and is not hashed a second time for the signature.
    const parts = s3.requests().filter((r) => r.query.partNumber !== undefined);
    expect(parts).toHaveLength(3);
    for (const part of parts) {
      expect(part.headers["x-amz-content-sha256"]).toBe("UNSIGNED-PAYLOAD");
      expect(part.headers["x-amz-checksum-crc32"]).toMatch(/^[A-Za-z0-9+/]{6}==$/);
    }
  });

  it("leaves no object and no parts when the body fails halfway", async () => {
    const failing = unknownLength(20 * 1024 * 1024, 64 * 1024, 11 * 1024 * 1024);
    await expect(
      store.upload("backups", "broken.gz", failing, { partSize: 5 * 1024 * 1024 }),
    ).rejects.toThrow("producer died");
    expect(s3.getObjectDirect("backups", "broken.gz")).toBeUndefined();
    expect(s3.pendingUploads()).toEqual([]);
    expect(s3.requestCounts().UploadPart ?? 0).toBeGreaterThan(0);
  });

  it("leaves nothing behind when a part upload fails", async () => {
    s3.failNext({ op: "UploadPart", status: 403 });
    const err = await codedErrorOf(
      store.upload("backups", "refused.gz", unknownLength(12 * 1024 * 1024), {
        partSize: 5 * 1024 * 1024,
      }),
    );
    expect(err.code).toBe("s3_access_denied");
    expect(s3.getObjectDirect("backups", "refused.gz")).toBeUndefined();
    expect(s3.pendingUploads()).toEqual([]);
  });
});

describe("deleteObjects and listing", () => {
  it("deletes in batches of 1000 and lists size and ETag per object, page by page", async () => {
    const keys: string[] = [];
    for (let i = 0; i < 1500; i++) {
      const key = `pool/${String(i).padStart(5, "0")}`;
      keys.push(key);
      s3.putObjectDirect("backups", key, randomBytes(1 + (i % 7)));
    }
    const listed = [];
    for await (const o of store.listObjects("backups", "pool/", { pageSize: 500 })) listed.push(o);
    expect(listed).toHaveLength(1500);
    expect(listed[3]).toMatchObject({ key: "pool/00003", size: 4 });
    expect(listed[3]?.etag).toBe(
      `"${createHash("md5")
        .update(s3.getObjectDirect("backups", "pool/00003") ?? "")
        .digest("hex")}"`,
    );
    expect(s3.requestCounts().ListObjectsV2).toBe(3);

    const out = await store.deleteObjects("backups", keys.slice(0, 1200));
    expect(out.deleted).toBe(1200);
    expect(s3.requestCounts().DeleteObjects).toBe(2);
    expect(s3.listKeys("backups", "pool/")).toEqual(keys.slice(1200));
  });
});
