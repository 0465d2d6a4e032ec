import { afterEach, describe, expect, it } from "vitest";
import {
  antiEntropyState,
  rollBackAntiEntropy,
  turnAntiEntropyBack,
  turnAntiEntropyOff,
} from "../../../src/kinds/influxdb-enterprise/anti-entropy-steps.js";
import { completeEnterpriseTarget } from "../../../src/kinds/influxdb-enterprise/config.js";
import { getConfigMap } from "../../../src/steps/index.js";
import { type StepEnv, startStepEnv } from "../../steps/step-env.js";

const CONF =
  '[meta]\n  dir = "/var/lib/influxdb/meta"\n\n[anti-entropy]\n  # on in production\n  enabled = true   # keep\n  check-interval = "5m"\n';

const target = completeEnterpriseTarget({
  name: "ent",
  kind: "influxdb-enterprise",
  namespace: "influxdb",
  meta: { statefulset: "influxdb-meta" },
  data: { statefulset: "influxdb-data", configMap: "influxdb-data", configKey: "influxdb.conf" },
  backups: { bucket: "b", prefix: "sets/", region: "us-east-1", forcePathStyle: true },
} as never);

let env: StepEnv | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

async function start(label: string, conf = CONF): Promise<StepEnv> {
  const e = await startStepEnv(label, {
    components: [{ name: "influxdb-data", kind: "StatefulSet", replicas: 2 }],
  });
  e.sim.resources.putObject(
    { apiGroup: "", plural: "configmaps" },
    { metadata: { name: "influxdb-data" }, data: { "influxdb.conf": conf, other: "x" } },
  );
  return e;
}

describe("anti-entropy off and back, one data node at a time", () => {
  it("edits only the key, restarts each data node in turn, and puts the exact text back", async () => {
    env = await start("ent_ae");
    const e = env;
    const off = await e.phase(2, "anti-entropy-off");
    const original = await turnAntiEntropyOff(off, e.deps, target, 20_000);
    expect(original).toEqual({ text: CONF, wasOn: true });
    const data = await getConfigMap(e.deps, "influxdb-data");
    expect(data["influxdb.conf"]).toBe(
      CONF.replace("enabled = true   # keep", "enabled = false   # keep"),
    );
    expect(data.other).toBe("x");
    expect(e.sim.resources.deletedPods()).toEqual(["influxdb-data-0", "influxdb-data-1"]);
    expect(antiEntropyState(off.facts, ["influxdb-data-0", "influxdb-data-1"])).toContain(
      "Anti-entropy is off on influxdb-data-0, influxdb-data-1; on on no data node",
    );
    // A resumed phase restarts nothing again.
    const resumed = await e.phase(2, "anti-entropy-off");
    await turnAntiEntropyOff(resumed, e.deps, target, 20_000);
    expect(e.sim.resources.deletedPods()).toHaveLength(2);

    const back = await e.phase(6, "anti-entropy-on");
    await turnAntiEntropyBack(back, e.deps, target, original, "anti-entropy-off", 20_000);
    expect((await getConfigMap(e.deps, "influxdb-data"))["influxdb.conf"]).toBe(CONF);
    expect(e.sim.resources.deletedPods()).toHaveLength(4);
    const open = (await e.compensations.list(e.requestId)).filter((c) => c.settledAt === null);
    expect(open).toEqual([]);
  }, 60_000);

  it("leaves the nodes alone when anti-entropy is already off", async () => {
    const conf = "[anti-entropy]\nenabled = false\n";
    env = await start("ent_ae_off", conf);
    const e = env;
    const ctx = await e.phase(2, "anti-entropy-off");
    expect((await turnAntiEntropyOff(ctx, e.deps, target, 20_000)).wasOn).toBe(false);
    expect(e.sim.resources.deletedPods()).toEqual([]);
    expect(ctx.notes).toContain(
      "Anti-entropy is already off on the data nodes; none is restarted.",
    );
  }, 30_000);

  it("a data node that never becomes Ready: the phase fails with the exact per-node state; Roll back restores the setting", async () => {
    env = await start("ent_ae_stuck");
    const e = env;
    const off = await e.phase(2, "anti-entropy-off");
    const note = off.note;
    off.note = (text: string) => {
      note(text);
      // data-0 is back with anti-entropy off; data-1's replacement will never be Ready.
      if (text.includes("influxdb-data-0")) e.sim.neverReady("influxdb-data");
    };
    await expect(turnAntiEntropyOff(off, e.deps, target, 1_500)).rejects.toThrow();
    expect(antiEntropyState(off.facts, ["influxdb-data-0", "influxdb-data-1"])).toBe(
      "Anti-entropy is off on influxdb-data-0; restarted but not Ready: influxdb-data-1 (it starts with the ConfigMap's setting); on on no data node.",
    );
    e.sim.neverReady("influxdb-data", false);
    const rb = await e.phase(101, "rollback");
    await rollBackAntiEntropy(rb, e.deps, target, 20_000);
    expect((await getConfigMap(e.deps, "influxdb-data"))["influxdb.conf"]).toBe(CONF);
  }, 60_000);

  it("a halt part way: Roll back puts the exact text back and restarts the nodes", async () => {
    env = await start("ent_ae_rb");
    const e = env;
    const off = await e.phase(2, "anti-entropy-off");
    await turnAntiEntropyOff(off, e.deps, target, 20_000);
    const rb = await e.phase(101, "rollback");
    await rollBackAntiEntropy(rb, e.deps, target, 20_000);
    expect((await getConfigMap(e.deps, "influxdb-data"))["influxdb.conf"]).toBe(CONF);
    expect(e.sim.resources.deletedPods()).toHaveLength(4);
  }, 60_000);
});
