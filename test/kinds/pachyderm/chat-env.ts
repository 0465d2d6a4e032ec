import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createKubernetesCluster } from "../../../src/adapters/kubernetes/kubernetes-cluster.js";
import {
  type LiveObject,
  OBJECT_MANIFEST,
  readObjectManifest,
} from "../../../src/kinds/pachyderm/index.js";
import type { PachydermPoint } from "../../../src/kinds/pachyderm/points.js";
import { kubeconfigFor, writeKubeconfig } from "../../../stand-ins/kubernetes/index.js";
import { FAKE_BOT_TOKEN, type StoredMessage } from "../../../stand-ins/slack/fake-slack-api.js";
import type { SlackSendResult } from "../../../stand-ins/slack/signer.js";
import { until } from "../../jobs/support/until.js";
import { startWorkerProcess, type WorkerProcess } from "../../jobs/support/worker-process.js";
import {
  answerTo,
  type BotHarness,
  type HarnessWorker,
  startBotHarness,
  startHarnessWorker,
} from "../../support/bot-harness.js";
import { REDIS_TEST_URL } from "../../support/redis.js";
import {
  BACKUP_BUCKET,
  LIVE_BUCKET,
  type PachydermInstall,
  startPachydermInstall,
} from "./support.js";

/**
 * A Pachyderm install behind the real chat path: the real bot (signed HTTP from the Slack
 * stand-in, real PostgreSQL and Redis), the Kubernetes simulator (pachd Deployment and two
 * worker RCs), two databases of this env's own on the real PostgreSQL, and the S3 stand-in with
 * a live and a backup bucket. The worker runs in this process (`startWorker`) or as a process
 * of its own started from the worker entry point (`startWorkerProcess`), configured only
 * through its environment, as `restorebot worker` is.
 */

export const CHANNEL = "CPACH";
export const REQUESTER = "UPACH1";
export const SECOND = "UPACH2";
export const LIVE = LIVE_BUCKET;
export const BACKUPS = BACKUP_BUCKET;
/** The target that starts at once, and the one whose backups need a second person. */
export const TARGET = "pach";
export const GUARDED = "pach-guarded";

export interface PachydermChatEnv extends Omit<PachydermInstall, "close" | "targetYaml"> {
  h: BotHarness;
  /** A slash command from `user` in the channel; its private answer. */
  slash(command: string, text: string, user?: string): Promise<string>;
  /** The same, with the answer's blocks as JSON text (lists are in blocks). */
  slashBlocks(
    command: string,
    text: string,
    user?: string,
  ): Promise<{ text: string; blocks: string }>;
  /** The private answer to a slash command or a click. */
  answer(res: SlackSendResult): Promise<string>;
  /** The request's card, once posted. */
  card(id: string): Promise<StoredMessage>;
  /** Every message of the card's thread, joined. */
  threadText(id: string): Promise<string>;
  /** Resolves with the request's state once it is one of `states` (polled in PostgreSQL). */
  waitForState(id: string, states: string[], timeoutMs?: number): Promise<string>;
  /** The run's closing ":tada:" message in the card's thread. */
  finalMessage(id: string): Promise<string>;
  /** A worker in this process, as the chat-flow tests of other kinds run it. */
  startWorker(): void;
  /** A worker process started from the worker entry point; stopped by `close`. */
  startWorkerProcess(): Promise<WorkerProcess>;
  close(): Promise<void>;
}

let counter = 0;

/** The request id in a command's answer. */
export function idIn(text: string): string {
  const id = /rb-[a-z0-9]{8}/.exec(text)?.[0];
  if (!id) throw new Error(`no request id in: ${text}`);
  return id;
}

/** pachd's spec and ready replicas in the simulator. */
export function pachdReplicas(e: PachydermChatEnv): { spec: number; ready: number } {
  const c = e.sim.snapshot().components.find((x) => x.name === "pachd");
  return { spec: c?.specReplicas ?? -1, ready: c?.readyReplicas ?? -1 };
}

/** The point a finished backup stored on its request. */
export async function requestPoint(e: PachydermChatEnv, id: string): Promise<PachydermPoint> {
  const { rows } = await e.h.runtime.pool.query<{ point: PachydermPoint }>(
    "SELECT point FROM restore_requests WHERE id = $1",
    [id],
  );
  const point = rows[0]?.point;
  if (!point?.asOf) throw new Error(`request ${id} recorded no point`);
  return point;
}

/** The point's objects.ndjson.gz, read through the checked reader. */
export async function manifestOf(
  e: PachydermChatEnv,
  point: PachydermPoint,
  prefix = "restorebot/",
): Promise<LiveObject[]> {
  const file = point.files.find((f) => f.name === OBJECT_MANIFEST);
  if (!file) throw new Error("the point lists no manifest");
  const out: LiveObject[] = [];
  for await (const o of readObjectManifest(e.store, { bucket: BACKUPS, prefix }, point.asOf, file))
    out.push(o);
  return out;
}

export async function startPachydermChat(opts: {
  label: string;
  adminUrl: string;
  objects?: number;
}): Promise<PachydermChatEnv> {
  const n = ++counter;
  const install = await startPachydermInstall(opts.adminUrl, `${opts.label}${n}`, opts.objects);
  const { sim, store } = install;
  const dir = await mkdtemp(join(tmpdir(), "rb-pach-chat-"));
  const kubeconfig = await writeKubeconfig(sim, { dir });
  const target = install.targetYaml;
  const configYaml = `
policy:
  approvers: [${REQUESTER}, ${SECOND}]
slack:
  channels: [${CHANNEL}]
targets:${target(TARGET, "restorebot/")}${target(GUARDED, "guarded/", "\n    policy: { backupApprovals: 1 }")}
`;
  const configPath = join(dir, "restorebot.yaml");
  await writeFile(configPath, configYaml);
  const { dsns } = install;
  const h = await startBotHarness({
    configYaml,
    env: { KUBECONFIG: kubeconfig },
    objectStoreFor: () => store,
  });

  const workers: HarnessWorker[] = [];
  const processes: WorkerProcess[] = [];

  /** The private answer: in the ack itself (refusals of the grammar), or by response URL. */
  const reply = (res: SlackSendResult) => answerTo(h, res, { timeoutMs: 30_000 });
  const answer = async (res: SlackSendResult): Promise<string> => (await reply(res)).text;
  const command = (name: string, text: string, user: string) =>
    h.sender.slashCommand({ command: name, text, userId: user, channelId: CHANNEL });

  const card = (id: string) =>
    h.fake.waitForMessage(CHANNEL, (m) => JSON.stringify(m.blocks ?? []).includes(`— ${id}`), {
      timeoutMs: 30_000,
      label: `the card of ${id}`,
    });

  const threadText = async (id: string) => {
    const c = await card(id);
    return h.fake
      .thread(CHANNEL, c.ts)
      .map((m) => m.text)
      .join("\n");
  };

  return {
    ...install,
    h,
    dsns,
    answer,
    slash: async (name, text, user = REQUESTER) => answer(await command(name, text, user)),
    slashBlocks: async (name, text, user = REQUESTER) => reply(await command(name, text, user)),
    card,
    threadText,
    async waitForState(id, states, timeoutMs = 60_000) {
      const state = await until(
        async () => {
          const { rows } = await h.runtime.pool.query<{ state: string }>(
            "SELECT state FROM restore_requests WHERE id = $1",
            [id],
          );
          const now = rows[0]?.state;
          return now !== undefined && states.includes(now) ? now : undefined;
        },
        `${id} to be ${states.join(" or ")}`,
        timeoutMs,
      ).catch(async (err: Error) => {
        throw new Error(`${err.message}\nthread:\n${await threadText(id)}`);
      });
      return state;
    },
    async finalMessage(id) {
      const c = await card(id);
      const end = await h.fake.waitForMessage(
        CHANNEL,
        (m) => m.threadTs === c.ts && m.text.startsWith(":tada:"),
        { timeoutMs: 30_000, label: `the final message of ${id}` },
      );
      return end.text;
    },
    startWorker() {
      const cluster = createKubernetesCluster({
        namespace: sim.namespace,
        kubeConfig: kubeconfigFor(sim),
        retry: { initialDelayMs: 20, maxDelayMs: 100 },
      });
      workers.push(
        startHarnessWorker(
          h,
          { objectStoreFor: () => store, clusterFor: () => cluster },
          { env: dsns },
        ),
      );
    },
    async startWorkerProcess() {
      const p = await startWorkerProcess({
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        USER: process.env.USER,
        PGUSER: process.env.PGUSER,
        DATABASE_URL: h.database.url,
        REDIS_URL: REDIS_TEST_URL,
        RESTOREBOT_QUEUE_PREFIX: h.runtime.env.RESTOREBOT_QUEUE_PREFIX,
        RESTOREBOT_CONFIG: configPath,
        KUBECONFIG: kubeconfig,
        SLACK_BOT_TOKEN: FAKE_BOT_TOKEN,
        SLACK_API_URL: h.fake.apiUrl,
        ...dsns,
        AWS_ACCESS_KEY_ID: "AKIDWORKER",
        AWS_SECRET_ACCESS_KEY: "stand-in",
        AWS_REGION: "us-east-1",
        LOG_LEVEL: process.env.TEST_LOG ? "debug" : "warn",
        RESTOREBOT_SNAPSHOT_DIR: join(dir, "work"),
      });
      processes.push(p);
      return p;
    },
    async close() {
      for (const p of processes.splice(0)) await p.stop().catch(() => undefined);
      for (const w of workers.splice(0)) await w.close().catch(() => undefined);
      await h.close();
      await install.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
