import type { ObjectStore } from "../adapters/s3/object-store.js";
import type { Target } from "../config/file.js";
import { createInfluxDbS3Source } from "./influxdb-s3-source.js";
import type { RecoveryPointSource } from "./recovery-point.js";

/** The recovery-point source of a target, by its kind; new systems add a case here. */
export function recoveryPointSourceFor(
  target: Target,
  objectStoreFor: (target: Target) => ObjectStore,
): RecoveryPointSource {
  switch (target.kind) {
    case "influxdb-clustered":
      return createInfluxDbS3Source(objectStoreFor(target), {
        bucket: target.snapshots.bucket,
        prefix: target.snapshots.prefix,
      });
  }
}
