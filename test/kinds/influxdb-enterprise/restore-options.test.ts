import { describe, expect, it } from "vitest";
import { CodedError } from "../../../src/errors.js";
import {
  buildRestoreCommand,
  checkRestoreOutput,
  describeRestoreScope,
  parseEnterpriseRestoreOptions,
  validateAgainstSet,
} from "../../../src/kinds/influxdb-enterprise/restore-options.js";

const SET = {
  asOf: "2026-12-02T11:00:05Z",
  databases: ["_internal", "telegraf"],
  retentionPolicies: [
    { database: "_internal", retentionPolicy: "monitor" },
    { database: "telegraf", retentionPolicy: "autogen" },
  ],
};

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CodedError);
    expect((err as CodedError).code).toBe("usage");
    return (err as CodedError).message;
  }
  throw new Error("expected a refusal");
}

describe("restore options", () => {
  it.each([
    [["bad", "deploy"], {}, ["bad", "deploy"]],
    [["--db", "telegraf", "oops"], { db: "telegraf" }, ["oops"]],
    [
      ["--db", "telegraf", "--newdb", "restored_telegraf", "dropped", "by", "mistake"],
      { db: "telegraf", newdb: "restored_telegraf" },
      ["dropped", "by", "mistake"],
    ],
    [
      ["--db=telegraf", "--rp", "autogen", "--newrp=autogen_old", "x"],
      { db: "telegraf", rp: "autogen", newrp: "autogen_old" },
      ["x"],
    ],
  ])("%j", (tokens, options, rest) => {
    expect(parseEnterpriseRestoreOptions(tokens)).toEqual({ options, rest });
  });

  it("refuses --newdb without --db, --newrp without --rp, --rp without --db, each saying what to type", () => {
    expect(refusal(() => parseEnterpriseRestoreOptions(["--newdb", "copy", "why"]))).toBe(
      "--newdb needs --db to name the database to copy from; type --db <db-in-the-set> --newdb copy",
    );
    expect(
      refusal(() => parseEnterpriseRestoreOptions(["--db", "telegraf", "--newrp", "r2", "why"])),
    ).toBe(
      "--newrp needs --rp to name the retention policy to copy from; type --rp <rp-in-the-set> --newrp r2",
    );
    expect(refusal(() => parseEnterpriseRestoreOptions(["--rp", "autogen", "why"]))).toMatch(
      /--rp needs --db: a retention policy belongs to a database; type --db <db> --rp autogen/,
    );
  });

  it("refuses unknown flags, a flag without a value, and a flag given twice", () => {
    expect(refusal(() => parseEnterpriseRestoreOptions(["--shard", "4", "x"]))).toMatch(
      /^unknown option --shard; the options are --db, --newdb, --rp and --newrp: \/restore/,
    );
    expect(refusal(() => parseEnterpriseRestoreOptions(["--db"]))).toMatch(
      /^--db needs a name after it, e.g. --db telegraf/,
    );
    expect(refusal(() => parseEnterpriseRestoreOptions(["--db", "--newdb", "x"]))).toMatch(
      /^--db needs a name after it/,
    );
    expect(refusal(() => parseEnterpriseRestoreOptions(["--db", "a", "--db", "b", "x"]))).toMatch(
      /^--db is given twice; give it once/,
    );
  });

  it("refuses a database or retention policy the set does not hold, listing what it holds", () => {
    expect(refusal(() => validateAgainstSet({ db: "metrics" }, SET))).toBe(
      "the set 2026-12-02T11:00:05Z holds no database metrics; it holds _internal, telegraf. Type --db with one of those",
    );
    expect(refusal(() => validateAgainstSet({ db: "telegraf", rp: "monitor" }, SET))).toBe(
      "the set 2026-12-02T11:00:05Z holds no retention policy monitor in telegraf; it holds autogen. Type --rp with one of those",
    );
    expect(() => validateAgainstSet({ db: "telegraf", rp: "autogen" }, SET)).not.toThrow();
  });

  it("says on the card what is overwritten, and that --newdb restores beside the live data", () => {
    expect(describeRestoreScope({}, true)).toBe(
      "every database in the full set, over the live data",
    );
    expect(describeRestoreScope({ db: "telegraf" }, false)).toBe(
      "database telegraf, over the live data",
    );
    expect(describeRestoreScope({ db: "telegraf", newdb: "restored" }, false)).toBe(
      "database telegraf into the new database restored, beside the live data (nothing live is overwritten)",
    );
  });
});

describe("influxd-ctl restore command and output", () => {
  it("builds -full <manifest> for a full set and the directory for an incremental one", () => {
    expect(
      buildRestoreCommand({
        setDirectory: "/tmp/restorebot/set/",
        full: true,
        manifest: "20170131T020341Z.manifest",
        options: {},
      }),
    ).toEqual(["influxd-ctl", "restore", "-full", "/tmp/restorebot/set/20170131T020341Z.manifest"]);
    expect(
      buildRestoreCommand({
        setDirectory: "/tmp/restorebot/set",
        full: false,
        manifest: "x.manifest",
        options: { db: "telegraf", newdb: "restored_telegraf", rp: "autogen", newrp: "old" },
      }),
    ).toEqual([
      "influxd-ctl",
      "restore",
      "-db",
      "telegraf",
      "-newdb",
      "restored_telegraf",
      "-rp",
      "autogen",
      "-newrp",
      "old",
      "/tmp/restorebot/set/",
    ]);
  });

  const OK = `Using backup directory: my-incremental-backup/
Using meta backup: 20170130T231333Z.meta
Restoring meta data... Done. Restored in 8.119655ms, 1 shards mapped
Restoring db telegraf, rp autogen, shard 2 to shard 4...
Copying data to <hostname>:8088... Copying data to <hostname>:8088... Done. Restored shard 2 into shard 4 in 57.89687ms, 588800 bytes transferred
Restored from my-incremental-backup/ in 66.715524ms, transferred 588800 bytes
`;

  it("accepts status 0 with the Restored from … transferred N bytes line", () => {
    expect(checkRestoreOutput(OK, 0)).toEqual({
      transferredBytes: 588800,
      shards: [{ database: "telegraf", retentionPolicy: "autogen", from: 2, to: 4 }],
    });
  });

  it("fails on a non-zero status with the tool's error line, a missing final line, or a lost status", () => {
    const failed = `Using backup directory: my-incremental-backup/
Using meta backup: 20170130T231333Z.meta
Restoring meta data... Error.
restore: operation exited with error: problem setting snapshot: database already exists
`;
    expect(() => checkRestoreOutput(failed, 1)).toThrow(
      "influxd-ctl restore exited with 1: restore: operation exited with error: problem setting snapshot: database already exists",
    );
    expect(() => checkRestoreOutput(OK.split("\n").slice(0, 5).join("\n"), 0)).toThrow(
      'influxd-ctl restore exited with 0: no "Restored from … transferred N bytes" line',
    );
    expect(() => checkRestoreOutput(OK, undefined)).toThrow(
      "influxd-ctl restore ended without an exit status",
    );
  });
});
