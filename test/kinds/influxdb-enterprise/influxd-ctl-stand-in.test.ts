/**
 * The influxd-ctl stand-in against restorebot's own parsing and command building: a backup is
 * read into complete.json, the options are checked against the set, and the restore command
 * restorebot builds is accepted by the stand-in.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  buildEnterpriseComplete,
  parseBackupOutput,
} from "../../../src/kinds/influxdb-enterprise/backup-set.js";
import {
  buildRestoreCommand,
  checkRestoreOutput,
  validateAgainstSet,
} from "../../../src/kinds/influxdb-enterprise/restore-options.js";
import { createInfluxdCtlStandIn } from "../../../stand-ins/influxd-ctl/influxd-ctl.js";

function cluster() {
  const ctl = createInfluxdCtlStandIn({
    databases: { telegraf: { autogen: [307712] }, _internal: { monitor: [53760, 40448] } },
    now: () => new Date("2026-12-02T11:00:05Z"),
  });
  ctl.mkdir("/tmp/restorebot/set");
  return ctl;
}

function setFiles(ctl: ReturnType<typeof cluster>, dir: string) {
  return [...ctl.files.entries()]
    .filter(([p]) => p.startsWith(`${dir}/`))
    .map(([p, bytes]) => ({
      name: p.slice(dir.length + 1),
      size: bytes.length,
      sha256: createHash("sha256").update(bytes).digest("hex"),
    }));
}

describe("influxd-ctl stand-in", () => {
  it("backs up a full set whose output restorebot reads, and restores it with -full <manifest>", () => {
    const ctl = cluster();
    const backup = ctl.run(["influxd-ctl", "backup", "-full", "/tmp/restorebot/set"]);
    expect(backup.exitCode).toBe(0);
    expect(backup.stdout).toMatch(/^Backing up meta data\.\.\. Done\. \d+ bytes transferred$/m);
    const output = parseBackupOutput(backup.stdout);
    expect(output.databases).toEqual(["_internal", "telegraf"]);
    expect(output.shards).toHaveLength(3);
    const complete = buildEnterpriseComplete({
      target: "ent",
      asOf: "2026-12-02T11:00:05Z",
      full: true,
      files: setFiles(ctl, "/tmp/restorebot/set"),
      output,
      restorebotVersion: "test",
    });
    expect(complete.manifest).toBe("20261202T110005Z.manifest");

    ctl.dropDatabase("telegraf");
    const argv = buildRestoreCommand({
      setDirectory: "/tmp/restorebot/set",
      full: true,
      manifest: complete.manifest,
      options: {},
    });
    const restored = ctl.run(argv);
    expect(restored.stderr).toBe("");
    expect(restored.stdout.split("\n")[0]).toBe(
      "Using manifest: /tmp/restorebot/set/20261202T110005Z.manifest",
    );
    const outcome = checkRestoreOutput(restored.stdout, restored.exitCode);
    expect(outcome.transferredBytes).toBe(307712 + 53760 + 40448);
    expect([...ctl.databases.keys()].sort()).toEqual(["_internal", "telegraf"]);
  });

  it("an incremental backup into the same directory copies only shards written since", () => {
    const ctl = cluster();
    expect(ctl.run(["influxd-ctl", "backup", "/tmp/restorebot/set"]).exitCode).toBe(0);
    ctl.write("telegraf", "autogen", 1000);
    const second = parseBackupOutput(
      ctl.run(["influxd-ctl", "backup", "/tmp/restorebot/set"]).stdout,
    );
    expect(second.shards.map((s) => [s.database, s.bytes])).toEqual([["telegraf", 308712]]);
  });

  it("restores one database into a new one beside the live data; over the live one it fails as the seed shows", () => {
    const ctl = cluster();
    ctl.run(["influxd-ctl", "backup", "/tmp/restorebot/set"]);
    const set = { asOf: "x", databases: ["_internal", "telegraf"], retentionPolicies: [] };
    validateAgainstSet({ db: "telegraf", newdb: "restored_telegraf" }, set);
    const beside = ctl.run(
      buildRestoreCommand({
        setDirectory: "/tmp/restorebot/set",
        full: false,
        manifest: "m.manifest",
        options: { db: "telegraf", newdb: "restored_telegraf" },
      }),
    );
    expect(checkRestoreOutput(beside.stdout, beside.exitCode).shards).toEqual([
      { database: "telegraf", retentionPolicy: "autogen", from: 1, to: 4 },
    ]);
    expect(beside.stdout).toMatch(
      /^Restored from \/tmp\/restorebot\/set\/ in \S+, transferred 307712 bytes$/m,
    );
    expect(ctl.databases.has("restored_telegraf")).toBe(true);

    const over = ctl.run(["influxd-ctl", "restore", "-db", "telegraf", "/tmp/restorebot/set/"]);
    expect(over.exitCode).toBe(1);
    expect(over.stdout).toMatch(/Restoring meta data\.\.\. Error\.\n$/);
    expect(() => checkRestoreOutput(`${over.stdout}${over.stderr}`, over.exitCode)).toThrow(
      "influxd-ctl restore exited with 1: restore: operation exited with error: problem setting snapshot: database already exists",
    );
  });

  it("checks its arguments as the seed documents them", () => {
    const ctl = cluster();
    const cases: Array<[string[], RegExp]> = [
      [["restore", "-newdb", "x", "/tmp/restorebot/set"], /must specify -db with -newdb/],
      [
        ["restore", "-db", "a", "-newrp", "x", "/tmp/restorebot/set"],
        /must specify -rp with -newrp/,
      ],
      [["backup", "-rp", "autogen", "/tmp/restorebot/set"], /must specify -db with -rp/],
      [["backup", "/tmp/missing"], /backup directory does not exist: \/tmp\/missing/],
      [["restore", "-full", "/tmp/restorebot/set/none.manifest"], /no such file or directory/],
      [["restore", "-bogus", "/x"], /flag provided but not defined: -bogus/],
      [["backup"], /backup takes exactly one argument/],
      [["show"], /unknown command "show"/],
    ];
    for (const [argv, message] of cases) {
      const r = ctl.run(["influxd-ctl", ...argv]);
      expect(r.exitCode, argv.join(" ")).toBe(1);
      expect(r.stderr).toMatch(message);
    }
  });

  it("fails a backup mid-way when told to, without the final line", () => {
    const ctl = cluster();
    ctl.failNext("backup", "dial tcp influxdb-data-0:8088: connection refused");
    const r = ctl.run([
      "influxd-ctl",
      "-bind",
      "influxdb-meta-0:8091",
      "backup",
      "/tmp/restorebot/set",
    ]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(
      "backup: operation exited with error: dial tcp influxdb-data-0:8088: connection refused\n",
    );
    expect(() => parseBackupOutput(r.stdout)).toThrow(/did not print its final/);
  });
});
