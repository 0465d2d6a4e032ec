import { describe, expect, it } from "vitest";
import {
  parseRecoveryPointsCommand,
  parseRestoreCommand,
  RECOVERY_POINTS_USAGE,
  RESTORE_USAGE,
} from "../../src/slack/commands/grammar.js";
import { formatPointTime, parsePointRef } from "../../src/slack/commands/recovery-point-time.js";

const TARGETS = ["prod", "staging"];
const T = (iso: string) => ({ kind: "time", time: new Date(iso) });

describe("parsePointRef", () => {
  it.each([
    ["2024-08-12T14:00:00+00:00", "2024-08-12T14:00:00.000Z"],
    ["2024-08-12T14:00Z", "2024-08-12T14:00:00.000Z"],
    ["2024-08-12t14:00z", "2024-08-12T14:00:00.000Z"],
    ["2024-08-12T16:00:00+02:00", "2024-08-12T14:00:00.000Z"],
    ["2024-08-12T09:30-04:30", "2024-08-12T14:00:00.000Z"],
  ])("%s → %s", (text, iso) => {
    const ref = parsePointRef(text);
    expect(ref?.kind === "time" && ref.time.toISOString()).toBe(iso);
  });
  it.each([
    "2024-08-12",
    "2024-08-12T14",
    "2024-02-31T14:00Z",
    "2024-13-01T00:00Z",
    "2024-08-12T24:00Z",
    "yesterday",
    "2024-08-12T14:00",
  ])("refuses %s", (text) => expect(parsePointRef(text)).toBeUndefined());
  it("accepts latest in any case", () =>
    expect(parsePointRef("LATEST")).toEqual({ kind: "latest" }));
  it("formats folder names as listed", () =>
    expect(formatPointTime(new Date("2024-08-12T14:00:00Z"))).toBe("2024-08-12T14:00:00+00:00"));
});

describe("parseRestoreCommand", () => {
  const ok: Array<[string, unknown]> = [
    ["help", { kind: "help" }],
    ["targets", { kind: "targets" }],
    ["status", { kind: "status", requestId: undefined }],
    ["status rb-k3m9x2qa", { kind: "status", requestId: "rb-k3m9x2qa" }],
    ["cancel rb-k3m9x2qa", { kind: "cancel", requestId: "rb-k3m9x2qa" }],
    ["history", { kind: "history", target: undefined }],
    ["history prod", { kind: "history", target: "prod" }],
    ["plan prod latest", { kind: "plan", target: "prod", point: { kind: "latest" } }],
    [
      "plan staging 2024-08-12T14:00Z",
      { kind: "plan", target: "staging", point: T("2024-08-12T14:00Z") },
    ],
    [
      "prod 2024-08-12T14:00:00+00:00 catalog corrupted by bad migration INC-1234",
      {
        kind: "request",
        target: "prod",
        point: T("2024-08-12T14:00Z"),
        reason: "catalog corrupted by bad migration INC-1234",
      },
    ],
    [
      "  prod   latest   bad   deploy INC-9  ",
      { kind: "request", target: "prod", point: { kind: "latest" }, reason: "bad deploy INC-9" },
    ],
  ];
  it.each(ok)("/restore %s", (text, command) => {
    expect(parseRestoreCommand(text, TARGETS)).toEqual({ ok: true, command });
  });

  const refused: Array<[string, RegExp]> = [
    ["", /Tell me what to restore/],
    ["help me", /`help` takes no arguments/],
    ["frobnicate", /Unknown target or subcommand `frobnicate`\. Known targets: `prod`, `staging`/],
    ["prod", /Which recovery point\? e\.g\. `\/restore prod latest &lt;reason…&gt;`/],
    ["prod yesterday because reasons", /`yesterday` is not a recovery point/],
    ["prod latest", /A reason is mandatory/],
    ["prod latest oops", /too short/],
    ["plan prod", /`plan` needs a target and a point/],
    ["plan qa latest", /Unknown target `qa`/],
    ["plan prod latest because", /a plan needs no reason/],
    ["cancel", /`cancel` needs exactly one request id/],
    ["cancel 42", /`42` is not a request id/],
    ["status a b", /`status` takes at most one request id/],
    ["history qa", /Unknown target `qa`/],
    ["verify prod latest", /belongs to `\/recovery-points`/],
  ];
  it.each(refused)("refuses /restore %s", (text, message) => {
    const result = parseRestoreCommand(text, TARGETS);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error).toMatch(message);
      expect(result.error).toContain("*Usage*");
    }
  });
});

describe("parseRecoveryPointsCommand", () => {
  const base = { kind: "list", cadence: "all", sinceMs: undefined, limit: 20, before: undefined };
  it.each<[string, readonly string[], unknown]>([
    ["", ["prod"], { ...base, target: "prod" }],
    ["prod", TARGETS, { ...base, target: "prod" }],
    [
      "staging --daily --since 48h --limit 5",
      TARGETS,
      { ...base, target: "staging", cadence: "daily", sinceMs: 48 * 3_600_000, limit: 5 },
    ],
    ["--hourly", ["prod"], { ...base, target: "prod", cadence: "hourly" }],
    [
      "prod --before 2024-08-12T14:00Z",
      TARGETS,
      { ...base, target: "prod", before: new Date("2024-08-12T14:00Z") },
    ],
    ["help", TARGETS, { kind: "help" }],
    ["verify prod latest", TARGETS, { kind: "verify", target: "prod", point: { kind: "latest" } }],
    [
      "verify prod 2024-08-12T14:00Z",
      TARGETS,
      { kind: "verify", target: "prod", point: T("2024-08-12T14:00Z") },
    ],
  ])("/recovery-points %s", (text, targets, command) => {
    expect(parseRecoveryPointsCommand(text, targets)).toEqual({ ok: true, command });
  });

  it.each<[string, RegExp]>([
    ["", /Name a target: several are configured/],
    ["qa", /Unknown target or subcommand `qa`/],
    ["prod staging", /only one target/],
    ["prod --hourly --daily", /either `--hourly` or `--daily`/],
    ["prod --since", /`--since` needs a duration/],
    ["prod --since 2 days", /`--since` needs a duration/],
    ["prod --limit 0", /`--limit` needs a whole number from 1 to 100/],
    ["prod --limit 1000", /`--limit` needs a whole number from 1 to 100/],
    ["prod --verbose", /Unknown option `--verbose`/],
    ["verify prod", /`verify` needs a target and a point/],
    ["verify qa 2024-08-12T14:00Z", /Unknown target `qa`/],
    ["verify prod yesterday", /`yesterday` is not a recovery point/],
    ["verify prod 2024-08-12T14:00Z extra", /Unexpected `extra`/],
  ])("refuses /recovery-points %s", (text, message) => {
    const result = parseRecoveryPointsCommand(text, TARGETS);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatch(message);
  });
});

describe("answers are mrkdwn Slack shows as written", () => {
  // Slack reads `<…>` as a link, a mention or `<!channel>`: every `&`, `<` and `>` in text
  // must be escaped, in the usage and in whatever of the command is echoed back.
  const hostile = [
    "<!channel>",
    "<@U0ADMIN>",
    "prod <!here> because",
    "plan <https://evil.example|prod> latest",
    "verify prod <!everyone>",
    "status <!channel>",
    "cancel a&b",
    "prod latest <!channel>",
    "history <@U0ADMIN>",
    "--since <1h>",
    "--limit <20>",
    "--before <2024-08-12T14:00Z>",
    "--frobnicate<!channel>",
    "prod staging<!channel>",
  ];
  it.each(hostile)("echoes %j escaped, with the usage escaped", (text) => {
    for (const result of [
      parseRestoreCommand(text, TARGETS),
      parseRecoveryPointsCommand(text, TARGETS),
    ]) {
      if (result.ok) continue;
      expect(result.error).not.toMatch(/[<>]/);
      expect(result.error).not.toMatch(/&(?!amp;|lt;|gt;)/);
    }
  });

  it("shows the placeholders of both usages as typed", () => {
    for (const usage of [RESTORE_USAGE, RECOVERY_POINTS_USAGE]) {
      expect(usage).not.toMatch(/[<>]/);
      const shown = usage.replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");
      expect(shown).toMatch(/<target> <point/);
    }
    expect(RESTORE_USAGE).toContain(
      "`/restore &lt;target&gt; &lt;point|latest&gt; &lt;reason…&gt;`",
    );
  });

  it("a refused reason that tries a mention reaches Slack as text", () => {
    const result = parseRestoreCommand("prod latest <!here>", TARGETS);
    expect(result).toEqual({ ok: false, error: expect.stringContaining("`&lt;!here&gt;`") });
  });

  it("the --since refusal shows the duration form escaped", () => {
    const result = parseRecoveryPointsCommand("--since soon", TARGETS);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error).toContain("&lt;integer&gt;&lt;s|m|h|d&gt;");
  });

  it("documents --before, a real option of the listing", () => {
    expect(RECOVERY_POINTS_USAGE).toContain("--before &lt;point&gt;");
    expect(parseRecoveryPointsCommand("prod --before 2024-08-12T14:00Z", TARGETS)).toMatchObject({
      ok: true,
      command: { kind: "list", target: "prod", before: new Date("2024-08-12T14:00:00Z") },
    });
  });
});
