import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listLiveObjects, pachyderm } from "../../../src/kinds/pachyderm/index.js";
import type { PachydermPoint } from "../../../src/kinds/pachyderm/points.js";
import { BACKUP_PHASES } from "../../../src/kinds/pachyderm/runbook-backup.js";
import { RESTORE_PHASES } from "../../../src/kinds/pachyderm/runbook-restore.js";
import {
  BACKUPS,
  CHANNEL,
  GUARDED,
  idIn,
  LIVE,
  manifestOf,
  type PachydermChatEnv,
  pachdReplicas,
  REQUESTER,
  requestPoint,
  SECOND,
  startPachydermChat,
  TARGET,
} from "./chat-env.js";
import { PREPARED_ADMIN_URL, pgDumpOf } from "./support.js";

/**
 * Pachyderm through the chat path, end to end: `/backup` from the Slack stand-in → the real bot
 * → the queue → a worker → the kind's backup runbook against the Kubernetes simulator, real
 * PostgreSQL (two databases of this file's own) and the S3 stand-in (live and backup buckets);
 * then `/backup status`, `/recovery-points`, a guarded target's two-person approval, and a
 * `/restore` of the point with a second person's approval.
 */

const STRANGER = "USTRANGER";

let env: PachydermChatEnv;
/** What the databases held when the first backup was taken. */
let atBackup: { pach: string; dex: string } | undefined;
let backupPoint: PachydermPoint | undefined;

beforeAll(async () => {
  env = await startPachydermChat({ label: "chat", adminUrl: PREPARED_ADMIN_URL });
  env.startWorker();
}, 60_000);

afterAll(async () => {
  await env?.close();
});

async function click(messageTs: string, user: string, actionId = "request_approve") {
  return env.answer(
    await env.h.sender.clickButton({ userId: user, channelId: CHANNEL, messageTs, actionId }),
  );
}

async function stateOf(id: string): Promise<string | undefined> {
  const { rows } = await env.h.runtime.pool.query<{ state: string }>(
    "SELECT state FROM restore_requests WHERE id = $1",
    [id],
  );
  return rows[0]?.state;
}

describe("Pachyderm through the chat path", { timeout: 90_000 }, () => {
  it("/backup narrates every phase, states the pause window, shows in /backup status and /recovery-points, and pachd ends at its count", async () => {
    const e = env;
    expect(pachdReplicas(e)).toEqual({ spec: 2, ready: 2 });
    atBackup = { pach: await pgDumpOf(e.pach.url), dex: await pgDumpOf(e.dex.url) };

    const started = await e.slash("/backup", `${TARGET} before the pachd upgrade CHG-101`);
    expect(started).toMatch(new RegExp(`^Started backup \`rb-[a-z0-9]{8}\` of \`${TARGET}\``));
    const id = idIn(started);
    expect(await e.waitForState(id, ["succeeded", "halted"])).toBe("succeeded");
    const final = await e.finalMessage(id);
    const point = await requestPoint(e, id);
    backupPoint = point;
    expect(final).toContain(`Point \`${point.asOf}\` is complete`);
    expect(final).toMatch(/pachyderm\.sql\.gz .+, dex\.sql\.gz .+, 30 objects/);
    expect(final).toMatch(
      /Pause window: .+ \(from the first scale-down until pachd was ready again\)/,
    );

    // The thread narrates each phase, in order, started and done.
    const thread = await e.threadText(id);
    expect(thread).toContain(`Backup of *${TARGET}* started: ${BACKUP_PHASES.length} phases`);
    let from = 0;
    BACKUP_PHASES.forEach((phase, i) => {
      const label = `*${i + 1}/${BACKUP_PHASES.length} ${phase.title}*`;
      const startedAt = thread.indexOf(`${label} started`, from);
      expect(startedAt, `"${label} started" in order in:\n${thread}`).toBeGreaterThanOrEqual(0);
      const doneAt = thread.indexOf(`${label} done in`, startedAt);
      expect(doneAt, `"${label} done" in:\n${thread}`).toBeGreaterThan(startedAt);
      from = doneAt;
    });
    expect(thread).toMatch(/recorded and scaled to 0: pachd \(was 2\)/);

    // The card: a backup, succeeded, with the pause window.
    const card = await e.card(id);
    const blocks = JSON.stringify(card.blocks);
    expect(blocks).toContain(`Backup ${TARGET} — ${id}`);
    expect(blocks).toContain("Backup succeeded");
    expect(blocks).toMatch(new RegExp(`Pause window:\\* ${TARGET} was paused for \\d`));

    // pachd is back at its recorded count, and ready.
    expect(pachdReplicas(e)).toEqual({ spec: 2, ready: 2 });

    const status = await e.slash("/backup", `status ${TARGET}`);
    expect(status).toContain(`\`${id}\` succeeded · as of \`${point.asOf}\``);

    const listed = await e.slashBlocks("/recovery-points", TARGET);
    expect(listed.text).toContain(`newest complete ${point.asOf}`);
    expect(listed.blocks).toContain(point.asOf);
    expect(listed.blocks).toMatch(/pachyderm\.sql\.gz .+, dex\.sql\.gz .+ · 30 objects/);
    // Without backup.retention nothing deletes a point: the listing says so once, with no
    // expiry date of InfluxDB's garbage collector and no hourly or daily cadence.
    const pointLine = (JSON.parse(listed.blocks) as Array<{ text?: { text: string } }>)
      .map((b) => b.text?.text ?? "")
      .find((t) => t.includes(`*\`${point.asOf}\`*`));
    expect(pointLine).toMatch(
      new RegExp(
        `^:large_green_circle: \\*\`${point.asOf}\`\\* · just now\n.+ · kept until removed \\(no \`backup.retention\`\\)$`,
      ),
    );
    expect(listed.blocks).not.toMatch(/hourly|daily|kept until \d/);

    // verify says what Pachyderm's verify read: both dumps to their end, every manifest object
    // against the pool with its size and ETag; nothing of InfluxDB's catalog snapshots.
    const verifying = await env.h.sender.slashCommand({
      command: "/recovery-points",
      text: `verify ${TARGET} ${point.asOf}`,
      userId: REQUESTER,
      channelId: CHANNEL,
    });
    expect(JSON.parse(verifying.body ?? "{}").text).toContain(
      "complete.json, each database dump to its end, and every object of its manifest against the pool",
    );
    const verdict = await env.h.fake.waitForResponse(
      (r) => r.responseUrlId === verifying.responseUrlId && /restorable/.test(r.body.text ?? ""),
      { timeoutMs: 30_000, label: "the verdict" },
    );
    expect(verdict.body.text).toContain(
      `${point.asOf} is restorable: 2 database dumps read to the end, 30 objects present in the pool`,
    );
    const checks = JSON.stringify(verdict.body.blocks);
    expect(checks).toMatch(
      /\*Database dumps:\* 2 dumps \([^)]+\) read to their end through gunzip \([^)]+ of SQL\), each with the sha256 complete\.json records/,
    );
    expect(checks).toMatch(
      /\*Objects:\* all 30 objects of the manifest \([^)]+\) are in `s3:\/\/[^`]+\/objects\/` with their size and ETag/,
    );
    expect(checks).not.toMatch(/bloom|pg_dump\.gz|Parquet|table file list/);

    // Every object of the manifest is in the pool.
    const manifest = await manifestOf(e, point);
    expect(manifest.map((o) => o.key)).toEqual(e.s3.listKeys(LIVE));
    for (const o of manifest)
      expect(e.s3.listKeys(BACKUPS, `restorebot/objects/${o.key}/`)).toEqual([
        `restorebot/objects/${o.key}/${o.etag}`,
      ]);
  });

  it("with policy.backupApprovals 1 the requester cannot approve; an outsider cannot either; a second approver can", async () => {
    const e = env;
    const requested = await e.slash("/backup", `${GUARDED} before the pachd upgrade CHG-102`);
    const id = idIn(requested);
    const card = await e.card(id);
    expect(JSON.stringify(card.blocks)).toContain(`Backup ${GUARDED} — ${id}`);
    expect(await click(card.ts, REQUESTER)).toBe(
      "You requested this backup; a second person must approve it (two-person rule).",
    );
    expect(await click(card.ts, STRANGER)).toContain(
      `You are not an approver for \`${GUARDED}\`, so your approval cannot count.`,
    );
    expect(await stateOf(id)).toBe("pending");
    // Nothing ran: pachd was never scaled for it.
    expect(pachdReplicas(e)).toEqual({ spec: 2, ready: 2 });
    await click(card.ts, SECOND);
    expect(await e.waitForState(id, ["succeeded", "halted"])).toBe("succeeded");
    const point = await requestPoint(e, id);
    expect(await e.finalMessage(id)).toContain(`Point \`${point.asOf}\` is complete`);
    const { rows } = await e.h.runtime.pool.query(
      "SELECT approver FROM approvals WHERE request_id = $1",
      [id],
    );
    expect(rows.map((r) => r.approver)).toEqual([SECOND]);
    expect(await e.slash("/recovery-points", GUARDED)).toContain(`newest complete ${point.asOf}`);
  });

  it("/restore of that point, approved by a second person: both databases as backed up, the manifest's objects live again, nothing deleted", async () => {
    const e = env;
    const point = backupPoint;
    if (!point || !atBackup) throw new Error("the backup test did not run");
    // Life goes on after the backup.
    await e.pach.query("DELETE FROM pfs.commits WHERE id % 3 = 0; CREATE TABLE pfs.later (x int)");
    await e.dex.query("DELETE FROM client WHERE id = 'console'");
    e.s3.putObjectDirect(LIVE, "chunks/0003", "rewritten after the backup");
    e.s3.deleteObjectDirect(LIVE, "chunks/0007");
    e.s3.putObjectDirect(LIVE, "chunks/after", "written after the backup");

    const requested = await e.slash(
      "/restore",
      `${TARGET} ${point.asOf} pachd metadata lost in a bad migration INC-201`,
    );
    expect(requested, requested).toMatch(/^Requested/);
    const id = idIn(requested);
    const card = await e.card(id);
    const blocks = JSON.stringify(card.blocks);
    expect(blocks).toMatch(/Both databases commit together \(prepared transactions\)/);
    // The card speaks of Pachyderm's point, databases and objects, not of a catalog snapshot.
    expect(blocks).toContain(`*Point*\\n\`${point.asOf}\``);
    expect(blocks).toMatch(
      /Data loss:\* everything written to Pachyderm after \d\d:\d\d UTC — about .+ — will be lost/,
    );
    expect(blocks).toMatch(
      /This takes pach down and replaces its `pachyderm` and `dex` databases with the point of .+ UTC and copies back the point's objects: everything written to Pachyderm after/,
    );
    expect(blocks).not.toMatch(/catalog|snapshot/i);
    expect(blocks).toContain(
      "*Downtime:* pachd and every pipeline worker are scaled to 0 from phase 2",
    );
    expect(blocks).toMatch(/\*Replaces:\* its `pachyderm` and `dex` databases with the point of/);
    expect(await click(card.ts, REQUESTER)).toMatch(/two-person rule/);
    expect(await stateOf(id)).toBe("pending");
    await click(card.ts, SECOND);
    expect(await e.waitForState(id, ["succeeded", "halted"])).toBe("succeeded");
    const final = await e.finalMessage(id);
    expect(final).toContain(`Restored point \`${point.asOf}\``);
    expect(final).toMatch(/RTO achieved: /);
    expect(final).toMatch(/Data-loss window: everything written after /);
    const thread = await e.threadText(id);
    for (const [i, phase] of RESTORE_PHASES.entries())
      expect(thread).toContain(`*${i + 1}/${RESTORE_PHASES.length} ${phase.title}* done in`);

    expect(await pgDumpOf(e.pach.url)).toBe(atBackup.pach);
    expect(await pgDumpOf(e.dex.url)).toBe(atBackup.dex);
    // Every manifest object is live again with the point's size and ETag; nothing was deleted.
    const live = new Map(
      (await listLiveObjects(e.store, { bucket: LIVE, prefix: "" })).map((o) => [o.key, o]),
    );
    for (const o of await manifestOf(e, point)) {
      const now = live.get(o.key);
      expect(now?.size, o.key).toBe(o.size);
      expect(now?.etag, o.key).toBe(o.etag);
    }
    expect(e.s3.getObjectDirect(LIVE, "chunks/0003")?.toString()).toBe("chunk 3 ".repeat(50));
    expect(e.s3.getObjectDirect(LIVE, "chunks/0007")?.toString()).toBe("chunk 7 ".repeat(50));
    expect(e.s3.getObjectDirect(LIVE, "chunks/after")?.toString()).toBe("written after the backup");
    expect(pachdReplicas(e)).toEqual({ spec: 2, ready: 2 });
    // The point is still listed, complete, after being restored from.
    const verified = await pachyderm.points
      .source(e.h.runtime.config.targets[0] as never, () => e.store)
      .verifyPoint({ id: point.asOf, time: new Date(point.asOf) });
    expect(verified.problems).toEqual([]);
  });
});
