import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import type { S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ObjectStore } from "../../../src/adapters/s3/object-store.js";
import { partSizeFor } from "../../../src/adapters/s3/part-writer.js";
import { abortStaleUploads } from "../../../src/adapters/s3/stale-uploads.js";
import { CodedError } from "../../../src/errors.js";
import { type S3StandIn, startS3StandIn } from "../../../stand-ins/s3/server.js";
import { objectStoreFor, testS3Client } from "../../support/s3.js";

const MiB = 1024 * 1024;
let s3: S3StandIn;
let client: S3Client;
let store: ObjectStore;

beforeAll(async () => {
  s3 = await startS3StandIn({ buckets: ["backups"] });
  client = testS3Client(s3);
  store = objectStoreFor(s3, client);
});

afterAll(async () => {
  await s3.close();
});

beforeEach(async () => {
  // Uploads an earlier failing test left open would confuse this one's counts.
  await abortStaleUploads(store, "backups", "a/");
  s3.resetCounts();
  s3.clearFaults();
  s3.setLatency(0);
});

/** `total` bytes of a repeatable pattern, cut into chunks of `chunk` bytes (views of one buffer). */
function chunksOf(total: number, chunk: number): Buffer[] {
  const all = Buffer.allocUnsafe(total);
  for (let i = 0; i < total; i++) all[i] = (i * 31 + (i >>> 11)) & 0xff;
  const out: Buffer[] = [];
  for (let at = 0; at < total; at += chunk) out.push(all.subarray(at, at + chunk));
  return out;
}

function crc32Base64(bytes: Buffer): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32(bytes) >>> 0);
  return out.toString("base64");
}

describe("partSizeFor", () => {
  const MiB = 1024 * 1024;
  const GiB = 1024 * MiB;
  it("keeps 8 MiB parts up to about 70 GiB, then the next whole MiB that fits in 9 000 parts", () => {
    expect(partSizeFor(0)).toBe(8 * MiB);
    expect(partSizeFor(GiB)).toBe(8 * MiB);
    expect(partSizeFor(9_000 * 8 * MiB)).toBe(8 * MiB);
    expect(partSizeFor(9_000 * 8 * MiB + 1)).toBe(9 * MiB);
    expect(partSizeFor(100 * GiB)).toBe(12 * MiB);
    expect(partSizeFor(1024 * GiB)).toBe(117 * MiB);
    for (const size of [1, 80 * GiB, 333 * GiB + 7, 5 * 1024 * GiB])
      expect(partSizeFor(size) * 9_000).toBeGreaterThanOrEqual(size);
  });

  it("refuses an object larger than S3 stores", () => {
    expect(() => partSizeFor(5 * 1024 * GiB + 1, "the archive of /var/lib/influxdb")).toThrow(
      /the archive of \/var\/lib\/influxdb would be up to 5\.00 TiB, more than the 5 TiB S3 stores in one object$/,
    );
  });
});

describe("openUploadWriter", () => {
  it("stores the bytes exactly, in parts of partSize each sent with its CRC32, at most poolParts at once", async () => {
    const total = 3 * 5 * MiB + 123_457;
    const chunks = chunksOf(total, 64 * 1024 + 1);
    // Slow parts: the pool fills and the writer has to hold the caller back.
    s3.setLatency(30, "UploadPart");
    const writer = await store.openUploadWriter("backups", "a/archive.tar", {
      partSize: 5 * MiB,
      poolParts: 2,
      contentType: "application/x-tar",
    });
    let held = 0;
    for (const chunk of chunks) {
      const pending = writer.write(chunk);
      if (pending !== undefined) {
        held += 1;
        await pending;
      }
      // The pool bounds what is taken but not yet stored: two parts.
      expect(writer.bytesWritten).toBeLessThanOrEqual(total);
    }
    const done = await writer.finish();
    const expected = Buffer.concat(chunks);
    expect(done.size).toBe(total);
    expect(held).toBeGreaterThan(0);
    const stored = s3.getObjectDirect("backups", "a/archive.tar");
    expect(stored?.length).toBe(total);
    expect(
      createHash("sha256")
        .update(stored ?? Buffer.alloc(0))
        .digest("hex"),
    ).toBe(createHash("sha256").update(expected).digest("hex"));
    // Parts in flight together finish in any order: the log is sorted by part number.
    const parts = s3
      .requests()
      .filter((r) => r.op === "UploadPart")
      .sort((a, b) => Number(a.query.partNumber) - Number(b.query.partNumber));
    expect(parts.map((r) => Number(r.query.partNumber))).toEqual([1, 2, 3, 4]);
    for (const [i, part] of parts.entries()) {
      const bytes = expected.subarray(i * 5 * MiB, (i + 1) * 5 * MiB);
      expect(part.headers["x-amz-checksum-crc32"]).toBe(crc32Base64(bytes));
      expect(part.status).toBe(200);
    }
    expect(s3.peakInFlight().UploadPart).toBeLessThanOrEqual(2);
    expect(s3.pendingUploads()).toEqual([]);
  });

  it("grows the parts still to come when told the upload's size, never shrinks them, and stores the bytes exactly", async () => {
    const writer = await store.openUploadWriter("backups", "a/growing.tar", {
      partSize: 5 * MiB,
      poolParts: 2,
    });
    const chunks = chunksOf(30 * MiB + 5, 256 * 1024 + 9);
    let at = 0;
    let grown = 0;
    for (const chunk of chunks) {
      const pending = writer.write(chunk);
      if (pending !== undefined) await pending;
      at += chunk.length;
      // Told after 6 MiB (one 5 MiB part sent, one being filled): 9 000 parts of 7 MiB.
      if (grown === 0 && at >= 6 * MiB) {
        grown = writer.expectTotal?.(9_000 * 7 * MiB) ?? 0;
        // A smaller size later changes nothing.
        expect(writer.expectTotal?.(MiB)).toBe(grown);
      }
    }
    // (9 000 × 7 MiB − 5 MiB sent) over the 8 999 parts left rounds up to 8 MiB.
    expect(grown).toBe(8 * MiB);
    await writer.finish();
    const expected = Buffer.concat(chunks);
    expect(s3.getObjectDirect("backups", "a/growing.tar")?.equals(expected)).toBe(true);
    const sizes = s3
      .requests()
      .filter((r) => r.op === "UploadPart" && r.key === "a/growing.tar")
      .sort((a, b) => Number(a.query.partNumber) - Number(b.query.partNumber))
      .map((r) => Number(r.headers["content-length"]) / MiB);
    // The part being filled when told keeps its size; the next ones are 8 MiB.
    expect(sizes.slice(0, 4)).toEqual([5, 5, 8, 8]);
    expect(sizes.slice(4).every((n) => n <= 8)).toBe(true);
    expect(s3.pendingUploads()).toEqual([]);
  });

  it("keeps chunks written while one waits for a buffer in order", async () => {
    s3.setLatency(20, "UploadPart");
    const writer = await store.openUploadWriter("backups", "a/ordered.tar", {
      partSize: 5 * MiB,
      poolParts: 1,
    });
    // Written without waiting, as an exec hands on frames it had already read before pausing.
    const chunks = chunksOf(12 * MiB + 7, 1024 * 1024 + 3);
    const pending = chunks.map((c) => writer.write(c));
    expect(pending.some((p) => p !== undefined)).toBe(true);
    await Promise.all(pending);
    await writer.finish();
    expect(s3.getObjectDirect("backups", "a/ordered.tar")?.equals(Buffer.concat(chunks))).toBe(
      true,
    );
  });

  it("stores an empty object as one empty part", async () => {
    const writer = await store.openUploadWriter("backups", "a/empty.tar");
    await writer.finish();
    expect(s3.getObjectDirect("backups", "a/empty.tar")?.length).toBe(0);
  });

  it("aborts the multipart upload when a part fails, and says so on the next write or finish", async () => {
    s3.failNext({ op: "UploadPart", status: 500 });
    const writer = await store.openUploadWriter("backups", "a/failing.tar", {
      partSize: 5 * MiB,
      poolParts: 2,
    });
    let failure: unknown;
    try {
      for (const chunk of chunksOf(20 * MiB, 256 * 1024)) await writer.write(chunk);
      await writer.finish();
    } catch (err) {
      failure = err;
    }
    expect(failure).toBeInstanceOf(CodedError);
    expect((failure as CodedError).message).toMatch(/backups/);
    // finish (or the caller's abort) aborted the upload: no parts stay billed.
    await writer.abort(failure);
    expect(s3.pendingUploads()).toEqual([]);
    expect(s3.getObjectDirect("backups", "a/failing.tar")).toBeUndefined();
  });

  it("abort removes the upload and its parts", async () => {
    const writer = await store.openUploadWriter("backups", "a/aborted.tar", { partSize: 5 * MiB });
    for (const chunk of chunksOf(6 * MiB, 64 * 1024)) await writer.write(chunk);
    expect(s3.pendingUploads()).toHaveLength(1);
    await writer.abort(new Error("the tar failed"));
    await writer.abort(new Error("twice is fine"));
    expect(s3.pendingUploads()).toEqual([]);
    expect(s3.requestCounts().AbortMultipartUpload).toBe(1);
  });
});
