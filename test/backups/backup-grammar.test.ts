import { describe, expect, it } from "vitest";
import { latestSlot, nextSlot } from "../../src/config/cron.js";
import { parseConfig } from "../../src/config/file.js";
import { parseBackupCommand } from "../../src/slack/commands/grammar.js";

const TARGETS = ["pach", "ent"];

describe("parseBackupCommand", () => {
  it.each([
    [
      "pach before the upgrade CHG-1",
      { kind: "request", target: "pach", reason: "before the upgrade CHG-1" },
    ],
    ["status", { kind: "status", target: undefined }],
    ["status ent", { kind: "status", target: "ent" }],
    ["help", { kind: "help" }],
  ])("%s", (text, command) => {
    expect(parseBackupCommand(text, TARGETS)).toEqual({ ok: true, command });
  });

  it.each([
    ["", "Tell me which target to back up"],
    ["pach", "A reason is mandatory"],
    ["pach short", "too short"],
    ["nope because of CHG-1", "Unknown target or subcommand `nope`"],
    ["status nope", "Unknown target `nope`"],
    ["status pach ent", "at most one target"],
    ["help me", "`help` takes no arguments"],
    ["--incremental pach why not CHG-1", "Unknown option `--incremental`"],
  ])("refuses %j with the usage", (text, problem) => {
    const parsed = parseBackupCommand(text, TARGETS);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.error).toContain(problem);
    expect(parsed.error).toContain("/backup status [target]");
  });
});

describe("backup.schedule slots (UTC)", () => {
  it("finds the latest slot at or before a time, and the next one after it", () => {
    const at = new Date("2026-12-03T08:30:00Z");
    expect(latestSlot("0 * * * *", at).toISOString()).toBe("2026-12-03T08:00:00.000Z");
    expect(latestSlot("0 * * * *", new Date("2026-12-03T08:00:00Z")).toISOString()).toBe(
      "2026-12-03T08:00:00.000Z",
    );
    expect(nextSlot("0 * * * *", at).toISOString()).toBe("2026-12-03T09:00:00.000Z");
    expect(latestSlot("30 2 * * *", at).toISOString()).toBe("2026-12-03T02:30:00.000Z");
  });

  const config = (backup: string, slack = "") => `
policy: { approvers: [U0A1] }
${slack}
targets:
  - name: prod
    kind: influxdb-clustered
    namespace: influxdb
    appInstance: influxdb
    catalog: { dsnEnv: PROD_CATALOG_DSN }
    snapshots: { bucket: influxdb-prod }
    ${backup}
`;

  it("refuses a schedule that is not a cron expression, naming the key", () => {
    expect(() =>
      parseConfig(config('backup: { schedule: "every hour" }', "slack: { channels: [C1] }")),
    ).toThrow(/targets\[0\]\.backup\.schedule.*cron/);
  });

  it("refuses a schedule with no channel for its card", () => {
    expect(() => parseConfig(config('backup: { schedule: "0 * * * *" }'))).toThrow(
      /backup\.channel.*set backup\.channel or slack\.channels/,
    );
    expect(
      parseConfig(config('backup: { schedule: "0 * * * *", channel: C2, retention: 7d }'))
        .targets[0]?.backup,
    ).toEqual({ schedule: "0 * * * *", channel: "C2", retention: 7 * 86_400_000 });
  });
});
