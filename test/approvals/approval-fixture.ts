import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { type ExpirySweeper, startExpirySweeper } from "../../src/approvals/expiry-sweeper.js";
import {
  formatAsOf,
  seedSnapshotHistory,
  standInObjectStore,
} from "../../src/kinds/influxdb-clustered/sandbox/snapshot-writer.js";
import { RESTORE_QUEUE_NAME } from "../../src/queue/restore-queue.js";
import { type S3StandIn, startS3StandIn } from "../../stand-ins/s3/server.js";
import type { RecordedCall, StoredMessage } from "../../stand-ins/slack/fake-slack-api.js";
import type { SlackSendResult } from "../../stand-ins/slack/signer.js";
import { type BotHarness, startBotHarness } from "../support/bot-harness.js";
import { REDIS_TEST_URL } from "../support/redis.js";

/**
 * The real bot (HTTP, signed requests) with real PostgreSQL and Redis, the fake Slack Web API
 * and the S3 stand-in holding a few hours of snapshots, plus the few helpers the approval
 * tests share: make a request, click a card's button, read the queue and the database.
 */

export const CHANNEL = "CRESTORES";
export const REQUESTER = "UREQ1";
export const APPROVERS = ["UAPP1", "UAPP2", "UAPP3"] as const;
export const BUCKET = "influxdb-snapshots";
const HOUR = 3_600_000;
/** Snapshots every hour up to the last full hour; the newest is left incomplete. */
export const NEWEST = new Date(Math.floor(Date.now() / HOUR) * HOUR - HOUR);
export const INCOMPLETE_ID = formatAsOf(NEWEST);
export const NEWEST_COMPLETE_ID = formatAsOf(new Date(NEWEST.getTime() - HOUR));

/**
 * Targets t1…t20 share one bucket; `two-*` need two approvals; `group` and `two-group` use a
 * user group (`two-group` needs two of its members).
 */
export function approvalConfig(endpoint: string): string {
  const target = (name: string, policy = "") => `
  - name: ${name}
    kind: influxdb-clustered
    namespace: influxdb
    appInstance: influxdb
    catalog: { dsnEnv: PROD_CATALOG_DSN }
    snapshots: { bucket: ${BUCKET}, endpoint: "${endpoint}", forcePathStyle: true }${policy}`;
  const names = Array.from({ length: 20 }, (_, i) => `t${i + 1}`);
  return `
policy:
  requesters: ["*"]
  approvers: [${APPROVERS.join(", ")}]
  requiredApprovals: 1
  requestTtl: 30m
targets:${names.map((n) => target(n)).join("")}${["two-a", "two-b"].map((n) => target(n, "\n    policy: { requiredApprovals: 2 }")).join("")}${target("group", "\n    policy: { approvers: [SONCALL] }")}${target("two-group", "\n    policy: { approvers: [SPAIR], requiredApprovals: 2 }")}${target("locked", "\n    policy: { requesters: [UREQ1] }")}
`;
}

export interface ApprovalFixture {
  h: BotHarness;
  s3: S3StandIn;
  queue: Queue;
  sweeper: ExpirySweeper;
  /** Shifts the bot's clock (expiry tests); reset to 0 after use. */
  setClockOffset(ms: number): void;
  close(): Promise<void>;
}

export async function startApprovalFixture(): Promise<ApprovalFixture> {
  const s3 = await startS3StandIn({ buckets: [BUCKET] });
  seedSnapshotHistory({
    store: s3,
    bucket: BUCKET,
    now: NEWEST,
    hourly: 6,
    daily: 0,
    tableFilesPerSnapshot: 1,
    incomplete: [NEWEST],
  });
  let offsetMs = 0;
  const store = standInObjectStore(s3);
  const h = await startBotHarness({
    configYaml: approvalConfig(s3.endpoint),
    clock: () => new Date(Date.now() + offsetMs),
    fakeOptions: {
      userGroups: { SONCALL: ["UGRP1", "UGRP2"], SPAIR: ["UPAIR1", "UPAIR2", "UPAIR3"] },
    },
    objectStoreFor: () => store,
  });
  const connection = new Redis(REDIS_TEST_URL, { maxRetriesPerRequest: null });
  const queue = new Queue(RESTORE_QUEUE_NAME, {
    connection,
    prefix: h.runtime.env.RESTOREBOT_QUEUE_PREFIX,
  });
  // The tests drive passes themselves (runOnce); the timer stays far away.
  const sweeper = startExpirySweeper(h.runtime.deps, h.bot.app.client, { intervalMs: 3_600_000 });
  return {
    h,
    s3,
    queue,
    sweeper,
    setClockOffset(ms) {
      offsetMs = ms;
    },
    async close() {
      await sweeper.stop();
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
      connection.disconnect();
      await h.close();
      await s3.close();
    },
  };
}

/** The ephemeral answer posted to a response URL once the handler finished its work. */
export async function answerTo(f: ApprovalFixture, res: SlackSendResult): Promise<string> {
  const id = res.responseUrlId;
  if (!id) throw new Error("no response URL was issued");
  const response = await f.h.fake.waitForResponse((r) => r.responseUrlId === id, {
    timeoutMs: 10_000,
    label: `the answer to ${id}`,
  });
  return response.body.text ?? "";
}

export interface MadeRequest {
  id: string;
  card: StoredMessage;
  answer: string;
}

/** `/restore <target> <point> <reason>` and the card it posts. */
export async function makeRequest(
  f: ApprovalFixture,
  target: string,
  options: { user?: string; point?: string; reason?: string } = {},
): Promise<MadeRequest> {
  const res = await f.h.sender.slashCommand({
    command: "/restore",
    text: `${target} ${options.point ?? "latest"} ${options.reason ?? "catalog corrupted by bad migration INC-1234"}`,
    userId: options.user ?? REQUESTER,
    channelId: CHANNEL,
  });
  const answer = await answerTo(f, res);
  const id = /rb-[a-z0-9]{8}/.exec(answer)?.[0];
  if (!id || !answer.startsWith("Requested")) throw new Error(`request refused: ${answer}`);
  const card = await f.h.fake.waitForMessage(CHANNEL, (m) => m.text.includes(id));
  return { id, card, answer };
}

export function click(
  f: ApprovalFixture,
  card: StoredMessage,
  actionId: "request_approve" | "request_reject",
  userId: string,
): Promise<SlackSendResult> {
  return f.h.sender.clickButton({ userId, channelId: CHANNEL, messageTs: card.ts, actionId });
}

/** The card as it is now in the fake Slack. */
export function currentCard(f: ApprovalFixture, card: StoredMessage): StoredMessage {
  const now = f.h.fake.message(CHANNEL, card.ts);
  if (!now) throw new Error(`card ${card.ts} is gone`);
  return now;
}

export function buttonsOf(message: StoredMessage): string[] {
  return message.blocks.flatMap((b) =>
    Array.isArray(b.elements)
      ? (b.elements as Array<{ action_id?: string }>).flatMap((e) =>
          e.action_id ? [e.action_id] : [],
        )
      : [],
  );
}

export function cardText(message: StoredMessage): string {
  return JSON.stringify(message.blocks);
}

export async function requestRow(
  f: ApprovalFixture,
  id: string,
): Promise<{
  state: string;
  card_ts: string | null;
  closed_by: string | null;
  close_reason: string | null;
}> {
  const { rows } = await f.h.runtime.pool.query(
    "SELECT state, card_ts, closed_by, close_reason FROM restore_requests WHERE id = $1",
    [id],
  );
  return rows[0];
}

export async function auditEvents(
  f: ApprovalFixture,
  id: string,
): Promise<Array<{ event: string; actor: string }>> {
  const { rows } = await f.h.runtime.pool.query(
    "SELECT event, actor FROM audit_events WHERE request_id = $1 ORDER BY id",
    [id],
  );
  return rows;
}

export async function approvalRows(
  f: ApprovalFixture,
  id: string,
): Promise<Array<{ approver: string; decision: string }>> {
  const { rows } = await f.h.runtime.pool.query(
    "SELECT approver, decision FROM approvals WHERE request_id = $1 ORDER BY approver",
    [id],
  );
  return rows;
}

/** Jobs for this request in the queue, in any state. */
export async function jobsFor(f: ApprovalFixture, id: string): Promise<number> {
  const jobs = await f.queue.getJobs(
    ["waiting", "active", "delayed", "completed", "failed", "prioritized"],
    0,
    -1,
  );
  return jobs.filter((j) => j.id === id).length;
}

export async function totalJobs(f: ApprovalFixture): Promise<number> {
  const counts = await f.queue.getJobCounts(
    "waiting",
    "active",
    "delayed",
    "completed",
    "failed",
    "prioritized",
  );
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

/** The modal a `views.open` call opened. */
export function openedView(call: RecordedCall): { id: string; callback_id: string } {
  const view = (call.response as { view?: { id: string; callback_id: string } } | null)?.view;
  if (!view) throw new Error(`views.open failed: ${JSON.stringify(call.response)}`);
  return view;
}

/** Direct messages the bot sent to a user (chat.postMessage to their user ID). */
export function directMessagesTo(f: ApprovalFixture, user: string): string[] {
  return f.h.fake
    .calls("chat.postMessage")
    .filter((c) => c.args.channel === user && c.response?.ok)
    .map((c) => String(c.args.text ?? ""));
}
