import { describe, expect, it } from "vitest";
import { CodedError } from "../../../src/errors.js";
import {
  buildEnterpriseComplete,
  parseBackupOutput,
  parseEnterpriseComplete,
} from "../../../src/kinds/influxdb-enterprise/backup-set.js";

// The seed's incremental backup example, as influxd-ctl prints it.
const INCREMENTAL = `Backing up meta data... Done. 421 bytes transferred
Backing up node 7ba671c7644b:8088, db telegraf, rp autogen, shard 4... Done. Backed up in 903.539567ms, 307712 bytes transferred
Backing up node bf5a5f73bad8:8088, db _internal, rp monitor, shard 1... Done. Backed up in 138.694402ms, 53760 bytes transferred
Backing up node 9bf0fa0c302a:8088, db _internal, rp monitor, shard 2... Done. Backed up in 101.791148ms, 40448 bytes transferred
Backing up node 7ba671c7644b:8088, db _internal, rp monitor, shard 3... Done. Backed up in 144.477159ms, 39424 bytes transferred
Backed up to . in 1.293710883s, transferred 441765 bytes
`;

const SHA = "a".repeat(64);

describe("influxd-ctl backup output", () => {
  it("reads databases, retention policies and shards from the db/rp/shard lines", () => {
    const out = parseBackupOutput(INCREMENTAL);
    expect(out.databases).toEqual(["_internal", "telegraf"]);
    expect(out.retentionPolicies).toEqual([
      { database: "_internal", retentionPolicy: "monitor" },
      { database: "telegraf", retentionPolicy: "autogen" },
    ]);
    expect(out.shards.map((s) => s.shard)).toEqual([4, 1, 2, 3]);
    expect(out.shards[0]).toEqual({
      node: "7ba671c7644b:8088",
      database: "telegraf",
      retentionPolicy: "autogen",
      shard: 4,
      bytes: 307712,
    });
    expect(out).toMatchObject({ metaBytes: 421, directory: ".", totalBytes: 441765 });
  });

  it("reads the single-database example with a relative directory", () => {
    const out = parseBackupOutput(`Backing up meta data... Done. 318 bytes transferred
Backing up node 7ba671c7644b:8088, db telegraf, rp autogen, shard 4... Done. Backed up in 997.168449ms, 399872 bytes transferred
Backed up to ./telegrafbackup in 1.002358077s, transferred 400190 bytes`);
    expect(out.directory).toBe("./telegrafbackup");
    expect(out.databases).toEqual(["telegraf"]);
  });

  it("refuses output without the final line, without meta data, or whose bytes do not add up", () => {
    const cut = INCREMENTAL.split("\n").slice(0, 3).join("\n");
    expect(() => parseBackupOutput(cut)).toThrow(
      /did not print its final "Backed up to … transferred N bytes" line; the set is incomplete/,
    );
    expect(() => parseBackupOutput(INCREMENTAL.replace(/^Backing up meta.*\n/, ""))).toThrow(
      /did not report backing up the meta data/,
    );
    expect(() => parseBackupOutput(INCREMENTAL.replace("53760 bytes", "53761 bytes"))).toThrow(
      /reported 441765 bytes in all but 441766/,
    );
  });
});

describe("complete.json for a backup set", () => {
  const output = parseBackupOutput(INCREMENTAL);
  const files = [
    { name: "20160803T222310Z.manifest", size: 900, sha256: SHA },
    { name: "20160803T222310Z.meta", size: 421, sha256: SHA },
    { name: "20160803T222310Z.s4.tar.gz", size: 307712, sha256: SHA },
  ];

  it("records full or incremental, the manifest, databases, retention policies and shards", () => {
    const complete = buildEnterpriseComplete({
      target: "ent",
      asOf: "2026-12-02T11:00:05Z",
      full: false,
      files,
      output,
      restorebotVersion: "0.1.0",
    });
    expect(complete).toMatchObject({
      format: 1,
      kind: "influxdb-enterprise",
      full: false,
      manifest: "20160803T222310Z.manifest",
      databases: ["_internal", "telegraf"],
      transferredBytes: 441765,
    });
    expect(complete.shards).toContainEqual({
      id: 4,
      database: "telegraf",
      retentionPolicy: "autogen",
      bytes: 307712,
    });
    expect(parseEnterpriseComplete(JSON.stringify(complete), "sets/x/complete.json")).toEqual(
      complete,
    );
  });

  it("refuses a set without a manifest, and a point of another kind by name", () => {
    expect(() =>
      buildEnterpriseComplete({
        target: "ent",
        asOf: "2026-12-02T11:00:05Z",
        full: true,
        files: files.slice(1),
        output,
        restorebotVersion: "0.1.0",
      }),
    ).toThrow(/has no .manifest file/);
    const err = (() => {
      try {
        parseEnterpriseComplete('{"format":1,"kind":"influxdb-oss"}', "sets/x/complete.json");
      } catch (e) {
        return e as CodedError;
      }
      throw new Error("expected a refusal");
    })();
    expect(err).toBeInstanceOf(CodedError);
    expect(err.message).toMatch(
      /is a influxdb-oss point, not an influxdb-enterprise backup set; pick a point listed by \/recovery-points/,
    );
  });
});
