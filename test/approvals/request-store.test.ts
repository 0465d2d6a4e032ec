import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  findActiveRequest,
  getRequest,
  insertRequest,
  listApprovals,
  listRequests,
  type NewRestoreRequest,
  patchRequest,
  recordDecision,
  transition,
} from "../../src/approvals/request-store.js";
import { migrate } from "../../src/db/migrate.js";
import { CodedError } from "../../src/errors.js";
import { createTestDatabase, type TestDatabase } from "../support/postgres.js";

const NOW = new Date("2024-08-12T17:00:00Z");

function newRequest(target: string, overrides: Partial<NewRestoreRequest> = {}): NewRestoreRequest {
  return {
    target,
    kind: "influxdb-clustered",
    pointTime: new Date("2024-08-12T14:00:00Z"),
    point: {
      prefix: "catalog_backup_file_lists/2024-08-12T14:00:00+00:00/",
      dumpKey: "catalog_backup_file_lists/2024-08-12T14:00:00+00:00/pg_dump.gz",
      dumpEtag: '"0123456789abcdef0123456789abcdef"',
      dumpSize: 1234,
    },
    requester: "UREQ1",
    reason: "catalog corrupted by bad migration INC-1234",
    channelId: "CRESTORES",
    requiredApprovals: 1,
    policy: { requiredApprovals: 1 },
    createdAt: NOW,
    expiresAt: new Date(NOW.getTime() + 30 * 60_000),
    ...overrides,
  };
}

describe("request store (real PostgreSQL)", () => {
  let database: TestDatabase;
  let pool: pg.Pool;
  beforeAll(async () => {
    database = await createTestDatabase("request_store");
    pool = new pg.Pool({ connectionString: database.url, max: 12 });
    await migrate(pool);
  });
  afterAll(async () => {
    await pool?.end();
    await database?.drop();
  });

  it("inserts a pending request with a well-formed id and reads it back typed", async () => {
    const created = await insertRequest(pool, newRequest("a"));
    expect(created.id).toMatch(/^rb-[a-z0-9]{8}$/);
    expect(created).toMatchObject({
      state: "pending",
      version: 0,
      point: { dumpSize: 1234 },
      cardTs: null,
    });
    expect(await getRequest(pool, created.id)).toEqual(created);
    expect((await findActiveRequest(pool, "a"))?.id).toBe(created.id);
  });

  it("allows one active request per target, even when eight inserts race", async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, () => insertRequest(pool, newRequest("race"))),
    );
    const made = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    const refused = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
    expect(made).toHaveLength(1);
    expect(refused).toHaveLength(7);
    for (const err of refused) {
      expect(err).toBeInstanceOf(CodedError);
      expect((err as CodedError).code).toBe("conflict");
      expect((err as CodedError).details?.activeRequestId).toBe(made[0]?.id);
    }
  });

  it("transition is a compare-and-set: one winner among concurrent movers", async () => {
    const r = await insertRequest(pool, newRequest("cas"));
    const attempts = await Promise.all([
      ...Array.from({ length: 5 }, () =>
        transition(pool, r.id, { from: ["pending"], to: "approved", patch: { approvedAt: NOW } }),
      ),
      ...Array.from({ length: 5 }, () =>
        transition(pool, r.id, { from: ["pending"], to: "rejected", patch: { closedBy: "UAPP2" } }),
      ),
    ]);
    const winners = attempts.filter((a) => a !== undefined);
    expect(winners).toHaveLength(1);
    const final = await getRequest(pool, r.id);
    expect(final?.state).toBe(winners[0]?.state);
    expect(final?.version).toBe(1);
  });

  it("honours expectVersion and guards", async () => {
    const r = await insertRequest(pool, newRequest("guards"));
    expect(
      await transition(pool, r.id, { from: ["pending"], to: "approved", expectVersion: 7 }),
    ).toBeUndefined();
    // Not yet due: the expiry guard keeps it pending.
    expect(
      await transition(pool, r.id, {
        from: ["pending"],
        to: "expired",
        guard: { expiredAt: NOW },
      }),
    ).toBeUndefined();
    const approved = await transition(pool, r.id, {
      from: ["pending"],
      to: "approved",
      expectVersion: 0,
      guard: { notExpiredAt: NOW },
    });
    expect(approved).toMatchObject({ state: "approved", version: 1 });
    // enqueued_at is set once; a second marker finds it set.
    expect(
      await patchRequest(pool, r.id, { enqueuedAt: NOW }, { guard: { enqueuedAt: null } }),
    ).toBeDefined();
    expect(
      await patchRequest(pool, r.id, { enqueuedAt: NOW }, { guard: { enqueuedAt: null } }),
    ).toBeUndefined();
    // The runner's moves use the same function.
    const running = await transition(pool, r.id, {
      from: ["approved"],
      to: "running",
      patch: { startedAt: NOW },
    });
    expect(running?.state).toBe("running");
    const stop = await patchRequest(
      pool,
      r.id,
      { cancelRequested: true, cancelRequestedBy: "UREQ1" },
      { states: ["running"], guard: { cancelRequested: false } },
    );
    expect(stop).toMatchObject({ cancelRequested: true, cancelRequestedBy: "UREQ1" });
    const halted = await transition(pool, r.id, {
      from: ["running"],
      to: "halted",
      patch: { haltedPhase: "scale-down", haltedReason: "timeout" },
    });
    expect(halted).toMatchObject({ state: "halted", haltedPhase: "scale-down" });
    // Halted still holds the target.
    await expect(insertRequest(pool, newRequest("guards"))).rejects.toMatchObject({
      code: "conflict",
    });
    await transition(pool, r.id, {
      from: ["halted"],
      to: "rolled_back",
      patch: { finishedAt: NOW },
    });
    expect((await insertRequest(pool, newRequest("guards"))).state).toBe("pending");
  });

  it("records one approval per person, and a rejection replaces their approval", async () => {
    const r = await insertRequest(pool, newRequest("decisions"));
    const firsts = await Promise.all(
      Array.from({ length: 6 }, () =>
        recordDecision(pool, { requestId: r.id, approver: "UAPP1", decision: "approve", at: NOW }),
      ),
    );
    expect(firsts.filter(Boolean)).toHaveLength(1);
    await recordDecision(pool, {
      requestId: r.id,
      approver: "UAPP1",
      decision: "reject",
      reason: "changed my mind",
      at: NOW,
    });
    expect(await listApprovals(pool, r.id)).toMatchObject([
      { approver: "UAPP1", decision: "reject", reason: "changed my mind" },
    ]);
  });

  it("lists newest first, by target and state", async () => {
    const list = await listRequests(pool, { target: "guards", limit: 10 });
    expect(list.map((r) => r.state)).toEqual(expect.arrayContaining(["rolled_back", "pending"]));
    const pending = await listRequests(pool, { states: ["pending"], limit: 100 });
    expect(pending.every((r) => r.state === "pending")).toBe(true);
  });
});
