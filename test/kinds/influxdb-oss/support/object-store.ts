import type { ObjectStore } from "../../../../src/adapters/s3/object-store.js";
import {
  createS3Client,
  createS3ObjectStore,
} from "../../../../src/adapters/s3/s3-object-store.js";
import type { S3StandIn } from "../../../../stand-ins/s3/server.js";

/** The product's S3 adapter, over the real SDK, against the S3 stand-in. */
export function objectStoreFor(s3: Pick<S3StandIn, "endpoint">): ObjectStore {
  const client = createS3Client({
    endpoint: s3.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: { accessKeyId: "AKIDRESTOREBOT", secretAccessKey: "test-secret-not-used" },
  });
  return createS3ObjectStore(client, { endpoint: s3.endpoint, region: "us-east-1" });
}
