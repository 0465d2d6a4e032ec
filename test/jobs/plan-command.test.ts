import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHANNEL, type RestoreEnv, startRestoreEnv } from "./support/restore-env.js";

/** `/restore plan`, sent to the real bot as Slack sends it, answered from the live cluster. */

let env: RestoreEnv;
let send: (text: string) => Promise<string>;

beforeAll(async () => {
  env = await startRestoreEnv({ label: "plan" });
  const { sender } = await env.startBot();
  send = async (text) => {
    const since = env.slack.responses().length;
    await sender.slashCommand({
      command: "/restore",
      text,
      userId: "UREQUESTER",
      channelId: CHANNEL,
    });
    await expect
      .poll(() => env.slack.responses().length, { timeout: 10_000 })
      .toBeGreaterThan(since);
    return String(env.slack.responses().at(-1)?.body.text ?? "");
  };
});

afterAll(async () => {
  await env?.close();
});

describe("/restore plan", () => {
  it("shows every action of the ten phases with the live replica counts, and changes nothing", async () => {
    env.sim.scale("global-router", 5);
    const before = env.sim.requests().length;
    const text = await send("plan prod latest");
    expect(text).toMatch(/a dry run; nothing was changed/);
    expect(text).toMatch(/to \*2024-08-12 14:00 UTC\* \(`2024-08-12T14:00:00\+00:00`\)/);
    for (const [n, title] of [
      [1, "Check the recovery point"],
      [3, "Pause the operator"],
      [7, "Restore the catalog database"],
      [10, "Unpause the operator"],
    ] as const)
      expect(text).toContain(`${n}. *${title}*`);
    expect(text).toMatch(
      /record, before anything is scaled: global-gc 1, global-router 5, iox-shared-querier 2, iox-shared-compactor 1, iox-shared-ingester 3, iox-shared-catalog 3/,
    );
    expect(text).toMatch(/global-router 5 → 0/);
    expect(text).toMatch(
      /then iox-shared-ingester 3 → 0; wait until every non-catalog pod is gone/,
    );
    expect(text).toMatch(
      /iox-shared-catalog 0 → 3 and wait for 2 ready; iox-shared-ingester 0 → 3 and wait for 2 ready/,
    );
    expect(text).toMatch(/the DSN in \$PROD_CATALOG_DSN/);
    // Sizes read the same everywhere: 1024-based, labelled KiB/MiB.
    expect(text).toMatch(/download pg_dump\.gz \(\d+(\.\d)? (KiB|MiB)\) to the worker/);
    expect(text).not.toMatch(/postgres:\/\//);
    // Only reads reached the cluster; nothing was recorded.
    const calls = env.sim.requests().slice(before);
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.filter((r) => r.method !== "GET")).toEqual([]);
    const { rows } = await env.pool.query(
      "SELECT (SELECT count(*) FROM restore_requests)::int AS requests, (SELECT count(*) FROM replica_records)::int AS records",
    );
    expect(rows[0]).toEqual({ requests: 0, records: 0 });
    env.sim.scale("global-router", 3);
  });

  it("names a point that does not exist and what exists instead", async () => {
    const text = await send("plan prod 2024-08-12T15:00Z");
    expect(text).toMatch(/There is no recovery point of `prod` at 2024-08-12 15:00/);
  });

  it("still answers when the cluster cannot be read, saying what is unknown", async () => {
    env.sim.failNext({ verb: "get", status: 500, count: 1000 });
    env.sim.failNext({ verb: "list", status: 500, count: 1000 });
    try {
      const text = await send("plan prod latest");
      expect(text).toMatch(/a dry run; nothing was changed/);
      expect(text).toMatch(/replicas could not be read/);
      expect(text).toMatch(/Pods could not be listed/);
    } finally {
      env.sim.clearFaults();
    }
  });
});
