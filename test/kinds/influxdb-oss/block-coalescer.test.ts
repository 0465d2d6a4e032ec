import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { blockCoalescer } from "../../../src/kinds/influxdb-oss/archive-stream.js";

describe("blockCoalescer", () => {
  it("hands on full blocks of the given size, the rest at flush, the bytes unchanged and in order", async () => {
    const input = randomBytes(10_000);
    const blocks: Buffer[] = [];
    const coalesce = blockCoalescer(1024, (block) => {
      blocks.push(Buffer.from(block));
      return undefined;
    });
    // Frames of uneven sizes, one of them larger than a block.
    for (const [from, to] of [
      [0, 100],
      [100, 1500],
      [1500, 1501],
      [1501, 4000],
      [4000, 10_000],
    ] as const)
      expect(coalesce.push(input.subarray(from, to))).toBeUndefined();
    await coalesce.flush();
    expect(blocks.slice(0, -1).every((b) => b.length === 1024)).toBe(true);
    expect(blocks.at(-1)?.length).toBe(10_000 % 1024);
    expect(Buffer.concat(blocks).equals(input)).toBe(true);
    expect(coalesce.flush()).toBeUndefined();
  });

  it("returns the consumer's promise from the push that filled a block, so the exec holds back", async () => {
    let release: () => void = () => undefined;
    const taken: number[] = [];
    const coalesce = blockCoalescer(8, (block) => {
      taken.push(block.length);
      return new Promise<void>((resolve) => {
        release = resolve;
      });
    });
    expect(coalesce.push(Buffer.alloc(5))).toBeUndefined();
    const held = coalesce.push(Buffer.alloc(5));
    expect(held).toBeInstanceOf(Promise);
    let settled = false;
    void held?.then(() => {
      settled = true;
    });
    await Promise.resolve();
    expect(settled).toBe(false);
    release();
    await held;
    expect(settled).toBe(true);
    expect(taken).toEqual([8]);
  });
});
