import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClusterPort } from "../../src/adapters/kubernetes/cluster-port.js";
import { getRequest } from "../../src/approvals/request-store.js";
import { parseConfig } from "../../src/config/file.js";
import type { InfluxTarget } from "../../src/kinds/influxdb-clustered/config.js";
import { createInfluxdbClusteredRunbook } from "../../src/kinds/influxdb-clustered/runbook/runbook.js";
import { silentLogger } from "../../src/logging/logger.js";
import {
  createRunnerDatabase,
  insertApprovedRequest,
  type RunnerDatabase,
} from "./support/run-fixtures.js";

/** A Kubernetes API that accepts connections and never answers (a partition, a hung server). */
function unansweringCluster(): ClusterPort {
  const never = () => new Promise<never>(() => undefined);
  return {
    getReplicas: never,
    scale: never,
    listPods: never,
    waitForPods: never,
    getOperatorPaused: never,
    setOperatorPaused: never,
  };
}

const target = parseConfig(`
policy:
  approvers: [UAPPROVER1]
targets:
  - name: prod
    kind: influxdb-clustered
    namespace: influxdb
    appInstance: influxdb
    catalog: { dsnEnv: PROD_CATALOG_DSN }
    snapshots: { bucket: influxdb-prod }
`).targets[0] as InfluxTarget;

let db: RunnerDatabase;

beforeAll(async () => {
  db = await createRunnerDatabase("halt_account");
});

afterAll(async () => {
  await db?.close();
});

describe("the halt account", () => {
  it("is ready within its time limit when the Kubernetes API does not answer, and says what it could not read", async () => {
    const id = await insertApprovedRequest(db.pool);
    const request = await getRequest(db.pool, id);
    if (!request) throw new Error("no request");
    const runbook = createInfluxdbClusteredRunbook({
      target,
      db: db.pool,
      cluster: unansweringCluster(),
      objectStore: { head: async () => undefined, getStream: async () => undefined as never },
      catalogConnection: "postgres://unused",
      workDir: "/nonexistent",
      logger: silentLogger,
      haltReadTimeoutMs: 300,
    });
    const started = performance.now();
    const account = await runbook.describeHalt(request, []);
    // Every read shares one deadline, so the halt is not delayed by each call in turn.
    expect(performance.now() - started).toBeLessThan(3_000);
    const text = account.state.join("\n");
    expect(text).toMatch(/Operator: could not be read \(no answer from the Kubernetes API/);
    expect(text).toMatch(/iox-shared-catalog \(StatefulSet\): unknown \(no answer/);
    expect(text).toMatch(/Catalog database: untouched/);
  });
});
