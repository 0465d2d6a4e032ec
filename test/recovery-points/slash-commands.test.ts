import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildIoxCatalog } from "../../src/kinds/influxdb-clustered/sandbox/catalog-builder.js";
import {
  seedSnapshotHistory,
  writeSnapshot,
} from "../../src/kinds/influxdb-clustered/sandbox/snapshot-writer.js";
import { formatPointTime } from "../../src/slack/commands/recovery-point-time.js";
import { type S3StandIn, startS3StandIn } from "../../stand-ins/s3/server.js";
import type { RecordedResponse, SlackBlock } from "../../stand-ins/slack/fake-slack-api.js";
import { type BotHarness, startBotHarness } from "../support/bot-harness.js";
import { createTestDatabase, type TestDatabase } from "../support/postgres.js";

const H = 3_600_000;
const START = new Date("2024-08-12T14:42:00Z");
/** A real snapshot of a real catalog, at an hour the seeded history leaves free. */
const REAL_POINT = new Date("2024-08-08T06:00:00Z");
const USER = "UOPERATOR1";
const CHANNEL = "CRESTORES";

function config(prodEndpoint: string, refusingEndpoint: string): string {
  const target = (name: string, bucket: string, endpoint: string) => `
  - name: ${name}
    kind: influxdb-clustered
    namespace: influxdb
    appInstance: influxdb
    catalog: { dsnEnv: ${name.toUpperCase()}_CATALOG_DSN }
    snapshots: { bucket: ${bucket}, endpoint: "${endpoint}", forcePathStyle: true }
    retention: { hourly: 30d, daily: 90d }`;
  return `
policy:
  approvers: [UAPPROVER1]
targets:${target("prod", "influxdb-prod", prodEndpoint)}${target("staging", "influxdb-staging", refusingEndpoint)}${target("dev", "influxdb-dev", "http://127.0.0.1:1")}
`;
}

function blocksText(blocks: readonly SlackBlock[] | undefined): string {
  return JSON.stringify(blocks ?? []);
}

describe("/recovery-points through signed slash commands against the running bot", () => {
  let s3: S3StandIn;
  let refusing: S3StandIn;
  let catalogDb: TestDatabase;
  let h: BotHarness;
  let now = START;
  const savedEnv = {
    id: process.env.AWS_ACCESS_KEY_ID,
    secret: process.env.AWS_SECRET_ACCESS_KEY,
  };

  beforeAll(async () => {
    s3 = await startS3StandIn({ buckets: ["influxdb-prod"] });
    refusing = await startS3StandIn({ buckets: ["influxdb-staging"] });
    refusing.denyAccessKey("AKIDRESTOREBOT");
    // The composition root's S3 clients use the standard credential chain, as in production.
    process.env.AWS_ACCESS_KEY_ID = "AKIDRESTOREBOT";
    process.env.AWS_SECRET_ACCESS_KEY = "do-not-print-this-secret-value";
    seedSnapshotHistory({
      store: s3,
      bucket: "influxdb-prod",
      now: START,
      hourly: 48,
      daily: 40,
      incomplete: [new Date("2024-08-12T14:00:00Z")],
    });
    catalogDb = await createTestDatabase("rp_bot_catalog");
    await buildIoxCatalog(catalogDb.url, {
      namespaces: 2,
      tablesPerNamespace: 3,
      columnsPerTable: 10,
      partitionsPerTable: 2,
      filesPerPartition: 25,
    });
    await writeSnapshot(s3, {
      bucket: "influxdb-prod",
      asOf: REAL_POINT,
      catalogUrl: catalogDb.url,
    });
    h = await startBotHarness({
      configYaml: config(s3.endpoint, refusing.endpoint),
      clock: () => now,
    });
  });
  afterAll(async () => {
    await h?.close();
    await s3?.close();
    await refusing?.close();
    await catalogDb?.drop();
    // Put back key by key: the worker process runs other files after this one (vitest's
    // isolate is off), and process.env must stay the real environment, not a plain copy.
    if (savedEnv.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
    else process.env.AWS_ACCESS_KEY_ID = savedEnv.id;
    if (savedEnv.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
    else process.env.AWS_SECRET_ACCESS_KEY = savedEnv.secret;
  });

  async function command(text: string) {
    const res = await h.sender.slashCommand({
      command: "/recovery-points",
      text,
      userId: USER,
      channelId: CHANNEL,
    });
    return res;
  }

  async function answer(responseUrlId: string | undefined, nth = 1): Promise<RecordedResponse> {
    await h.fake.waitFor(
      (e) =>
        e.kind === "response" &&
        h.fake.responses(responseUrlId).length >= nth &&
        e.response.responseUrlId === responseUrlId,
      { timeoutMs: 15_000, label: `answer #${nth}` },
    );
    return h.fake.responses(responseUrlId)[nth - 1] as RecordedResponse;
  }

  it("acknowledges at once, then answers privately in Block Kit within 5 S3 requests", async () => {
    s3.resetCounts();
    const res = await command("prod");
    expect(res.status).toBe(200);
    expect(res.elapsedMs).toBeLessThan(3_000);
    const reply = await answer(res.responseUrlId);
    expect(reply.effect).toBe("posted_ephemeral");
    expect(reply.httpStatus).toBe(200);
    const text = blocksText(reply.body.blocks);
    expect(text).toContain("Recovery points · prod");
    expect(text).toContain("Newest complete:* `2024-08-12T13:00:00+00:00` (1 h 42 min ago)");
    expect(text).toContain("RPO now:* 1 h 42 min");
    expect(text).toContain(
      "Restorable window:* `2024-07-04T00:00:00+00:00` → `2024-08-12T13:00:00+00:00`",
    );
    expect(s3.totalRequests()).toBeLessThanOrEqual(5);

    const points = (reply.body.blocks ?? []).filter((b) => b.block_id?.startsWith("point:"));
    expect(points).toHaveLength(20);
    // The newest snapshot is still being written: marked, and never offered for restore.
    expect(JSON.stringify(points[0])).toContain("*incomplete*");
    expect(points[0]?.accessory).toBeUndefined();
    expect(points[1]?.accessory).toMatchObject({
      action_id: "restore_point_open",
      value: JSON.stringify({ target: "prod", point: "2024-08-12T13:00:00+00:00" }),
    });
    expect(text).toContain("Older points (67 more)");
  });

  it("opens the restore request form from a listed point's button", async () => {
    const res = await command("prod --limit 3");
    const listed = await answer(res.responseUrlId);
    const cursor = h.fake.cursor();
    const click = await h.sender.blockActions({
      userId: USER,
      channelId: CHANNEL,
      message: { ts: "1723473720.000100", blocks: listed.body.blocks ?? [] },
      actions: [{ action_id: "restore_point_open" }],
    });
    expect(click.status).toBe(200);
    const opened = await h.fake.waitForCall("views.open", () => true, { since: cursor });
    expect(JSON.stringify(opened.args.view)).toContain("2024-08-12T13:00:00+00:00");
  });

  it("shows older points when the button is clicked", async () => {
    const first = await command("prod --daily --limit 5");
    const page1 = await answer(first.responseUrlId);
    expect(blocksText(page1.body.blocks)).toContain("2024-08-08T00:00:00+00:00");
    const click = await h.sender.blockActions({
      userId: USER,
      channelId: CHANNEL,
      message: { ts: "1723473720.000200", blocks: page1.body.blocks ?? [] },
      actions: [{ action_id: "recovery_points_older" }],
    });
    expect(click.status).toBe(200);
    const page2 = await answer(click.responseUrlId);
    const ids = (page2.body.blocks ?? [])
      .filter((b) => b.block_id?.startsWith("point:"))
      .map((b) => b.block_id);
    expect(ids).toEqual([
      "point:2024-08-07T00:00:00+00:00",
      "point:2024-08-06T00:00:00+00:00",
      "point:2024-08-05T00:00:00+00:00",
      "point:2024-08-04T00:00:00+00:00",
      "point:2024-08-03T00:00:00+00:00",
    ]);
  });

  it("verifies a point end to end, stores the result, and shows it in later listings", async () => {
    const point = formatPointTime(REAL_POINT);
    const res = await command(`verify prod ${point}`);
    expect(res.elapsedMs).toBeLessThan(3_000);
    expect((res.json as { text: string }).text).toContain(`Verifying prod \`${point}\``);
    const reply = await answer(res.responseUrlId);
    const text = blocksText(reply.body.blocks);
    expect(text).toContain(`${point}\` is restorable.`);
    expect(text).toContain("all 300 Parquet files referenced by 6 table file lists");
    expect(text).toContain("saved: later listings show this result");

    now = new Date(START.getTime() + 2 * H);
    try {
      const list = await command(`prod --before 2024-08-08T07:00Z --limit 1`);
      const listed = blocksText((await answer(list.responseUrlId)).body.blocks);
      expect(listed).toContain(`\`${point}\``);
      expect(listed).toContain("verified 2 h ago: 300 files, none missing");
    } finally {
      now = START;
    }
  });

  it("verifies `latest` as the newest complete point, skipping an unfinished snapshot", async () => {
    const res = await command("verify prod latest");
    expect((res.json as { text: string }).text).toContain(
      "Verifying prod the latest complete point",
    );
    const reply = await answer(res.responseUrlId);
    const text = `${reply.body.text ?? ""} ${blocksText(reply.body.blocks)}`;
    // 14:00 has no bloom.bin.gz yet: the newest complete point is 13:00.
    expect(text).toContain("2024-08-12T13:00:00+00:00");
    expect(text).not.toContain("2024-08-12T14:00:00+00:00");
  });

  it("names the nearest points when the asked one does not exist", async () => {
    const res = await command("verify prod 2024-08-12T13:30Z");
    const reply = await answer(res.responseUrlId);
    expect(reply.body.text).toContain("no recovery point at `2024-08-12T13:30:00+00:00`");
    expect(reply.body.text).toContain("`2024-08-12T13:00:00+00:00` (30 min earlier");
    expect(reply.body.text).toContain("`2024-08-12T14:00:00+00:00` (30 min later");
  });

  it.each([
    ["verify prod yesterday", "is not a recovery point", "2024-08-12T14:00Z"],
    ["verify nowhere 2024-08-12T14:00Z", "Unknown target `nowhere`", "`prod`, `staging`, `dev`"],
    ["nowhere", "Unknown target or subcommand `nowhere`", "`prod`, `staging`, `dev`"],
  ])("refuses %j at once, saying what to type", async (text, problem, hint) => {
    const res = await command(text);
    const body = res.json as { text: string; response_type: string };
    expect(body.response_type).toBe("ephemeral");
    expect(body.text).toContain(problem);
    expect(body.text).toContain(hint);
  });

  it("says which bucket refused the credentials and what S3 said, without secrets", async () => {
    const res = await command("staging");
    const reply = await answer(res.responseUrlId);
    const text = reply.body.text ?? "";
    expect(text).toContain("influxdb-staging");
    expect(text).toContain("InvalidAccessKeyId");
    expect(text).not.toContain("do-not-print-this-secret-value");
    expect(text).not.toMatch(/\n\s+at /);
  });

  it("says which bucket cannot be reached", async () => {
    const res = await command("verify dev 2024-08-12T14:00Z");
    const reply = await answer(res.responseUrlId);
    expect(reply.body.text).toContain("influxdb-dev");
    expect(reply.body.text).toContain("could not be reached");
  });
});
