import type { ObjectStore } from "../adapters/s3/object-store.js";
import type { Target } from "../config/file.js";
import type { KindRegistry } from "../kinds/registry.js";
import type { RecoveryPointSource } from "./recovery-point.js";

/** The recovery-point source of a target, from its kind. */
export function recoveryPointSourceFor(
  deps: { kinds: KindRegistry; objectStoreFor: (target: Target) => ObjectStore },
  target: Target,
): RecoveryPointSource {
  return deps.kinds.of(target).points.source(target, () => deps.objectStoreFor(target));
}
