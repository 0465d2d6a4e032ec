import { gunzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { pointFileKey } from "../../../src/backups/index.js";
import { listLiveObjects } from "../../../src/kinds/pachyderm/index.js";
import { comparableDump } from "../../catalog-restore/support.js";
import { phaseRows } from "../../jobs/support/run-fixtures.js";
import { until } from "../../jobs/support/until.js";
import { BACKUPS, LIVE, type PachydermChatEnv, startPachydermChat } from "./chat-env.js";
import { backupWithKills, expectOneCompletePoint, OBJECTS, POOL } from "./kill-9-support.js";
import { pgDumpOf, SEQUENTIAL_ADMIN_URL } from "./support.js";

/**
 * kill -9 of the worker process while a database dump is being uploaded in parts: the killed
 * worker's multipart upload is neither completed nor aborted, and its parts would stay billed.
 * The resumed run aborts it before dumping again (see kill-9-support.ts for the kill itself).
 */

let env: PachydermChatEnv | undefined;

afterEach(async () => {
  await env?.close();
  env = undefined;
});

describe("kill -9 of a worker process during a dump's multipart upload", {
  timeout: 180_000,
}, () => {
  it("the resumed run aborts the killed worker's upload: no incomplete upload remains", async () => {
    env = await startPachydermChat({
      label: "k9part",
      adminUrl: SEQUENTIAL_ADMIN_URL,
      objects: OBJECTS,
    });
    const e = env;
    // About 20 MB of hex text: gzipped, more than one 8 MiB part, so the dump goes multipart.
    await e.pach.query(
      "CREATE TABLE bulk AS SELECT g AS id, (SELECT string_agg(md5(random()::text || g || i), '') FROM generate_series(1, 500) AS i) AS body FROM generate_series(1, 1300) AS g",
    );
    // Every part sent to the backup bucket waits in the stand-in until released: the worker
    // is killed while its dump's first part is in flight.
    const hold = e.s3.holdRequests({ op: "UploadPart", bucket: BACKUPS });
    let orphan: { key: string; uploadId: string } | undefined;
    const { id } = await backupWithKills(e, [
      {
        signal: async () => {
          await until(() => (hold.held() > 0 ? true : undefined), "a dump part in flight");
          orphan = e.s3.pendingUploads().find((u) => u.bucket === BACKUPS);
        },
        afterKill: async () => {
          hold.release();
        },
      },
    ]);
    expect(orphan?.key).toMatch(/^restorebot\/points\/[^/]+\/pachyderm\.sql\.gz$/);

    const live = await listLiveObjects(e.store, { bucket: LIVE, prefix: "" });
    const point = await expectOneCompletePoint(
      e,
      id,
      new Set(live.map((o) => `${POOL}${o.key}/${o.etag}`)),
    );
    // expectOneCompletePoint checked that no multipart upload is pending; this one was aborted
    // by the resumed run, not completed.
    const key = pointFileKey("restorebot/", point.asOf, "pachyderm.sql.gz");
    expect(orphan?.key).toBe(key);
    expect(
      e.s3
        .requests()
        .filter((r) => r.op === "AbortMultipartUpload" && r.query.uploadId === orphan?.uploadId)
        .map((r) => r.status),
    ).toEqual([204]);
    const dump = e.s3.getObjectDirect(BACKUPS, key) as Buffer;
    expect(comparableDump(gunzipSync(dump).toString("utf8"))).toBe(await pgDumpOf(e.pach.url));
    const rows = await phaseRows(e.h.runtime.pool, id);
    expect(rows.find((r) => r.phase === "dump-databases")?.attempt).toBe(2);
    const thread = await e.threadText(id);
    expect(thread).toMatch(/resumed at phase 5\/8 \(Dump the databases\)/);
    expect(thread).toContain(
      `Aborted 1 incomplete multipart upload that an interrupted run left under s3://${BACKUPS}/restorebot/points/${point.asOf}/ (pachyderm.sql.gz started`,
    );
  });
});
