import { Queue } from "bullmq";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  getRequest,
  insertRequest,
  type NewRestoreRequest,
  REQUEST_STATES,
  type RequestState,
} from "../../src/approvals/request-store.js";
import { listAuditEvents } from "../../src/audit/audit-log.js";
import { migrate } from "../../src/db/migrate.js";
import { withTransaction } from "../../src/db/pool.js";
import { silentLogger } from "../../src/logging/logger.js";
import {
  createRestoreQueue,
  RESTORE_QUEUE_NAME,
  type RestoreQueue,
} from "../../src/queue/restore-queue.js";
import {
  type EnqueueDeps,
  enqueueRun,
  reconcileJobs,
  transition,
} from "../../src/requests/lifecycle.js";
import {
  isAllowed,
  REQUEST_EVENTS,
  type RequestEvent,
  TRANSITIONS,
} from "../../src/requests/transitions.js";
import { createTestDatabase, type TestDatabase } from "../support/postgres.js";
import { REDIS_TEST_URL, uniqueQueuePrefix } from "../support/redis.js";

const NOW = new Date("2024-08-12T17:00:00Z");

let database: TestDatabase;
let pool: pg.Pool;
let redis: Redis;
const prefix = uniqueQueuePrefix("lifecycle");
let deps: EnqueueDeps;
let restoreQueue: RestoreQueue;
let targets = 0;

beforeAll(async () => {
  database = await createTestDatabase("lifecycle");
  pool = new pg.Pool({ connectionString: database.url, max: 20 });
  await migrate(pool);
  redis = new Redis(REDIS_TEST_URL, { maxRetriesPerRequest: null });
  restoreQueue = createRestoreQueue(redis, prefix);
  deps = {
    db: pool,
    queue: restoreQueue,
    logger: silentLogger,
    clock: () => NOW,
  };
});

afterAll(async () => {
  const queue = new Queue(RESTORE_QUEUE_NAME, { connection: redis, prefix });
  await queue.obliterate({ force: true });
  await queue.close();
  await restoreQueue.close();
  redis.disconnect();
  await pool.end();
  await database.drop();
});

function newRequest(): NewRestoreRequest {
  targets++;
  return {
    target: `t${targets}`,
    kind: "influxdb-clustered",
    pointTime: new Date("2024-08-12T14:00:00Z"),
    point: { prefix: "p/", dumpKey: "p/pg_dump.gz", dumpEtag: null, dumpSize: null },
    requester: "UREQ1",
    reason: "lifecycle test",
    channelId: "CRESTORES",
    requiredApprovals: 1,
    policy: {},
    createdAt: NOW,
    expiresAt: new Date(NOW.getTime() + 30 * 60_000),
  };
}

/** A fresh request put straight into `state` (the fixture, not the lifecycle, under test). */
async function requestIn(state: RequestState): Promise<string> {
  const request = await insertRequest(pool, newRequest());
  await pool.query("UPDATE restore_requests SET state = $2 WHERE id = $1", [request.id, state]);
  return request.id;
}

async function auditNames(id: string): Promise<string[]> {
  return (await listAuditEvents(pool, { requestId: id })).map((e) => e.event).reverse();
}

describe("the transition table", () => {
  const cases = REQUEST_EVENTS.flatMap((event) =>
    REQUEST_STATES.map((state) => ({ event, state, allowed: isAllowed(event, state) })),
  );

  it.each(cases)(
    "$event from $state: allowed=$allowed, and the database agrees",
    async ({ event, state, allowed }) => {
      const id = await requestIn(state);
      const before = await getRequest(pool, id);
      const result = await transition(pool, id, event, { actor: "UTEST" });
      const after = await getRequest(pool, id);
      const rule = TRANSITIONS[event];
      if (allowed) {
        expect(result.outcome).toBe("changed");
        expect(after?.state).toBe(rule.to === "same" ? state : rule.to);
        expect(after?.version).toBe((before?.version ?? 0) + 1);
        expect(await auditNames(id)).toEqual(rule.audit ? [rule.audit] : []);
      } else {
        expect(result).toMatchObject({ outcome: "refused", reason: "wrong_state", event });
        expect(after).toEqual(before);
        expect(await auditNames(id)).toEqual([]);
      }
    },
  );

  it("leaves no final state", () => {
    for (const state of ["succeeded", "rolled_back", "abandoned", "rejected", "expired"] as const)
      expect(
        REQUEST_EVENTS.filter(
          (e: RequestEvent) => isAllowed(e, state) && TRANSITIONS[e].to !== "same",
        ),
      ).toEqual([]);
  });
});

describe("refusals say why", () => {
  it("not_found, stale_version and condition", async () => {
    expect(await transition(pool, "rb-nothere0", "approve", { actor: "U1" })).toMatchObject({
      outcome: "refused",
      reason: "not_found",
    });
    const id = await requestIn("pending");
    expect(await transition(pool, id, "approve", { actor: "U1", expectVersion: 7 })).toMatchObject({
      outcome: "refused",
      reason: "stale_version",
    });
    // Not yet due: the expiry guard keeps it pending.
    expect(
      await transition(pool, id, "expire", { actor: "U1", guard: { expiredAt: NOW } }),
    ).toMatchObject({ outcome: "refused", reason: "condition", request: { state: "pending" } });
    expect(await auditNames(id)).toEqual([]);
  });

  it("a stop asked twice of a running run is asked once", async () => {
    const id = await requestIn("running");
    const ask = () =>
      transition(pool, id, "request_stop", {
        actor: "UREQ1",
        patch: { cancelRequested: true, cancelRequestedBy: "UREQ1" },
        guard: { cancelRequested: false },
      });
    expect((await ask()).outcome).toBe("changed");
    expect(await ask()).toMatchObject({ outcome: "refused", reason: "condition" });
    expect(await auditNames(id)).toEqual(["cancel_requested"]);
  });

  it("refuses a narrowing the table does not allow, as a programming error", async () => {
    const id = await requestIn("running");
    await expect(
      transition(pool, id, "cancel", { actor: "U1", from: ["running"] }),
    ).rejects.toThrow(/cancel cannot leave from running/);
  });
});

describe("concurrency", () => {
  it("of eight concurrent approvals and rejections exactly one wins", async () => {
    const id = await requestIn("pending");
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        transition(pool, id, i % 2 ? "approve" : "reject", {
          actor: `UAPP${i}`,
          patch: { approvedAt: NOW },
        }),
      ),
    );
    const winners = results.filter((r) => r.outcome === "changed");
    expect(winners).toHaveLength(1);
    for (const r of results.filter((r) => r.outcome === "refused"))
      expect(r).toMatchObject({ reason: "wrong_state" });
    const final = await getRequest(pool, id);
    expect(final?.version).toBe(1);
    expect(final?.state).toBe(winners[0]?.request?.state);
    expect(await auditNames(id)).toHaveLength(1);
  });
});

describe("the audit event commits with the change", () => {
  it("inside a caller's transaction: a rollback takes both away", async () => {
    const id = await requestIn("pending");
    await expect(
      withTransaction(pool, async (tx) => {
        const result = await transition(tx, id, "approve", { actor: "UAPP1" });
        expect(result.outcome).toBe("changed");
        // Seen inside the transaction …
        const { rows } = await tx.query("SELECT event FROM audit_events WHERE request_id = $1", [
          id,
        ]);
        expect(rows).toEqual([{ event: "approved" }]);
        throw new Error("the caller's later write failed");
      }),
    ).rejects.toThrow(/later write failed/);
    // … and neither the state nor the event outside it.
    expect((await getRequest(pool, id))?.state).toBe("pending");
    expect(await auditNames(id)).toEqual([]);
  });

  it("an audit row that cannot be written leaves the state unchanged", async () => {
    const id = await requestIn("pending");
    // A trigger makes the audit insert fail after the UPDATE succeeded in the same transaction.
    await pool.query(`CREATE OR REPLACE FUNCTION refuse_audit() RETURNS trigger AS $$
      BEGIN IF NEW.request_id = '${id}' THEN RAISE EXCEPTION 'audit refused'; END IF; RETURN NEW; END
      $$ LANGUAGE plpgsql`);
    await pool.query(
      "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
    );
    try {
      await expect(transition(pool, id, "reject", { actor: "UAPP1" })).rejects.toThrow(
        /audit refused/,
      );
      expect((await getRequest(pool, id))?.state).toBe("pending");
    } finally {
      await pool.query("DROP TRIGGER refuse_audit ON audit_events");
    }
  });
});

describe("the enqueue path", () => {
  async function jobIds(): Promise<string[]> {
    const queue = new Queue(RESTORE_QUEUE_NAME, { connection: redis, prefix });
    try {
      const jobs = await queue.getJobs(["waiting", "active", "delayed"]);
      return jobs.map((j) => j.id as string);
    } finally {
      await queue.close();
    }
  }

  it("is idempotent: one job whose id is the request id, one enqueued event", async () => {
    const id = await requestIn("approved");
    const results = await Promise.all(
      Array.from({ length: 6 }, () => enqueueRun(deps, id, { by: "UAPP1" })),
    );
    expect(results.filter((r) => r.outcome === "enqueued")).toHaveLength(1);
    expect(results.filter((r) => r.outcome === "already_queued")).toHaveLength(5);
    expect((await jobIds()).filter((j) => j === id)).toHaveLength(1);
    expect(await auditNames(id)).toEqual(["enqueued"]);
    expect((await getRequest(pool, id))?.enqueuedAt).toEqual(NOW);
  });

  it("never queues a request that is not approved or running", async () => {
    for (const state of ["pending", "cancelled", "halted", "succeeded"] as const) {
      const id = await requestIn(state);
      expect(await enqueueRun(deps, id)).toMatchObject({
        outcome: "refused",
        reason: "wrong_state",
      });
      expect(await jobIds()).not.toContain(id);
    }
    expect(await enqueueRun(deps, "rb-nothere1")).toMatchObject({ reason: "not_found" });
  });

  it("the reconciler hands back an approved request whose job went missing, once", async () => {
    const id = await requestIn("approved");
    // Approved while Redis was down: nothing enqueued it.
    expect(await jobIds()).not.toContain(id);
    expect(await reconcileJobs(deps, ["approved"])).toBeGreaterThanOrEqual(1);
    expect(await jobIds()).toContain(id);
    expect(await reconcileJobs(deps, ["approved"])).toBe(0);
    expect(await auditNames(id)).toEqual(["enqueued"]);
  });

  it("says the queue is unreachable instead of throwing", async () => {
    const id = await requestIn("approved");
    const down: EnqueueDeps = {
      ...deps,
      queue: {
        enqueueRestore: () => Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:6390")),
      },
    };
    expect(await enqueueRun(down, id)).toMatchObject({ outcome: "queue_unreachable" });
    expect((await getRequest(pool, id))?.enqueuedAt).toBeNull();
  });
});
