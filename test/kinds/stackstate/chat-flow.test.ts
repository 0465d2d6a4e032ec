import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKubernetesCluster } from "../../../src/adapters/kubernetes/kubernetes-cluster.js";
import {
  STS_NAMESPACE,
  startStackStateSandbox,
} from "../../../src/kinds/stackstate/sandbox/scenario.js";
import {
  type KubernetesSimulator,
  kubeconfigFor,
  writeKubeconfig,
} from "../../../stand-ins/kubernetes/index.js";
import { standInObjectStore } from "../../../stand-ins/s3/sdk-store.js";
import { type S3StandIn, startS3StandIn } from "../../../stand-ins/s3/server.js";
import type { SlackSendResult } from "../../../stand-ins/slack/signer.js";
import { answerTo, type BotHarness, startBotHarness } from "../../support/bot-harness.js";

/**
 * The StackState kind through the real bot, approvals, queue, worker, runner and narration:
 * `/recovery-points --store`, `/restore … --force`, the card, the run, `/restore status`.
 */

const CHANNEL = "CSTS";
const REQUESTER = "UREQ1";
const APPROVER = "UAPP1";

describe("StackState through the chat flow", () => {
  let h: BotHarness;
  let s3: S3StandIn;
  let sts: Awaited<ReturnType<typeof startStackStateSandbox>>;
  let sim: KubernetesSimulator;

  beforeAll(async () => {
    s3 = await startS3StandIn({ buckets: [] });
    sts = await startStackStateSandbox({
      s3,
      timing: { startDelayMs: 10, readyDelayMs: 20, terminationDelayMs: 30 },
      now: new Date(),
    });
    sim = sts.simulator;
    const kubeconfig = await writeKubeconfig(sim);
    const store = standInObjectStore(s3);
    const cluster = createKubernetesCluster({
      namespace: STS_NAMESPACE,
      kubeConfig: kubeconfigFor(sim),
    });
    h = await startBotHarness({
      configYaml: `
policy:
  approvers: [${APPROVER}]
targets:
  - name: sts
    kind: stackstate
    namespace: ${STS_NAMESPACE}
    backupStore: { endpoint: ${s3.endpoint} }
    timeouts: { podsGone: 30s, podsReady: 30s }
    stores:
      stackgraph: {}
      metrics: {}
      clickhouse: {}
      elasticsearch: {}
`,
      env: { KUBECONFIG: kubeconfig },
      objectStoreFor: () => store,
      worker: { objectStoreFor: () => store, clusterFor: () => cluster },
    });
  }, 60_000);

  afterAll(async () => {
    await h?.close();
    await sts?.close();
    await s3?.close();
  });

  const answer = async (res: SlackSendResult) => (await answerTo(h, res, { inAck: false })).text;

  const command = (name: string, text: string) =>
    h.sender.slashCommand({ command: name, text, userId: REQUESTER, channelId: CHANNEL });

  it("lists every store with its newest point and RPO, and one store with --store", async () => {
    const all = await answer(await command("/recovery-points", "sts"));
    for (const store of ["stackgraph", "metrics", "clickhouse", "elasticsearch"])
      expect(all).toContain(`*${store}*`);
    expect(all).toContain("RPO");
    // The chart's retention is not in restorebot.yaml: expiry is unknown, never guessed.
    expect(all).toContain("*Expiry:* unknown");
    expect(all).not.toMatch(/kept until|expires in|garbage collector|hourly|daily/);
    const one = await answer(await command("/recovery-points", "sts --store clickhouse --limit 2"));
    expect(one).toContain("*clickhouse*");
    expect(one).not.toContain("*stackgraph*");
    expect(one).toContain("older not shown");
  });

  it("requests a --force StackGraph restore: the card warns in bold, the run restores and scales back, status shows the option", async () => {
    const text = await answer(
      await command(
        "/restore",
        "sts stackgraph:latest --force topology wiped by a bad sync INC-77",
      ),
    );
    const id = /rb-[a-z0-9]{8}/.exec(text)?.[0];
    if (!id || !text.startsWith("Requested")) throw new Error(`request refused: ${text}`);
    const card = await h.fake.waitForMessage(CHANNEL, (m) => m.text.includes(id));
    const cardText = JSON.stringify(card.blocks);
    expect(cardText).toContain("existing StackGraph data is overwritten");
    // The card speaks of StackGraph: what stops, what is replaced, what is lost.
    expect(cardText).toContain(
      "*Downtime:* The Deployments labelled stackstate.com/connects-to-stackgraph=true",
    );
    expect(cardText).toContain("*Backup*\\n`stackgraph:sts-backup-");
    expect(cardText).toMatch(/Data loss:\* topology changes in StackGraph after .* will be lost/);
    expect(cardText).toContain(
      "*Replaces:* its StackGraph graph with the backup `stackgraph:sts-backup-",
    );
    expect(cardText).toContain("overwriting the graph's existing data (--force)");
    expect(cardText).not.toMatch(/catalog|Snapshot|bloom|pg_dump/);
    const { rows } = await h.runtime.pool.query(
      "SELECT options FROM restore_requests WHERE id = $1",
      [id],
    );
    expect(rows[0]?.options).toEqual({ force: true });
    await h.sender.clickButton({
      userId: APPROVER,
      channelId: CHANNEL,
      messageTs: card.ts,
      actionId: "request_approve",
    });
    await h.fake
      .waitForMessage(CHANNEL, (m) => m.text.includes(":tada:") && m.text.includes("restored in"), {
        timeoutMs: 30_000,
        label: "the end of the run",
      })
      .catch((err) => {
        throw new Error(
          `${(err as Error).message}\n${h.fake
            .messages(CHANNEL)
            .map((m) => m.text)
            .join("\n---\n")}`,
        );
      });
    const thread = h.fake
      .messages(CHANNEL)
      .map((m) => m.text)
      .join("\n");
    expect(thread).toContain("Importing StackGraph data");
    expect(sim.snapshot().components.find((c) => c.name === "stackstate-api")?.specReplicas).toBe(
      2,
    );
    const status = await answer(await command("/restore", `status ${id}`));
    expect(status).toContain("stackgraph:sts-backup-");
    expect(status).toContain("existing StackGraph data is overwritten");
  }, 60_000);

  it("words each store's card for that store: what stops, what is replaced and lost; never InfluxDB's catalog", async () => {
    const cases = [
      {
        point: "metrics:latest",
        stops: "*Downtime:* The StatefulSet of Victoria Metrics instance victoria-metrics-",
        replaces: "*Replaces:* the data of Victoria Metrics instance `victoria-metrics-",
        lost: /Data loss:\* metrics written to Victoria Metrics instance `victoria-metrics-\d` after/,
      },
      {
        point: "clickhouse:latest",
        stops: "*Downtime:* The OpenTelemetry collector StatefulSet is scaled to 0",
        replaces:
          "*Replaces:* every table of ClickHouse's `otel` database (the chart's restore always overrides them all) with the backup `clickhouse:",
        lost: /Data loss:\* data written to ClickHouse's `otel` database after/,
      },
      {
        point: "elasticsearch:latest",
        stops: "*Downtime:* The indexer Deployments are scaled to 0",
        replaces: "*Replaces:* 2 indices (deleted first) with those of snapshot `elasticsearch:",
        lost: /Data loss:\* events written to the 2 indices restored after/,
      },
    ];
    for (const c of cases) {
      const text = await answer(await command("/restore", `sts ${c.point} store wording INC-80`));
      const id = /rb-[a-z0-9]{8}/.exec(text)?.[0];
      if (!id || !text.startsWith("Requested")) throw new Error(`request refused: ${text}`);
      const card = await h.fake.waitForMessage(CHANNEL, (m) => m.text.includes(id));
      const blocks = JSON.stringify(card.blocks);
      expect(blocks, c.point).toContain(c.stops);
      expect(blocks, c.point).toContain(c.replaces);
      expect(blocks, c.point).toMatch(c.lost);
      expect(blocks, c.point).toMatch(
        new RegExp(
          `This restores \`${c.point.split(":")[0]}:[^\`]+\` into sts, stopping what writes to its ${c.point.split(":")[0]} store until then \\(the card says what\\): `,
        ),
      );
      expect(blocks, c.point).not.toMatch(/catalog|Snapshot\*|bloom|pg_dump|takes sts down/);
      expect(await answer(await command("/restore", `cancel ${id}`))).toContain(id);
      await h.fake.waitForMessage(CHANNEL, (m) => m.text.includes(id) && /cancel/i.test(m.text), {
        timeoutMs: 15_000,
      });
    }
  }, 60_000);

  it("verifies one point by name: the ClickHouse chain present and readable", async () => {
    const res = await command("/recovery-points", "verify sts clickhouse:latest");
    const text = await answer(res);
    expect(text).toContain("is complete and readable");
    expect(text).toContain("clickhouse:full_");
    const missing = await answer(
      await command("/recovery-points", "verify sts stackgraph:nope.graph"),
    );
    expect(missing).toContain("is not in the stackgraph store");
    expect(missing).toContain("/recovery-points sts --store stackgraph");
  });

  it("refuses --force on a store it does not apply to, saying what to do; nothing is recorded", async () => {
    const text = await answer(
      await command("/restore", "sts metrics:latest --force metrics lost INC-78"),
    );
    expect(text).toContain("`--force` applies to StackGraph restores only");
    const { rows } = await h.runtime.pool.query(
      "SELECT count(*)::int AS n FROM restore_requests WHERE reason = 'metrics lost INC-78'",
    );
    expect(rows[0]?.n).toBe(0);
  });

  it("requests through the form: a store's Restore… button, the point editable, --indices and --force typed as options", async () => {
    const listed = await command("/recovery-points", "sts");
    const response = await h.fake.waitForResponse((r) => r.responseUrlId === listed.responseUrlId, {
      timeoutMs: 15_000,
      label: "the listing",
    });
    // Each store's part carries a button on its newest restorable point.
    const buttons = new Map<string, string>();
    for (const block of (response.body.blocks ?? []) as Array<{
      accessory?: { action_id?: string; value?: string };
    }>) {
      if (block.accessory?.action_id !== "restore_point_open") continue;
      const value = JSON.parse(block.accessory.value ?? "{}") as { target: string; point: string };
      expect(value.target).toBe("sts");
      buttons.set(value.point.split(":")[0]!, block.accessory.value!);
    }
    expect([...buttons.keys()].sort()).toEqual([
      "clickhouse",
      "elasticsearch",
      "metrics",
      "stackgraph",
    ]);

    const openForm = async (store: string) => {
      const cursor = h.fake.cursor();
      await h.sender.blockActions({
        userId: REQUESTER,
        channelId: CHANNEL,
        actions: [{ action_id: "restore_point_open", value: buttons.get(store)! }],
      });
      const opened = await h.fake.waitForCall("views.open", () => true, { since: cursor });
      const view = (
        opened.response as {
          view?: {
            id: string;
            callback_id: string;
            blocks: Array<{ block_id?: string; element?: { initial_value?: string } }>;
          };
        }
      ).view;
      if (!view) throw new Error(`views.open failed: ${JSON.stringify(opened.response)}`);
      return view;
    };
    const submit = (viewId: string, fields: { point: string; options: string; reason: string }) =>
      h.sender.viewSubmission({
        userId: REQUESTER,
        view: {
          id: viewId,
          callback_id: "restore_request_modal",
          state: {
            values: {
              point: { point_input: { type: "plain_text_input", value: fields.point } },
              options: { options_input: { type: "plain_text_input", value: fields.options } },
              reason: { reason_input: { type: "plain_text_input", value: fields.reason } },
            },
          },
        },
      });
    /** The answer to a form sent since `since`: the request's id, or the refusal thrown. */
    const requested = async (since: number) => {
      const ephemeral = await h.fake.waitForCall(
        "chat.postEphemeral",
        (c) => c.args.user === REQUESTER,
        { since, timeoutMs: 15_000 },
      );
      const text = String(ephemeral.args.text);
      const id = /rb-[a-z0-9]{8}/.exec(text)?.[0];
      if (!id || !text.startsWith("Requested")) throw new Error(`request refused: ${text}`);
      return id;
    };
    const cancel = async (id: string) => {
      expect(await answer(await command("/restore", `cancel ${id}`))).toContain(id);
      await h.fake.waitForMessage(CHANNEL, (m) => m.text.includes(id) && /cancel/i.test(m.text), {
        timeoutMs: 15_000,
      });
    };

    // Elasticsearch: the form opens on the store's newest snapshot.
    const view = await openForm("elasticsearch");
    expect(view.callback_id).toBe("restore_request_modal");
    const esPoint = JSON.parse(buttons.get("elasticsearch")!).point as string;
    expect(view.blocks.find((b) => b.block_id === "point")?.element?.initial_value).toBe(esPoint);

    // A misspelt option stays under its field; nothing is recorded.
    const misspelt = await submit(view.id, {
      point: esPoint,
      options: "--forse",
      reason: "events index corrupted INC-90",
    });
    expect(misspelt.json).toMatchObject({
      response_action: "errors",
      errors: { options: expect.stringContaining("`--forse` is not a StackState restore option") },
    });
    const stray = await submit(view.id, {
      point: esPoint,
      options: "--force extra",
      reason: "events index corrupted INC-90",
    });
    expect(stray.json).toMatchObject({
      errors: { options: expect.stringContaining("`extra` is not an option") },
    });

    // --force on an Elasticsearch point is refused when the request is made, saying why.
    const cursor = h.fake.cursor();
    await submit(view.id, {
      point: esPoint,
      options: "--force",
      reason: "events index corrupted INC-91",
    });
    const refusal = await h.fake.waitForCall(
      "chat.postEphemeral",
      (c) => c.args.user === REQUESTER && String(c.args.text).includes("--force"),
      { since: cursor, timeoutMs: 15_000 },
    );
    expect(String(refusal.args.text)).toContain("`--force` applies to StackGraph restores only");
    const none = await h.runtime.pool.query(
      "SELECT count(*)::int AS n FROM restore_requests WHERE reason = 'events index corrupted INC-91'",
    );
    expect(none.rows[0]?.n).toBe(0);

    // --indices narrows the restore: recorded, and the card lists only that index.
    const day = /sts-backup-(\d{4})(\d{2})(\d{2})/.exec(esPoint)!.slice(1).join(".");
    const esIndex = `sts_internal_events-${day}`;
    const beforeEs = h.fake.cursor();
    await submit(view.id, {
      point: esPoint,
      options: `--indices ${esIndex}`,
      reason: "events index corrupted INC-92",
    });
    const esId = await requested(beforeEs);
    const esRow = await h.runtime.pool.query("SELECT options FROM restore_requests WHERE id = $1", [
      esId,
    ]);
    expect(esRow.rows[0]?.options).toEqual({ indices: [esIndex] });
    const esCard = await h.fake.waitForMessage(CHANNEL, (m) => m.text.includes(esId));
    expect(JSON.stringify(esCard.blocks)).toContain(`Only these 1 of the snapshot's 2 indices`);
    await cancel(esId);

    // Another store's point typed into the form, with --force: the card warns in bold.
    const form = await openForm("metrics");
    const beforeSg = h.fake.cursor();
    await submit(form.id, {
      point: "stackgraph:latest",
      options: "--force",
      reason: "topology wiped again INC-93",
    });
    const sgId = await requested(beforeSg);
    const sgRow = await h.runtime.pool.query(
      "SELECT options, point->>'store' AS store FROM restore_requests WHERE id = $1",
      [sgId],
    );
    expect(sgRow.rows[0]).toMatchObject({ options: { force: true }, store: "stackgraph" });
    const sgCard = await h.fake.waitForMessage(CHANNEL, (m) => m.text.includes(sgId));
    expect(JSON.stringify(sgCard.blocks)).toContain("existing StackGraph data is overwritten");
    await cancel(sgId);
  }, 60_000);
});
