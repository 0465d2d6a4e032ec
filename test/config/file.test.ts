import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/file.js";
import type { InfluxTarget } from "../../src/kinds/influxdb-clustered/config.js";

const VALID = `
policy:
  requesters: ["*"]
  approvers: [U0A1, U0A2]
  requiredApprovals: 1
  requestTtl: 30m
slack:
  channels: [C0123]
targets:
  - name: prod
    kind: influxdb-clustered
    namespace: influxdb
    appInstance: influxdb
    kubeContext: prod-admin
    catalog: { dsnEnv: PROD_CATALOG_DSN }
    snapshots:
      bucket: influxdb-prod
      prefix: catalog_backup_file_lists/
      endpoint: http://127.0.0.1:9000
      region: us-east-1
      forcePathStyle: true
    retention: { hourly: 30d, daily: 90d }
    timeouts: { podsGone: 15m, podsReady: 15m }
    policy: { requiredApprovals: 2 }
  - name: staging
    kind: influxdb-clustered
    namespace: influxdb-staging
    appInstance: influxdb
    catalog: { dsnEnv: STAGING_CATALOG_DSN }
    snapshots: { bucket: influxdb-staging }
`;

/** Replaces one line of the valid config (matched by its text) to make a single bad input. */
function withLine(find: string, replace: string): string {
  if (!VALID.includes(find)) throw new Error(`fixture has no ${find}`);
  return VALID.replace(find, replace);
}

describe("parseConfig: a valid file", () => {
  const config = parseConfig(VALID);

  it("parses durations to milliseconds and fills defaults", () => {
    expect(config.policy.requestTtl).toBe(30 * 60_000);
    const [prod, staging] = config.targets as InfluxTarget[];
    expect(prod?.retention).toEqual({ hourly: 30 * 86_400_000, daily: 90 * 86_400_000 });
    expect(staging?.timeouts).toEqual({ podsGone: 15 * 60_000, podsReady: 15 * 60_000 });
    expect(staging?.snapshots.prefix).toBe("catalog_backup_file_lists/");
    expect(staging?.components.catalog).toBe("iox-shared-catalog");
  });

  it("lets a target override policy key by key and inherit the rest", () => {
    const [prod, staging] = config.targets;
    expect(prod?.policy).toEqual({
      requesters: ["*"],
      approvers: ["U0A1", "U0A2"],
      requiredApprovals: 2,
      requestTtl: 1_800_000,
      backupApprovals: 0,
    });
    expect(staging?.policy.requiredApprovals).toBe(1);
  });
});

describe("parseConfig: each bad input gives its own message", () => {
  const cases: Array<[string, string, RegExp]> = [
    [
      "reserved target name",
      withLine("  - name: staging", "  - name: latest"),
      /targets\[1\]\.name: is a reserved word; choose another name \(reserved: help, plan/,
    ],
    [
      "target name with capitals",
      withLine("  - name: staging", "  - name: Staging"),
      /targets\[1\]\.name: expected a target name of lowercase letters/,
    ],
    [
      "duplicate target names",
      withLine("  - name: staging", "  - name: prod"),
      /targets\[1\]\.name: "prod" is used by two targets/,
    ],
    [
      "bad duration unit",
      withLine("requestTtl: 30m", "requestTtl: 30min"),
      /policy\.requestTtl: expected a duration \(<integer><s\|m\|h\|d>/,
    ],
    [
      "duration that is a number",
      withLine("requestTtl: 30m", "requestTtl: 30"),
      /policy\.requestTtl: expected a duration/,
    ],
    [
      "bad retention duration",
      withLine("hourly: 30d, daily: 90d", "hourly: 30d, daily: ninety"),
      /targets\[0\]\.retention\.daily \(target "prod"\): expected a duration/,
    ],
    [
      "daily retention shorter than hourly",
      withLine("hourly: 30d, daily: 90d", "hourly: 30d, daily: 7d"),
      /daily retention must be at least the hourly/,
    ],
    [
      "timeout zero",
      withLine("podsGone: 15m", "podsGone: 0s"),
      /targets\[0\]\.timeouts\.podsGone \(target "prod"\): expected a duration/,
    ],
    [
      "DSN inline instead of a variable name",
      withLine("dsnEnv: PROD_CATALOG_DSN", "dsnEnv: postgres://u:p@db/catalog"),
      /catalog\.dsnEnv \(target "prod"\): must name an environment variable that holds the DSN/,
    ],
    [
      "dsnEnv not a name",
      withLine("dsnEnv: PROD_CATALOG_DSN", "dsnEnv: 9PROD"),
      /expected an environment variable name such as PROD_CATALOG_DSN/,
    ],
    [
      "unknown kind",
      withLine(
        "    kind: influxdb-clustered\n    namespace: influxdb\n",
        "    kind: cassandra\n    namespace: influxdb\n",
      ),
      /targets\[0\]\.kind \(target "prod"\): expected one of: influxdb-clustered/,
    ],
    [
      "missing namespace",
      withLine("    namespace: influxdb-staging\n", ""),
      /targets\[1\]\.namespace \(target "staging"\): is required/,
    ],
    [
      "unknown key (typo)",
      withLine("requiredApprovals: 1", "requiredApproval: 1"),
      /policy: unknown key "requiredApproval"/,
    ],
    [
      "approvals zero",
      withLine("requiredApprovals: 1", "requiredApprovals: 0"),
      /policy\.requiredApprovals: expected a whole number of approvals, at least 1/,
    ],
    [
      "approver not a Slack id",
      withLine("approvers: [U0A1, U0A2]", "approvers: [alice]"),
      /policy\.approvers\[0\]: expected a Slack user ID/,
    ],
    [
      "no approvers at all",
      withLine("approvers: [U0A1, U0A2]", "approvers: []"),
      /no approvers are configured/,
    ],
    [
      "bad channel id",
      withLine("channels: [C0123]", "channels: [general]"),
      /slack\.channels\[0\]: expected a Slack channel ID/,
    ],
    [
      "bad bucket",
      withLine("bucket: influxdb-prod", "bucket: Influx_Prod"),
      /snapshots\.bucket \(target "prod"\): expected an S3 bucket name/,
    ],
    [
      "bad endpoint",
      withLine("endpoint: http://127.0.0.1:9000", "endpoint: 127.0.0.1:9000"),
      /snapshots\.endpoint \(target "prod"\): expected an http:\/\/ or https:\/\/ URL/,
    ],
    [
      "no targets",
      "policy: { approvers: [U1] }\ntargets: []\n",
      /targets: at least one target is required/,
    ],
    ["not YAML", "targets: [\n  - name: prod\n", /not valid YAML/],
    ["not a mapping", "- a\n- b\n", /expected a mapping with policy, slack and targets/],
  ];

  it.each(cases)("%s", (_label, text, message) => {
    expect(() => parseConfig(text)).toThrowError(message);
  });

  it("names the variable when a dsnEnv is not set and the process needs it", () => {
    expect(() =>
      parseConfig(VALID, { requireCatalogDsn: true, env: { PROD_CATALOG_DSN: "postgres://x/y" } }),
    ).toThrowError(
      /targets\[1\]\.catalog\.dsnEnv \(target "staging"\): environment variable STAGING_CATALOG_DSN is not set/,
    );
  });

  it("every message is a single line", () => {
    for (const [, text] of cases) {
      try {
        parseConfig(text);
      } catch (err) {
        expect((err as Error).message).not.toContain("\n");
      }
    }
  });
});
