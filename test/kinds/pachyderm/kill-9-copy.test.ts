import { afterEach, describe, expect, it } from "vitest";
import { listLiveObjects } from "../../../src/kinds/pachyderm/index.js";
import { phaseRows } from "../../jobs/support/run-fixtures.js";
import { until } from "../../jobs/support/until.js";
import { LIVE, type PachydermChatEnv, startPachydermChat } from "./chat-env.js";
import {
  backupWithKills,
  expectOneCompletePoint,
  OBJECTS,
  POOL,
  poolCount,
} from "./kill-9-support.js";
import { SEQUENTIAL_ADMIN_URL } from "./support.js";

/** kill -9 of the worker process during a backup's pre-copy (see kill-9-support.ts). */

let env: PachydermChatEnv | undefined;

afterEach(async () => {
  await env?.close();
  env = undefined;
});

describe("kill -9 of a worker process during a Pachyderm backup", { timeout: 180_000 }, () => {
  it("during the pre-copy: a new worker copies only what the pool lacks and completes one point", async () => {
    env = await startPachydermChat({
      label: "k9pre",
      adminUrl: SEQUENTIAL_ADMIN_URL,
      objects: OBJECTS,
    });
    const e = env;
    // Each copy takes a moment, so the copy of 200 objects is under way for a while.
    e.s3.setLatency(30, "CopyObject");
    let atKill = 0;
    const { id } = await backupWithKills(e, [
      {
        signal: async () => {
          atKill = await until(() => {
            const n = poolCount(e);
            return n >= 40 ? n : undefined;
          }, "40 objects copied into the pool");
        },
      },
    ]);
    expect(atKill).toBeLessThan(OBJECTS);
    const live = await listLiveObjects(e.store, { bucket: LIVE, prefix: "" });
    await expectOneCompletePoint(e, id, new Set(live.map((o) => `${POOL}${o.key}/${o.etag}`)));
    const rows = await phaseRows(e.h.runtime.pool, id);
    expect(rows.find((r) => r.phase === "pre-copy")?.attempt).toBe(2);
    const preCopy = rows.find((r) => r.phase === "pre-copy")?.facts.preCopy as {
      copied: number;
      skipped: number;
    };
    // The resumed pre-copy skipped what the killed worker had copied.
    expect(preCopy.skipped).toBeGreaterThanOrEqual(atKill);
    expect(preCopy.copied + preCopy.skipped).toBe(OBJECTS);
    const thread = await e.threadText(id);
    expect(thread).toMatch(/Backup of \*pach\* resumed at phase 2\/8 \(Copy the live objects/);
  });
});
