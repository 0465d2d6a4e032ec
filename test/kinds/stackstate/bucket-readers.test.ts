import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ObjectStore } from "../../../src/adapters/s3/object-store.js";
import { listClickHouseBackups } from "../../../src/kinds/stackstate/clickhouse-points.js";
import {
  findStackStatePoint,
  listStackStatePoints,
} from "../../../src/kinds/stackstate/list-stackstate-points.js";
import {
  describeMetricsVersions,
  listMetricsVersions,
  VMBACKUP_COMPLETE_MARKER,
} from "../../../src/kinds/stackstate/metrics-points.js";
import { parseStackStatePoint } from "../../../src/kinds/stackstate/point-ref.js";
import type { StackStateStoresConfig } from "../../../src/kinds/stackstate/points.js";
import { listStackGraphBackups } from "../../../src/kinds/stackstate/stackgraph-points.js";
import { verifyStackStatePoint } from "../../../src/kinds/stackstate/verify-point.js";
import { standInObjectStore } from "../../../stand-ins/s3/sdk-store.js";
import { type S3StandIn, startS3StandIn } from "../../../stand-ins/s3/server.js";
import { makeVmBackupFixture, type VmBackupFixture } from "./support/vmbackup-fixture.js";

const SG = "sts-stackgraph-backup";
const VM = "sts-victoria-metrics-backup";
const CH = "sts-clickhouse-backup";
const NOW = new Date("2024-06-18T12:00:00Z");

const stores: StackStateStoresConfig = {
  stackgraph: { bucket: SG },
  metrics: { bucket: VM, instances: ["victoria-metrics-0", "victoria-metrics-1"] },
  clickhouse: { bucket: CH },
};

/**
 * clickhouse-backup is not packaged by Debian, so its remote layout here follows its source
 * (Altinity/clickhouse-backup: pkg/metadata/backup_metadata.go for `metadata.json`'s fields,
 * pkg/storage's BackupList for how the tool itself lists: the root's folders, then each
 * `<name>/metadata.json`, a folder without one being "broken").
 */
function putClickHouseBackup(
  s3: S3StandIn,
  name: string,
  created: string,
  required?: string,
): void {
  const metadata = {
    backup_name: name,
    disks: { default: "/var/lib/clickhouse" },
    version: "2.5.13",
    creation_date: created,
    tags: "regular",
    clickhouse_version: "v24.3.2.23",
    data_size: 35_000,
    metadata_size: 1200,
    compressed_size: 7_000,
    databases: [{ name: "otel", engine: "Atomic" }],
    tables: [{ database: "otel", table: "otel_traces" }],
    functions: [],
    data_format: "tar",
    ...(required === undefined ? {} : { required_backup: required }),
  };
  s3.putObjectDirect(CH, `${name}/shadow/otel/otel_traces/default.tar`, "tar-bytes");
  s3.putObjectDirect(CH, `${name}/metadata/otel/otel_traces.json`, "{}");
  // metadata.json is uploaded last, as the tool does.
  s3.putObjectDirect(CH, `${name}/metadata.json`, JSON.stringify(metadata, null, "\t"));
}

describe("StackState bucket readers, with the real SDK against the S3 stand-in", () => {
  let s3: S3StandIn;
  let store: ObjectStore;
  let vm: VmBackupFixture;

  beforeAll(async () => {
    s3 = await startS3StandIn({ buckets: [SG, VM, CH] });
    store = standInObjectStore(s3);

    // StackGraph: daily full files, a split archive, a half-uploaded split archive, a stray file.
    for (const day of ["15", "16", "17"])
      s3.putObjectDirect(SG, `sts-backup-202406${day}-0300.graph`, `graph-${day}`);
    s3.putObjectDirect(SG, "sts-backup-20240618-0300.graph.00", "part0");
    s3.putObjectDirect(SG, "sts-backup-20240618-0300.graph.01", "part1");
    s3.putObjectDirect(SG, "sts-backup-20240618-0900.graph.01", "part1 without part0");
    s3.putObjectDirect(SG, "notes.txt", "not a backup");

    // Victoria Metrics: what real vmbackup writes, uploaded file by file.
    vm = await makeVmBackupFixture([
      { instance: "victoria-metrics-0", version: "victoria-metrics-0-20240617030000" },
      { instance: "victoria-metrics-0", version: "victoria-metrics-0-20240618030000" },
      { instance: "victoria-metrics-1", version: "victoria-metrics-1-20240618030000" },
      { instance: "victoria-metrics-1", version: "victoria-metrics-1-20240618090000" },
    ]);
    for (const file of await vm.files()) {
      // victoria-metrics-1's 09:00 version is left as vmbackup leaves a run it has not
      // finished: everything but the marker, which it writes last.
      if (
        file.key ===
        `victoria-metrics-1/victoria-metrics-1-20240618090000/${VMBACKUP_COMPLETE_MARKER}`
      )
        continue;
      s3.putObjectDirect(VM, file.key, await readFile(file.path), { lastModified: file.mtime });
    }

    // ClickHouse: full → incr → incr; a second full with an incremental; an incremental whose
    // base was pruned; a backup still uploading (no metadata.json).
    putClickHouseBackup(s3, "full_2024-06-17T00-45-00", "2024-06-17T00:45:00Z");
    putClickHouseBackup(
      s3,
      "incremental_2024-06-17T03-45-00",
      "2024-06-17T03:45:00Z",
      "full_2024-06-17T00-45-00",
    );
    putClickHouseBackup(
      s3,
      "incremental_2024-06-17T04-45-00",
      "2024-06-17T04:45:00Z",
      "incremental_2024-06-17T03-45-00",
    );
    putClickHouseBackup(s3, "full_2024-06-18T00-45-00", "2024-06-18T00:45:00Z");
    putClickHouseBackup(
      s3,
      "incremental_2024-06-18T03-45-00",
      "2024-06-18T03:45:00Z",
      "full_2024-06-18T00-45-00",
    );
    putClickHouseBackup(
      s3,
      "incremental_2024-06-16T05-45-00",
      "2024-06-16T05:45:00Z",
      "incremental_2024-06-16T04-45-00",
    );
    s3.putObjectDirect(
      CH,
      "incremental_2024-06-18T04-45-00/shadow/otel/otel_traces/default.tar",
      "partial",
    );
  }, 60_000);
  afterAll(async () => {
    await s3?.close();
    await vm?.close();
  });
  beforeEach(() => s3.resetCounts());

  it("reads StackGraph backups with the time from their names, one point per split archive", async () => {
    const listing = await listStackGraphBackups(store, { bucket: SG });
    expect(
      listing.points.map((p) => [p.name, p.time?.toISOString(), p.notRestorable === undefined]),
    ).toEqual([
      ["sts-backup-20240618-0900.graph", "2024-06-18T09:00:00.000Z", false],
      ["sts-backup-20240618-0300.graph", "2024-06-18T03:00:00.000Z", true],
      ["sts-backup-20240617-0300.graph", "2024-06-17T03:00:00.000Z", true],
      ["sts-backup-20240616-0300.graph", "2024-06-16T03:00:00.000Z", true],
      ["sts-backup-20240615-0300.graph", "2024-06-15T03:00:00.000Z", true],
    ]);
    expect(listing.points[0]?.notRestorable).toMatch(/part \.00 of the split archive is missing/);
    expect(listing.points[1]).toMatchObject({
      keys: ["sts-backup-20240618-0300.graph.00", "sts-backup-20240618-0300.graph.01"],
      sizeBytes: 10,
    });
    expect(listing.skipped).toEqual(["notes.txt"]);
    expect(listing.requests).toBe(1);
  });

  it("recognises the layout real vmbackup writes: versions per instance, complete only with backup_complete.ignore", async () => {
    const files = await vm.files();
    // The fixture really is vmbackup's: data parts, and the marker at the version's root.
    expect(
      files.some(
        (f) =>
          f.key ===
          `victoria-metrics-0/victoria-metrics-0-20240618030000/${VMBACKUP_COMPLETE_MARKER}`,
      ),
    ).toBe(true);
    expect(
      files.filter((f) => f.key.startsWith("victoria-metrics-0/victoria-metrics-0-20240618030000/"))
        .length,
    ).toBeGreaterThan(5);

    const config = stores.metrics!;
    const listed = await listMetricsVersions(store, config);
    expect(listed.versions.map((v) => v.name)).toEqual([
      "victoria-metrics-1/victoria-metrics-1-20240618090000",
      "victoria-metrics-1/victoria-metrics-1-20240618030000",
      "victoria-metrics-0/victoria-metrics-0-20240618030000",
      "victoria-metrics-0/victoria-metrics-0-20240617030000",
    ]);
    const { points } = await describeMetricsVersions(store, config, listed.versions);
    expect(points.map((p) => p.complete)).toEqual([false, true, true, true]);
    expect(points[0]?.notRestorable).toMatch(/no backup_complete\.ignore/);
    const marker = files.find(
      (f) =>
        f.key ===
        `victoria-metrics-1/victoria-metrics-1-20240618030000/${VMBACKUP_COMPLETE_MARKER}`,
    );
    expect(points[1]?.lastCompleted?.getTime()).toBe(
      Math.floor(marker!.mtime.getTime() / 1000) * 1000,
    );
  });

  it("reads ClickHouse backups: full or incremental, each incremental's chain, and why a broken one is not restorable", async () => {
    const { points } = await listClickHouseBackups(store, { bucket: CH });
    const byName = new Map(points.map((p) => [p.name, p]));
    expect(byName.get("incremental_2024-06-17T04-45-00")).toMatchObject({
      kind: "incremental",
      requiredBackup: "incremental_2024-06-17T03-45-00",
      chain: [
        "full_2024-06-17T00-45-00",
        "incremental_2024-06-17T03-45-00",
        "incremental_2024-06-17T04-45-00",
      ],
      notRestorable: undefined,
    });
    expect(byName.get("full_2024-06-18T00-45-00")).toMatchObject({
      kind: "full",
      chain: ["full_2024-06-18T00-45-00"],
    });
    expect(byName.get("incremental_2024-06-16T05-45-00")?.notRestorable).toBe(
      "its base incremental_2024-06-16T04-45-00 (required by incremental_2024-06-16T05-45-00) is gone from the bucket, so the chain cannot be restored",
    );
    expect(byName.get("incremental_2024-06-18T04-45-00")).toMatchObject({
      complete: false,
      time: undefined,
    });
    expect(byName.get("incremental_2024-06-18T04-45-00")?.notRestorable).toMatch(
      /no metadata\.json/,
    );
    expect(points[0]?.name).toBe("incremental_2024-06-18T03-45-00");
  });

  it("groups the listing by store with each store's newest complete point and RPO; --store and --limit per store", async () => {
    const groups = await listStackStatePoints({
      stores,
      readers: { objectStore: store },
      limit: 2,
      now: NOW,
    });
    expect(
      groups.map((g) => [
        g.store,
        g.points.length,
        g.total,
        g.newestComplete?.name,
        g.rpoMs,
        g.error,
      ]),
    ).toEqual([
      ["stackgraph", 2, 5, "sts-backup-20240618-0300.graph", 9 * 3_600_000, undefined],
      [
        "metrics",
        2,
        4,
        expect.stringMatching(/^victoria-metrics-[01]\/victoria-metrics-[01]-20240618030000$/),
        expect.any(Number),
        undefined,
      ],
      ["clickhouse", 2, 7, "incremental_2024-06-18T03-45-00", (8 * 60 + 15) * 60_000, undefined],
    ]);
    const metrics = groups[1]!;
    expect(metrics.instances?.map((i) => [i.instance, i.newestComplete?.version])).toEqual([
      ["victoria-metrics-0", "victoria-metrics-0-20240618030000"],
      ["victoria-metrics-1", "victoria-metrics-1-20240618030000"],
    ]);

    const only = await listStackStatePoints({
      stores,
      readers: { objectStore: store },
      store: "clickhouse",
      now: NOW,
    });
    expect(only.map((g) => g.store)).toEqual(["clickhouse"]);
    await expect(
      listStackStatePoints({
        stores,
        readers: { objectStore: store },
        store: "elasticsearch",
        now: NOW,
      }),
    ).rejects.toThrow(/no elasticsearch store \(it has stackgraph, metrics, clickhouse\)/);
  });

  it("a store that cannot be read says why in its group; the others are still listed", async () => {
    s3.failNext({ bucket: CH, status: 403 });
    const groups = await listStackStatePoints({
      stores,
      readers: { objectStore: store },
      now: NOW,
    });
    expect(groups.find((g) => g.store === "clickhouse")?.error).toMatch(
      /S3 refused list on bucket "sts-clickhouse-backup"/,
    );
    expect(groups.find((g) => g.store === "stackgraph")?.points.length).toBe(5);
  });

  it("resolves <store>:latest and named points, refusing missing and unrestorable ones with what to type", async () => {
    const opts = { stores, readers: { objectStore: store }, now: NOW };
    expect((await findStackStatePoint(parseStackStatePoint("clickhouse:latest"), opts)).name).toBe(
      "incremental_2024-06-18T03-45-00",
    );
    expect((await findStackStatePoint(parseStackStatePoint("stackgraph:latest"), opts)).name).toBe(
      "sts-backup-20240618-0300.graph",
    );
    await expect(
      findStackStatePoint(parseStackStatePoint("clickhouse:incremental_2024-06-16T05-45-00"), opts),
    ).rejects.toThrow(
      /cannot be restored: its base incremental_2024-06-16T04-45-00 .* is gone.*--store clickhouse/,
    );
    await expect(
      findStackStatePoint(parseStackStatePoint("stackgraph:sts-backup-20200101-0300.graph"), opts),
    ).rejects.toThrow(/is not in the stackgraph store \(s3:\/\/sts-stackgraph-backup\/\)/);
    await expect(
      findStackStatePoint(
        parseStackStatePoint("metrics:victoria-metrics-1/victoria-metrics-1-20240618090000"),
        opts,
      ),
    ).rejects.toThrow(/vmbackup has not completed this version/);
    const named = await findStackStatePoint(
      parseStackStatePoint("metrics:victoria-metrics-0/victoria-metrics-0-20240617030000"),
      opts,
    );
    expect(named).toMatchObject({ store: "metrics", complete: true });
  });

  it("verifies per store: files readable, a VM version complete, a ClickHouse chain whole", async () => {
    const opts = { stores, readers: { objectStore: store }, now: NOW };
    const incr = await findStackStatePoint(
      parseStackStatePoint("clickhouse:incremental_2024-06-17T04-45-00"),
      opts,
    );
    const ok = await verifyStackStatePoint(incr, stores, opts.readers);
    expect(ok).toMatchObject({ ok: true, problems: [] });
    expect(ok.checked).toHaveLength(3);

    // The chain's full backup loses a data file: the incremental no longer verifies.
    s3.deleteObjectDirect(CH, "full_2024-06-17T00-45-00/metadata.json");
    const broken = await verifyStackStatePoint(incr, stores, opts.readers);
    expect(broken.ok).toBe(false);
    expect(broken.problems[0]).toMatch(
      /^full_2024-06-17T00-45-00: .*metadata\.json does not exist/,
    );

    const version = await findStackStatePoint(parseStackStatePoint("metrics:latest"), opts);
    expect(await verifyStackStatePoint(version, stores, opts.readers)).toMatchObject({ ok: true });
    const graph = await findStackStatePoint(parseStackStatePoint("stackgraph:latest"), opts);
    expect(await verifyStackStatePoint(graph, stores, opts.readers)).toMatchObject({
      ok: true,
      checked: ["2 files, 10 bytes"],
    });
    s3.deleteObjectDirect(SG, "sts-backup-20240618-0300.graph.01");
    const gone = await verifyStackStatePoint(graph, stores, opts.readers);
    expect(gone.problems[0]).toMatch(/sts-backup-20240618-0300\.graph\.01 cannot be read/);
  });
});
