import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  findActiveRequest,
  getRequest,
  insertRequest,
  listApprovals,
  listRequests,
  type NewRestoreRequest,
  recordDecision,
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
    const first = await insertRequest(pool, newRequest("listed"));
    // Ended (by hand here; the lifecycle's own tests cover how), so the target is free again.
    await pool.query("UPDATE restore_requests SET state = 'rolled_back' WHERE id = $1", [first.id]);
    const second = await insertRequest(
      pool,
      newRequest("listed", { createdAt: new Date(NOW.getTime() + 1_000) }),
    );
    const list = await listRequests(pool, { target: "listed", limit: 10 });
    expect(list.map((r) => [r.id, r.state])).toEqual([
      [second.id, "pending"],
      [first.id, "rolled_back"],
    ]);
    const pending = await listRequests(pool, { states: ["pending"], limit: 100 });
    expect(pending.every((r) => r.state === "pending")).toBe(true);
  });
});
