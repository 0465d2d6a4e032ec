import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/file.js";
import type { PachydermTarget } from "../../../src/kinds/pachyderm/config.js";
import { pachyderm } from "../../../src/kinds/pachyderm/index.js";

const VALID = `
policy: { approvers: [U0A1] }
slack: { channels: [C0123] }
targets:
  - name: pach-prod
    kind: pachyderm
    namespace: pachyderm
    pachd: pachd
    workerSelector: suite=pachyderm,component=worker
    databases:
      pachyderm: { dsnEnv: PACH_DB_DSN }
      dex: { dsnEnv: PACH_DEX_DSN }
    objectStore: { bucket: pachyderm-data, prefix: "", endpoint: "http://minio:9000", region: us-east-1, forcePathStyle: true }
    backups: { bucket: pachyderm-backups, prefix: restorebot/ }
    backup: { schedule: "0 * * * *", retention: 30d }
`;

function withLine(find: string, replace: string): string {
  if (!VALID.includes(find)) throw new Error(`fixture has no ${find}`);
  return VALID.replace(find, replace);
}

describe("pachyderm config", () => {
  it("parses a target with the backups' S3 settings taken from the object store", () => {
    const target = parseConfig(VALID).targets[0] as PachydermTarget;
    expect(target.kind).toBe("pachyderm");
    expect(target.backups).toEqual({
      bucket: "pachyderm-backups",
      prefix: "restorebot/",
      endpoint: "http://minio:9000",
      region: "us-east-1",
      forcePathStyle: true,
    });
    expect(target.objectStore.prefix).toBe("");
    expect(target.backup?.retention).toBe(30 * 86_400_000);
    expect(pachyderm.config.envVars(target)).toEqual(["PACH_DB_DSN", "PACH_DEX_DSN"]);
    expect(pachyderm.config.objectStore(target)).toEqual({
      endpoint: "http://minio:9000",
      region: "us-east-1",
      forcePathStyle: true,
    });
  });

  it("dex is optional", () => {
    const target = parseConfig(withLine("      dex: { dsnEnv: PACH_DEX_DSN }\n", "")).targets[0];
    expect(pachyderm.config.envVars(target as PachydermTarget)).toEqual(["PACH_DB_DSN"]);
  });

  const cases: Array<[string, string, RegExp]> = [
    [
      "a DSN instead of a variable name",
      withLine(
        "pachyderm: { dsnEnv: PACH_DB_DSN }",
        "pachyderm: { dsnEnv: 'postgres://u:p@db/pachyderm' }",
      ),
      /targets\[0\]\.databases\.pachyderm\.dsnEnv.*never the DSN itself/,
    ],
    [
      "no pachyderm database",
      withLine("      pachyderm: { dsnEnv: PACH_DB_DSN }\n", ""),
      /targets\[0\]\.databases\.pachyderm/,
    ],
    [
      "a bad worker selector",
      withLine(
        "workerSelector: suite=pachyderm,component=worker",
        "workerSelector: 'suite in (a)'",
      ),
      /targets\[0\]\.workerSelector.*label selector/,
    ],
    [
      "a bad pachd name",
      withLine("pachd: pachd", "pachd: Pachd_1"),
      /targets\[0\]\.pachd.*Kubernetes resource name/,
    ],
    [
      "an unknown key in backups",
      withLine("prefix: restorebot/ }", "prefix: restorebot/, buckets: x }"),
      /targets\[0\]\.backups/,
    ],
    [
      "backups in another S3 service",
      withLine("prefix: restorebot/ }", 'prefix: restorebot/, endpoint: "http://other:9000" }'),
      /backups\.endpoint.*same S3 service as objectStore/,
    ],
    [
      "backups inside the live bucket",
      withLine("bucket: pachyderm-backups", "bucket: pachyderm-data"),
      /backups\.bucket.*must not overlap the live object store/,
    ],
  ];
  for (const [name, text, message] of cases)
    it(`refuses ${name}, naming the key`, () => {
      expect(() => parseConfig(text)).toThrow(message);
    });

  it("the worker refuses a DSN variable that is not set, naming it", () => {
    const target = parseConfig(VALID).targets[0] as PachydermTarget;
    const problems = pachyderm.config.problems(target, {
      env: { PACH_DB_DSN: "postgres://x" },
      requireSecrets: true,
    });
    expect(problems).toEqual([
      {
        key: "databases.dex.dsnEnv",
        message:
          "environment variable PACH_DEX_DSN is not set; it must hold the PostgreSQL DSN of the dex database",
      },
    ]);
  });
});
