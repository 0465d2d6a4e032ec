import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKubernetesCluster } from "../../../src/adapters/kubernetes/kubernetes-cluster.js";
import {
  ENT_BUCKET,
  ENT_CONFIG,
  ENT_NAMESPACE,
  ENT_SIMULATOR,
  type EnterpriseSandbox,
  seedEnterpriseSandbox,
} from "../../../src/kinds/influxdb-enterprise/sandbox/scenario.js";
import { getConfigMap } from "../../../src/steps/index.js";
import {
  type KubernetesSimulator,
  kubeconfigFor,
  startKubernetesSimulator,
} from "../../../stand-ins/kubernetes/index.js";
import { standInObjectStore } from "../../../stand-ins/s3/sdk-store.js";
import { type S3StandIn, startS3StandIn } from "../../../stand-ins/s3/server.js";
import type { SlackSendResult } from "../../../stand-ins/slack/signer.js";
import { answerTo, type BotHarness, startBotHarness } from "../../support/bot-harness.js";

/**
 * The influxdb-enterprise kind through the real bot, approvals, queue, worker, runner and
 * narration, against the sandbox's cluster (simulator, influxd-ctl stand-in in the meta pod)
 * and its sets in the S3 stand-in: `/restore ent <set> --db --newdb`, the card, the two-person
 * rule, the run narrated phase by phase; refusals that change nothing; `/backup ent`.
 */

const CHANNEL = "CENT";
const REQUESTER = "UREQ1";
const APPROVER = "UAPP1";
/** A folder of another kind's target copied under this target's prefix. */
const FOREIGN = "2026-11-01T00:00:00Z";

describe("InfluxDB Enterprise through the chat flow", () => {
  let h: BotHarness;
  let s3: S3StandIn;
  let sim: KubernetesSimulator;
  let ent: EnterpriseSandbox;
  let cluster: ReturnType<typeof createKubernetesCluster>;

  beforeAll(async () => {
    s3 = await startS3StandIn({ buckets: [] });
    sim = await startKubernetesSimulator({
      ...ENT_SIMULATOR,
      timing: { startDelayMs: 10, readyDelayMs: 20, terminationDelayMs: 30 },
    });
    ent = await seedEnterpriseSandbox({ simulator: sim, s3, now: new Date() });
    s3.putObjectDirect(ENT_BUCKET, `sets/${FOREIGN}/influxdb.tar`, "x");
    s3.putObjectDirect(
      ENT_BUCKET,
      `sets/${FOREIGN}/complete.json`,
      JSON.stringify({
        format: 1,
        kind: "influxdb-oss",
        target: "influx1",
        asOf: FOREIGN,
        files: [
          {
            name: "influxdb.tar",
            size: 1,
            sha256: "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881",
          },
        ],
        restorebotVersion: "0.1.0",
      }),
    );
    await sim.waitFor((s) =>
      s.components.every((c) => c.pods.filter((p) => p.ready).length === c.specReplicas),
    );
    const store = standInObjectStore(s3);
    cluster = createKubernetesCluster({ namespace: ENT_NAMESPACE, kubeConfig: kubeconfigFor(sim) });
    h = await startBotHarness({
      configYaml: `
policy:
  requesters: ["*"]
  approvers: [${REQUESTER}, ${APPROVER}]
  requiredApprovals: 1
targets:
  - name: ent
    kind: influxdb-enterprise
    namespace: ${ENT_NAMESPACE}
    backups: { bucket: ${ENT_BUCKET}, prefix: sets/, endpoint: ${s3.endpoint}, forcePathStyle: true }
    timeouts: { podsGone: 30s, podsReady: 30s }
`,
      objectStoreFor: () => store,
      worker: { objectStoreFor: () => store, clusterFor: () => cluster },
    });
  }, 60_000);

  afterAll(async () => {
    await h?.close();
    await ent?.close();
    await sim?.close();
    await s3?.close();
  });

  /** The refusal in the ack, or else the answer posted to the response URL (text and blocks). */
  async function answer(res: SlackSendResult): Promise<string> {
    const { text, blocks } = await answerTo(h, res);
    return `${text}\n${blocks}`;
  }

  const command = (name: string, text: string, userId = REQUESTER) =>
    h.sender.slashCommand({ command: name, text, userId, channelId: CHANNEL });

  const thread = () =>
    h.fake
      .messages(CHANNEL)
      .map((m) => m.text)
      .join("\n");

  async function requestCount(): Promise<number> {
    const { rows } = await h.runtime.pool.query("SELECT count(*)::int AS n FROM restore_requests");
    return rows[0]?.n as number;
  }

  /** Polls the request's state until it ends. */
  async function finished(id: string, state: "succeeded"): Promise<void> {
    const stateOf = async () =>
      (await h.runtime.pool.query("SELECT state FROM restore_requests WHERE id = $1", [id])).rows[0]
        ?.state as string | undefined;
    const deadline = Date.now() + 45_000;
    for (;;) {
      const now = await stateOf();
      if (now === state) return;
      if (now === "halted" || now === "failed" || Date.now() > deadline)
        throw new Error(`${id} is ${now}, not ${state}\n${thread()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it("lists the sets: full and incremental, what each holds, kept by restorebot's retention", async () => {
    const text = await answer(await command("/recovery-points", "ent"));
    for (const set of ent.sets) expect(text).toContain(set.asOf.slice(0, 16));
    expect(text).toMatch(/full set of \S+: [^(]*telegraf\.autogen \(\d+ shards/);
    expect(text).toMatch(/incremental set of \S+: [^(]*telegraf\.autogen \(\d+ shards/);
    // restorebot's own backups: no hourly/daily cadence, no garbage collector, no catalog files.
    expect(text).toContain("kept until removed (no `backup.retention`)");
    expect(text).not.toMatch(/hourly|daily|garbage collector|bloom\.bin|pg_dump|Parquet|snapshot/);
    // The foreign folder (another kind's complete.json) is listed as not restorable, and why.
    expect(text).toContain("is a influxdb-oss point, not an influxdb-enterprise backup set");
  });

  it("/restore --db telegraf --newdb: the card says it restores beside the live data; the requester cannot approve; a second person does; every phase and influxd-ctl's output in the thread", async () => {
    const newest = ent.sets.at(-1)?.asOf as string;
    const text = await answer(
      await command(
        "/restore",
        `ent ${newest} --db telegraf --newdb telegraf_restored points lost in a bad deploy INC-104`,
      ),
    );
    const id = /rb-[a-z0-9]{8}/.exec(text)?.[0];
    if (!id || !text.startsWith("Requested")) throw new Error(`request refused: ${text}`);
    const card = await h.fake.waitForMessage(CHANNEL, (m) => m.text.includes(id));
    const blocks = JSON.stringify(card.blocks);
    expect(blocks).toContain("beside the live data");
    expect(blocks).toContain("telegraf_restored");
    expect(blocks).toContain("Incremental backup set");
    // Nothing live is overwritten: no data loss, and the cluster is never taken down as a whole.
    expect(blocks).toContain(
      "*No data loss:* it restores beside the live data and overwrites nothing live.",
    );
    expect(blocks).toContain(
      "*Replaces:* nothing live — database telegraf into the new database telegraf_restored, beside the live data (nothing live is overwritten)",
    );
    expect(blocks).toContain("*Downtime:* The cluster stays up");
    expect(blocks).toContain(`*Backup set*\\n\`${newest}\``);
    expect(blocks).toContain(
      `This restores, on ent, database telegraf into the new database telegraf_restored, beside the live data (nothing live is overwritten), from the set of`,
    );
    expect(blocks).not.toMatch(/catalog|Snapshot|bloom|pg_dump|takes ent down/);

    const self = await answer(
      await h.sender.clickButton({
        userId: REQUESTER,
        channelId: CHANNEL,
        messageTs: card.ts,
        actionId: "request_approve",
      }),
    );
    expect(self).toContain("a second person must approve");
    const { rows } = await h.runtime.pool.query(
      "SELECT state, options FROM restore_requests WHERE id = $1",
      [id],
    );
    expect(rows[0]).toEqual({
      state: "pending",
      options: { db: "telegraf", newdb: "telegraf_restored" },
    });
    expect(ent.ctl.databases.has("telegraf_restored")).toBe(false);

    await h.sender.clickButton({
      userId: APPROVER,
      channelId: CHANNEL,
      messageTs: card.ts,
      actionId: "request_approve",
    });
    await finished(id, "succeeded");
    const final = await h.fake.waitForMessage(
      CHANNEL,
      (m) => m.text.startsWith(":tada: Restored"),
      {
        timeoutMs: 15_000,
        label: "the final message",
      },
    );
    expect(final.text).toContain("from the incremental set of");
    expect(final.text).toMatch(/influxd-ctl restore transferred \d+ bytes/);
    const said = thread();
    expect(said).toContain("Anti-entropy is off on influxdb-data-0");
    expect(said).toContain(
      "Running `influxd-ctl restore -db telegraf -newdb telegraf_restored /tmp/restorebot-",
    );
    expect(said).toMatch(
      /Restored from \/tmp\/restorebot-rb-[a-z0-9]+\/ in .*, transferred \d+ bytes/,
    );
    expect(said).toContain("anti-entropy back on every data node");
    expect(ent.ctl.databases.has("telegraf_restored")).toBe(true);
    expect(ent.ctl.databases.has("scratch")).toBe(true);
    expect((await getConfigMap({ cluster } as never, "influxdb-data"))["influxdb.conf"]).toBe(
      ENT_CONFIG,
    );
    const status = await answer(await command("/restore", `status ${id}`));
    expect(status).toContain("beside the live data");
  }, 90_000);

  it.each([
    [
      "a point of another kind's target",
      `ent ${FOREIGN} telegraf was dropped by mistake INC-105`,
      "is a influxdb-oss point, not an influxdb-enterprise backup set",
    ],
    [
      "--newdb without --db",
      "ent latest --newdb copy telegraf was dropped by mistake INC-105",
      "--newdb",
    ],
    [
      "a database not in the set",
      "ent latest --db nosuchdb telegraf was dropped by mistake INC-105",
      "nosuchdb",
    ],
  ])("refuses %s with a clear answer, recording nothing", async (_name, text, problem) => {
    const before = await requestCount();
    const databases = [...ent.ctl.databases.keys()].sort();
    const reply = await answer(await command("/restore", text));
    expect(reply).toContain(problem);
    expect(reply).not.toMatch(/^Requested/);
    expect(await requestCount()).toBe(before);
    expect([...ent.ctl.databases.keys()].sort()).toEqual(databases);
  });

  it("/backup ent takes a full set and /backup ent --incremental an incremental one, each listed complete", async () => {
    for (const [args, kind] of [
      ["before the upgrade CHG-9", "Full"],
      ["--incremental before the upgrade CHG-10", "Incremental"],
    ] as const) {
      const reply = await answer(await command("/backup", `ent ${args}`));
      const id = /rb-[a-z0-9]{8}/.exec(reply)?.[0];
      if (!id || !reply.startsWith("Started")) throw new Error(`backup refused: ${reply}`);
      await finished(id, "succeeded");
      const done = await h.fake.waitForMessage(
        CHANNEL,
        (m) => m.text.startsWith(`:tada: ${kind} backup set`),
        { timeoutMs: 15_000, label: `the end of the ${kind} backup` },
      );
      const asOf = /backup set (\S+) uploaded/.exec(done.text)?.[1] as string;
      const listing = await answer(await command("/recovery-points", "ent"));
      expect(listing).toContain(asOf.slice(0, 16));
      const res = await command("/recovery-points", `verify ent ${asOf}`);
      const verdict = await h.fake.waitForResponse(
        (r) => r.responseUrlId === res.responseUrlId && /is restorable/.test(r.body.text ?? ""),
        { timeoutMs: 15_000, label: `the verdict on ${asOf}` },
      );
      expect(verdict.body.text).toContain(`${asOf} is restorable`);
      // What verifySet did, in its words: complete.json, every file's size, every file read.
      const checks = JSON.stringify(verdict.body.blocks);
      expect(checks).toMatch(/\*Complete:\* complete\.json is present and lists \d+ files?/);
      expect(checks).toMatch(
        /\*Files:\* all \d+ files? present with the sizes complete\.json records/,
      );
      expect(checks).toContain("*Contents:* every file read to its end");
      expect(checks).not.toMatch(/bloom|pg_dump|Parquet|Catalog/);
    }
  }, 90_000);

  it("/backup ent halts, not hangs, when the object store refuses a file mid-set: the exec's output is held back and the failure ends it", async () => {
    // Every upload of the set's files fails: the first file's refusal stops the tar reader
    // while the meta pod's tar is still streaming the rest into it.
    const completes = () =>
      s3.listKeys(ENT_BUCKET).filter((k) => k.endsWith("/complete.json")).length;
    const before = completes();
    s3.failNext({
      op: "PutObject",
      bucket: ENT_BUCKET,
      status: 403,
      code: "AccessDenied",
      count: 1_000,
    });
    s3.failNext({
      op: "CreateMultipartUpload",
      bucket: ENT_BUCKET,
      status: 403,
      code: "AccessDenied",
      count: 1_000,
    });
    try {
      const reply = await answer(await command("/backup", "ent before the upgrade CHG-11"));
      const id = /rb-[a-z0-9]{8}/.exec(reply)?.[0];
      if (!id || !reply.startsWith("Started")) throw new Error(`backup refused: ${reply}`);
      const halt = await h.fake
        .waitForMessage(CHANNEL, (m) => /Backup stopped at phase/.test(m.text), {
          timeoutMs: 30_000,
          label: "the halt of the refused backup",
        })
        .catch((err) => {
          // What the thread says, to see where the run stands.
          throw new Error(`${err}\n${thread().slice(-1500)}`);
        });
      expect(halt.text).toMatch(/AccessDenied|denied|403/i);
      // No complete.json: the set is never offered for a restore.
      expect(completes()).toBe(before);
    } finally {
      s3.clearFaults();
    }
  }, 60_000);
});
