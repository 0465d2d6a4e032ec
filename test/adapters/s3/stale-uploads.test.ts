import {
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ObjectStore } from "../../../src/adapters/s3/object-store.js";
import { createS3Client, createS3ObjectStore } from "../../../src/adapters/s3/s3-object-store.js";
import {
  abortStaleUploads,
  describeAbortedUploads,
} from "../../../src/adapters/s3/stale-uploads.js";
import { type S3StandIn, startS3StandIn } from "../../../stand-ins/s3/server.js";

/**
 * ListMultipartUploads in the S3 stand-in, read by the real @aws-sdk/client-s3 (XML shape,
 * prefix, markers), and `abortStaleUploads` over the product's adapter.
 */

let s3: S3StandIn;
let sdk: S3Client;
let store: ObjectStore;

beforeAll(async () => {
  s3 = await startS3StandIn({ buckets: ["backups", "other"] });
  const config = {
    endpoint: s3.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: { accessKeyId: "AKIDTEST", secretAccessKey: "secret" },
  };
  sdk = new S3Client(config);
  store = createS3ObjectStore(createS3Client(config), {
    endpoint: s3.endpoint,
    region: "us-east-1",
  });
});

afterAll(async () => {
  sdk.destroy();
  await s3.close();
});

beforeEach(async () => {
  for (const u of s3.pendingUploads())
    await store.abortMultipartUpload(u.bucket, u.key, u.uploadId);
  s3.resetCounts();
});

/** Starts a multipart upload with one small part, as a writer killed mid-upload leaves it. */
async function orphan(bucket: string, key: string): Promise<string> {
  const created = await sdk.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const uploadId = created.UploadId as string;
  await sdk.send(
    new UploadPartCommand({
      Bucket: bucket,
      Key: key,
      UploadId: uploadId,
      PartNumber: 1,
      Body: Buffer.from("part one"),
    }),
  );
  return uploadId;
}

describe("ListMultipartUploads (stand-in, real SDK)", () => {
  it("lists uploads under a prefix in key order, then initiation order, with working markers", async () => {
    const ids = {
      a1: await orphan("backups", "p/2026-12-02T11:00:05Z/a.sql.gz"),
      a2: await orphan("backups", "p/2026-12-02T11:00:05Z/a.sql.gz"),
      b: await orphan("backups", "p/2026-12-02T11:00:05Z/b.sql.gz"),
      c: await orphan("backups", "p/2026-12-02T11:00:05Z/c.tar"),
    };
    await orphan("backups", "p/2026-12-02T11:00:06Z/a.sql.gz");
    await orphan("other", "p/2026-12-02T11:00:05Z/a.sql.gz");

    const all = await sdk.send(
      new ListMultipartUploadsCommand({ Bucket: "backups", Prefix: "p/2026-12-02T11:00:05Z/" }),
    );
    expect(all.Bucket).toBe("backups");
    expect(all.Prefix).toBe("p/2026-12-02T11:00:05Z/");
    expect(all.IsTruncated).toBe(false);
    expect(all.MaxUploads).toBe(1000);
    expect(all.Uploads?.map((u) => u.UploadId)).toEqual([ids.a1, ids.a2, ids.b, ids.c]);
    const first = all.Uploads?.[0];
    expect(first?.Key).toBe("p/2026-12-02T11:00:05Z/a.sql.gz");
    expect(first?.Initiated).toBeInstanceOf(Date);
    expect(first?.StorageClass).toBe("STANDARD");
    expect(first?.Initiator?.DisplayName).toBeTruthy();

    // Pages of two: the markers continue after the last upload listed, within the same key too.
    const page1 = await sdk.send(
      new ListMultipartUploadsCommand({
        Bucket: "backups",
        Prefix: "p/2026-12-02T11:00:05Z/",
        MaxUploads: 1,
      }),
    );
    expect(page1.IsTruncated).toBe(true);
    expect(page1.NextKeyMarker).toBe("p/2026-12-02T11:00:05Z/a.sql.gz");
    expect(page1.NextUploadIdMarker).toBe(ids.a1);
    const seen = [...(page1.Uploads ?? [])];
    let key = page1.NextKeyMarker;
    let id = page1.NextUploadIdMarker;
    for (let guard = 0; key !== undefined && guard < 10; guard++) {
      const page = await sdk.send(
        new ListMultipartUploadsCommand({
          Bucket: "backups",
          Prefix: "p/2026-12-02T11:00:05Z/",
          MaxUploads: 2,
          KeyMarker: key,
          UploadIdMarker: id,
        }),
      );
      expect(page.KeyMarker).toBe(key);
      seen.push(...(page.Uploads ?? []));
      key = page.IsTruncated ? page.NextKeyMarker : undefined;
      id = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    }
    expect(seen.map((u) => u.UploadId)).toEqual([ids.a1, ids.a2, ids.b, ids.c]);

    // A key marker alone lists only later keys.
    const afterA = await sdk.send(
      new ListMultipartUploadsCommand({
        Bucket: "backups",
        Prefix: "p/2026-12-02T11:00:05Z/",
        KeyMarker: "p/2026-12-02T11:00:05Z/a.sql.gz",
      }),
    );
    expect(afterA.Uploads?.map((u) => u.UploadId)).toEqual([ids.b, ids.c]);
    expect(s3.requestCounts().ListMultipartUploads).toBe(5);
  });

  it("answers NoSuchBucket for a missing bucket and 501 for a delimiter it does not implement", async () => {
    await expect(
      sdk.send(new ListMultipartUploadsCommand({ Bucket: "nothere", Prefix: "p/" })),
    ).rejects.toMatchObject({ name: "NoSuchBucket" });
    await expect(
      sdk.send(new ListMultipartUploadsCommand({ Bucket: "backups", Delimiter: "/" })),
    ).rejects.toMatchObject({ $metadata: { httpStatusCode: 501 } });
  });
});

describe("abortStaleUploads", () => {
  it("aborts every upload under the folder, over several pages, and nothing else", async () => {
    const folder = "restorebot/points/2026-12-02T11:00:05Z/";
    const inside: string[] = [];
    for (let i = 0; i < 1003; i++) inside.push(await orphan("backups", `${folder}f${i % 7}.gz`));
    const sibling = await orphan("backups", "restorebot/points/2026-12-02T11:00:05Zx/a.gz");
    const next = await orphan("backups", "restorebot/points/2026-12-02T11:00:06Z/a.gz");
    const otherBucket = await orphan("other", `${folder}a.gz`);
    s3.resetCounts();

    const aborted = await abortStaleUploads(store, "backups", folder);
    expect(new Set(aborted.map((u) => u.uploadId))).toEqual(new Set(inside));
    expect(aborted.every((u) => u.initiated instanceof Date)).toBe(true);
    expect(s3.requestCounts().ListMultipartUploads).toBe(2);
    expect(s3.requestCounts().AbortMultipartUpload).toBe(1003);
    expect(new Set(s3.pendingUploads().map((u) => u.uploadId))).toEqual(
      new Set([sibling, next, otherBucket]),
    );
    // Nothing left: a second call lists once and aborts nothing.
    expect(await abortStaleUploads(store, "backups", folder)).toEqual([]);
    expect(describeAbortedUploads(aborted.slice(0, 1), "backups", folder)).toMatch(
      /^Aborted 1 incomplete multipart upload that an interrupted run left under s3:\/\/backups\/restorebot\/points\/2026-12-02T11:00:05Z\/ \(f0\.gz started \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)/,
    );
  });

  it("touches nothing outside the prefix even when a store ignores Prefix, and refuses an empty one", async () => {
    const mine = await orphan("backups", "pts/A/dump.gz");
    const theirs = await orphan("backups", "elsewhere/dump.gz");
    const ignoringPrefix: Pick<ObjectStore, "listMultipartUploads" | "abortMultipartUpload"> = {
      listMultipartUploads: (bucket) => store.listMultipartUploads(bucket, ""),
      abortMultipartUpload: (b, k, id) => store.abortMultipartUpload(b, k, id),
    };
    const aborted = await abortStaleUploads(ignoringPrefix, "backups", "pts/A/");
    expect(aborted.map((u) => u.uploadId)).toEqual([mine]);
    expect(s3.pendingUploads().map((u) => u.uploadId)).toEqual([theirs]);
    await expect(abortStaleUploads(store, "backups", "")).rejects.toThrow(/whole bucket/);
  });

  it("an upload completed or aborted meanwhile is not an error", async () => {
    const id = await orphan("backups", "pts/B/dump.gz");
    await store.abortMultipartUpload("backups", "pts/B/dump.gz", id);
    await expect(store.abortMultipartUpload("backups", "pts/B/dump.gz", id)).resolves.toBe(
      undefined,
    );
  });
});
