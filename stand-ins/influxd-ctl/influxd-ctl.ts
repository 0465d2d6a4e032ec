/**
 * A stand-in for InfluxDB Enterprise 1.7's `influxd-ctl backup` and `influxd-ctl restore`
 * (proprietary): argv in; stdout, stderr and exit status out. It checks its arguments as the
 * seed documents them (influxdb-enterprise-1.7-backup-restore.md, "Backup options", "Restore
 * options") and prints the seed's output shapes, failures included. State is a small cluster
 * (databases → retention policies → shards on data nodes) and an in-memory directory tree for
 * backup sets, so the Kubernetes simulator's exec can host it in a meta pod.
 */

import { createHash } from "node:crypto";

export interface ShardState {
  id: number;
  owner: string;
  bytes: number;
  /** Bumped by writes; an incremental backup copies shards changed since the directory's last. */
  version: number;
}

export type ClusterDatabases = Map<string, Map<string, ShardState[]>>;

export interface InfluxdCtlResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface InfluxdCtlStandIn {
  run(argv: string[]): InfluxdCtlResult;
  readonly databases: ClusterDatabases;
  /** Backup directories and their files (path → bytes). */
  readonly files: Map<string, Buffer>;
  mkdir(dir: string): void;
  /** `rm -rf`: the path, and everything under it when it is a directory. */
  remove(path: string): void;
  exists(path: string): boolean;
  /** Adds points to a shard (its bytes grow, an incremental backup picks it up). */
  write(db: string, rp: string, bytes: number): void;
  dropDatabase(db: string): void;
  /** The next `backup` or `restore` fails with this reason, in the tool's error shape. */
  failNext(command: "backup" | "restore", reason: string): void;
  readonly calls: string[][];
}

interface ManifestFile {
  shardID: number;
  fileName: string;
  size: number;
  database: string;
  policy: string;
}

interface Manifest {
  meta: { fileName: string; size: number };
  limited: boolean;
  files: ManifestFile[];
}

const BACKUP_FLAGS = { db: "string", from: "string", full: "bool", rp: "string", shard: "string" };
const RESTORE_FLAGS = {
  db: "string",
  list: "bool",
  newdb: "string",
  newrf: "string",
  newrp: "string",
  rp: "string",
  shard: "string",
  full: "bool",
} as const;

class UsageError extends Error {}

function parseFlags(
  args: string[],
  spec: Record<string, string>,
): { flags: Record<string, string | true>; positional: string[] } {
  const flags: Record<string, string | true> = {};
  let i = 0;
  // Go's flag package: flags first, stopping at the first non-flag argument or "--".
  while (i < args.length) {
    const arg = args[i] ?? "";
    if (arg === "--") {
      i++;
      break;
    }
    if (!arg.startsWith("-") || arg === "-") break;
    const body = arg.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq === -1 ? body : body.slice(0, eq);
    const type = spec[name];
    if (type === undefined) throw new UsageError(`flag provided but not defined: -${name}`);
    if (type === "bool") flags[name] = true;
    else if (eq !== -1) flags[name] = body.slice(eq + 1);
    else {
      const value = args[i + 1];
      if (value === undefined) throw new UsageError(`flag needs an argument: -${name}`);
      flags[name] = value;
      i++;
    }
    i++;
  }
  return { flags, positional: args.slice(i) };
}

function trimSlash(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, "") : path;
}

function duration(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(9)}s` : `${ms.toFixed(6)}ms`;
}

function stamp(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

export function createInfluxdCtlStandIn(
  opts: {
    dataNodes?: string[];
    databases?: Record<string, Record<string, number[]>>;
    now?: () => Date;
  } = {},
): InfluxdCtlStandIn {
  const dataNodes = opts.dataNodes ?? ["influxdb-data-0:8088", "influxdb-data-1:8088"];
  const now = opts.now ?? (() => new Date());
  const databases: ClusterDatabases = new Map();
  const files = new Map<string, Buffer>();
  const dirs = new Set<string>(["/", "/tmp"]);
  const failures: Array<{ command: string; reason: string }> = [];
  const calls: string[][] = [];
  // per backup directory: shard id → version it last copied
  const copied = new Map<string, Map<number, number>>();
  let nextShard = 1;

  function addShard(db: string, rp: string, bytes: number): ShardState {
    const rps = databases.get(db) ?? new Map<string, ShardState[]>();
    databases.set(db, rps);
    const shards = rps.get(rp) ?? [];
    rps.set(rp, shards);
    const shard: ShardState = {
      id: nextShard++,
      owner: dataNodes[(nextShard - 2) % dataNodes.length] ?? "localhost:8088",
      bytes,
      version: 1,
    };
    shards.push(shard);
    return shard;
  }

  for (const [db, rps] of Object.entries(opts.databases ?? { telegraf: { autogen: [307712] } }))
    for (const [rp, sizes] of Object.entries(rps)) for (const size of sizes) addShard(db, rp, size);

  function metaBytes(): number {
    let n = 120;
    for (const [db, rps] of databases)
      n += db.length * 8 + [...rps.keys()].join("").length * 8 + 40;
    return n;
  }

  function takeFailure(command: string): string | undefined {
    const at = failures.findIndex((f) => f.command === command);
    if (at === -1) return undefined;
    return failures.splice(at, 1)[0]?.reason;
  }

  function backup(args: string[]): InfluxdCtlResult {
    const { flags, positional } = parseFlags(args, BACKUP_FLAGS);
    if (positional.length !== 1)
      throw new UsageError("backup takes exactly one argument: <path-to-backup-directory>");
    if (flags.rp !== undefined && flags.db === undefined)
      return fail("backup", "must specify -db with -rp");
    const dir = trimSlash(positional[0] ?? "");
    if (!dirs.has(dir)) return fail("backup", `backup directory does not exist: ${dir}`);
    const injected = takeFailure("backup");
    const ts = stamp(now());
    const out: string[] = [];
    const meta = metaBytes();
    out.push(`Backing up meta data... Done. ${meta} bytes transferred`);
    if (injected !== undefined) {
      out.push(`Backing up node ${dataNodes[0]}, db telegraf, rp autogen, shard 1... Error.`);
      return {
        stdout: `${out.join("\n")}\n`,
        stderr: `backup: operation exited with error: ${injected}\n`,
        exitCode: 1,
      };
    }
    const seen = copied.get(dir) ?? new Map<number, number>();
    const hasManifest = [...files.keys()].some(
      (p) => p.startsWith(`${dir}/`) && p.endsWith(".manifest"),
    );
    const incremental = flags.full !== true && hasManifest;
    const manifest: Manifest = {
      meta: { fileName: `${ts}.meta`, size: meta },
      limited: flags.db !== undefined,
      files: [],
    };
    let total = meta;
    for (const [db, rps] of databases) {
      if (flags.db !== undefined && flags.db !== db) continue;
      for (const [rp, shards] of rps) {
        if (flags.rp !== undefined && flags.rp !== rp) continue;
        for (const shard of shards) {
          if (flags.shard !== undefined && String(shard.id) !== flags.shard) continue;
          if (incremental && seen.get(shard.id) === shard.version) continue;
          const fileName = `${ts}.s${shard.id}.tar.gz`;
          files.set(`${dir}/${fileName}`, shardBytes(db, rp, shard));
          manifest.files.push({
            shardID: shard.id,
            fileName,
            size: shard.bytes,
            database: db,
            policy: rp,
          });
          seen.set(shard.id, shard.version);
          total += shard.bytes;
          out.push(
            `Backing up node ${shard.owner}, db ${db}, rp ${rp}, shard ${shard.id}... Done. Backed up in ${duration(30 + shard.bytes / 400_000)}, ${shard.bytes} bytes transferred`,
          );
        }
      }
    }
    copied.set(dir, seen);
    files.set(`${dir}/${ts}.meta`, Buffer.from(JSON.stringify(snapshotMeta()).padEnd(meta, " ")));
    files.set(`${dir}/${ts}.manifest`, Buffer.from(JSON.stringify(manifest)));
    out.push(
      `Backed up to ${positional[0]} in ${duration(51 + total / 400_000)}, transferred ${total} bytes`,
    );
    return { stdout: `${out.join("\n")}\n`, stderr: "", exitCode: 0 };
  }

  function snapshotMeta(): Record<string, Record<string, number[]>> {
    const out: Record<string, Record<string, number[]>> = {};
    for (const [db, rps] of databases) {
      out[db] = {};
      for (const [rp, shards] of rps) out[db][rp] = shards.map((s) => s.id);
    }
    return out;
  }

  function shardBytes(db: string, rp: string, shard: ShardState): Buffer {
    const seed = createHash("sha256").update(`${db}/${rp}/${shard.id}/${shard.version}`).digest();
    return Buffer.concat([seed, Buffer.alloc(Math.min(shard.bytes, 4096), seed[0])]);
  }

  function restore(args: string[]): InfluxdCtlResult {
    const { flags, positional } = parseFlags(args, RESTORE_FLAGS);
    if (positional.length !== 1)
      throw new UsageError(
        "restore takes exactly one argument: <path-to-backup-directory>, or -full <path-to-manifest-file>",
      );
    if (flags.newdb !== undefined && flags.db === undefined)
      return fail("restore", "must specify -db with -newdb");
    if (flags.newrp !== undefined && flags.rp === undefined)
      return fail("restore", "must specify -rp with -newrp");
    const path = positional[0] ?? "";
    const out: string[] = [];
    let manifests: Array<{ name: string; manifest: Manifest }>;
    let dir: string;
    if (flags.full === true) {
      if (!path.endsWith(".manifest") || !files.has(trimSlash(path)))
        return fail("restore", `open ${path}: no such file or directory`);
      dir = trimSlash(path).slice(0, trimSlash(path).lastIndexOf("/"));
      manifests = [
        {
          name: trimSlash(path),
          manifest: JSON.parse(files.get(trimSlash(path))?.toString() ?? "{}") as Manifest,
        },
      ];
      out.push(`Using manifest: ${path}`);
    } else {
      dir = trimSlash(path);
      manifests = [...files.entries()]
        .filter(([p]) => p.startsWith(`${dir}/`) && p.endsWith(".manifest"))
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, bytes]) => ({ name, manifest: JSON.parse(bytes.toString()) as Manifest }));
      if (!dirs.has(dir) || manifests.length === 0)
        return fail("restore", `no backup manifest found in ${path}`);
      out.push(`Using backup directory: ${path}`);
    }
    const latest = manifests.at(-1)?.manifest;
    if (!latest) return fail("restore", `no backup manifest found in ${path}`);
    out.push(`Using meta backup: ${latest.meta.fileName}`);
    // the newest copy of each shard across the directory's manifests
    const byShard = new Map<number, ManifestFile>();
    for (const { manifest } of manifests) for (const f of manifest.files) byShard.set(f.shardID, f);
    const chosen = [...byShard.values()].filter(
      (f) =>
        (flags.db === undefined || f.database === flags.db) &&
        (flags.rp === undefined || f.policy === flags.rp) &&
        (flags.shard === undefined || String(f.shardID) === flags.shard),
    );
    if (
      flags.db !== undefined &&
      chosen.length === 0 &&
      ![...byShard.values()].some((f) => f.database === flags.db)
    ) {
      out.push("Restoring meta data... Error.");
      return {
        stdout: `${out.join("\n")}\n`,
        stderr: `restore: operation exited with error: database not found in backup: ${flags.db}\n`,
        exitCode: 1,
      };
    }
    const injected = takeFailure("restore");
    const targetDb = (f: ManifestFile) =>
      typeof flags.newdb === "string" ? flags.newdb : f.database;
    const targetRp = (f: ManifestFile) =>
      typeof flags.newrp === "string" ? flags.newrp : f.policy;
    if (
      injected !== undefined ||
      (flags.db !== undefined && flags.newdb === undefined && databases.has(String(flags.db)))
    ) {
      out.push("Restoring meta data... Error.");
      return {
        stdout: `${out.join("\n")}\n`,
        stderr: `restore: operation exited with error: ${injected ?? "problem setting snapshot: database already exists"}\n`,
        exitCode: 1,
      };
    }
    if (typeof flags.newdb === "string" && databases.has(flags.newdb)) {
      out.push("Restoring meta data... Error.");
      return {
        stdout: `${out.join("\n")}\n`,
        stderr:
          "restore: operation exited with error: problem setting snapshot: database already exists\n",
        exitCode: 1,
      };
    }
    out.push(
      `Restoring meta data... Done. Restored in ${duration(9.5)}, ${chosen.length} shards mapped`,
    );
    if (flags.db === undefined) for (const f of chosen) databases.delete(f.database);
    let total = 0;
    for (const f of chosen) {
      const shard = addShard(targetDb(f), targetRp(f), f.size);
      out.push(
        `Restoring db ${f.database}, rp ${f.policy}, shard ${f.shardID} to shard ${shard.id}...`,
      );
      out.push(
        `Copying data to ${shard.owner}... Copying data to ${shard.owner}... Done. Restored shard ${f.shardID} into shard ${shard.id} in ${duration(36 + f.size / 400_000)}, ${f.size} bytes transferred`,
      );
      total += f.size;
    }
    const shown = flags.full === true ? dir.slice(dir.lastIndexOf("/") + 1) || dir : path;
    out.push(
      `Restored from ${shown} in ${duration(58 + total / 400_000)}, transferred ${total} bytes`,
    );
    return { stdout: `${out.join("\n")}\n`, stderr: "", exitCode: 0 };
  }

  function fail(command: string, reason: string): InfluxdCtlResult {
    return {
      stdout: "",
      stderr: `${command}: operation exited with error: ${reason}\n`,
      exitCode: 1,
    };
  }

  return {
    databases,
    files,
    calls,
    mkdir(dir) {
      const parts = trimSlash(dir).split("/").filter(Boolean);
      for (let i = 1; i <= parts.length; i++) dirs.add(`/${parts.slice(0, i).join("/")}`);
    },
    remove(path) {
      const p = trimSlash(path);
      files.delete(p);
      for (const k of [...files.keys()]) if (k.startsWith(`${p}/`)) files.delete(k);
      for (const d of [...dirs]) if (d === p || d.startsWith(`${p}/`)) dirs.delete(d);
      for (const d of [...copied.keys()]) if (d === p || d.startsWith(`${p}/`)) copied.delete(d);
    },
    exists(path) {
      const p = trimSlash(path);
      return dirs.has(p) || files.has(p);
    },
    write(db, rp, bytes) {
      const shards = databases.get(db)?.get(rp);
      const last = shards?.at(-1);
      if (!last) addShard(db, rp, bytes);
      else {
        last.bytes += bytes;
        last.version++;
      }
    },
    dropDatabase(db) {
      databases.delete(db);
    },
    failNext(command, reason) {
      failures.push({ command, reason });
    },
    run(argv) {
      calls.push([...argv]);
      const args = argv[0] === "influxd-ctl" ? argv.slice(1) : [...argv];
      try {
        const global = parseFlags(args, { bind: "string", "bind-tls": "bool", k: "bool" });
        const [command, ...rest] = global.positional;
        if (command === "backup") return backup(rest);
        if (command === "restore") return restore(rest);
        throw new UsageError(`unknown command "${command ?? ""}"`);
      } catch (err) {
        if (err instanceof UsageError)
          return {
            stdout: "",
            stderr: `${err.message}\nUsage: influxd-ctl [global-options] (backup|restore) [options] <path>\n`,
            exitCode: 1,
          };
        throw err;
      }
    },
  };
}
