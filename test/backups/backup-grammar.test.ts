import { describe, expect, it } from "vitest";
import { latestSlot, nextSlot } from "../../src/config/cron.js";
import { parseConfig } from "../../src/config/file.js";
import { enterpriseBackupOptions } from "../../src/kinds/influxdb-enterprise/options-hook.js";
import { parseBackupCommand, type SyntaxOf } from "../../src/slack/commands/grammar.js";

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

describe("/backup options of a kind (InfluxDB Enterprise: --incremental)", () => {
  const syntaxOf: SyntaxOf = (target) =>
    target === "ent"
      ? {
          backupOptions: {
            usage: enterpriseBackupOptions.usage,
            parse: (words) => enterpriseBackupOptions.parse(words, undefined as never),
          },
        }
      : {};

  it("takes a full set unless --incremental is given, the flag before the reason", () => {
    expect(parseBackupCommand("ent nightly by hand CHG-7", TARGETS, syntaxOf)).toEqual({
      ok: true,
      command: { kind: "request", target: "ent", reason: "nightly by hand CHG-7" },
    });
    expect(
      parseBackupCommand("ent --incremental nightly by hand CHG-7", TARGETS, syntaxOf),
    ).toEqual({
      ok: true,
      command: {
        kind: "request",
        target: "ent",
        reason: "nightly by hand CHG-7",
        options: { incremental: true },
      },
    });
    expect(enterpriseBackupOptions.cardLines({ incremental: true }).join(" ")).toContain(
      "Incremental set",
    );
    expect(enterpriseBackupOptions.cardLines({}).join(" ")).toContain("backup -full");
  });

  it.each([
    ["ent --incremental --incremental twice over CHG-7", "given twice"],
    ["ent --full nightly by hand CHG-7", "takes a full set unless `--incremental`"],
    ["ent --inc nightly by hand CHG-7", "the only /backup option here is `--incremental`"],
    ["ent --incremental", "A reason is mandatory"],
    ["pach --incremental nightly by hand CHG-7", "`/backup pach` takes no options"],
  ])("refuses %j, saying what to type", (text, problem) => {
    const parsed = parseBackupCommand(text, TARGETS, syntaxOf);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toContain(problem);
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
