import type { ObjectStore } from "../adapters/s3/object-store.js";
import { mapWithConcurrency } from "../recovery-points/concurrency.js";
import type { StepContext } from "./types.js";

/**
 * The one S3 operation this step needs: a server-side copy (CopyObject: the store moves the
 * bytes, not the worker). The S3 adapter's `ObjectStore` provides it.
 */
export type ObjectCopier = Pick<ObjectStore, "copyObject">;

export interface CopyObjectsArgs {
  id: string;
  /** `from.etag`: copy only while the source still has it (else `precondition_failed`). */
  objects: ReadonlyArray<{
    from: { bucket: string; key: string; etag?: string };
    to: { bucket: string; key: string };
    size?: number;
  }>;
  /** Copies in flight at once (default 16). */
  concurrency?: number;
  /** Saves the count of copied objects durably every this many (default 500). */
  checkpointEvery?: number;
}

/**
 * Copies objects server-side, in parallel with a bound, narrating progress. Nothing to
 * compensate: it only writes keys it is given (deleting nothing). A resumed attempt copies again
 * from the start of the list (a copy is idempotent); `copied` in the checkpoint says how far an
 * interrupted attempt got, for the narration.
 */
export async function copyObjects(
  ctx: StepContext,
  store: ObjectCopier,
  args: CopyObjectsArgs,
): Promise<{ copied: number; bytes: number }> {
  let copied = 0;
  let bytes = 0;
  const every = args.checkpointEvery ?? 500;
  const total = args.objects.length;
  await mapWithConcurrency(args.objects, args.concurrency ?? 16, async (o) => {
    if (ctx.signal.aborted) throw ctx.signal.reason ?? new Error("cancelled");
    await store.copyObject(
      { bucket: o.from.bucket, key: o.from.key, ...(o.from.etag ? { ifMatch: o.from.etag } : {}) },
      o.to,
    );
    copied++;
    bytes += o.size ?? 0;
    ctx.progress(`copied ${copied} of ${total} objects`);
    if (copied % every === 0) await ctx.fact(`copyObjects:${args.id}`, { copied, total });
  });
  await ctx.fact(`copyObjects:${args.id}`, { copied, total, bytes });
  return { copied, bytes };
}
