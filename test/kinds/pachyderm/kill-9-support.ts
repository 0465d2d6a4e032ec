import { expect } from "vitest";
import { COMPLETE_FILE, pointFileKey } from "../../../src/backups/index.js";
import { listLiveObjects, pachyderm } from "../../../src/kinds/pachyderm/index.js";
import type { PachydermPoint } from "../../../src/kinds/pachyderm/points.js";
import { recordedCounts } from "../../../src/steps/index.js";
import { phaseRows } from "../../jobs/support/run-fixtures.js";
import { until } from "../../jobs/support/until.js";
import type { WorkerProcess } from "../../jobs/support/worker-process.js";
import {
  BACKUPS,
  idIn,
  LIVE,
  manifestOf,
  type PachydermChatEnv,
  pachdReplicas,
  requestPoint,
  TARGET,
} from "./chat-env.js";

/**
 * kill -9 of a real worker process (the worker entry point in a process of its own, as
 * `restorebot worker` runs) in the middle of a Pachyderm backup started with `/backup` through
 * the bot, then a new worker process that resumes it. Each kill lands at a signal (an object
 * count reached in the S3 stand-in, a pg_dump session seen waiting in PostgreSQL), never after a
 * fixed sleep. The end must be one complete, verified point: every live object in the manifest
 * once and in the pool once (each pool copy written once), one complete.json, each dump taken
 * once it was recorded, and pachd back at the count recorded before the first kill.
 */

export const POOL = "restorebot/objects/";
/** Live objects at the start: enough that copying them takes a while with a copy latency. */
export const OBJECTS = 200;

export const poolCount = (e: PachydermChatEnv) => e.s3.listKeys(BACKUPS, POOL).length;

/**
 * Starts a backup with `/backup` on worker A; each `kills` entry waits for its signal and then
 * kills the worker running the backup with SIGKILL, a new worker process taking over. The next
 * worker is started while the current one runs (so it is ready when the job stalls); it can
 * only take the job once its holder is dead.
 */
export async function backupWithKills(
  e: PachydermChatEnv,
  kills: Array<{ signal: () => Promise<void>; afterKill?: () => Promise<void> }>,
): Promise<{ id: string; workers: WorkerProcess[] }> {
  let current = await e.startWorkerProcess();
  const workers = [current];
  const id = idIn(await e.slash("/backup", `${TARGET} before the pachd upgrade CHG-301`));
  await until(
    async () => ((await phaseRows(e.h.runtime.pool, id)).length > 0 ? true : undefined),
    "worker A to start the backup",
  );
  for (const kill of kills) {
    const next = e.startWorkerProcess();
    await kill.signal();
    await current.kill9();
    await kill.afterKill?.();
    current = await next;
    workers.push(current);
  }
  const state = await e.waitForState(id, ["succeeded", "halted"], 120_000);
  expect(state, workers.map((w, i) => `worker ${i}:\n${w.output()}`).join("\n")).toBe("succeeded");
  return { id, workers };
}

/** How often each key of the backup bucket under `prefix` was written. */
export function writesUnder(e: PachydermChatEnv, prefix: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const w of e.s3.writeLog())
    if (w.bucket === BACKUPS && w.key.startsWith(prefix))
      counts.set(w.key, (counts.get(w.key) ?? 0) + 1);
  return counts;
}

/**
 * One complete, verified point: the manifest is the live bucket as it is now (nothing writes
 * after the pause), each object once; the pool holds exactly `expectedPool`, each written once;
 * one complete.json, written once; every phase succeeded; pachd at its recorded count.
 */
export async function expectOneCompletePoint(
  e: PachydermChatEnv,
  id: string,
  expectedPool: Set<string>,
): Promise<PachydermPoint> {
  const point = await requestPoint(e, id);
  const manifest = await manifestOf(e, point);
  const live = await listLiveObjects(e.store, { bucket: LIVE, prefix: "" });
  expect(manifest).toEqual(live);
  expect(new Set(manifest.map((o) => o.key)).size).toBe(manifest.length);
  expect(point.objectCount).toBe(live.length);

  const pool = e.s3.listKeys(BACKUPS, POOL);
  expect(new Set(pool)).toEqual(expectedPool);
  for (const o of manifest) expect(pool).toContain(`${POOL}${o.key}/${o.etag}`);
  const poolWrites = writesUnder(e, POOL);
  expect([...poolWrites.entries()].filter(([, n]) => n !== 1)).toEqual([]);

  const completes = e.s3
    .listKeys(BACKUPS, "restorebot/points/")
    .filter((k) => k.endsWith(COMPLETE_FILE));
  const completeKey = pointFileKey("restorebot/", point.asOf, COMPLETE_FILE);
  expect(completes).toEqual([completeKey]);
  expect(writesUnder(e, completeKey).get(completeKey)).toBe(1);
  expect(e.s3.pendingUploads()).toEqual([]);

  const verified = await pachyderm.points
    .source(e.h.runtime.config.targets[0] as never, () => e.store)
    .verifyPoint({ id: point.asOf, time: new Date(point.asOf) });
  expect(verified.problems).toEqual([]);
  expect(verified.ok).toBe(true);

  // pachd back at the count recorded before the first kill, and ready.
  const rows = await phaseRows(e.h.runtime.pool, id);
  const recorded = recordedCounts(rows.find((r) => r.phase === "scale-down")?.facts, "pachyderm");
  expect(Object.fromEntries(recorded?.original.map((w) => [w.name, w.replicas]) ?? [])).toEqual({
    pachd: 2,
    "pipeline-edges-v1": 1,
    "pipeline-montage-v1": 2,
  });
  expect(pachdReplicas(e)).toEqual({ spec: 2, ready: 2 });
  expect(rows.every((r) => r.state === "succeeded")).toBe(true);
  return point;
}
