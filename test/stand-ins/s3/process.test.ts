import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type S3StandInProcess,
  startS3StandInProcess,
} from "../../../stand-ins/s3/process-client.js";
import { storeFor } from "../../kinds/pachyderm/support.js";

/** The S3 stand-in in a process of its own, driven over IPC, talked to by the real SDK. */

let s3: S3StandInProcess;

beforeAll(async () => {
  s3 = await startS3StandInProcess({ buckets: ["live", "pool"] });
}, 60_000);

afterAll(async () => {
  await s3?.close();
});

describe("S3 stand-in process", () => {
  it("serves the SDK once it has signalled ready, from another process", async () => {
    expect(s3.pid).not.toBe(process.pid);
    expect(s3.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const store = storeFor(s3.endpoint);
    await store.put("live", "hello", "world");
    const head = await store.head("live", "hello");
    expect(head?.size).toBe(5);
    const taken = await s3.takeRequestCounts();
    expect(taken.counts).toEqual({ PutObject: 1, HeadObject: 1 });
    expect((await s3.takeRequestCounts()).counts).toEqual({});
  });

  it("generates distinct objects by key, rewrites them by variant, and deletes by prefix", async () => {
    const store = storeFor(s3.endpoint);
    const keys = ["gen/a", "gen/b", "gen/c"];
    expect(await s3.putGenerated({ bucket: "live", keys, size: 4096, variant: 0 })).toBe(3);
    const listed = [];
    for await (const o of store.listObjects("live", "gen/")) listed.push(o);
    expect(listed.map((o) => o.size)).toEqual([4096, 4096, 4096]);
    expect(new Set(listed.map((o) => o.etag)).size).toBe(3);
    await s3.putGenerated({ bucket: "live", keys: ["gen/b"], size: 4096, variant: 1 });
    const rewritten = await store.head("live", "gen/b");
    expect(rewritten?.etag).not.toBe(listed[1]?.etag);
    expect(await s3.deletePrefix({ bucket: "live", prefix: "gen/" })).toBe(3);
    expect(await store.head("live", "gen/a")).toBeUndefined();
  });

  it("takes latency and copy rate from its parent, and reports copies handled at once", async () => {
    const store = storeFor(s3.endpoint);
    await s3.putGenerated({ bucket: "live", keys: ["lat/x"], size: 1000, variant: 0 });
    await s3.takeRequestCounts();
    await s3.setLatency({ ms: 100, op: "CopyObject" });
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        store.copyObject({ bucket: "live", key: "lat/x" }, { bucket: "pool", key: `lat/${i}` }),
      ),
    );
    expect(performance.now() - started).toBeGreaterThanOrEqual(95);
    await s3.setLatency({ ms: 0, op: "CopyObject" });
    const taken = await s3.takeRequestCounts();
    expect(taken.counts).toEqual({ CopyObject: 4 });
    expect(taken.peakInFlight).toEqual({ CopyObject: 4 });
  });

  it("fails to start with the reason when an option is wrong, and is gone once closed", async () => {
    await expect(startS3StandInProcess({ latencyMs: -5 })).rejects.toThrow(
      /exited .* before it was ready: --latency-ms must be a number ≥ 0, not "-5"/,
    );
    const other = await startS3StandInProcess({ buckets: ["b"] });
    const store = storeFor(other.endpoint);
    await store.put("b", "k", "v");
    expect((await s3.memoryUsage()).rss).toBeGreaterThan(0);
    await other.close();
    await expect(store.head("b", "k")).rejects.toThrow(/could not be reached/);
    await expect(other.memoryUsage()).rejects.toThrow(/exited/);
  }, 60_000);
});
