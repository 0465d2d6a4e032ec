import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { RestoreProcessorWithClose } from "../../jobs/restore-processor.js";
import { tryAcquireTargetLock } from "../../jobs/runner/target-lock.js";
import type { KubernetesCluster } from "../../src/adapters/kubernetes/kubernetes-cluster.js";
import type { ObjectStore } from "../../src/adapters/s3/object-store.js";
import { createS3Client, createS3ObjectStore } from "../../src/adapters/s3/s3-object-store.js";
import { insertRequest } from "../../src/approvals/request-store.js";
import {
  type BackupLocation,
  formatAsOf,
  listBackupPoints,
  writeCompleteManifest,
} from "../../src/backups/index.js";
import { pruneExpiredPoints } from "../../src/backups/prune-expired.js";
import type { TargetBase } from "../../src/config/schema-parts.js";
import { withTransaction } from "../../src/db/pool.js";
import type { JsonValue, Kind } from "../../src/kinds/kind.js";
import { createKindRegistry, KINDS } from "../../src/kinds/registry.js";
import { silentLogger } from "../../src/logging/logger.js";
import { RUN_CONTROL_ACTIONS } from "../../src/narration/run-messages.js";
import type { RecoveryPointSource } from "../../src/recovery-points/recovery-point.js";
import { BACKUP_POINT_FACT, PAUSE_WINDOW_FACT, type Runbook } from "../../src/runbook/types.js";
import { type S3StandIn, startS3StandIn } from "../../stand-ins/s3/server.js";
import type { SlackSendResult } from "../../stand-ins/slack/signer.js";
import {
  answerTo,
  type BotHarness,
  type HarnessWorker,
  harnessProcessor,
  startBotHarness,
  startHarnessWorker,
} from "../support/bot-harness.js";

/**
 * `/backup` end to end with a kind that exists only here ("crate"): its backup runbook pauses
 * (held by a gate while a test needs a running backup), then writes a point with complete.json
 * into the S3 stand-in. The real bot, lifecycle, queue, worker, runner, scheduler and retention
 * drive it, against real PostgreSQL and Redis and the Slack stand-in.
 */

interface CrateTarget extends TargetBase {
  kind: "crate";
}

const BUCKET = "crates";
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const locationOf = (target: { name: string }): BackupLocation => ({
  bucket: BUCKET,
  prefix: `${target.name}/`,
});

/** Holds the next backup in its first phase until released. */
let gate: { promise: Promise<void>; release(): void; entered: Promise<void> } | undefined;
function closeGate(): NonNullable<typeof gate> {
  let release!: () => void;
  let entered!: () => void;
  const enteredPromise = new Promise<void>((r) => {
    entered = r;
  });
  const promise = new Promise<void>((r) => {
    release = r;
  });
  gate = {
    promise: promise.then(() => undefined),
    release,
    entered: enteredPromise,
  };
  (gate as unknown as { enter: () => void }).enter = entered;
  return gate;
}

let store: ObjectStore;
/** Fails the next backup's point writing once (a halt to retry). */
let failNextWrite = false;

function crateBackupRunbook(target: CrateTarget): Runbook {
  return {
    kind: "crate",
    phases: [
      {
        name: "pause-crate",
        title: "Pause the crate",
        mutates: true,
        async run(ctx) {
          const held = gate;
          if (held) {
            (held as unknown as { enter: () => void }).enter();
            await held.promise;
            gate = undefined;
          }
          await ctx.fact(PAUSE_WINDOW_FACT, 1_500);
        },
      },
      {
        name: "write-point",
        title: "Write the point",
        mutates: true,
        async run(ctx) {
          if (failNextWrite) {
            failNextWrite = false;
            throw new Error("the crate store refused the upload");
          }
          const asOf = formatAsOf(ctx.now());
          await writeCompleteManifest(store, locationOf(target), {
            format: 1,
            kind: "crate",
            target: target.name,
            asOf,
            files: [],
            restorebotVersion: "test",
          });
          await ctx.fact(BACKUP_POINT_FACT, { asOf, point: { asOf }, bytes: 2048 });
        },
      },
    ],
    rollback: [],
    describeHalt: async () => ({ state: ["The crate is as it was."], rollback: "nothing." }),
    describeFinish: (request) => [`*Backup of ${request.target} complete*.`],
  };
}

const POINT_ID = "2026-12-01T10:00:00Z";
const cratePoints: RecoveryPointSource = {
  location: "the crate store",
  dataLocation: "the crate store",
  listPoints: async () => ({ points: [{ id: POINT_ID, time: new Date(POINT_ID) }], skipped: [] }),
  describePoints: async (points) =>
    new Map(points.map((p) => [p.id, { complete: true, dumpSize: 1, dumpEtag: '"c"' }])),
  verifyPoint: async () => {
    throw new Error("crates are not verified");
  },
};

const crateKind: Kind<CrateTarget> = {
  id: "crate",
  label: "Crate",
  config: {
    shape: { kind: z.literal("crate") },
    complete: (parsed) => parsed as unknown as CrateTarget,
    problems: () => [],
    envVars: () => [],
    describe: (t) => `crate points in s3://${BUCKET}/${t.name}/`,
    objectStore: () => ({ region: "us-east-1", forcePathStyle: true }),
  },
  points: {
    source: () => cratePoints,
    freeze: (_target, ref) => ({ ok: true, point: { asOf: ref.id } as JsonValue }),
    cardLines: () => [],
    reportLine: () => "a crate point",
  },
  outline: {
    phases: [{ name: "restore-crate", title: "Restore the crate", mutates: true }],
    rollback: [],
    replacesData: "restore-crate",
    takesDown: "restore-crate",
    bringsUp: "restore-crate",
  },
  runbooks: {
    restore: () => ({
      kind: "crate",
      phases: [
        { name: "restore-crate", title: "Restore the crate", mutates: true, run: async () => {} },
      ],
      rollback: [],
      describeHalt: async () => ({ state: [], rollback: "nothing." }),
      describeFinish: (r) => [`*Restore of ${r.target} complete*.`],
    }),
    backup: (deps) => crateBackupRunbook(deps.target),
  },
  backups: {
    location: locationOf,
    outline: {
      phases: [
        { name: "pause-crate", title: "Pause the crate", mutates: true },
        { name: "write-point", title: "Write the point", mutates: true },
      ],
      rollback: [],
    },
  },
  plan: async () => ({ summary: "", phases: [], warnings: [] }),
  wording: {
    abandoned: (_r, _runs, userId) => `<@${userId}> abandoned it.`,
    rollbackPressed: (_r, _runs, userId) => `<@${userId}> pressed *Roll back*.`,
  },
  rbac: [],
};

const CHANNEL = "CCRATES";
const APPROVER = "UAPP1";
const APPROVER2 = "UAPP2";
const STRANGER = "USTRANGER";
const CONFIG = `
policy:
  approvers: [${APPROVER}, ${APPROVER2}]
slack:
  channels: [${CHANNEL}]
targets:
  - name: crates
    kind: crate
    namespace: crates
  - name: guarded
    kind: crate
    namespace: crates
    policy: { backupApprovals: 1 }
  - name: scheduled
    kind: crate
    namespace: crates
    backup: { schedule: "0 * * * *", retention: 1d }
  - name: prod
    kind: influxdb-clustered
    namespace: influxdb
    appInstance: influxdb
    catalog: { dsnEnv: PROD_CATALOG_DSN }
    snapshots: { bucket: influxdb-prod, endpoint: "http://127.0.0.1:1", forcePathStyle: true }
`;

describe("/backup", () => {
  const kinds = createKindRegistry([...KINDS, crateKind]);
  let s3: S3StandIn;
  let h: BotHarness;
  let worker: HarnessWorker;
  let processor: RestoreProcessorWithClose;
  let now: Date | undefined;
  const clock = () => now ?? new Date();

  const workerDeps = {
    kinds,
    objectStoreFor: () => store,
    clusterFor: () => ({}) as KubernetesCluster,
  };
  const processorOptions = { slackIntervalMs: 20, backupTickMs: 0, clock };
  const newProcessor = () => harnessProcessor(h, workerDeps, processorOptions);

  beforeAll(async () => {
    s3 = await startS3StandIn({ buckets: [BUCKET] });
    store = createS3ObjectStore(
      createS3Client({
        endpoint: s3.endpoint,
        region: "us-east-1",
        forcePathStyle: true,
        maxAttempts: 1,
        credentials: { accessKeyId: "AKIDTEST", secretAccessKey: "secret" },
      }),
      { endpoint: s3.endpoint, region: "us-east-1" },
    );
    h = await startBotHarness({ configYaml: CONFIG, kinds, objectStoreFor: () => store });
    worker = startHarnessWorker(h, workerDeps, processorOptions);
    processor = worker.processor;
  });

  afterAll(async () => {
    gate?.release();
    await worker?.close();
    await h?.close();
    await s3?.close();
  });

  const answer = async (res: SlackSendResult) =>
    (await answerTo(h, res, { timeoutMs: 10_000 })).text;

  const slash = async (command: string, text: string, userId = APPROVER) =>
    answer(await h.sender.slashCommand({ command, text, userId, channelId: CHANNEL }));

  async function count(sql: string, params: unknown[] = []): Promise<number> {
    const { rows } = await h.runtime.pool.query<{ n: string }>(sql, params);
    return Number(rows[0]?.n ?? 0);
  }

  /** Waits for the run's closing message in its card's thread, then checks the state. */
  async function waitForState(id: string, state: string): Promise<void> {
    const card = await h.fake.waitForMessage(
      CHANNEL,
      (m) => JSON.stringify(m.blocks ?? []).includes(`— ${id}`),
      { timeoutMs: 10_000, label: `the card of ${id}` },
    );
    await h.fake.waitForMessage(
      CHANNEL,
      (m) => m.threadTs === card.ts && /complete\*/.test(m.text),
      { timeoutMs: 20_000, label: `the end of ${id}` },
    );
    const { rows } = await h.runtime.pool.query<{ state: string }>(
      "SELECT state FROM restore_requests WHERE id = $1",
      [id],
    );
    expect(rows[0]?.state).toBe(state);
  }

  const idIn = (text: string) => {
    const id = /rb-[a-z0-9]{8}/.exec(text)?.[0];
    if (!id) throw new Error(`no request id in: ${text}`);
    return id;
  };

  it("refuses malformed commands with the usage, recording nothing", async () => {
    expect(await slash("/backup", "")).toMatch(/which target to back up[\s\S]*Usage/);
    expect(await slash("/backup", "crates")).toMatch(/A reason is mandatory[\s\S]*Usage/);
    expect(await slash("/backup", "crates oops")).toMatch(/too short/);
    expect(await slash("/backup", "nowhere because of CHG-42")).toMatch(/Unknown target/);
    expect(await slash("/backup", "status a b")).toMatch(/at most one target/);
    expect(await slash("/backup", "help")).toContain("/backup status [target]");
    expect(await count("SELECT count(*) AS n FROM restore_requests")).toBe(0);
  });

  it("refuses a person who is not an approver, saying who can, and records nothing", async () => {
    const text = await slash("/backup", "crates before the schema change CHG-42", STRANGER);
    expect(text).toContain("You may not start backups of `crates`");
    expect(text).toContain(`<@${APPROVER}>`);
    expect(await count("SELECT count(*) AS n FROM restore_requests")).toBe(0);
    expect(await count("SELECT count(*) AS n FROM audit_events WHERE actor = $1", [STRANGER])).toBe(
      0,
    );
  });

  it("refuses a kind whose points restorebot does not take", async () => {
    const text = await slash("/backup", "prod before the schema change CHG-42");
    expect(text).toContain(
      "restorebot does not take backups of influxdb-clustered targets; its points come from",
    );
    expect(await count("SELECT count(*) AS n FROM restore_requests")).toBe(0);
  });

  it("starts at once for an approver, narrates with a Backup card and writes its point", async () => {
    const text = await slash("/backup", "crates before the schema change CHG-42");
    expect(text).toMatch(/^Started backup `rb-[a-z0-9]{8}` of `crates`/);
    const id = idIn(text);
    await waitForState(id, "succeeded");
    const card = h.fake.messages(CHANNEL).find((m) => JSON.stringify(m.blocks).includes(id));
    const blocks = JSON.stringify(card?.blocks);
    expect(blocks).toContain(`Backup crates — ${id}`);
    expect(blocks).toContain("Backup succeeded");
    expect(blocks).toContain("Pause the crate");
    expect(blocks).toContain("Pause window:* crates was paused for 1.5 s");
    const { rows } = await h.runtime.pool.query(
      "SELECT operation, point, point_time, required_approvals FROM restore_requests WHERE id = $1",
      [id],
    );
    expect(rows[0]?.operation).toBe("backup");
    expect(rows[0]?.required_approvals).toBe(0);
    const asOf = (rows[0]?.point as { asOf: string } | undefined)?.asOf;
    expect(formatAsOf(rows[0]?.point_time as Date)).toBe(asOf);
    const points = await listBackupPoints(store, locationOf({ name: "crates" }));
    expect(points.map((p) => p.asOf)).toContain(asOf);
    const status = await slash("/restore", `status ${id}`);
    expect(status).toContain(`*${id}* — backup of \`crates\` as of`);
  });

  it("halts a failed backup with its buttons, and Retry phase finishes it", async () => {
    failNextWrite = true;
    const id = idIn(await slash("/backup", "crates before the schema change CHG-46"));
    const card = await h.fake.waitForMessage(
      CHANNEL,
      (m) =>
        JSON.stringify(m.blocks ?? []).includes(RUN_CONTROL_ACTIONS.retry) &&
        JSON.stringify(m.blocks ?? []).includes(`Backup crates — ${id}`),
      { timeoutMs: 20_000, label: "the halted backup's buttons" },
    );
    expect(JSON.stringify(card.blocks)).toContain("the crate store refused the upload");
    expect(
      await count("SELECT count(*) AS n FROM restore_requests WHERE id = $1 AND state = 'halted'", [
        id,
      ]),
    ).toBe(1);
    await h.sender.clickButton({
      userId: APPROVER2,
      channelId: CHANNEL,
      messageTs: card.ts,
      actionId: RUN_CONTROL_ACTIONS.retry,
    });
    await waitForState(id, "succeeded");
  });

  it("with backupApprovals 1, the requester cannot approve and another approver can", async () => {
    const id = idIn(await slash("/backup", "guarded before the upgrade CHG-43"));
    const card = await h.fake.waitForMessage(CHANNEL, (m) =>
      JSON.stringify(m.blocks ?? []).includes(`Backup guarded — ${id}`),
    );
    const self = await answer(
      await h.sender.clickButton({
        userId: APPROVER,
        channelId: CHANNEL,
        messageTs: card.ts,
        actionId: "request_approve",
      }),
    );
    expect(self).toBe(
      "You requested this backup; a second person must approve it (two-person rule).",
    );
    expect(
      await count(
        "SELECT count(*) AS n FROM restore_requests WHERE id = $1 AND state = 'pending'",
        [id],
      ),
    ).toBe(1);
    await h.sender.clickButton({
      userId: APPROVER2,
      channelId: CHANNEL,
      messageTs: card.ts,
      actionId: "request_approve",
    });
    await waitForState(id, "succeeded");
  });

  it("a restore requested while a backup runs is refused naming it, and vice versa", async () => {
    const held = closeGate();
    const backupId = idIn(await slash("/backup", "crates before the schema change CHG-44"));
    await held.entered;
    const refused = await slash("/restore", `crates ${POINT_ID} the crate lost its contents INC-7`);
    expect(refused).toContain(`\`crates\` is busy with a backup: \`${backupId}\``);
    held.release();
    await waitForState(backupId, "succeeded");

    const restoreId = idIn(
      await slash("/restore", `crates ${POINT_ID} the crate lost its contents INC-7`, APPROVER2),
    );
    const backupRefused = await slash("/backup", "crates before the schema change CHG-45");
    expect(backupRefused).toContain(`\`crates\` is busy with a restore: \`${restoreId}\``);
    await slash("/restore", `cancel ${restoreId}`, APPROVER2);
  });

  it("after a long downtime the scheduler starts one backup, and racing schedulers start it once", async () => {
    now = new Date();
    // First sight of the schedule: the current slot is the baseline, nothing runs.
    const first = await processor
      .tickBackups()
      .then(() => count("SELECT count(*) AS n FROM restore_requests WHERE requester = 'schedule'"));
    expect(first).toBe(0);
    // The worker was down for three days: 72 slots were missed.
    await h.runtime.pool.query(
      "UPDATE backup_schedule_slots SET last_slot = $2 WHERE target = $1",
      ["scheduled", new Date(now.getTime() - 3 * DAY)],
    );
    const other = newProcessor();
    try {
      await Promise.all([processor.tickBackups(), other.tickBackups(), processor.tickBackups()]);
    } finally {
      await other.close();
    }
    const { rows } = await h.runtime.pool.query<{ id: string }>(
      "SELECT id FROM restore_requests WHERE requester = 'schedule'",
    );
    expect(rows).toHaveLength(1);
    const id = rows[0]?.id as string;
    await waitForState(id, "succeeded");
    const card = h.fake.messages(CHANNEL).find((m) => JSON.stringify(m.blocks).includes(id));
    expect(JSON.stringify(card?.blocks)).toContain("the schedule (`backup.schedule`)");
    // The same slot again: nothing more.
    await processor.tickBackups();
    expect(
      await count("SELECT count(*) AS n FROM restore_requests WHERE requester = 'schedule'"),
    ).toBe(1);
    now = undefined;
  });

  it("retention prunes expired points but never one a pending restore froze", async () => {
    const target = h.runtime.config.targets.find((t) => t.name === "scheduled");
    if (!target) throw new Error("no target");
    const location = locationOf(target);
    const at = (ms: number) => formatAsOf(new Date(Date.now() - ms));
    const frozen = at(3 * DAY);
    const expired = at(2 * DAY);
    for (const asOf of [frozen, expired])
      await writeCompleteManifest(store, location, {
        format: 1,
        kind: "crate",
        target: target.name,
        asOf,
        files: [],
        restorebotVersion: "test",
      });
    const restoreId = await withTransaction(h.runtime.pool, async (tx) => {
      const made = await insertRequest(tx, {
        target: target.name,
        kind: "crate",
        pointTime: new Date(frozen),
        point: { asOf: frozen },
        requester: APPROVER,
        reason: "the crate lost its contents INC-8",
        channelId: CHANNEL,
        requiredApprovals: 1,
        policy: {},
        createdAt: new Date(),
        expiresAt: new Date(Date.now() + HOUR),
      });
      return made.id;
    });
    const outcome = await pruneExpiredPoints(
      {
        db: h.runtime.pool,
        kinds,
        objectStoreFor: () => store,
        logger: silentLogger,
        clock: () => new Date(),
        tryLock: (name) => tryAcquireTargetLock(h.runtime.pool, name),
      },
      target,
    );
    expect(outcome.outcome).toBe("pruned");
    const left = (await listBackupPoints(store, location)).map((p) => p.asOf);
    expect(left).toContain(frozen);
    expect(left).not.toContain(expired);
    expect(left.length).toBeGreaterThanOrEqual(2);
    await h.runtime.pool.query("UPDATE restore_requests SET state = 'cancelled' WHERE id = $1", [
      restoreId,
    ]);
  });

  it("/backup status shows the last backups and the next scheduled one", async () => {
    const text = await slash("/backup", "status");
    expect(text).toContain("*`crates`* (crate)");
    expect(text).toMatch(
      /`rb-[a-z0-9]{8}` succeeded · as of `\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z` · took /,
    );
    expect(text).toContain("2.0 KiB");
    expect(text).toContain("by schedule");
    expect(text).toMatch(/Next scheduled backup: .* \(`0 \* \* \* \*`, UTC\) · points kept 1 d/);
    const one = await slash("/backup", "status prod");
    expect(one).toContain("restorebot does not take backups of influxdb-clustered targets");
  });
});
