import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ObjectStore } from "../../src/adapters/s3/object-store.js";
import { copyObjects } from "../../src/steps/index.js";
import type { StepContext } from "../../src/steps/types.js";
import { type S3StandIn, startS3StandIn } from "../../stand-ins/s3/server.js";
import { objectStoreFor } from "../support/s3.js";

/** copyObjects through the S3 adapter and the real SDK, against the S3 stand-in's CopyObject. */

let s3: S3StandIn;
let store: ObjectStore;

beforeAll(async () => {
  s3 = await startS3StandIn({ buckets: ["pool", "live"] });
  store = objectStoreFor(s3);
});

afterAll(async () => {
  await s3.close();
});

function context(): StepContext & { saved: Record<string, unknown>; lines: string[] } {
  const saved: Record<string, unknown> = {};
  const lines: string[] = [];
  return {
    request: { id: "rb-copy" } as StepContext["request"],
    name: "copy-objects",
    facts: saved,
    fact: async (k, v) => {
      saved[k] = v;
    },
    progress: (t) => lines.push(t),
    note: () => undefined,
    signal: new AbortController().signal,
    now: () => new Date(),
    saved,
    lines,
  };
}

describe("copyObjects", () => {
  it("copies every object server-side with at most `concurrency` copies in flight, and checkpoints the count", async () => {
    const objects = Array.from({ length: 60 }, (_, i) => {
      s3.putObjectDirect("pool", `o/${i}`, `body ${i}`);
      return {
        from: { bucket: "pool", key: `o/${i}` },
        to: { bucket: "live", key: `o/${i}` },
        size: `body ${i}`.length,
      };
    });
    // Each copy takes a moment, so the bound (not the store's speed) limits what is in flight.
    s3.setLatency(20, "CopyObject");
    let inFlight = 0;
    let peak = 0;
    const counting: Pick<ObjectStore, "copyObject"> = {
      async copyObject(source, destination) {
        inFlight++;
        peak = Math.max(peak, inFlight);
        try {
          return await store.copyObject(source, destination);
        } finally {
          inFlight--;
        }
      },
    };
    const ctx = context();
    const result = await copyObjects(ctx, counting, {
      id: "restore",
      objects,
      concurrency: 6,
      checkpointEvery: 20,
    });
    s3.setLatency(0, "CopyObject");
    expect(result.copied).toBe(60);
    for (let i = 0; i < 60; i++)
      expect(s3.getObjectDirect("live", `o/${i}`)?.toString()).toBe(`body ${i}`);
    expect(peak).toBe(6);
    expect(ctx.saved["copyObjects:restore"]).toEqual({
      copied: 60,
      total: 60,
      bytes: result.bytes,
    });
    expect(ctx.lines.at(-1)).toBe("copied 60 of 60 objects");
  });

  it("refuses to copy a source whose ETag changed since it was listed", async () => {
    s3.putObjectDirect("pool", "changed", "new body");
    const ctx = context();
    await expect(
      copyObjects(ctx, store, {
        id: "x",
        objects: [
          {
            from: { bucket: "pool", key: "changed", etag: '"0123456789abcdef0123456789abcdef"' },
            to: { bucket: "live", key: "changed" },
          },
        ],
      }),
    ).rejects.toMatchObject({ code: "precondition_failed" });
    expect(s3.getObjectDirect("live", "changed")).toBeUndefined();
  });
});
