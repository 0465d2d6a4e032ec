import { LogLevel, WebClient } from "@slack/web-api";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildRequestCard } from "../../src/approvals/card.js";
import { CardPublisher } from "../../src/approvals/card-updates.js";
import {
  insertRequest,
  patchRequest,
  recordDecision,
  transition,
} from "../../src/approvals/request-store.js";
import { migrate } from "../../src/db/migrate.js";
import { DEFAULT_KINDS } from "../../src/kinds/registry.js";
import { silentLogger } from "../../src/logging/logger.js";
import {
  FAKE_BOT_TOKEN,
  type FakeSlackApi,
  startFakeSlackApi,
} from "../../stand-ins/slack/fake-slack-api.js";
import { createTestDatabase, type TestDatabase } from "../support/postgres.js";

const CHANNEL = "CRESTORES";

function buttonsOf(blocks: readonly unknown[]): string[] {
  return (blocks as Array<{ elements?: unknown }>).flatMap((b) =>
    Array.isArray(b.elements)
      ? (b.elements as Array<{ action_id?: string }>).flatMap((e) =>
          e.action_id ? [e.action_id] : [],
        )
      : [],
  );
}

/**
 * Two bot replicas (the Helm chart runs two) each redraw the approval card from PostgreSQL.
 * Slack keeps whichever `chat.update` reaches it last, so a replica whose update was slow on
 * the wire must not leave the card showing a state the request has already left.
 */
describe("approval card updates from two bot replicas (real PostgreSQL, fake Slack)", () => {
  let database: TestDatabase;
  let pool: pg.Pool;
  let slack: FakeSlackApi;
  let client: WebClient;

  beforeAll(async () => {
    database = await createTestDatabase("card_updates");
    pool = new pg.Pool({ connectionString: database.url });
    await migrate(pool);
    slack = await startFakeSlackApi();
    client = new WebClient(FAKE_BOT_TOKEN, {
      slackApiUrl: slack.apiUrl,
      retryConfig: { retries: 0 },
      logLevel: LogLevel.ERROR,
    });
  });
  afterAll(async () => {
    await slack?.close();
    await pool?.end();
    await database?.drop();
  });

  it("a slow, stale update from one replica does not win over the final state", async () => {
    const now = new Date();
    const request = await insertRequest(pool, {
      target: "prod",
      kind: "influxdb-clustered",
      pointTime: new Date(now.getTime() - 3 * 3_600_000),
      point: {
        prefix: "catalog_backup_file_lists/x/",
        dumpKey: "catalog_backup_file_lists/x/pg_dump.gz",
        dumpEtag: '"abc"',
        dumpSize: 10,
      },
      requester: "UREQ1",
      reason: "catalog corrupted INC-1",
      channelId: CHANNEL,
      requiredApprovals: 2,
      policy: {},
      createdAt: now,
      expiresAt: new Date(now.getTime() + 30 * 60_000),
    });
    const first = buildRequestCard({ kinds: DEFAULT_KINDS, request, approvals: [], now });
    const posted = await client.chat.postMessage({
      channel: CHANNEL,
      text: first.text,
      blocks: first.blocks,
    });
    const ts = posted.ts as string;
    await patchRequest(pool, request.id, { cardTs: ts });

    // Replica A: its first chat.update is held on the wire until replica B has finished.
    let arrived!: () => void;
    const reachedSlack = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let calls = 0;
    const slowClient = {
      chat: {
        update: async (args: Parameters<WebClient["chat"]["update"]>[0]) => {
          if (calls++ === 0) {
            arrived();
            await held;
          }
          return client.chat.update(args);
        },
      },
    } as unknown as Pick<WebClient, "chat">;
    const replicaA = new CardPublisher(pool, silentLogger, () => new Date(), DEFAULT_KINDS);
    const replicaB = new CardPublisher(pool, silentLogger, () => new Date(), DEFAULT_KINDS);

    await recordDecision(pool, {
      requestId: request.id,
      approver: "UAPP1",
      decision: "approve",
      at: new Date(),
    });
    const aDone = replicaA.refresh(slowClient, request.id);
    await reachedSlack;
    // Meanwhile another approver rejects on replica B, which redraws at once.
    await transition(pool, request.id, {
      from: ["pending"],
      to: "rejected",
      patch: { closedBy: "UAPP2", closeReason: "wrong point", finishedAt: new Date() },
    });
    await replicaB.refresh(client, request.id);
    release();
    await aDone;

    const card = slack.message(CHANNEL, ts);
    const text = JSON.stringify(card?.blocks);
    expect(text).toContain("Rejected");
    expect(text).not.toContain("Waiting for approval");
    expect(buttonsOf(card?.blocks ?? [])).toEqual([]);
  });
});
