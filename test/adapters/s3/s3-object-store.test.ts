import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ObjectStore } from "../../../src/adapters/s3/object-store.js";
import { createS3Client, createS3ObjectStore } from "../../../src/adapters/s3/s3-object-store.js";
import { CodedError } from "../../../src/errors.js";
import { type S3StandIn, startS3StandIn } from "../../../stand-ins/s3/server.js";

const SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
let s3: S3StandIn;

function storeFor(accessKeyId = "AKIDRESTOREBOT", maxAttempts = 1): ObjectStore {
  const client = createS3Client({
    endpoint: s3.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    maxAttempts,
    credentials: { accessKeyId, secretAccessKey: SECRET },
  });
  return createS3ObjectStore(client, { endpoint: s3.endpoint, region: "us-east-1" });
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

beforeAll(async () => {
  s3 = await startS3StandIn({ buckets: ["influxdb-prod"] });
  for (const hour of ["12", "13", "14", "15", "16"]) {
    const folder = `catalog_backup_file_lists/2024-08-12T${hour}:00:00+00:00/`;
    s3.putObjectDirect("influxdb-prod", `${folder}pg_dump.gz`, `dump ${hour}`);
    s3.putObjectDirect("influxdb-prod", `${folder}ns-ID1/cpu-ID1.txt.gz`, "list");
    s3.putObjectDirect("influxdb-prod", `${folder}bloom.bin.gz`, "bloom");
  }
});

afterAll(async () => {
  await s3.close();
});

beforeEach(() => {
  s3.resetCounts();
  s3.clearFaults();
});

describe("S3 ObjectStore", () => {
  it("lists snapshot folders page by page with continuation tokens", async () => {
    const store = storeFor();
    const first = await store.listPrefixes("influxdb-prod", "catalog_backup_file_lists/", "/", {
      maxKeys: 2,
    });
    expect(first.prefixes).toEqual([
      "catalog_backup_file_lists/2024-08-12T12:00:00+00:00/",
      "catalog_backup_file_lists/2024-08-12T13:00:00+00:00/",
    ]);
    expect(first.objects).toEqual([]);
    expect(first.nextToken).toBeDefined();
    const rest = await store.listPrefixes("influxdb-prod", "catalog_backup_file_lists/", "/", {
      maxKeys: 10,
      continuationToken: first.nextToken,
    });
    expect(rest.prefixes).toHaveLength(3);
    expect(rest.nextToken).toBeUndefined();
    expect(s3.requestCounts()).toEqual({ ListObjectsV2: 2 });

    const after = await store.listPrefixes("influxdb-prod", "catalog_backup_file_lists/", "/", {
      startAfter: "catalog_backup_file_lists/2024-08-12T14:00:00+00:00/~",
    });
    expect(after.prefixes).toEqual([
      "catalog_backup_file_lists/2024-08-12T15:00:00+00:00/",
      "catalog_backup_file_lists/2024-08-12T16:00:00+00:00/",
    ]);

    const inside = await store.listPrefixes(
      "influxdb-prod",
      "catalog_backup_file_lists/2024-08-12T12:00:00+00:00/",
      "/",
    );
    expect(inside.prefixes).toEqual([
      "catalog_backup_file_lists/2024-08-12T12:00:00+00:00/ns-ID1/",
    ]);
    expect(inside.objects.map((o) => o.key.split("/").pop())).toEqual([
      "bloom.bin.gz",
      "pg_dump.gz",
    ]);
    expect(inside.objects[1]?.size).toBe(7);
  });

  it("iterates every object under a prefix across pages", async () => {
    const store = storeFor();
    const keys: string[] = [];
    for await (const o of store.listObjects("influxdb-prod", "catalog_backup_file_lists/", {
      pageSize: 4,
    })) {
      keys.push(o.key);
      expect(o.etag).toMatch(/^"[0-9a-f]{32}"$/);
    }
    expect(keys).toHaveLength(15);
    expect(s3.requestCounts()).toEqual({ ListObjectsV2: 4 });
  });

  it("heads, streams and ranges objects", async () => {
    const store = storeFor();
    const key = "catalog_backup_file_lists/2024-08-12T12:00:00+00:00/pg_dump.gz";
    const head = await store.head("influxdb-prod", key);
    expect(head).toEqual({
      size: 7,
      etag: `"${createHash("md5").update("dump 12").digest("hex")}"`,
      lastModified: expect.any(Date),
    });
    expect(await store.head("influxdb-prod", "missing/key")).toBeUndefined();

    const full = await store.getStream("influxdb-prod", key);
    expect(full.size).toBe(7);
    expect(full.totalSize).toBe(7);
    expect(await text(full.body)).toBe("dump 12");

    const part = await store.getStream("influxdb-prod", key, { start: 5 });
    expect(part).toMatchObject({ size: 2, totalSize: 7 });
    expect(await text(part.body)).toBe("12");

    const missing = await codedErrorOf(
      store.getStream("influxdb-prod", "catalog_backup_file_lists/nope/pg_dump.gz"),
    );
    expect(missing.code).toBe("not_found");
    expect(missing.message).toContain(
      "s3://influxdb-prod/catalog_backup_file_lists/nope/pg_dump.gz",
    );
  });

  it("puts buffers, strings and streams (with or without a known length)", async () => {
    const store = storeFor();
    await store.put("influxdb-prod", "uploads/a", Buffer.from("buffer"));
    await store.put("influxdb-prod", "uploads/b", "string", { contentType: "text/plain" });
    const chunks = [Buffer.alloc(70_000, 1), Buffer.alloc(10, 2)];
    await store.put("influxdb-prod", "uploads/c", Readable.from(chunks), { contentLength: 70_010 });
    const { etag } = await store.put("influxdb-prod", "uploads/d", Readable.from(chunks));
    expect(etag).toBe(`"${createHash("md5").update(Buffer.concat(chunks)).digest("hex")}"`);
    expect(s3.getObjectDirect("influxdb-prod", "uploads/a")?.toString()).toBe("buffer");
    expect(s3.getObjectDirect("influxdb-prod", "uploads/b")?.toString()).toBe("string");
    expect(s3.getObjectDirect("influxdb-prod", "uploads/c")?.equals(Buffer.concat(chunks))).toBe(
      true,
    );
    expect(s3.getObjectDirect("influxdb-prod", "uploads/d")?.length).toBe(70_010);
  });

  it("reads credentials from the standard environment variables", async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = "AKIDFROMENV";
    process.env.AWS_SECRET_ACCESS_KEY = SECRET;
    try {
      const client = createS3Client({
        endpoint: s3.endpoint,
        region: "us-east-1",
        forcePathStyle: true,
      });
      const store = createS3ObjectStore(client, { endpoint: s3.endpoint, region: "us-east-1" });
      await store.listPrefixes("influxdb-prod", "", "/");
      expect(s3.requests()[0]?.accessKeyId).toBe("AKIDFROMENV");
    } finally {
      if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
      else process.env.AWS_ACCESS_KEY_ID = saved.id;
      if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
      else process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
    }
  });
});

describe("S3 errors become CodedErrors a person can act on", () => {
  it.each([
    ["InvalidAccessKeyId", () => s3.denyAccessKey("AKIDREVOKED")],
    ["SignatureDoesNotMatch", () => s3.denyAccessKey("AKIDREVOKED", "SignatureDoesNotMatch")],
    ["AccessDenied", () => s3.failNext({ op: "ListObjectsV2", status: 403, code: "AccessDenied" })],
  ])("%s → s3_access_denied", async (code, arrange) => {
    arrange();
    try {
      const err = await codedErrorOf(
        storeFor("AKIDREVOKED").listPrefixes("influxdb-prod", "catalog_backup_file_lists/", "/"),
      );
      expect(err.code).toBe("s3_access_denied");
      expect(err.message).toContain("influxdb-prod");
      expect(err.message).toContain(code);
      expect(err.message).not.toContain(SECRET);
      expect(JSON.stringify(err.details)).not.toContain(SECRET);
    } finally {
      s3.allowAccessKey("AKIDREVOKED");
    }
  });

  it("a refused HEAD is access denied, not a missing object", async () => {
    s3.denyAccessKey("AKIDREVOKED");
    try {
      const err = await codedErrorOf(storeFor("AKIDREVOKED").head("influxdb-prod", "anything"));
      expect(err.code).toBe("s3_access_denied");
    } finally {
      s3.allowAccessKey("AKIDREVOKED");
    }
  });

  it("NoSuchBucket → not_found naming the bucket", async () => {
    const err = await codedErrorOf(storeFor().listPrefixes("influxdb-staging", "", "/"));
    expect(err.code).toBe("not_found");
    expect(err.message).toMatch(
      /Bucket "influxdb-staging" does not exist at http:\/\/127\.0\.0\.1:\d+/,
    );
    expect(err.message).toContain("NoSuchBucket");
  });

  it("5xx after the retries → s3_unreachable", async () => {
    s3.failNext({ op: "ListObjectsV2", status: 503, code: "SlowDown", count: 2 });
    const err = await codedErrorOf(
      storeFor("AKIDRESTOREBOT", 2).listPrefixes("influxdb-prod", "", "/"),
    );
    expect(err.code).toBe("s3_unreachable");
    expect(err.message).toContain("answered 503");
    expect(err.message).toContain("SlowDown");
    expect(s3.requestCounts().ListObjectsV2).toBe(2);
  });

  it("a transient fault is retried away", async () => {
    s3.failNext({ op: "GetObject", status: 500 });
    const got = await storeFor("AKIDRESTOREBOT", 3).getStream(
      "influxdb-prod",
      "catalog_backup_file_lists/2024-08-12T13:00:00+00:00/pg_dump.gz",
    );
    expect(await text(got.body)).toBe("dump 13");
  });

  it("an endpoint nobody listens on → s3_unreachable", async () => {
    const closed = await startS3StandIn();
    const endpoint = closed.endpoint;
    await closed.close();
    const client = createS3Client({
      endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      maxAttempts: 1,
      credentials: { accessKeyId: "AKID", secretAccessKey: SECRET },
    });
    const err = await codedErrorOf(
      createS3ObjectStore(client, { endpoint, region: "us-east-1" }).listPrefixes(
        "influxdb-prod",
        "",
        "/",
      ),
    );
    expect(err.code).toBe("s3_unreachable");
    expect(err.message).toContain(endpoint);
    expect(err.message).toContain("ECONNREFUSED");
    expect(err.message).toContain("influxdb-prod");
  });
});
