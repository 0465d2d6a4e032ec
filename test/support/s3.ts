import type { S3Client } from "@aws-sdk/client-s3";
import type { ObjectStore } from "../../src/adapters/s3/object-store.js";
import { createS3Client, createS3ObjectStore } from "../../src/adapters/s3/s3-object-store.js";
import type { S3StandIn } from "../../stand-ins/s3/server.js";

/**
 * The real SDK client against the S3 stand-in. One attempt per call, so a fault the test injects
 * reaches the code under test instead of being retried away.
 */
export function testS3Client(s3: Pick<S3StandIn, "endpoint">): S3Client {
  return createS3Client({
    endpoint: s3.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: { accessKeyId: "AKIDTEST", secretAccessKey: "test-secret-not-used" },
  });
}

/** The product's S3 adapter, over the real SDK, against the S3 stand-in. */
export function objectStoreFor(
  s3: Pick<S3StandIn, "endpoint">,
  client: S3Client = testS3Client(s3),
): ObjectStore {
  return createS3ObjectStore(client, { endpoint: s3.endpoint, region: "us-east-1" });
}
