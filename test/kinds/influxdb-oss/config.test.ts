import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/file.js";
import { influxdbOss } from "../../../src/kinds/influxdb-oss/index.js";

const VALID = `policy: { approvers: [U1] }
targets:
  - name: influx1
    kind: influxdb-oss
    namespace: influxdb
    statefulset: influxdb
    backups: { bucket: influxdb-oss-backups, endpoint: http://127.0.0.1:9000 }
`;

describe("influxdb-oss target", () => {
  it("parses with DESIGN.md's defaults and the chart's PVC name", () => {
    const target = parseConfig(VALID).targets[0];
    if (target?.kind !== "influxdb-oss") throw new Error("not an influxdb-oss target");
    expect(target).toMatchObject({
      statefulset: "influxdb",
      dataDir: "/var/lib/influxdb",
      helperImage: "busybox:1.36",
      service: "influxdb:8086",
      pvc: "influxdb-data-influxdb-0",
      mountPath: "/var/lib/influxdb",
      backups: { bucket: "influxdb-oss-backups", prefix: "archives/", region: "us-east-1" },
      timeouts: { podsGone: 15 * 60_000, podsReady: 15 * 60_000 },
    });
    expect(influxdbOss.config.describe(target)).toBe(
      "archives in `s3://influxdb-oss-backups/archives/`",
    );
  });

  it.each([
    ["no statefulset", VALID.replace("    statefulset: influxdb\n", ""), /statefulset/],
    [
      "a relative dataDir",
      VALID.replace("statefulset: influxdb", "statefulset: influxdb\n    dataDir: var/lib"),
      /dataDir \(target "influx1"\): expected an absolute path such as \/var\/lib\/influxdb/,
    ],
    [
      "a service without its port",
      VALID.replace("statefulset: influxdb", "statefulset: influxdb\n    service: influxdb"),
      /service \(target "influx1"\): expected <service>:<port>, e.g. influxdb:8086/,
    ],
    [
      "an unknown key",
      VALID.replace("statefulset: influxdb", "statefulset: influxdb\n    snapshots: {}"),
      /snapshots/,
    ],
  ])("refuses %s, naming the key", (_label, text, message) => {
    expect(() => parseConfig(text)).toThrowError(message);
  });
});

describe("influxdb-oss plan", () => {
  it("says what the cluster looks like, or that it could not be read", async () => {
    const target = parseConfig(VALID).targets[0];
    if (target?.kind !== "influxdb-oss") throw new Error("not an influxdb-oss target");
    const point = {
      id: "2026-12-02T11:00:05Z",
      time: new Date("2026-12-02T11:00:05Z"),
      point: null,
    };
    const unreadable = await influxdbOss.plan({
      target,
      point,
      now: new Date(),
      cluster: () => {
        throw new Error("no kubeconfig");
      },
    });
    expect(unreadable.summary).toContain("StatefulSet influxdb: could not be read (no kubeconfig)");
    expect(unreadable.phases).toHaveLength(8);
    const live = await influxdbOss.plan({
      target,
      point,
      now: new Date(),
      cluster: () =>
        ({
          getReplicas: async () => 1,
          listPods: async () => [{ name: "influxdb-0", ready: true }],
        }) as never,
    });
    expect(live.summary).toContain("StatefulSet influxdb: 1 replica, 1 ready");
  });
});
