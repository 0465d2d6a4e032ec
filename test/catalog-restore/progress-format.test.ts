import { describe, expect, it } from "vitest";
import {
  formatProgressBar,
  formatProgressLine,
} from "../../src/catalog-restore/progress-format.js";
import type { CatalogRestoreProgress } from "../../src/catalog-restore/restore-engine.js";

function progress(overrides: Partial<CatalogRestoreProgress> = {}): CatalogRestoreProgress {
  return {
    phase: "restoring",
    compressedBytesRead: 13_526_630,
    compressedBytesTotal: 30_198_989,
    sqlBytesRead: 90_000_000,
    statementsExecuted: 1_234,
    rowsCopied: 270_123,
    currentObject: "TABLE DATA iox_catalog.parquet_file",
    line: 4_321,
    elapsedMs: 245_000,
    ...overrides,
  };
}

describe("catalog restore progress text", () => {
  it("writes sizes, counts and the elapsed time as the rest of restorebot does", () => {
    expect(formatProgressLine(progress(), 1_000_000)).toBe(
      "restore-catalog: restoring, 44% (12.9 MiB of 28.8 MiB compressed), 270,123 of 1,000,000 rows copied, 1,234 statements, after 4 min 05 s, now: TABLE DATA iox_catalog.parquet_file (line 4321)",
    );
  });

  it("draws the bar with the same units", () => {
    expect(formatProgressBar(progress({ elapsedMs: 7_200 }), undefined, 200)).toBe(
      "[###########-------------]  44%  12.9 MiB/28.8 MiB  270,123 rows  7.2 s  TABLE DATA iox_catalog.parquet_file",
    );
  });

  it("says how much was read when the total is not known", () => {
    expect(
      formatProgressLine(progress({ compressedBytesTotal: null, phase: "clearing" }), undefined),
    ).toBe(
      "restore-catalog: clearing the catalog, 12.9 MiB read, 270,123 rows copied, 1,234 statements, after 4 min 05 s",
    );
  });
});
