/**
 * The seed's file-level procedure on a real InfluxDB 1.x: stop the node, archive meta/ data/
 * wal/ through restorebot's streaming path into the object store, change the data, stop,
 * restore from the object, start, and query.
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ObjectStore } from "../../../src/adapters/s3/object-store.js";
import {
  archiveEntryOf,
  archiveKeyOf,
  archiveLocation,
  asOfOf,
  buildOssComplete,
  completeKeyOf,
  parseOssComplete,
} from "../../../src/kinds/influxdb-oss/archive-point.js";
import {
  deleteOldDirectories,
  restoreArchiveFromStore,
  streamBackupToStore,
} from "../../../src/kinds/influxdb-oss/archive-stream.js";
import { type S3StandIn, startS3StandIn } from "../../../stand-ins/s3/server.js";
import { objectStoreFor } from "../../support/s3.js";
import { createInfluxd, type Influxd } from "./support/influxd.js";
import { localExec } from "./support/local-exec.js";

const BUCKET = "influxdb-oss-backups";
const PREFIX = "archives/";
const LOC = archiveLocation({ bucket: BUCKET, prefix: PREFIX });
const T0 = 1_704_067_200; // 2024-01-01T00:00:00Z

let scratch: string;
let s3: S3StandIn;
let store: ObjectStore;
let influxd: Influxd;
let asOf: string;
// the v4 trap on: the exec that streams the archive in never reports a status
const exec = localExec({ loseStatusAfterStdin: true });

function cpu(i: number, value: number): string {
  return `cpu,host=web-${i} usage=${value} ${T0 + i * 60}`;
}

async function liveState(): Promise<{ databases: unknown[]; cpu: unknown[][]; app: unknown[][] }> {
  await influxd.start();
  try {
    const databases = (await influxd.column("SHOW DATABASES")).sort();
    const cpuRows = await influxd.rows("SELECT host, usage FROM cpu ORDER BY time", "telegraf");
    const app = databases.includes("app")
      ? await influxd.rows("SELECT path, hits FROM requests ORDER BY time", "app")
      : [];
    return { databases, cpu: cpuRows, app };
  } finally {
    await influxd.stop();
  }
}

async function restore(point: string, restoreId: string, source: ObjectStore = store) {
  const completeText = (
    await store.getStream(BUCKET, completeKeyOf(LOC, point)).then((o) => o.body.toArray())
  )
    .map((b: Buffer) => b.toString())
    .join("");
  const complete = parseOssComplete(completeText, `${PREFIX}${point}/complete.json`);
  return restoreArchiveFromStore({
    exec,
    store: source,
    bucket: BUCKET,
    key: archiveKeyOf(LOC, point),
    expected: archiveEntryOf(complete),
    dataDir: influxd.dataDir,
    restoreId,
  });
}

async function dataDirEntries(): Promise<string[]> {
  return (await readdir(influxd.dataDir)).sort();
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "influxd-file-level-"));
  s3 = await startS3StandIn({ buckets: [BUCKET] });
  store = objectStoreFor(s3);
  influxd = await createInfluxd(scratch);

  await influxd.start();
  await influxd.query("CREATE DATABASE telegraf");
  await influxd.query("CREATE DATABASE app");
  await influxd.write("telegraf", [cpu(1, 11.5), cpu(2, 22.5), cpu(3, 33.5)]);
  await influxd.write("app", [
    `requests,path=/a hits=5i ${T0 + 10}`,
    `requests,path=/b hits=7i ${T0 + 20}`,
  ]);
  // the process is stopped before the files are copied, as the seed requires
  await influxd.stop();

  asOf = asOfOf(new Date());
  const key = archiveKeyOf(LOC, asOf);
  const archive = await streamBackupToStore({
    exec,
    dataDir: influxd.dataDir,
    open: (key) => store.openUploadWriter(BUCKET, key, { contentType: "application/x-tar" }),
    key,
  });
  const complete = buildOssComplete({
    target: "influx1",
    asOf,
    archive,
    restorebotVersion: "test",
    directories: ["meta", "data", "wal"],
  });
  await store.put(BUCKET, completeKeyOf(LOC, asOf), JSON.stringify(complete));
  expect(s3.writeLog().map((w) => w.key)).toEqual([key, completeKeyOf(LOC, asOf)]);

  // after the backup: more points, and a database dropped
  await influxd.start();
  await influxd.write("telegraf", [cpu(4, 44.5), cpu(5, 55.5)]);
  await influxd.query("DROP DATABASE app");
  await influxd.stop();
}, 120_000);

afterAll(async () => {
  await influxd?.stop();
  await s3?.close();
  await rm(scratch, { recursive: true, force: true });
});

describe("InfluxDB OSS file-level backup and restore on a real influxd", () => {
  it("refuses an archive truncated in the object store before anything moves", async () => {
    const whole = s3.getObjectDirect(BUCKET, archiveKeyOf(LOC, asOf));
    if (!whole) throw new Error("archive missing");
    const damaged = "2024-06-01T00:00:00Z";
    s3.putObjectDirect(BUCKET, archiveKeyOf(LOC, damaged), whole.subarray(0, whole.length - 512));
    s3.putObjectDirect(
      BUCKET,
      completeKeyOf(LOC, damaged),
      s3.getObjectDirect(BUCKET, completeKeyOf(LOC, asOf)) ?? "",
    );
    const before = await dataDirEntries();
    await expect(restore(damaged, "truncated")).rejects.toThrow(
      new RegExp(
        `holds ${whole.length - 512} bytes but complete.json records ${whole.length}; the archive is damaged \\(nothing was changed\\)`,
      ),
    );
    expect(await dataDirEntries()).toEqual(before);
    const state = await liveState();
    expect(state.databases).toEqual(["telegraf"]);
    expect(state.cpu).toHaveLength(5);
  });

  it("puts the old directories back when the download breaks mid-extract", async () => {
    const total = s3.getObjectDirect(BUCKET, archiveKeyOf(LOC, asOf))?.length ?? 0;
    const cutAt = Math.floor(total / 2);
    const breaking: ObjectStore = {
      ...store,
      head: (b, k) => store.head(b, k),
      async getStream(b, k, range) {
        const object = await store.getStream(b, k, range);
        async function* cut() {
          let sent = 0;
          for await (const chunk of object.body) {
            const c = chunk as Buffer;
            if (sent + c.length > cutAt) {
              yield c.subarray(0, cutAt - sent);
              throw new Error("connection reset by peer");
            }
            sent += c.length;
            yield c;
          }
        }
        return { ...object, body: Readable.from(cut()) };
      },
    };
    await expect(restore(asOf, "broken", breaking)).rejects.toThrow(
      new RegExp(
        `reading the archive failed after \\d+ of ${total} bytes: connection reset by peer; the old directories are back in place`,
      ),
    );
    expect(await dataDirEntries()).toEqual(["data", "meta", "wal"]);
    // the node holds what it held before the attempt: five points, app still dropped
    const state = await liveState();
    expect(state.databases).toEqual(["telegraf"]);
    expect(state.cpu.map((r) => r[2])).toEqual([11.5, 22.5, 33.5, 44.5, 55.5]);
  });

  it("restores exactly the backed-up points, and the dropped database back", async () => {
    const { prepared, landed } = await restore(asOf, "r1");
    expect(prepared.present).toEqual(["meta", "data", "wal"]);
    expect(landed.extractedCleanly).toBe(true);

    const state = await liveState();
    expect(state.databases).toEqual(["app", "telegraf"]);
    expect(state.cpu).toEqual([
      ["2024-01-01T00:01:00Z", "web-1", 11.5],
      ["2024-01-01T00:02:00Z", "web-2", 22.5],
      ["2024-01-01T00:03:00Z", "web-3", 33.5],
    ]);
    expect(state.app).toEqual([
      ["2024-01-01T00:00:10Z", "/a", 5],
      ["2024-01-01T00:00:20Z", "/b", 7],
    ]);
    // the node answered: the old directories go
    expect(await dataDirEntries()).toEqual([".restorebot-old-r1", "data", "meta", "wal"]);
    await deleteOldDirectories({ exec, dataDir: influxd.dataDir, restoreId: "r1" });
    expect(await dataDirEntries()).toEqual(["data", "meta", "wal"]);
  });
});
