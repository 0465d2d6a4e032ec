import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKubernetesCluster } from "../../src/adapters/kubernetes/kubernetes-cluster.js";
import { loadConfig } from "../../src/config/file.js";
import { dropDatabase } from "../../src/demo/demo-databases.js";
import { DEMO_CHANNEL } from "../../src/demo/demo-settings.js";
import { REHEARSAL_REFUSAL } from "../../src/demo/rehearsal.js";
import { type Sandbox, startSandbox } from "../../src/demo/sandbox.js";
import { DEFAULT_KINDS } from "../../src/kinds/registry.js";
import { silentLogger } from "../../src/logging/logger.js";
import { kubeconfigFor } from "../../stand-ins/kubernetes/index.js";
import { ADMIN_URL } from "../support/postgres.js";
import { uniqueQueuePrefix } from "../support/redis.js";

// The whole sandbox in this process, driven through the console's API: every kind with a
// sandbox scenario has its target, in a simulated cluster of its own, and answers
// /recovery-points.

const suffix = randomBytes(4).toString("hex");
const databaseName = `rb_demot_${suffix}`;
const catalogDatabaseName = `rb_demotcat_${suffix}`;
const REQUESTER = "U0DEMOREQ";
const APPROVER = "U0DEMOAPP1";

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await startSandbox({
    logger: silentLogger,
    fast: true,
    port: 0,
    postgresUrl: ADMIN_URL,
    databaseName,
    scenarioDatabaseNames: { catalog: catalogDatabaseName },
    queuePrefix: uniqueQueuePrefix("demo-targets"),
  });
}, 90_000);

afterAll(async () => {
  await sandbox?.stop();
  await dropDatabase(ADMIN_URL, databaseName).catch(() => undefined);
  await dropDatabase(ADMIN_URL, catalogDatabaseName).catch(() => undefined);
  // The other scenarios' databases take their default names, `<databaseName>_<role>`.
  for (const role of ["pachyderm", "dex"])
    await dropDatabase(ADMIN_URL, `${databaseName}_${role}`).catch(() => undefined);
});

interface StateItem {
  kind: string;
  text: string;
  blocks: unknown[];
}

async function timeline(): Promise<StateItem[]> {
  const response = await fetch(new URL(`/api/state?user=${REQUESTER}`, sandbox.consoleUrl));
  expect(response.status).toBe(200);
  return ((await response.json()) as { slack: { timeline: StateItem[] } }).slack.timeline;
}

/** Polls the console until an ephemeral matches `text`: the bot answers after its ack. */
async function ephemeralWith(text: RegExp): Promise<string> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const ephemerals = (await timeline())
      .filter((i) => i.kind === "ephemeral")
      .map((i) => JSON.stringify(i));
    const found = ephemerals.find((i) => text.test(i));
    if (found) return found;
    if (Date.now() > deadline)
      throw new Error(
        `no ephemeral matching ${text}; the last: ${ephemerals.at(-1)?.slice(0, 1500)}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("the sandbox with every kind's scenario", () => {
  it("has one target per kind with a sandbox scenario, each in its own simulated cluster", async () => {
    const kinds = DEFAULT_KINDS.all.filter((k) => k.sandbox).map((k) => k.id);
    expect(kinds).toEqual(
      expect.arrayContaining([
        "influxdb-clustered",
        "influxdb-oss",
        "influxdb-enterprise",
        "stackstate",
        "pachyderm",
      ]),
    );
    expect(sandbox.targets.map((t) => t.kind)).toEqual(kinds);
    expect(Object.keys(sandbox.simulators)).toEqual(kinds);
    // The console shows the first scenario's cluster.
    expect(sandbox.simulator).toBe(sandbox.simulators[kinds[0] as string]);

    const configPath = process.env.RESTOREBOT_CONFIG as string;
    const config = await loadConfig(configPath);
    for (const target of sandbox.targets) {
      // With several targets a bare /recovery-points asks which: the ready lines name theirs.
      expect(target.ready.join("\n")).toContain(`/recovery-points ${target.name}`);
      const configured = config.targets.find((t) => t.name === target.name);
      expect(configured?.kind).toBe(target.kind);
      expect(configured?.kubeContext).toBe(target.kind);
      // The target's context reaches its own simulator: its namespace and workloads.
      const simulator = sandbox.simulators[target.kind];
      if (!simulator || !configured) throw new Error(`no simulator for ${target.kind}`);
      const cluster = createKubernetesCluster({
        namespace: configured.namespace,
        kubeConfig: kubeconfigFor(sandbox.simulators, { currentContext: target.kind }),
      });
      const workload = simulator.snapshot().components[0];
      if (!workload) throw new Error(`no workload in ${target.kind}'s cluster`);
      expect(await cluster.getReplicas(workload.kind, workload.name)).toBe(workload.specReplicas);
    }
  });

  it("answers /recovery-points for each target", async () => {
    for (const target of sandbox.targets) {
      const response = await fetch(new URL("/api/command", sandbox.consoleUrl), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user: REQUESTER, text: `/recovery-points ${target.name}` }),
      });
      expect(response.status).toBe(200);
      // A kind's listing is headed "Recovery points · <target>" or "Recovery points of `<target>`".
      const listing = await ephemeralWith(
        new RegExp(`Recovery points (· ${target.name}\\b|of \`${target.name}\`)`),
      );
      expect(listing, target.name).not.toContain("could not");
    }
  });

  it("ent: the InfluxDB Enterprise cluster's backup sets are listed and verify, the meta pod answers influxd-ctl", async () => {
    const ent = sandbox.targets.find((t) => t.kind === "influxdb-enterprise");
    if (!ent) throw new Error("no influxdb-enterprise target in the sandbox");
    const sets = (ent.details as { sets: Array<{ asOf: string; full: boolean }> }).sets;
    expect(sets.map((s) => s.full)).toEqual([true, true, false, false]);
    const post = (text: string) =>
      fetch(new URL("/api/command", sandbox.consoleUrl), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user: REQUESTER, text }),
      });
    expect((await post(`/recovery-points ${ent.name}`)).status).toBe(200);
    const listing = await ephemeralWith(
      new RegExp(`Recovery points (· ${ent.name}\\b|of \`${ent.name}\`)`),
    );
    for (const set of sets) expect(listing).toContain(set.asOf.slice(0, 16));
    const newest = sets.at(-1)?.asOf as string;
    expect((await post(`/recovery-points verify ${ent.name} ${newest}`)).status).toBe(200);
    const verified = await ephemeralWith(new RegExp(`${newest} is restorable`));
    expect(verified).not.toContain("could not");
    // The meta pod hosts the influxd-ctl stand-in: a backup in it runs as in a real one.
    const simulator = sandbox.simulators["influxdb-enterprise"];
    const cluster = createKubernetesCluster({
      namespace: "influxdb-enterprise",
      kubeConfig: kubeconfigFor(sandbox.simulators, { currentContext: "influxdb-enterprise" }),
    });
    expect(simulator?.snapshot().components.map((c) => c.name)).toEqual([
      "influxdb-meta",
      "influxdb-data",
    ]);
    let out = "";
    const r = await cluster.execInPod({
      pod: "influxdb-meta-0",
      container: "influxdb-meta",
      command: ["influxd-ctl", "backup", "-full", "/tmp"],
      onStdout: (c) => {
        out += c.toString();
      },
      onStderr: (c) => {
        out += c.toString();
      },
    });
    expect(r.exitCode).toBe(0);
    expect(out).toMatch(/Backed up to \/tmp in .*, transferred \d+ bytes/);
    expect(out).toContain("db scratch, rp autogen");
  });

  it("rehearses a failure: switched on, a backup halts at its first scale in the rehearsal's words; lifted, Roll back starts the node again", async () => {
    const post = async (path: string, body: Record<string, unknown>) => {
      const response = await fetch(new URL(path, sandbox.consoleUrl), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return { status: response.status, json: (await response.json()) as Record<string, unknown> };
    };
    const rehearsal = async () => {
      const response = await fetch(new URL(`/api/state?user=${APPROVER}`, sandbox.consoleUrl));
      return ((await response.json()) as { rehearsal: { label: string; armed: boolean } })
        .rehearsal;
    };
    const oss = sandbox.simulators["influxdb-oss"];
    const target = sandbox.targets.find((t) => t.kind === "influxdb-oss");
    if (!oss || !target) throw new Error("no influxdb-oss target in the sandbox");
    const replicas = () =>
      oss.snapshot().components.find((c) => c.name === "influxdb")?.specReplicas;

    // Bad input: a clear answer, and nothing switched.
    const bad = await post("/api/rehearsal", { user: APPROVER, armed: "yes" });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/"armed" must be true .* or false/);
    expect((await rehearsal()).armed).toBe(false);

    expect((await post("/api/rehearsal", { user: APPROVER, armed: true })).json).toEqual({
      ok: true,
      armed: true,
    });
    expect(await rehearsal()).toMatchObject({
      label: expect.stringMatching(/refuses every scale/),
      armed: true,
    });

    await post("/api/command", {
      user: APPROVER,
      text: `/backup ${target.name} INC-9 rehearse a halt`,
    });
    const haltMessage = await sandbox.fake.waitForMessage(
      DEMO_CHANNEL.id,
      (m) => /Backup stopped at phase 1\/4/.test(m.text ?? ""),
      { timeoutMs: 30_000 },
    );
    expect(haltMessage.text).toContain(REHEARSAL_REFUSAL);
    expect(haltMessage.text).toContain("Roll back deletes the helper pod; after that, it will");
    // Refused, so never scaled: the node still runs.
    expect(replicas()).toBe(1);

    expect((await post("/api/rehearsal", { user: APPROVER, armed: false })).json.armed).toBe(false);
    const controls = (
      haltMessage.blocks as Array<{
        type: string;
        block_id?: string;
        elements?: Array<{ action_id: string; value: string }>;
      }>
    ).find((b) => b.block_id?.startsWith("run_controls:"));
    const rollback = controls?.elements?.find((e) => e.action_id === "run_control_rollback");
    if (!controls?.block_id || !rollback)
      throw new Error("the halt message has no Roll back button");
    const click = await post("/api/action", {
      user: APPROVER,
      messageTs: haltMessage.ts,
      actionId: rollback.action_id,
      value: rollback.value,
      blockId: controls.block_id,
    });
    expect(click.status).toBe(200);
    const closing = await sandbox.fake.waitForMessage(
      DEMO_CHANNEL.id,
      (m) => m.threadTs === haltMessage.threadTs && /Rolled back/.test(m.text ?? ""),
      { timeoutMs: 30_000 },
    );
    const pressed = sandbox.fake
      .messages(DEMO_CHANNEL.id)
      .find((m) => m.threadTs === haltMessage.threadTs && /pressed \*Roll back\*/.test(m.text));
    // A backup's words: no data directories were moved by a backup.
    expect(pressed?.text).toContain("the helper pod is deleted and InfluxDB is scaled back");
    expect(pressed?.text).not.toContain("old data directories");
    // The closing lines say what Roll back did, never what the backup would have stored.
    expect(closing.text).toContain(
      "*Rolled back influx1* after the backup stopped: undone: scale StatefulSet influxdb back to 1.",
    );
    expect(closing.text).not.toMatch(/stored as point|undefined/);
    expect(replicas()).toBe(1);
  }, 90_000);
});
