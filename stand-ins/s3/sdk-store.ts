import type { ObjectStore } from "../../src/adapters/s3/object-store.js";
import { createS3Client, createS3ObjectStore } from "../../src/adapters/s3/s3-object-store.js";
import type { S3StandIn } from "./server.js";

/** An ObjectStore (the product's S3 adapter) pointed at the stand-in. */
export function standInObjectStore(s3: S3StandIn): ObjectStore {
  const client = createS3Client({
    endpoint: s3.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: { accessKeyId: "AKIDSNAPSHOTWRITER", secretAccessKey: "stand-in" },
  });
  return createS3ObjectStore(client, { endpoint: s3.endpoint, region: "us-east-1" });
}
