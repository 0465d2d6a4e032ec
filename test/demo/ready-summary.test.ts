import { describe, expect, it } from "vitest";
import { readySummary } from "../../src/demo/cli.js";
import type { Sandbox } from "../../src/demo/sandbox.js";

const sandbox = {
  consoleUrl: "http://127.0.0.1:8080/",
  history: { totalPoints: 350, incompletePoints: [], newestComplete: "2024-08-12T14:00:00+00:00" },
} as unknown as Sandbox;

describe("the sandbox's ready line", () => {
  it.each([
    [3.24, "restorebot sandbox ready in 3.2 s"],
    [12.34, "restorebot sandbox ready in 12 s"],
    [65, "restorebot sandbox ready in 1 min 05 s"],
  ])("after %s s: %s", (seconds, line) => {
    expect(readySummary(sandbox, seconds, "restorebot.log").split("\n")).toContain(line);
  });
});
