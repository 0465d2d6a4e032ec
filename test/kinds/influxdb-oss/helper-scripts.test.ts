import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chown, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CodedError } from "../../../src/errors.js";
import {
  confirmArchiveLanded,
  deleteOldDirectories,
  estimateArchive,
  prepareRestore,
  putOldDirectoriesBack,
  streamArchiveIn,
  streamBackupToStore,
} from "../../../src/kinds/influxdb-oss/archive-stream.js";
import { execCollect } from "../../../src/kinds/influxdb-oss/helper-exec.js";
import {
  backupScript,
  checkRestoreId,
  extractArchiveScript,
  prepareRestoreScript,
  shCommand,
  shellQuote,
} from "../../../src/kinds/influxdb-oss/helper-scripts.js";
import { localExec } from "./support/local-exec.js";

const exec = localExec();
let scratch: string;
let dataDir: string;

/** A data directory shaped like InfluxDB 1.x's, owned by 1234:5678 as the node's user would be. */
async function seedDataDir(dir: string, label: string, withWal = true): Promise<void> {
  await mkdir(join(dir, "meta"), { recursive: true });
  await mkdir(join(dir, "data", "telegraf", "autogen", "1"), { recursive: true });
  await writeFile(join(dir, "meta", "meta.db"), `meta ${label}`);
  await writeFile(join(dir, "data", "telegraf", "autogen", "1", "000000001-000000001.tsm"), label);
  const dirs = ["meta", "data"];
  if (withWal) {
    await mkdir(join(dir, "wal", "telegraf", "autogen", "1"), { recursive: true });
    await writeFile(join(dir, "wal", "telegraf", "autogen", "1", "_00001.wal"), `wal ${label}`);
    dirs.push("wal");
  }
  for (const d of dirs) chownTree(join(dir, d), "1234:5678");
}

function chownTree(path: string, owner: string): void {
  const r = spawnSync("chown", ["-R", owner, path]);
  if (r.status !== 0) throw new Error(`chown failed: ${r.stderr}`);
}

async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    out[full.slice(dir.length + 1)] = await readFile(full, "utf8");
  }
  return out;
}

/** Takes a backup of `dataDir` through the real backup path, into memory. */
async function backupToBuffer(dir: string): Promise<{ bytes: Buffer; sha256: string }> {
  let bytes = Buffer.alloc(0);
  const digest = await streamBackupToStore({
    exec,
    dataDir: dir,
    key: "k",
    open: async () => {
      const parts: Buffer[] = [];
      return {
        write: (chunk) => {
          parts.push(Buffer.from(chunk));
          return undefined;
        },
        finish: async () => {
          bytes = Buffer.concat(parts);
        },
        abort: async () => undefined,
      };
    },
  });
  expect(digest.size).toBe(bytes.length);
  expect(digest.sha256).toBe(createHash("sha256").update(bytes).digest("hex"));
  return { bytes, sha256: digest.sha256 };
}

beforeEach(async () => {
  scratch = await mkdtemp(join(tmpdir(), "influx-oss-scripts-"));
  dataDir = join(scratch, 'it\'s a "data" dir $HOME');
  await mkdir(dataDir);
});

afterEach(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("shell quoting", () => {
  it("round-trips any value through sh", () => {
    for (const value of ["plain", "it's", "$(rm -rf /)", "a b\tc", "`x`", "'", "\\n", ""]) {
      const r = spawnSync("sh", ["-c", `printf %s ${shellQuote(value)}`], { encoding: "utf8" });
      expect(r.stdout).toBe(value);
    }
  });

  it("refuses restore ids that are not plain names and relative data directories", () => {
    expect(() => checkRestoreId("../etc")).toThrow(CodedError);
    expect(() => backupScript({ dataDir: "var/lib/influxdb" })).toThrow(/absolute path/);
    expect(() => extractArchiveScript({ dataDir: "/x", restoreId: "a b" })).toThrow(
      /letters, digits/,
    );
  });
});

describe("backup script", () => {
  it("streams an uncompressed tar of meta/, data/ and wal/ relative to the data directory", async () => {
    await seedDataDir(dataDir, "one");
    await writeFile(join(dataDir, "influxd.pid"), "1");
    const { bytes } = await backupToBuffer(dataDir);
    const list = spawnSync("tar", ["-tf", "-"], { input: bytes, encoding: "utf8" });
    const names = list.stdout.trim().split("\n");
    expect(names).toContain("meta/meta.db");
    expect(names).toContain("data/telegraf/autogen/1/000000001-000000001.tsm");
    expect(names).toContain("wal/telegraf/autogen/1/_00001.wal");
    expect(names.some((n) => n.includes("influxd.pid"))).toBe(false);
    // ustar magic at offset 257: a plain tar, not gzip
    expect(bytes.subarray(257, 262).toString()).toBe("ustar");
  });

  it("refuses a directory without meta/ and one with an unfinished restore", async () => {
    await expect(backupToBuffer(dataDir)).rejects.toThrow(/has no meta\/ directory/);
    await seedDataDir(dataDir, "one");
    await mkdir(join(dataDir, ".restorebot-old-r1"));
    await expect(backupToBuffer(dataDir)).rejects.toThrow(
      /unfinished restore left .*\.restorebot-old-r1; finish or roll back/,
    );
  });
});

describe("estimate script", () => {
  async function estimateAndArchive(dir: string) {
    const estimate = await estimateArchive({ exec, dataDir: dir });
    const { bytes } = await backupToBuffer(dir);
    return { estimate, size: bytes.length };
  }

  it("bounds the tar's size from above, closely for real data files, whatever the shape", async () => {
    await seedDataDir(dataDir, "one");
    const shard = join(dataDir, "data", "telegraf", "autogen", "1");
    await writeFile(join(shard, "000000002-000000001.tsm"), Buffer.alloc(3 * 1024 * 1024 + 17, 7));
    const first = await estimateAndArchive(dataDir);
    expect(first.estimate.maxBytes).toBeGreaterThanOrEqual(first.size);
    expect(first.estimate.fileBytes).toBe(
      // meta.db, the first .tsm and the WAL segment: one block each; the 3 MiB + 17 B file.
      512 * 3 + (3 * 1024 * 1024 + 512),
    );

    // Many small files, names longer than tar's 100-byte field, a sparse file (archived at its
    // full length), an empty directory and a symbolic link.
    for (let i = 0; i < 300; i++) await writeFile(join(shard, `${i}`.padStart(6, "0")), `${i}`);
    const deep = join(dataDir, "data", "x".repeat(120), "y".repeat(200));
    await mkdir(deep, { recursive: true });
    await writeFile(join(deep, `${"z".repeat(150)}.tsm`), "long");
    await mkdir(join(dataDir, "wal", "empty"));
    spawnSync("truncate", ["-s", "20M", join(dataDir, "data", "_series_segment")]);
    spawnSync("ln", ["-s", "meta.db", join(dataDir, "meta", "link")]);
    const second = await estimateAndArchive(dataDir);
    expect(second.estimate.maxBytes).toBeGreaterThanOrEqual(second.size);
    expect(second.estimate.fileBytes).toBeGreaterThanOrEqual(20 * 1024 * 1024);
    // Not wildly above: within the per-entry allowance.
    expect(second.estimate.maxBytes - second.size).toBeLessThan(
      second.estimate.entries * 1536 + 20 * 1024,
    );
  });

  it("refuses as the backup does: no meta/, or an unfinished restore", async () => {
    await expect(estimateArchive({ exec, dataDir })).rejects.toThrow(/has no meta\/ directory/);
    await seedDataDir(dataDir, "one");
    await mkdir(join(dataDir, ".restorebot-old-r1"));
    await expect(estimateArchive({ exec, dataDir })).rejects.toThrow(
      /unfinished restore left .*\.restorebot-old-r1/,
    );
  });
});

describe("restore scripts", () => {
  it("moves the old directories aside, extracts, keeps the old owner, and confirms by a second exec", async () => {
    const source = join(scratch, "source");
    await seedDataDir(source, "backed-up", true);
    const archive = await backupToBuffer(source);
    await seedDataDir(dataDir, "live", false);
    // the archive's files belong to root; the node's user must own them after the restore
    chownTree(source, "0:0");

    const ids = { exec: localExec({ loseStatusAfterStdin: true }), dataDir, restoreId: "r1" };
    const prepared = await prepareRestore({ ...ids, archiveSize: archive.bytes.length });
    expect(prepared.owner).toBe("1234:5678");
    expect(prepared.present).toEqual(["meta", "data"]);
    const expected = { size: archive.bytes.length, sha256: archive.sha256 };
    const streamed = await streamArchiveIn({
      ...ids,
      source: Readable.from([archive.bytes]),
      expected,
    });
    // the v4 trap: the exec with stdin tells nothing; the confirm exec says what landed
    expect(streamed.execStatus).toBeUndefined();
    const landed = await confirmArchiveLanded({ ...ids, expected });
    expect(landed).toEqual({
      size: expected.size,
      sha256: expected.sha256,
      extractedCleanly: true,
    });

    const live = await tree(dataDir);
    expect(live["meta/meta.db"]).toBe("meta backed-up");
    expect(live["wal/telegraf/autogen/1/_00001.wal"]).toBe("wal backed-up");
    expect(live[".restorebot-old-r1/meta/meta.db"]).toBe("meta live");
    const owned = await stat(join(dataDir, "wal", "telegraf", "autogen", "1", "_00001.wal"));
    expect([owned.uid, owned.gid]).toEqual([1234, 5678]);

    await deleteOldDirectories(ids);
    await deleteOldDirectories(ids); // again: nothing left to do
    expect((await readdir(dataDir)).sort()).toEqual(["data", "meta", "wal"]);
  });

  it("refuses before moving anything when the volume lacks room for the archive", async () => {
    await seedDataDir(dataDir, "live");
    const before = await tree(dataDir);
    const err = await prepareRestore({
      exec,
      dataDir,
      restoreId: "r2",
      archiveSize: 2 ** 52,
    }).then(
      () => undefined,
      (e: unknown) => e as CodedError,
    );
    expect(err).toBeInstanceOf(CodedError);
    expect(err?.message).toMatch(
      /not enough free space in .*: \d+ KiB free, the archive needs \d+ KiB; grow the volume/,
    );
    const after = await tree(dataDir);
    // only the records of the refused attempt, no directory moved
    expect(Object.keys(after).filter((k) => !k.startsWith(".restorebot-old-r2/"))).toEqual(
      Object.keys(before),
    );
    await putOldDirectoriesBack({ exec, dataDir, restoreId: "r2" });
    expect(await tree(dataDir)).toEqual(before);
  });

  it("a re-run of prepare after a crash mid-extract never moves the partial extract over the old data", async () => {
    await seedDataDir(dataDir, "live");
    const ids = { exec, dataDir, restoreId: "r3" };
    await prepareRestore({ ...ids, archiveSize: 10_000 });
    // a partial extract, as a crash leaves it
    await mkdir(join(dataDir, "meta"));
    await writeFile(join(dataDir, "meta", "meta.db"), "partial");
    const again = await prepareRestore({ ...ids, archiveSize: 10_000 });
    expect(again.owner).toBe("1234:5678");
    const live = await tree(dataDir);
    expect(live[".restorebot-old-r3/meta/meta.db"]).toBe("meta live");
    expect(live["meta/meta.db"]).toBeUndefined();
  });

  it("puts the old directories back after a failed extract, removing what the extract made", async () => {
    await seedDataDir(dataDir, "live", false);
    const before = await tree(dataDir);
    const ids = { exec, dataDir, restoreId: "r4" };
    await prepareRestore({ ...ids, archiveSize: 10_000 });
    const broken = Buffer.concat([
      Buffer.from("not a tar archive at all"),
      Buffer.alloc(20_000, 7),
    ]);
    const sha256 = createHash("sha256").update(broken).digest("hex");
    const expected = { size: broken.length, sha256 };
    await streamArchiveIn({ ...ids, source: Readable.from([broken]), expected });
    await expect(confirmArchiveLanded({ ...ids, expected })).rejects.toThrow(
      /checking the extracted archive exited with 7: the archive did not extract cleanly \(tar=2 chown=0\)/,
    );
    await expect(deleteOldDirectories(ids)).rejects.toThrow(
      /never confirmed; put the old directories back/,
    );
    // and a wal/ the old node did not have, as an extract would make
    await mkdir(join(dataDir, "wal"));
    await putOldDirectoriesBack(ids);
    await putOldDirectoriesBack(ids); // again after it finished: nothing aside, nothing changes
    expect(await tree(dataDir)).toEqual(before);
    expect((await readdir(dataDir)).sort()).toEqual(["data", "meta"]);
  });

  it("the extract refuses to run over live directories that were not moved aside", async () => {
    await seedDataDir(dataDir, "live");
    const r = await execCollect(
      exec,
      shCommand(extractArchiveScript({ dataDir, restoreId: "r5" })),
      {
        stdin: Readable.from([Buffer.alloc(10)]),
      },
    );
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/not moved aside; run the prepare step first/);
    expect((await tree(dataDir))["meta/meta.db"]).toBe("meta live");
  });

  it("prints the free space it saw, and the owner of the data directory when meta/ and data/ are missing", async () => {
    await chown(dataDir, 4321, 8765);
    const r = await execCollect(
      exec,
      shCommand(prepareRestoreScript({ dataDir, restoreId: "r6", archiveSize: 0 })),
    );
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /^restorebot: prepared owner=4321:8765 present= free_kb=\d+ need_kb=1024$/m,
    );
  });
});
