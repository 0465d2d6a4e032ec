import { afterEach, describe, expect, it } from "vitest";
import { createKubernetesCluster } from "../../src/adapters/kubernetes/kubernetes-cluster.js";
import { parseConfig } from "../../src/config/file.js";
import { demoConfigYaml } from "../../src/demo/demo-settings.js";
import { influxdbOss } from "../../src/kinds/influxdb-oss/index.js";
import {
  OSS_NAMESPACE,
  OSS_SIMULATOR,
  OSS_TARGET,
  ossTargetYaml,
  seedOssSandbox,
} from "../../src/kinds/influxdb-oss/sandbox/scenario.js";
import { kubeconfigFor, startKubernetesSimulator } from "../../stand-ins/kubernetes/index.js";
import { startS3StandIn } from "../../stand-ins/s3/server.js";
import { objectStoreFor } from "../support/s3.js";

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

describe("the sandbox's InfluxDB OSS node", () => {
  it("is a valid target with three complete archives and a node answering through the service proxy", async () => {
    const simulator = await startKubernetesSimulator(OSS_SIMULATOR);
    closers.push(() => simulator.close());
    const s3 = await startS3StandIn();
    closers.push(() => s3.close());
    const node = await seedOssSandbox({ simulator, s3, now: new Date() });
    closers.push(() => node.close());

    const config = parseConfig(
      demoConfigYaml([ossTargetYaml({ s3Endpoint: s3.endpoint, kubeContext: "influxdb-oss" })]),
    );
    const target = config.targets.find((t) => t.name === OSS_TARGET);
    if (target?.kind !== "influxdb-oss") throw new Error("no influxdb-oss target in the sandbox");
    expect(target.kubeContext).toBe("influxdb-oss");

    const source = influxdbOss.points.source(target, () => objectStoreFor(s3));
    const index = await source.listPoints();
    expect(index.points).toHaveLength(3);
    const details = await source.describePoints(index.points, index);
    expect([...details.values()].every((d) => d.complete)).toBe(true);
    const newest = index.points[0];
    if (!newest) throw new Error("no point");
    expect((await source.verifyPoint(newest)).ok).toBe(true);

    const cluster = createKubernetesCluster({
      namespace: OSS_NAMESPACE,
      kubeConfig: kubeconfigFor(simulator),
    });
    const answer = await cluster.callServiceProxy({
      service: "influxdb",
      port: 8086,
      path: "/query",
      query: { q: "SHOW DATABASES" },
    });
    expect(answer.body).toContain('["scratch"]');
  });
});
