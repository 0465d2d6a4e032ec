import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { youngCollector } from "../../src/runtime/young-garbage.js";

describe("reading a dump bounds the garbage outside the V8 heap", () => {
  it("gets V8's collector without any command-line flag, and exposes gc to nothing else", () => {
    expect(process.execArgv.join(" ")).not.toMatch(/expose[-_]gc/);
    const collect = youngCollector();
    expect(collect).toBeTypeOf("function");
    collect?.();
    collect?.();
    expect(runInNewContext("typeof gc")).toBe("undefined");
  });
});
