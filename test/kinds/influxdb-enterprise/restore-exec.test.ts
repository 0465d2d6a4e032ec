import { afterEach, describe, expect, it } from "vitest";
import type { PodWorkPort } from "../../../src/adapters/kubernetes/pod-work-port.js";
import { runInfluxdCtlRestore } from "../../../src/kinds/influxdb-enterprise/restore-exec.js";
import {
  createInfluxdCtlStandIn,
  type InfluxdCtlStandIn,
} from "../../../stand-ins/influxd-ctl/influxd-ctl.js";
import { type StepEnv, startStepEnv } from "../../steps/step-env.js";

let env: StepEnv | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

async function start(
  label: string,
): Promise<{ e: StepEnv; ctl: InfluxdCtlStandIn; manifest: string }> {
  const e = await startStepEnv(label, {
    components: [{ name: "influxdb-meta", kind: "StatefulSet", replicas: 1 }],
  });
  const ctl = createInfluxdCtlStandIn({
    databases: { telegraf: { autogen: [4] }, _internal: { monitor: [1] } },
  });
  e.sim.onExec({ pod: /^influxdb-meta-/, command: (c) => c[0] === "influxd-ctl" }, (s) => {
    const r = ctl.run([...s.command.slice(1)]);
    s.stdout.write(r.stdout);
    s.stderr.write(r.stderr);
    return r.exitCode;
  });
  ctl.mkdir("/tmp/set");
  const backup = ctl.run(["backup", "-full", "/tmp/set"]);
  expect(backup.exitCode).toBe(0);
  const manifest =
    [...ctl.files.keys()]
      .find((k) => k.endsWith(".manifest"))
      ?.split("/")
      .at(-1) ?? "";
  await e.sim.waitFor((s) =>
    s.components.some((c) => c.name === "influxdb-meta" && c.pods.some((p) => p.ready)),
  );
  return { e, ctl, manifest };
}

function ctxOf() {
  const notes: string[] = [];
  return {
    notes,
    note: (t: string) => notes.push(t),
    progress: () => {},
    signal: new AbortController().signal,
  };
}

describe("influxd-ctl restore by exec in a meta pod", () => {
  it("runs -full <manifest> with --newdb, streams the output into the thread and checks the bytes line", async () => {
    const { e, ctl, manifest } = await start("ent_restore_ok");
    env = e;
    const ctx = ctxOf();
    const outcome = await runInfluxdCtlRestore(ctx, e.deps.cluster as unknown as PodWorkPort, {
      pod: "influxdb-meta-0",
      container: "influxdb-meta",
      setDirectory: "/tmp/set",
      point: { full: true, manifest },
      options: { db: "telegraf", newdb: "telegraf_restored" },
    });
    expect(ctl.calls.at(-1)).toEqual([
      "restore",
      "-db",
      "telegraf",
      "-newdb",
      "telegraf_restored",
      "-full",
      `/tmp/set/${manifest}`,
    ]);
    expect(outcome.transferredBytes).toBeGreaterThan(0);
    expect(ctx.notes.some((n) => n.startsWith("`Restored from"))).toBe(true);
  }, 30_000);

  it("a failing restore: the tool's output is in the thread and the error names its line", async () => {
    const { e, ctl, manifest } = await start("ent_restore_fail");
    env = e;
    ctl.failNext("restore", "problem setting snapshot: database already exists");
    const ctx = ctxOf();
    await expect(
      runInfluxdCtlRestore(ctx, e.deps.cluster as unknown as PodWorkPort, {
        pod: "influxdb-meta-0",
        container: "influxdb-meta",
        setDirectory: "/tmp/set",
        point: { full: true, manifest },
        options: { db: "telegraf" },
      }),
    ).rejects.toThrow(/influxd-ctl restore exited with 1: restore: .*database already exists/);
    expect(ctx.notes.join("\n")).toContain("database already exists");
  }, 30_000);
});
