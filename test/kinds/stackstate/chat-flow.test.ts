import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRestoreProcessor } from "../../../jobs/restore-processor.js";
import { type RestoreWorker, startRestoreWorker } from "../../../jobs/restore-worker.js";
import { createKubernetesCluster } from "../../../src/adapters/kubernetes/kubernetes-cluster.js";
import { STS_NAMESPACE, startStackStateSandbox } from "../../../src/demo/stackstate-sandbox.js";
import { silentLogger } from "../../../src/logging/logger.js";
import { createMetrics } from "../../../src/observability/metrics.js";
import {
  type KubernetesSimulator,
  kubeconfigFor,
  writeKubeconfig,
} from "../../../stand-ins/kubernetes/index.js";
import { standInObjectStore } from "../../../stand-ins/s3/sdk-store.js";
import { type S3StandIn, startS3StandIn } from "../../../stand-ins/s3/server.js";
import { FAKE_BOT_TOKEN } from "../../../stand-ins/slack/fake-slack-api.js";
import type { SlackSendResult } from "../../../stand-ins/slack/signer.js";
import { type BotHarness, startBotHarness } from "../../support/bot-harness.js";
import { REDIS_TEST_URL } from "../../support/redis.js";

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
  let worker: RestoreWorker;
  let connection: Redis;

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
    });
    const cluster = createKubernetesCluster({
      namespace: STS_NAMESPACE,
      kubeConfig: kubeconfigFor(sim),
    });
    const processor = createRestoreProcessor(
      {
        env: { SLACK_BOT_TOKEN: FAKE_BOT_TOKEN, SLACK_API_URL: h.fake.apiUrl },
        config: h.runtime.config,
        pool: h.runtime.pool,
        queue: h.runtime.queue,
        logger: silentLogger,
        metrics: createMetrics(),
        deps: {
          kinds: h.runtime.deps.kinds,
          objectStoreFor: () => store,
          clusterFor: () => cluster,
        },
      },
      { slackIntervalMs: 50, reconcileIntervalMs: 0, redrawCardsWithinMs: 0 },
    );
    connection = new Redis(REDIS_TEST_URL, { maxRetriesPerRequest: null });
    worker = startRestoreWorker({
      connection,
      prefix: h.runtime.env.RESTOREBOT_QUEUE_PREFIX,
      processor,
      logger: silentLogger,
    });
  }, 60_000);

  afterAll(async () => {
    await worker?.close();
    connection?.disconnect();
    await h?.close();
    await sts?.close();
    await s3?.close();
  });

  async function answer(res: SlackSendResult): Promise<string> {
    const id = res.responseUrlId;
    if (!id) throw new Error("no response URL was issued");
    const response = await h.fake.waitForResponse((r) => r.responseUrlId === id, {
      timeoutMs: 15_000,
      label: `the answer to ${id}`,
    });
    return response.body.text ?? "";
  }

  const command = (name: string, text: string) =>
    h.sender.slashCommand({ command: name, text, userId: REQUESTER, channelId: CHANNEL });

  it("lists every store with its newest point and RPO, and one store with --store", async () => {
    const all = await answer(await command("/recovery-points", "sts"));
    for (const store of ["stackgraph", "metrics", "clickhouse", "elasticsearch"])
      expect(all).toContain(`*${store}*`);
    expect(all).toContain("RPO");
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
    expect(JSON.stringify(card.blocks)).toContain("existing StackGraph data is overwritten");
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
});
