import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { fetchElasticsearchHttp } from "../../../src/kinds/stackstate/elasticsearch-http.js";
import { listElasticsearchSnapshots } from "../../../src/kinds/stackstate/elasticsearch-points.js";
import {
  deleteIndices,
  indicesToRestore,
  startSnapshotRestore,
  waitForRestoreRecovery,
} from "../../../src/kinds/stackstate/elasticsearch-restore.js";
import { listStackStatePoints } from "../../../src/kinds/stackstate/list-stackstate-points.js";
import { verifyStackStatePoint } from "../../../src/kinds/stackstate/verify-point.js";
import {
  type ElasticsearchStandIn,
  startElasticsearchStandIn,
} from "../../../stand-ins/elasticsearch/server.js";

const REPO = "sts-backup";
const SNAP = "sts-backup-20240618-0300-ppss8nx40ykppss8nx40yk";
const INDICES = [
  "sts_internal_events-2024.06.17",
  "sts_multi_metrics-2024.06.17",
  "sts_topology_events-2024.06.17",
];

describe("Elasticsearch snapshot-API stand-in: the documented endpoints and shapes, with plain fetch", () => {
  let es: ElasticsearchStandIn;
  beforeAll(async () => {
    es = await startElasticsearchStandIn();
    es.addSnapshot(REPO, {
      snapshot: "sts-backup-20240617-0300-aaa",
      indices: INDICES.slice(0, 2),
      startTime: new Date("2024-06-17T03:00:00Z"),
    });
    es.addSnapshot(REPO, {
      snapshot: SNAP,
      indices: INDICES,
      startTime: new Date("2024-06-18T03:00:00Z"),
      shardsPerIndex: 2,
    });
  });
  afterAll(async () => {
    await es?.close();
  });

  it("GET _snapshot/<repo>/_all answers { snapshots: [...] } with the 7.x fields", async () => {
    const res = await fetch(`${es.url}/_snapshot/${REPO}/_all`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { snapshots: Array<Record<string, unknown>> };
    expect(body.snapshots[1]).toMatchObject({
      snapshot: SNAP,
      uuid: expect.any(String),
      indices: INDICES,
      state: "SUCCESS",
      start_time: "2024-06-18T03:00:00.000Z",
      start_time_in_millis: Date.parse("2024-06-18T03:00:00Z"),
      end_time_in_millis: expect.any(Number),
      failures: [],
      shards: { total: 6, failed: 0, successful: 6 },
    });
    const missing = await fetch(`${es.url}/_snapshot/nope/_all`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({
      error: { type: "repository_missing_exception" },
      status: 404,
    });
  });

  it("_cat/indices and DELETE <index> as Elasticsearch answers them; restore refuses over an open index", async () => {
    es.addIndex("sts_internal_events-2024.06.17", { docs: 125 });
    const cat = (await (await fetch(`${es.url}/_cat/indices?format=json`)).json()) as Array<
      Record<string, string>
    >;
    expect(cat).toContainEqual(
      expect.objectContaining({
        index: "sts_internal_events-2024.06.17",
        health: "green",
        status: "open",
        pri: "1",
        "docs.count": "125",
      }),
    );
    const refused = await fetch(`${es.url}/_snapshot/${REPO}/${SNAP}/_restore`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ indices: "sts_internal_events-2024.06.17" }),
    });
    expect(refused.status).toBe(500);
    expect(((await refused.json()) as { error: { reason: string } }).error.reason).toMatch(
      /cannot restore index \[sts_internal_events-2024\.06\.17\] because an open index with same name already exists/,
    );
    const deleted = await fetch(`${es.url}/sts_internal_events-2024.06.17`, { method: "DELETE" });
    expect(await deleted.json()).toEqual({ acknowledged: true });
    const again = await fetch(`${es.url}/sts_internal_events-2024.06.17`, { method: "DELETE" });
    expect(again.status).toBe(404);
    expect(await again.json()).toMatchObject({
      error: {
        type: "index_not_found_exception",
        reason: "no such index [sts_internal_events-2024.06.17]",
      },
    });
  });
});

describe("Elasticsearch listing and restore, through the ElasticsearchHttp function", () => {
  let es: ElasticsearchStandIn;
  beforeEach(async () => {
    es = await startElasticsearchStandIn();
    es.addSnapshot(REPO, {
      snapshot: "sts-backup-20240616-0300-old",
      indices: INDICES,
      startTime: new Date("2024-06-16T03:00:00Z"),
    });
    es.addSnapshot(REPO, {
      snapshot: SNAP,
      indices: INDICES,
      startTime: new Date("2024-06-18T03:00:00Z"),
      shardsPerIndex: 2,
    });
    es.addSnapshot(REPO, {
      snapshot: "sts-backup-20240618-0900-partial",
      indices: INDICES,
      startTime: new Date("2024-06-18T09:00:00Z"),
      state: "PARTIAL",
    });
    for (const name of INDICES) es.addIndex(name, { docs: 10 });
    es.addIndex("sts_other-2024.06.18", { docs: 3 });
  });
  afterEach(async () => {
    await es?.close();
  });

  it("lists snapshots newest first with indices and state; a PARTIAL one is not the newest complete", async () => {
    const http = fetchElasticsearchHttp(es.url);
    const listing = await listElasticsearchSnapshots(http, { repository: REPO });
    expect(listing.points.map((p) => [p.name, p.state, p.notRestorable])).toEqual([
      [
        "sts-backup-20240618-0900-partial",
        "PARTIAL",
        "the snapshot's state is PARTIAL (1 of 3 shards failed)",
      ],
      [SNAP, "SUCCESS", undefined],
      ["sts-backup-20240616-0300-old", "SUCCESS", undefined],
    ]);
    const [group] = await listStackStatePoints({
      stores: {
        elasticsearch: { service: "stackstate-elasticsearch-master", port: 9200, repository: REPO },
      },
      readers: { elasticsearch: http },
      now: new Date("2024-06-18T12:00:00Z"),
    });
    expect(group).toMatchObject({
      store: "elasticsearch",
      total: 3,
      newestComplete: { name: SNAP },
      rpoMs: 9 * 3_600_000,
      requests: 1,
    });
    const verified = await verifyStackStatePoint(
      group!.newestComplete!,
      { elasticsearch: { service: "x", port: 9200, repository: REPO } },
      { elasticsearch: http },
    );
    expect(verified).toMatchObject({ ok: true, checked: ["state SUCCESS, 3 indices, 6/6 shards"] });
  });

  it("deletes exactly the snapshot's indices (narrowed by --indices), restores them and waits for recovery", async () => {
    const http = fetchElasticsearchHttp(es.url);
    const snapshot = (await listElasticsearchSnapshots(http, { repository: REPO })).points[1]!;
    const chosen = indicesToRestore(snapshot, [
      "sts_multi_metrics-2024.06.17",
      "sts_internal_events-2024.06.17",
    ]);
    expect(await deleteIndices(http, chosen)).toEqual(chosen);
    // Idempotent when resumed: nothing left to delete.
    expect(await deleteIndices(http, chosen)).toEqual([]);
    expect(es.indexNames()).toEqual(["sts_other-2024.06.18", "sts_topology_events-2024.06.17"]);

    es.holdRecovery();
    await startSnapshotRestore(http, REPO, SNAP, chosen);
    const seen: number[] = [];
    const waiting = waitForRestoreRecovery(http, chosen, {
      timeoutMs: 10_000,
      onProgress: (p) => {
        seen.push(p.primariesDone);
        if (seen.length === 2) es.releaseRecovery();
      },
    });
    const done = await waiting;
    expect(done).toEqual({ indices: 2, primaries: 4, primariesDone: 4, missing: [] });
    expect(seen[0]).toBe(0);
    expect(es.index("sts_multi_metrics-2024.06.17")?.origin).toEqual({
      type: "SNAPSHOT",
      repository: REPO,
      snapshot: SNAP,
    });
    expect(es.index("sts_topology_events-2024.06.17")?.origin.type).toBe("EMPTY_STORE");
  });

  it("a restore that leaves primary shards unassigned fails with each shard and Elasticsearch's reason", async () => {
    const http = fetchElasticsearchHttp(es.url);
    es.failShards("sts_topology_events-2024.06.17", [1]);
    await deleteIndices(http, INDICES);
    await startSnapshotRestore(http, REPO, SNAP, INDICES);
    await expect(waitForRestoreRecovery(http, INDICES, { timeoutMs: 10_000 })).rejects.toThrow(
      /could not restore 1 primary shard: sts_topology_events-2024\.06\.17 shard 1: failed shard on node .*IndexShardRestoreFailedException/,
    );
  });

  it("a recovery that does not finish in time says how far it got", async () => {
    const http = fetchElasticsearchHttp(es.url);
    es.holdRecovery();
    await deleteIndices(http, INDICES);
    await startSnapshotRestore(http, REPO, SNAP, INDICES);
    await expect(
      waitForRestoreRecovery(http, INDICES, { timeoutMs: 300, maxIntervalMs: 50 }),
    ).rejects.toThrow(/did not finish within 0 s: 0 of 6 primary shards recovered/);
  });

  it("restoring over an index that still exists is refused with Elasticsearch's own reason", async () => {
    const http = fetchElasticsearchHttp(es.url);
    await expect(startSnapshotRestore(http, REPO, SNAP, INDICES)).rejects.toThrow(
      /Elasticsearch refused to restore snapshot ".*": POST \/_snapshot\/sts-backup\/.*\/_restore answered 500 \(snapshot_restore_exception: .*open index with same name already exists/,
    );
  });
});
