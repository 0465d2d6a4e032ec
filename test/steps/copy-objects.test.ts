import { describe, expect, it } from "vitest";
import { copyObjects, type ObjectCopier } from "../../src/steps/index.js";
import type { StepContext } from "../../src/steps/types.js";

/**
 * copyObjects against an in-memory store implementing the step's one-method port (the S3
 * stand-in does not serve CopyObject yet): every object copied once, never more in flight than
 * the bound, progress narrated, the count checkpointed.
 */
function memoryStore() {
  const objects = new Map<string, string>();
  let inFlight = 0;
  let peak = 0;
  const copier: ObjectCopier = {
    async copyObject(from, to) {
      inFlight++;
      peak = Math.max(peak, inFlight);
      // Yield to the event loop, as a request would: the other copies get to start meanwhile.
      await new Promise<void>((resolve) => setImmediate(resolve));
      inFlight--;
      const body = objects.get(`${from.bucket}/${from.key}`);
      if (body === undefined) throw new Error(`NoSuchKey ${from.key}`);
      objects.set(`${to.bucket}/${to.key}`, body);
    },
  };
  return { objects, copier, peak: () => peak };
}

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
  it("copies every object once with at most `concurrency` in flight and checkpoints the count", async () => {
    const store = memoryStore();
    const objects = Array.from({ length: 200 }, (_, i) => {
      store.objects.set(`pool/o${i}`, `body ${i}`);
      return {
        from: { bucket: "pool", key: `o${i}` },
        to: { bucket: "live", key: `o${i}` },
        size: 10,
      };
    });
    const ctx = context();
    const result = await copyObjects(ctx, store.copier, {
      id: "restore",
      objects,
      concurrency: 8,
      checkpointEvery: 50,
    });
    expect(result).toEqual({ copied: 200, bytes: 2000 });
    for (let i = 0; i < 200; i++) expect(store.objects.get(`live/o${i}`)).toBe(`body ${i}`);
    expect(store.peak()).toBeLessThanOrEqual(8);
    expect(store.peak()).toBeGreaterThan(1);
    expect(ctx.saved["copyObjects:restore"]).toEqual({ copied: 200, total: 200, bytes: 2000 });
    expect(ctx.lines.at(-1)).toBe("copied 200 of 200 objects");
  });

  it("fails with the store's error when a source is missing", async () => {
    const store = memoryStore();
    const ctx = context();
    await expect(
      copyObjects(ctx, store.copier, {
        id: "x",
        objects: [{ from: { bucket: "pool", key: "gone" }, to: { bucket: "live", key: "gone" } }],
      }),
    ).rejects.toThrow(/NoSuchKey gone/);
  });
});
