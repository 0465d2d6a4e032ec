import { describe, expect, it } from "vitest";
import {
  formatAge,
  formatBytes,
  formatCount,
  formatDuration,
  formatUtc,
  formatUtcClock,
} from "../../src/text/format.js";

const S = 1_000;
const MIN = 60 * S;
const H = 60 * MIN;
const D = 24 * H;

describe("formatCount", () => {
  it.each([
    [0, "0"],
    [1, "1"],
    [999, "999"],
    [1_000, "1,000"],
    [1_234_567, "1,234,567"],
    [999_999.6, "1,000,000"],
    [-1_234, "-1,234"],
    [-0.4, "0"],
    [9_007_199_254_740_991, "9,007,199,254,740,991"],
    [Number.NaN, "?"],
    [Number.POSITIVE_INFINITY, "?"],
  ])("%s → %s", (n, text) => {
    expect(formatCount(n)).toBe(text);
  });
});

describe("formatBytes", () => {
  it.each([
    [0, "0 B"],
    [1, "1 B"],
    [512, "512 B"],
    [1_023, "1023 B"],
    [1_023.6, "1.0 KiB"],
    [1_024, "1.0 KiB"],
    [1_025, "1.0 KiB"],
    [2_867, "2.8 KiB"],
    [99.94 * 1024, "99.9 KiB"],
    [99.96 * 1024, "100 KiB"],
    [512 * 1024, "512 KiB"],
    [1_023 * 1024, "1023 KiB"],
    [1_023.6 * 1024, "1.0 MiB"],
    [1024 ** 2, "1.0 MiB"],
    [16 * 1024 ** 2, "16.0 MiB"],
    [12.9 * 1024 ** 2, "12.9 MiB"],
    [1_000_000, "977 KiB"],
    [1.5 * 1024 ** 3, "1.5 GiB"],
    [1024 ** 4, "1.0 TiB"],
    [3 * 1024 ** 5, "3.0 PiB"],
    [2048 * 1024 ** 5, "2048 PiB"],
    [-2_048, "-2.0 KiB"],
    [-0.4, "0 B"],
    [Number.NaN, "?"],
    [Number.NEGATIVE_INFINITY, "?"],
  ])("%s → %s", (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});

describe("formatDuration", () => {
  it.each([
    [0, "0 ms"],
    [1, "1 ms"],
    [850, "850 ms"],
    [999.4, "999 ms"],
    [999.6, "1.0 s"],
    [1_000, "1.0 s"],
    [4_240, "4.2 s"],
    [9_940, "9.9 s"],
    [9_960, "10 s"],
    [45 * S, "45 s"],
    [59.4 * S, "59 s"],
    [59.6 * S, "1 min"],
    [MIN, "1 min"],
    [4 * MIN + 5 * S, "4 min 05 s"],
    [4 * MIN, "4 min"],
    [12 * MIN + 34 * S, "12 min 34 s"],
    [59 * MIN + 59 * S, "59 min 59 s"],
    [59 * MIN + 59.6 * S, "1 h"],
    [H + 2 * MIN + 20 * S, "1 h 02 min"],
    [H + 2 * MIN + 40 * S, "1 h 03 min"],
    [3 * H + 12 * MIN, "3 h 12 min"],
    [23 * H + 59 * MIN + 40 * S, "1 d"],
    [2 * D + 4 * H, "2 d 04 h"],
    [30 * D, "30 d"],
    [400 * D + 3 * H, "400 d 03 h"],
    [-4 * MIN - 5 * S, "-4 min 05 s"],
    [-0.3, "0 ms"],
    [Number.NaN, "?"],
    [Number.POSITIVE_INFINITY, "?"],
  ])("%s ms → %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe("formatAge", () => {
  const now = new Date("2024-08-12T14:00:00Z");
  it.each([
    [0, "just now"],
    [59 * S, "just now"],
    [-59 * S, "just now"],
    [MIN, "1 min ago"],
    [42 * MIN + 10 * S, "42 min 10 s ago"],
    [-3 * H, "in 3 h"],
    [2 * D + 4 * H, "2 d 04 h ago"],
  ])("%s ms before now → %s", (msBefore, text) => {
    expect(formatAge(new Date(now.getTime() - msBefore), now)).toBe(text);
  });

  it("shows an invalid time as unknown", () => {
    expect(formatAge(new Date(Number.NaN), now)).toBe("?");
  });
});

describe("formatUtc", () => {
  const time = new Date("2024-08-12T14:00:59.900Z");
  it.each([
    [undefined, "2024-08-12 14:00 UTC"],
    [new Date("2024-08-12T00:00:00Z"), "14:00 UTC"],
    [new Date("2024-08-12T23:59:59Z"), "14:00 UTC"],
    [new Date("2024-08-13T00:00:00Z"), "2024-08-12 14:00 UTC"],
    [new Date("2024-08-11T23:59:59Z"), "2024-08-12 14:00 UTC"],
    [new Date(Number.NaN), "2024-08-12 14:00 UTC"],
  ])("now %s → %s", (now, text) => {
    expect(formatUtc(time, now)).toBe(text);
  });

  it("is UTC whatever the offset the time was written with", () => {
    expect(formatUtc(new Date("2024-08-12T23:30:00-02:00"))).toBe("2024-08-13 01:30 UTC");
  });

  it("shows an invalid time as unknown", () => {
    expect(formatUtc(new Date(Number.NaN))).toBe("?");
  });
});

describe("formatUtcClock", () => {
  it.each([
    ["2024-08-12T14:32:05.999Z", "14:32:05 UTC"],
    ["2024-08-12T00:00:00Z", "00:00:00 UTC"],
    ["invalid", "?"],
  ])("%s → %s", (iso, text) => {
    expect(formatUtcClock(new Date(iso))).toBe(text);
  });
});
