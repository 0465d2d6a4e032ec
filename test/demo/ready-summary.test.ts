import { describe, expect, it } from "vitest";
import { readySummary } from "../../src/demo/cli.js";
import type { Sandbox } from "../../src/demo/sandbox.js";

const sandbox = {
  consoleUrl: "http://127.0.0.1:8080/",
  targets: [
    {
      name: "prod",
      kind: "influxdb-clustered",
      ready: [
        "/recovery-points — 350 points",
        '"Restore to this point" on 2024-08-12T14:00:00+00:00',
      ],
    },
  ],
} as unknown as Sandbox;

describe("the sandbox's ready line", () => {
  it.each([
    [3.24, "restorebot sandbox ready in 3.2 s"],
    [12.34, "restorebot sandbox ready in 12 s"],
    [65, "restorebot sandbox ready in 1 min 05 s"],
  ])("after %s s: %s", (seconds, line) => {
    const lines = readySummary(sandbox, seconds, "restorebot.log").split("\n");
    expect(lines).toContain(line);
    expect(lines).toContain("    1. /recovery-points — 350 points");
    expect(lines).toContain(
      "    3. Approve your own request: refused, a second person must approve",
    );
  });
});
