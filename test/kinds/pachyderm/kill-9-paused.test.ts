import { gunzipSync } from "node:zlib";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { pointFileKey } from "../../../src/backups/index.js";
import { listLiveObjects } from "../../../src/kinds/pachyderm/index.js";
import type { SimEvent } from "../../../stand-ins/kubernetes/index.js";
import { comparableDump } from "../../catalog-restore/support.js";
import { phaseRows } from "../../jobs/support/run-fixtures.js";
import { until } from "../../jobs/support/until.js";
import {
  BACKUPS,
  LIVE,
  type PachydermChatEnv,
  pachdReplicas,
  startPachydermChat,
} from "./chat-env.js";
import {
  backupWithKills,
  expectOneCompletePoint,
  OBJECTS,
  POOL,
  poolCount,
  writesUnder,
} from "./kill-9-support.js";
import { pgDumpOf, SEQUENTIAL_ADMIN_URL } from "./support.js";

/**
 * kill -9 of the worker process while Pachyderm is paused: during the delta copy, then during
 * the second database dump (see kill-9-support.ts).
 */

let env: PachydermChatEnv | undefined;

afterEach(async () => {
  await env?.close();
  env = undefined;
});

describe("kill -9 of a worker process during a paused Pachyderm backup", {
  timeout: 180_000,
}, () => {
  it("during the delta copy with pachd at 0, then during the second dump: pachd ends at its recorded count, each dump taken once", async () => {
    env = await startPachydermChat({
      label: "k9delta",
      adminUrl: SEQUENTIAL_ADMIN_URL,
      objects: OBJECTS,
    });
    const e = env;
    const before = await listLiveObjects(e.store, { bucket: LIVE, prefix: "" });
    // Writes that land as pachd is stopped: the delta copy has 150 new objects and 5 rewritten.
    const off = e.sim.on("change", ((ev: SimEvent) => {
      if (ev.type === "scale" && ev.component === "pachd" && ev.to === 0) {
        off();
        for (let i = 0; i < 150; i++)
          e.s3.putObjectDirect(LIVE, `late/${String(i).padStart(4, "0")}`, `late ${i} `.repeat(40));
        for (let i = 0; i < 5; i++)
          e.s3.putObjectDirect(LIVE, `chunks/${String(i).padStart(4, "0")}`, `rewritten ${i}`);
        e.s3.setLatency(30, "CopyObject");
      }
    }) as (event: SimEvent) => void);
    // dex's tables are locked by another session: its pg_dump waits, mid-dump, until released.
    const locker = new pg.Client({ connectionString: e.dex.url });
    await locker.connect();
    await locker.query("BEGIN; LOCK TABLE client IN ACCESS EXCLUSIVE MODE");
    const watcher = new pg.Client({ connectionString: SEQUENTIAL_ADMIN_URL });
    await watcher.connect();
    try {
      const { id } = await backupWithKills(e, [
        // Worker A: killed in the delta copy, while pachd and the workers are at 0.
        {
          signal: async () => {
            await until(
              () => (poolCount(e) >= OBJECTS + 40 ? true : undefined),
              "40 objects of the delta copied",
            );
            expect(pachdReplicas(e).spec).toBe(0);
          },
        },
        // Worker B: killed while dex's pg_dump waits, pachyderm's dump already recorded;
        // the lock is released once B is dead, so worker C can dump dex.
        {
          signal: async () => {
            await until(async () => {
              const { rows } = await watcher.query(
                "SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND application_name = 'pg_dump' AND wait_event_type = 'Lock'",
                [e.dex.name],
              );
              return rows.length > 0 ? true : undefined;
            }, "dex's pg_dump waiting on the lock");
            expect(pachdReplicas(e).spec).toBe(0);
          },
          afterKill: async () => {
            await locker.query("ROLLBACK");
          },
        },
      ]);
      const live = await listLiveObjects(e.store, { bucket: LIVE, prefix: "" });
      const pool = new Set([
        ...before.map((o) => `${POOL}${o.key}/${o.etag}`),
        ...live.map((o) => `${POOL}${o.key}/${o.etag}`),
      ]);
      expect(pool.size).toBe(OBJECTS + 150 + 5);
      const point = await expectOneCompletePoint(e, id, pool);
      const rows = await phaseRows(e.h.runtime.pool, id);
      expect(rows.find((r) => r.phase === "delta-copy")?.attempt).toBe(2);
      expect(rows.find((r) => r.phase === "dump-databases")?.attempt).toBe(2);
      // The dump recorded before the kill was not taken again; dex's was taken once it could be.
      for (const name of ["pachyderm.sql.gz", "dex.sql.gz"]) {
        const key = pointFileKey("restorebot/", point.asOf, name);
        expect(writesUnder(e, key).get(key), name).toBe(1);
      }
      const dexDump = e.s3.getObjectDirect(
        BACKUPS,
        pointFileKey("restorebot/", point.asOf, "dex.sql.gz"),
      ) as Buffer;
      expect(comparableDump(gunzipSync(dexDump).toString("utf8"))).toBe(await pgDumpOf(e.dex.url));
      const thread = await e.threadText(id);
      expect(thread).toMatch(/resumed at phase 4\/8 \(Copy what changed since the pre-copy/);
      expect(thread).toMatch(/resumed at phase 5\/8 \(Dump the databases\)/);
    } finally {
      await locker.end().catch(() => undefined);
      await watcher.end().catch(() => undefined);
    }
  });
});
