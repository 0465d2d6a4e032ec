import { gunzipSync, gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { BUCKET, type RestoreEnv, startRestoreEnv } from "./support/restore-env.js";
import { phaseRows, requestRow } from "./support/run-fixtures.js";

let env: RestoreEnv | undefined;

afterEach(async () => {
  await env?.close();
  env = undefined;
});

/** Nothing on the cluster moved, and no phase after the point check ran. */
async function expectStoppedBeforeAnyChange(e: RestoreEnv, id: string): Promise<void> {
  expect(e.sim.events().filter((x) => x.type === "scale" || x.type === "pause")).toEqual([]);
  const phases = await phaseRows(e.pool, id);
  expect(phases.map((p) => p.phase)).toEqual(["check-recovery-point"]);
}

describe("phase 1 re-checks the point frozen at request time", () => {
  it("stops before any change when the dump was replaced between request and run (ETag changed)", async () => {
    env = await startRestoreEnv({ label: "etag_changed" });
    const e = env;
    const { id } = await e.newRequest();
    // Same folder, same name, different content: e.g. a re-run snapshot job overwrote it.
    const sql = gunzipSync(e.snapshot.dumpGzip).toString("utf8");
    e.s3.putObjectDirect(BUCKET, e.snapshot.dumpKey, gzipSync(`${sql}\n-- rewritten\n`));
    e.startWorker();
    await e.enqueue(id);
    expect(await e.waitForState(id, ["halted", "succeeded"], 30_000)).toBe("halted");
    const row = await requestRow(e.pool, id);
    expect(row.halted_reason).toMatch(
      /pg_dump\.gz changed since the request was approved \(ETag "[0-9a-f]+", approved "[0-9a-f]+"\)\. Nothing was changed; make a new request/,
    );
    await expectStoppedBeforeAnyChange(e, id);
  });

  it("stops before any change when the request froze no ETag, instead of skipping the check", async () => {
    env = await startRestoreEnv({ label: "etag_null" });
    const e = env;
    const { id } = await e.newRequest();
    await e.pool.query(
      "UPDATE restore_requests SET point = jsonb_set(point, '{dumpEtag}', 'null') WHERE id = $1",
      [id],
    );
    e.startWorker();
    await e.enqueue(id);
    expect(await e.waitForState(id, ["halted", "succeeded"], 30_000)).toBe("halted");
    expect((await requestRow(e.pool, id)).halted_reason).toMatch(
      /froze no ETag for .*pg_dump\.gz, so I cannot check that the dump is still the one approved\. Nothing was changed/,
    );
    await expectStoppedBeforeAnyChange(e, id);
  });

  it("stops before any change when the HEAD of the dump has no ETag, and says so in plain words", async () => {
    env = await startRestoreEnv({ label: "etag_head_missing" });
    const e = env;
    const { id } = await e.newRequest();
    e.s3.setOmitEtags(["HeadObject"]);
    e.startWorker();
    await e.enqueue(id);
    expect(await e.waitForState(id, ["halted", "succeeded"], 30_000)).toBe("halted");
    const reason = (await requestRow(e.pool, id)).halted_reason ?? "";
    expect(reason).toMatch(
      /pg_dump\.gz without an ETag, so I cannot check that the dump is still the one approved \(ETag "[0-9a-f]+"\)\. Nothing was changed; check that the store returns ETags/,
    );
    expect(reason).not.toMatch(/ETag ,|ETag undefined|ETag null/);
    await expectStoppedBeforeAnyChange(e, id);
  });
});

describe("phase 2 never takes a download without the frozen ETag for the approved dump", () => {
  it("stops before any change when the download carries no ETag, although its content would pass an MD5 check", async () => {
    env = await startRestoreEnv({ label: "etag_get_missing" });
    const e = env;
    const { id } = await e.newRequest();
    // HEAD still answers with the ETag (phase 1 passes); only the download omits it.
    e.s3.setOmitEtags(["GetObject"]);
    e.startWorker();
    await e.enqueue(id);
    expect(await e.waitForState(id, ["halted", "succeeded"], 30_000)).toBe("halted");
    expect((await requestRow(e.pool, id)).halted_reason).toMatch(
      /The store sent s3:\/\/.*pg_dump\.gz without an ETag, so I cannot check that the download is the dump approved \(ETag "[0-9a-f]+"\)\. Nothing was changed; check that the store returns ETags on downloads/,
    );
    expect(e.sim.events().filter((x) => x.type === "scale" || x.type === "pause")).toEqual([]);
    const phases = await phaseRows(e.pool, id);
    expect(phases.map((p) => p.phase)).toEqual(["check-recovery-point", "prepare-snapshot"]);
  });
});
