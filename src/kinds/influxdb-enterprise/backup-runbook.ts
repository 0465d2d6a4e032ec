/**
 * The InfluxDB Enterprise backup runbook (`/backup <target> [--incremental] <reason>`):
 * `influxd-ctl backup` by exec in a meta pod, its output checked (backup-set.ts), the set
 * streamed out of the pod as one tar into the as-of folder file by file, complete.json written
 * last. Nothing on the cluster is paused or restarted.
 *
 * Full sets (the default) are taken with `-full` into a directory of their own, removed once
 * uploaded. Incremental sets (`--incremental`) are taken without `-full` into one directory the
 * target keeps in the meta pod (the seed: "Keep full backups and incremental backups in
 * separate directories"), so the tool copies only the shards changed since the last run there;
 * each run's output is kept beside it, and the set uploaded is the whole directory, so every
 * incremental set restores on its own with `influxd-ctl restore <dir>`. When that directory is
 * gone (a new meta pod), the tool starts it again with everything, as the seed says.
 */

import { Readable } from "node:stream";
import { extract as tarExtract, pack as tarPack } from "tar-stream";
import type { ObjectStore } from "../../adapters/s3/object-store.js";
import { partSizeFor } from "../../adapters/s3/part-writer.js";
import {
  abortLeftoverUploads,
  claimAsOf,
  type PointFile,
  pointPrefix,
  uploadPointFile,
  writeCompleteManifest,
} from "../../backups/index.js";
import { CodedError } from "../../errors.js";
import type { PhaseContext, Runbook, RunbookPhase, RunRequest } from "../../runbook/types.js";
import { BACKUP_POINT_FACT, type BackupPointFact } from "../../runbook/types.js";
import { formatBytes } from "../../text/format.js";
import type { PhaseOutline, RunbookDeps } from "../kind.js";
import {
  type BackupOutput,
  buildEnterpriseComplete,
  mergeBackupOutputs,
  parseBackupOutput,
} from "./backup-set.js";
import type { EnterpriseTarget } from "./config.js";
import {
  commandFailed,
  emptyDirectory,
  execInMeta,
  filesIn,
  type MetaCluster,
  mustExec,
  readyMetaPod,
} from "./meta-exec.js";
import { locationOf, pointOfSet } from "./points.js";
import { asEnterpriseCluster } from "./runbook.js";

export const ENTERPRISE_BACKUP_PHASES: readonly PhaseOutline[] = [
  { name: "backup-set", title: "Run influxd-ctl backup in a meta pod", mutates: true },
  { name: "upload-set", title: "Upload the set, complete.json last", mutates: false },
  { name: "remove-backup-copy", title: "Remove the full set from the meta pod", mutates: true },
];

export const ENTERPRISE_BACKUP_ROLLBACK: readonly PhaseOutline[] = [
  {
    name: "rollback-remove-backup-copy",
    title: "Remove the full set from the meta pod",
    mutates: true,
  },
];

/** `/backup` options as the request keeps them. */
export interface EnterpriseBackupOptions {
  incremental?: boolean;
}

export function backupOptionsOf(request: Pick<RunRequest, "options">): EnterpriseBackupOptions {
  return (request.options ?? {}) as EnterpriseBackupOptions;
}

/** Where a full set is written: one directory per request, removed once uploaded. */
export function backupDirectory(target: Pick<EnterpriseTarget, "meta">, requestId: string): string {
  return `${target.meta.scratchDir}/restorebot-backup-${requestId}`;
}

/**
 * The directory the target keeps for incremental sets: `set/` is what `influxd-ctl backup`
 * writes (and what is uploaded), `runs/` one file per run with what the tool printed.
 */
export function incrementalDirectory(target: Pick<EnterpriseTarget, "meta" | "name">): {
  root: string;
  set: string;
  runs: string;
} {
  const root = `${target.meta.scratchDir}/restorebot-incremental-${target.name}`;
  return { root, set: `${root}/set`, runs: `${root}/runs` };
}

type Cluster = ReturnType<typeof asEnterpriseCluster>;

/** Streams `tar cf -` of the named files out of the pod; `onEntry` takes each as it arrives. */
async function tarOut(
  cluster: MetaCluster,
  target: EnterpriseTarget,
  ctx: Pick<PhaseContext, "signal">,
  pod: string,
  dir: string,
  names: string[],
  onEntry: (name: string, size: number, body: Readable) => Promise<void>,
): Promise<void> {
  const ex = tarExtract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on("entry", (header, body, next) => {
      onEntry(header.name, header.size ?? 0, Readable.from(body)).then(
        () => next(),
        (err: unknown) => {
          body.resume();
          next(err as Error);
        },
      );
    });
    ex.on("finish", resolve);
    ex.on("error", reject);
  });
  // Swallowed here, raised by `await done` below.
  done.catch(() => {});
  // Once an entry fails (an upload refused), the reader is destroyed and never drains again:
  // the exec's output is then refused with that failure, which ends the exec, instead of
  // being held back for ever. One wait for drain at a time, however many frames arrive.
  let failure: Error | undefined;
  ex.on("error", (err) => {
    failure ??= err;
  });
  let draining: Promise<void> | undefined;
  const drained = () =>
    new Promise<void>((resolve, reject) => {
      const settle = () => {
        ex.off("drain", settle);
        ex.off("close", settle);
        if (failure) reject(failure);
        else resolve();
      };
      ex.on("drain", settle);
      ex.on("close", settle);
    }).finally(() => {
      draining = undefined;
    });
  let errors = "";
  const r = await cluster.execInPod({
    pod,
    container: target.meta.container,
    command: ["tar", "cf", "-", "-C", dir, ...names],
    onStdout: (chunk) => {
      if (failure) return Promise.reject(failure);
      if (ex.destroyed) return Promise.reject(new Error("the set's tar reader closed early"));
      if (ex.write(chunk)) return undefined;
      draining ??= drained();
      return draining;
    },
    onStderr: (chunk) => {
      errors += chunk.toString("utf8");
    },
    signal: ctx.signal,
  });
  ex.end(null);
  if (r.exitCode !== 0)
    throw commandFailed(`tar cf - -C ${dir}`, pod, { exitCode: r.exitCode, output: errors });
  await done;
}

/** Keeps one run's output as `<runs>/<time>_<request>.txt` (a one-file tar into `tar xf -`). */
async function keepRunOutput(
  cluster: MetaCluster,
  target: EnterpriseTarget,
  ctx: Pick<PhaseContext, "signal">,
  pod: string,
  runs: string,
  name: string,
  output: string,
): Promise<void> {
  await mustExec(cluster, target, ctx.signal, pod, ["mkdir", "-p", runs]);
  const body = Buffer.from(output, "utf8");
  const pack = tarPack();
  pack.entry({ name: `${name}.txt`, size: body.length, mode: 0o644 }, body);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  const tar = Buffer.concat(chunks);
  const r = await execInMeta(cluster, target, ctx.signal, pod, ["tar", "xf", "-", "-C", runs], {
    stdin: { stream: Readable.from([tar]), bytes: tar.length },
  });
  if (r.exitCode !== 0) throw commandFailed(`tar xf - -C ${runs}`, pod, r);
}

/** Every run's output kept in the incremental directory, oldest first. */
async function keptRunOutputs(
  cluster: MetaCluster,
  target: EnterpriseTarget,
  ctx: Pick<PhaseContext, "signal">,
  pod: string,
  runs: string,
): Promise<BackupOutput[]> {
  const names = [...(await filesIn(cluster, target, ctx.signal, pod, runs)).keys()]
    .filter((n) => n.endsWith(".txt"))
    .sort();
  if (names.length === 0) return [];
  const texts = new Map<string, string>();
  await tarOut(cluster, target, ctx, pod, runs, names, async (name, _size, body) => {
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    texts.set(name, Buffer.concat(chunks).toString("utf8"));
  });
  return names.map((n) => parseBackupOutput(texts.get(n) ?? ""));
}

async function uploadFrom(
  cluster: MetaCluster,
  target: EnterpriseTarget,
  store: ObjectStore,
  ctx: PhaseContext,
  pod: string,
  dir: string,
  names: string[],
  asOf: string,
): Promise<PointFile[]> {
  const uploaded: PointFile[] = [];
  await tarOut(cluster, target, ctx, pod, dir, names, async (name, size, body) => {
    // Parts sized from the file's size, so a shard file past 70 GiB is not cut off at S3's
    // 10 000th part.
    const partSize = partSizeFor(size, name);
    ctx.progress(`uploading ${name} (${size} bytes)`);
    uploaded.push(await uploadPointFile(store, locationOf(target), asOf, name, body, { partSize }));
  });
  return uploaded;
}

export function createEnterpriseBackupRunbook(deps: RunbookDeps<EnterpriseTarget>): Runbook {
  const cluster: Cluster = asEnterpriseCluster(deps.cluster);
  const target = deps.target;
  const removeCopy = async (ctx: PhaseContext) => {
    if (backupOptionsOf(ctx.request).incremental) {
      await ctx.fact("kept", incrementalDirectory(target).root);
      return;
    }
    const pod = String(
      ctx.earlierFacts("backup-set")?.pod ?? (await readyMetaPod(cluster, target)),
    );
    const dir = backupDirectory(target, ctx.request.id);
    await mustExec(cluster, target, ctx.signal, pod, ["rm", "-rf", dir]);
    await ctx.fact("removed", `${pod}:${dir}`);
  };
  const removedOrKept = (facts: Record<string, unknown>) =>
    facts.kept !== undefined
      ? `kept ${String(facts.kept)} for the next incremental set`
      : `removed ${String(facts.removed)}`;
  const phases: RunbookPhase[] = [
    {
      ...ENTERPRISE_BACKUP_PHASES[0]!,
      async run(ctx) {
        const incremental = backupOptionsOf(ctx.request).incremental === true;
        const pod = await readyMetaPod(cluster, target);
        const dir = incremental
          ? incrementalDirectory(target).set
          : backupDirectory(target, ctx.request.id);
        await ctx.fact("pod", pod);
        await ctx.fact("directory", dir);
        await ctx.fact("full", !incremental);
        await claimAsOf(ctx, {
          db: deps.db,
          store: deps.objectStore(),
          location: locationOf(target),
          at: ctx.now(),
        });
        if (incremental) await mustExec(cluster, target, ctx.signal, pod, ["mkdir", "-p", dir]);
        else await emptyDirectory(cluster, target, ctx.signal, pod, dir);
        const command = ["influxd-ctl", "backup", ...(incremental ? [] : ["-full"]), dir];
        ctx.note(`Running \`${command.join(" ")}\` in ${pod}:`);
        const r = await execInMeta(cluster, target, ctx.signal, pod, command, {
          onLine: (l) => {
            ctx.note(`\`${l}\``);
            ctx.progress(l);
          },
        });
        if (r.exitCode !== 0) throw commandFailed(command.slice(0, -1).join(" "), pod, r);
        const parsed = parseBackupOutput(r.output);
        if (incremental)
          await keepRunOutput(
            cluster,
            target,
            ctx,
            pod,
            incrementalDirectory(target).runs,
            // Sorts in run order: one request at a time per target, to the millisecond.
            `${ctx.now().toISOString().replace(/:/g, "-")}_${ctx.request.id}`,
            r.output,
          );
        await ctx.fact("output", r.output);
        await ctx.fact("transferredBytes", parsed.totalBytes);
        await ctx.fact("shardsCopied", parsed.shards.length);
      },
      summarize: (facts) =>
        `influxd-ctl backup${facts.full === false ? "" : " -full"} copied ${String(facts.shardsCopied)} shard(s), ${String(facts.transferredBytes)} bytes, into ${String(facts.pod)}:${String(facts.directory)}`,
    },
    {
      ...ENTERPRISE_BACKUP_PHASES[1]!,
      async run(ctx) {
        const made = ctx.earlierFacts("backup-set") ?? {};
        const pod = String(made.pod);
        const dir = String(made.directory);
        const asOf = String(made.asOf);
        const full = made.full !== false;
        // What the set holds, from the tool's own lines: this run's for a full set; for an
        // incremental one, every run kept in its directory (each shard as last copied).
        const output = full
          ? parseBackupOutput(String(made.output))
          : mergeBackupOutputs(
              await keptRunOutputs(cluster, target, ctx, pod, incrementalDirectory(target).runs),
            );
        const sizes = await filesIn(cluster, target, ctx.signal, pod, dir);
        const names = [...sizes.keys()].sort();
        if (names.length === 0)
          throw new CodedError(
            "restore_failed",
            `influxd-ctl backup left no files in ${pod}:${dir}`,
          );
        const store = deps.objectStore();
        // Large set files go up in parts: a worker killed mid-upload left its multipart
        // uploads open under this set's folder (only this run writes there). Abort them first.
        const location = locationOf(target);
        const folder = pointPrefix(location.prefix, asOf, location.pointsFolder);
        await abortLeftoverUploads(ctx, store, location.bucket, folder);
        const files = await uploadFrom(cluster, target, store, ctx, pod, dir, names, asOf);
        const wrong = files.filter((f) => sizes.get(f.name) !== f.size);
        if (wrong.length > 0 || files.length !== names.length)
          throw new CodedError(
            "restore_failed",
            `the set streamed out of ${pod} does not match its files there (${wrong.map((f) => f.name).join(", ") || `${files.length} of ${names.length} files`}); complete.json was not written. Retry phase uploads it again`,
          );
        const complete = buildEnterpriseComplete({
          target: target.name,
          asOf,
          full,
          files: files.sort((a, b) => a.name.localeCompare(b.name)),
          output,
          restorebotVersion: deps.env.RESTOREBOT_VERSION ?? "unknown",
        });
        await writeCompleteManifest(store, locationOf(target), complete);
        const point = pointOfSet(complete);
        const fact: BackupPointFact = { asOf, point, bytes: point.bytes };
        await ctx.fact(BACKUP_POINT_FACT, fact);
        await ctx.fact("files", files.length);
        await ctx.fact("full", full);
      },
      summarize: (facts) => {
        const p = facts[BACKUP_POINT_FACT] as BackupPointFact | undefined;
        return p
          ? `${String(facts.files)} files uploaded as ${p.asOf}, complete.json last`
          : undefined;
      },
    },
    {
      ...ENTERPRISE_BACKUP_PHASES[2]!,
      run: removeCopy,
      summarize: removedOrKept,
    },
  ];
  return {
    kind: "influxdb-enterprise",
    phases,
    rollback: [
      {
        ...ENTERPRISE_BACKUP_ROLLBACK[0]!,
        run: removeCopy,
        summarize: removedOrKept,
      },
    ],
    async describeHalt(request, runs) {
      const made = [...runs].reverse().find((r) => r.phase === "backup-set")?.facts;
      const uploaded = runs.some((r) => r.phase === "upload-set" && r.state === "succeeded");
      const incremental = backupOptionsOf(request).incremental === true;
      const state = [
        made?.pod
          ? incremental
            ? `The incremental directory ${String(made.pod)}:${String(made.directory)} stays for the next incremental set.`
            : `The set may be in ${String(made.pod)}:${String(made.directory)}.`
          : "Nothing was written in a meta pod.",
        uploaded
          ? "The set is uploaded with its complete.json."
          : "No complete.json was written: a partly uploaded folder is not a restorable set.",
      ];
      return {
        state,
        rollback: incremental
          ? "Roll back removes nothing: the incremental directory is kept for the next incremental set."
          : "Roll back removes the set's directory from the meta pod.",
      };
    },
    describeFinish(_request, runs) {
      const upload = [...runs].reverse().find((r) => r.phase === "upload-set")?.facts;
      const p = upload?.[BACKUP_POINT_FACT] as BackupPointFact | undefined;
      return p
        ? [
            `${upload?.full === false ? "Incremental" : "Full"} backup set ${p.asOf} uploaded (${formatBytes(p.bytes ?? 0)}).`,
          ]
        : [];
    },
  };
}
