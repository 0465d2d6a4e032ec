import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatAsOf } from "../../../src/backups/index.js";
import { putArchive, tarOf } from "../../../src/kinds/influxdb-oss/sandbox/scenario.js";
import { standInObjectStore } from "../../../stand-ins/s3/sdk-store.js";
import { type S3StandIn, startS3StandIn } from "../../../stand-ins/s3/server.js";
import type { SlackSendResult } from "../../../stand-ins/slack/signer.js";
import { type BotHarness, startBotHarness } from "../../support/bot-harness.js";

/**
 * The influxdb-oss kind's points through the real bot: `/recovery-points` lists restorebot's
 * own archives kept by `backup.retention` (no hourly/daily cadence, no garbage collector),
 * `verify` says what it read (complete.json, the whole archive against its sha256), and the
 * restore card says what is replaced, what stops and what is lost — never InfluxDB Clustered's
 * catalog, bloom.bin.gz or Parquet files.
 */

const CHANNEL = "COSS";
const REQUESTER = "UREQ1";
const BUCKET = "influxdb-oss-backups";
const H = 3_600_000;
const NOW = new Date();
/** A day of retention: the 50 h old archive is past it, the 2 h old one is kept. */
const RETENTION_MS = 24 * H;

describe("InfluxDB OSS archives through the chat flow", () => {
  let s3: S3StandIn;
  let h: BotHarness;
  const archives: Array<{ asOf: string; tar: Buffer }> = [];

  beforeAll(async () => {
    s3 = await startS3StandIn({ buckets: [BUCKET] });
    const scratch = await mkdtemp(join(tmpdir(), "oss-chat-"));
    try {
      for (const hoursAgo of [50, 2]) {
        const dir = join(scratch, String(hoursAgo));
        for (const sub of ["meta", "data/telegraf/autogen/1", "wal/telegraf/autogen/1"])
          await mkdir(join(dir, sub), { recursive: true });
        await writeFile(join(dir, "meta", "meta.db"), `meta of ${hoursAgo} h ago`);
        await writeFile(join(dir, "data/telegraf/autogen/1/000001.tsm"), "tsm".repeat(1000));
        const tar = await tarOf(dir);
        const asOf = formatAsOf(new Date(NOW.getTime() - hoursAgo * H));
        putArchive(s3, BUCKET, "influx1", asOf, tar);
        archives.push({ asOf, tar });
      }
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
    const store = standInObjectStore(s3);
    h = await startBotHarness({
      configYaml: `
policy:
  requesters: ["*"]
  approvers: [${REQUESTER}, UAPP1]
  requiredApprovals: 1
targets:
  - name: influx1
    kind: influxdb-oss
    namespace: influxdb-oss
    statefulset: influxdb
    dataDir: /var/lib/influxdb
    helperImage: busybox:1.36
    service: influxdb:8086
    backups: { bucket: ${BUCKET}, prefix: archives/, endpoint: ${s3.endpoint}, forcePathStyle: true }
    backup: { schedule: "0 3 * * *", retention: 1d, channel: COSS }
`,
      objectStoreFor: () => store,
    });
  }, 60_000);

  afterAll(async () => {
    await h?.close();
    await s3?.close();
  });

  const command = (name: string, text: string) =>
    h.sender.slashCommand({ command: name, text, userId: REQUESTER, channelId: CHANNEL });

  /** The ack's text and, when there is one, the answer posted to the response URL. */
  async function answer(res: SlackSendResult, match?: RegExp): Promise<string> {
    const id = res.responseUrlId;
    const acked = (res.json as { text?: string } | undefined)?.text ?? "";
    if (!id) return acked;
    const response = await h.fake.waitForResponse(
      (r) =>
        r.responseUrlId === id &&
        (match === undefined || match.test(`${r.body.text ?? ""}${JSON.stringify(r.body.blocks)}`)),
      { timeoutMs: 15_000, label: `the answer to ${id}` },
    );
    return `${acked}\n${response.body.text ?? ""}\n${JSON.stringify(response.body.blocks ?? [])}`;
  }

  it("lists the archives with their size, each expiring by backup.retention", async () => {
    const text = await answer(await command("/recovery-points", "influx1"));
    const [old, fresh] = archives as [(typeof archives)[0], (typeof archives)[0]];
    expect(text).toContain(`influxdb.tar ${(fresh.tar.length / 1024).toFixed(1)} KiB`);
    const expires = new Date(Date.parse(fresh.asOf) + RETENTION_MS);
    expect(text).toMatch(/expires in 2\d h|kept until/);
    expect(text).toContain(expires.toISOString().slice(11, 16));
    expect(text).toMatch(
      new RegExp(
        `${old.asOf}.*past \`backup.retention\`\\* since .*restorebot's retention removes it`,
      ),
    );
    expect(text).not.toMatch(/hourly|daily|garbage collector|bloom|pg_dump|Parquet|snapshot/);
  });

  it("verify says what it read: complete.json and the whole archive against its sha256", async () => {
    const fresh = archives[1] as (typeof archives)[0];
    const ok = await answer(
      await command("/recovery-points", `verify influx1 ${fresh.asOf}`),
      /is restorable|is not restorable/,
    );
    expect(ok).toContain(
      "complete.json, and the whole influxdb.tar against the size and sha256 it records",
    );
    expect(ok).toContain(`${fresh.asOf} is restorable: influxdb.tar read to its end`);
    expect(ok).toContain("*Complete:* complete.json is present");
    expect(ok).toMatch(
      /\*Archive:\* influxdb\.tar \([^)]+\) read to its end: its size and sha256 match complete\.json, and it ends with tar's end-of-archive blocks/,
    );
    expect(ok).not.toMatch(/bloom|pg_dump|Parquet|Catalog|table file list/);

    // Same size, other bytes: the sha256 differs, and verify says so rather than "restorable".
    const old = archives[0] as (typeof archives)[0];
    const damaged = Buffer.from(old.tar);
    damaged[100] = (damaged[100] ?? 0) ^ 0xff;
    s3.putObjectDirect(BUCKET, `archives/${old.asOf}/influxdb.tar`, damaged);
    const bad = await answer(
      await command("/recovery-points", `verify influx1 ${old.asOf}`),
      /is restorable|is not restorable/,
    );
    expect(bad).toContain(`${old.asOf}\` is not restorable`);
    expect(bad).toMatch(/:x: \*Archive:\* .*different sha256/);
    const listed = await answer(await command("/recovery-points", "influx1"));
    expect(listed).toContain("verification failed just now: influxdb.tar unusable");
    expect(listed).toContain("verified just now: influxdb.tar read to its end");
  });

  it("the request form opened from a listed archive speaks of InfluxDB, not of a catalog", async () => {
    const fresh = archives[1] as (typeof archives)[0];
    const cursor = h.fake.cursor();
    await h.sender.blockActions({
      userId: REQUESTER,
      channelId: CHANNEL,
      actions: [
        {
          action_id: "restore_point_open",
          value: JSON.stringify({ target: "influx1", point: fresh.asOf }),
        },
      ],
    });
    const opened = await h.fake.waitForCall("views.open", () => true, { since: cursor });
    const form = JSON.stringify(opened.args);
    expect(form).toMatch(/Everything written to InfluxDB after .* will be lost/);
    expect(form).not.toMatch(/catalog|Catalog/);
  });

  it("the restore card: the archive, what is replaced, the downtime, what is lost", async () => {
    const fresh = archives[1] as (typeof archives)[0];
    const text = await answer(
      await command("/restore", `influx1 ${fresh.asOf} bad retention change INC-103`),
    );
    const id = /rb-[a-z0-9]{8}/.exec(text)?.[0];
    if (!id || !text.includes("Requested")) throw new Error(`request refused: ${text}`);
    const card = await h.fake.waitForMessage(CHANNEL, (m) => m.text.includes(id));
    const blocks = JSON.stringify(card.blocks);
    expect(blocks).toContain(`*Archive*\\n\`${fresh.asOf}\``);
    expect(blocks).toContain("*Replaces:* its meta/, data/ and wal/ with the archive of");
    expect(blocks).toContain(
      "*Downtime:* InfluxDB is down from phase 2 (its StatefulSet scaled to 0)",
    );
    expect(blocks).toMatch(/\*Data loss:\* everything written to InfluxDB after .* will be lost/);
    expect(blocks).toContain(
      "This takes influx1 down and replaces its meta/, data/ and wal/ with the archive of",
    );
    expect(blocks).not.toMatch(/catalog|Snapshot|bloom|pg_dump|Parquet/);
    expect(await answer(await command("/restore", `cancel ${id}`))).toContain(id);
  });
});
