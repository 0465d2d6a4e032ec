/**
 * The InfluxDB Enterprise backup runbook (`/backup`): `influxd-ctl backup -full` by exec in a
 * meta pod into a directory of its own, its output checked (backup-set.ts), the set streamed
 * out of the pod as one tar into the as-of folder file by file, complete.json written last,
 * then the directory removed. Nothing on the cluster is paused or restarted.
 */

import { Readable } from "node:stream";
import { extract as tarExtract } from "tar-stream";
import type { ObjectStore } from "../../adapters/s3/object-store.js";
import {
  formatAsOf,
  type PointFile,
  uploadPointFile,
  writeCompleteManifest,
} from "../../backups/index.js";
import { CodedError } from "../../errors.js";
import type { PhaseContext, Runbook, RunbookPhase } from "../../runbook/types.js";
import { BACKUP_POINT_FACT, type BackupPointFact } from "../../runbook/types.js";
import type { PhaseOutline, RunbookDeps } from "../kind.js";
import { buildEnterpriseComplete, parseBackupOutput } from "./backup-set.js";
import type { EnterpriseTarget } from "./config.js";
import { locationOf, pointOfSet } from "./points.js";
import { asEnterpriseCluster, parseFileSizes } from "./runbook.js";

export const ENTERPRISE_BACKUP_PHASES: readonly PhaseOutline[] = [
  { name: "backup-set", title: "Run influxd-ctl backup -full in a meta pod", mutates: true },
  { name: "upload-set", title: "Upload the set, complete.json last", mutates: false },
  { name: "remove-backup-copy", title: "Remove the set from the meta pod", mutates: true },
];

export const ENTERPRISE_BACKUP_ROLLBACK: readonly PhaseOutline[] = [
  { name: "rollback-remove-backup-copy", title: "Remove the set from the meta pod", mutates: true },
];

export function backupDirectory(requestId: string): string {
  return `/tmp/restorebot-backup-${requestId}`;
}

type Cluster = ReturnType<typeof asEnterpriseCluster>;

async function exec(
  cluster: Cluster,
  target: EnterpriseTarget,
  ctx: Pick<PhaseContext, "signal">,
  pod: string,
  command: string[],
  onLine?: (line: string) => void,
): Promise<{ exitCode: number; output: string }> {
  let output = "";
  let partial = "";
  const keep = (chunk: Buffer) => {
    const text = chunk.toString("utf8");
    if (output.length < 1024 * 1024) output += text;
    if (!onLine) return;
    const lines = (partial + text).split(/\r?\n/);
    partial = lines.pop() ?? "";
    for (const l of lines) if (l.trim()) onLine(l);
  };
  const r = await cluster.execInPod({
    pod,
    container: target.meta.container,
    command,
    onStdout: keep,
    onStderr: keep,
    signal: ctx.signal,
  });
  if (onLine && partial.trim()) onLine(partial);
  return { exitCode: r.exitCode, output };
}

function failure(what: string, pod: string, r: { exitCode: number; output: string }) {
  const tail = r.output.trim().split(/\r?\n/).slice(-5).join(" / ");
  return new CodedError(
    "restore_failed",
    `\`${what}\` in ${pod} exited with ${r.exitCode}${tail ? `: ${tail}` : ""}`,
  );
}

async function metaPod(cluster: Cluster, target: EnterpriseTarget): Promise<string> {
  const pods = await cluster.listPods([target.meta.statefulset]);
  const pod = pods
    .filter((p) => p.ready)
    .map((p) => p.name)
    .sort()[0];
  if (!pod)
    throw new CodedError(
      "precondition_failed",
      `no meta pod of StatefulSet ${target.meta.statefulset} is Ready; check meta.statefulset, then Retry phase`,
    );
  return pod;
}

/** Streams `tar cf -` of the named files out of the pod, each entry uploaded as it arrives. */
async function streamOut(
  cluster: Cluster,
  target: EnterpriseTarget,
  store: ObjectStore,
  ctx: PhaseContext,
  pod: string,
  dir: string,
  names: string[],
  asOf: string,
): Promise<PointFile[]> {
  const uploaded: PointFile[] = [];
  const ex = tarExtract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on("entry", (header, body, next) => {
      ctx.progress(`uploading ${header.name} (${header.size ?? 0} bytes)`);
      uploadPointFile(store, locationOf(target), asOf, header.name, Readable.from(body)).then(
        (file) => {
          uploaded.push(file);
          next();
        },
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
  let errors = "";
  const r = await cluster.execInPod({
    pod,
    container: target.meta.container,
    command: ["tar", "cf", "-", "-C", dir, ...names],
    onStdout: (chunk) =>
      ex.write(chunk) ? undefined : new Promise<void>((resolve) => ex.once("drain", resolve)),
    onStderr: (chunk) => {
      errors += chunk.toString("utf8");
    },
    signal: ctx.signal,
  });
  ex.end(null);
  if (r.exitCode !== 0)
    throw failure(`tar cf - -C ${dir}`, pod, { exitCode: r.exitCode, output: errors });
  await done;
  return uploaded;
}

export function createEnterpriseBackupRunbook(deps: RunbookDeps<EnterpriseTarget>): Runbook {
  const cluster = asEnterpriseCluster(deps.cluster);
  const target = deps.target;
  const removeCopy = async (ctx: PhaseContext) => {
    const pod = String(ctx.earlierFacts("backup-set")?.pod ?? (await metaPod(cluster, target)));
    const dir = backupDirectory(ctx.request.id);
    const r = await exec(cluster, target, ctx, pod, ["rm", "-rf", dir]);
    if (r.exitCode !== 0) throw failure(`rm -rf ${dir}`, pod, r);
    await ctx.fact("removed", `${pod}:${dir}`);
  };
  const phases: RunbookPhase[] = [
    {
      ...ENTERPRISE_BACKUP_PHASES[0]!,
      async run(ctx) {
        const pod = await metaPod(cluster, target);
        const dir = backupDirectory(ctx.request.id);
        await ctx.fact("pod", pod);
        await ctx.fact("directory", dir);
        if (typeof ctx.facts.asOf !== "string") await ctx.fact("asOf", formatAsOf(ctx.now()));
        const prep = await exec(cluster, target, ctx, pod, [
          "sh",
          "-c",
          'rm -rf "$1" && mkdir -p "$1"',
          "sh",
          dir,
        ]);
        if (prep.exitCode !== 0) throw failure(`mkdir -p ${dir}`, pod, prep);
        ctx.note(`Running \`influxd-ctl backup -full ${dir}\` in ${pod}:`);
        const r = await exec(
          cluster,
          target,
          ctx,
          pod,
          ["influxd-ctl", "backup", "-full", dir],
          (l) => {
            ctx.note(`\`${l}\``);
            ctx.progress(l);
          },
        );
        if (r.exitCode !== 0) throw failure("influxd-ctl backup -full", pod, r);
        const parsed = parseBackupOutput(r.output);
        await ctx.fact("output", r.output);
        await ctx.fact("transferredBytes", parsed.totalBytes);
      },
      summarize: (facts) =>
        `influxd-ctl backup -full wrote ${String(facts.transferredBytes)} bytes into ${String(facts.pod)}:${String(facts.directory)}`,
    },
    {
      ...ENTERPRISE_BACKUP_PHASES[1]!,
      async run(ctx) {
        const made = ctx.earlierFacts("backup-set") ?? {};
        const pod = String(made.pod);
        const dir = String(made.directory);
        const asOf = String(made.asOf);
        const output = parseBackupOutput(String(made.output));
        const listed = await exec(cluster, target, ctx, pod, [
          "find",
          dir,
          "-type",
          "f",
          "-printf",
          "%s %P\\n",
        ]);
        if (listed.exitCode !== 0) throw failure(`find ${dir}`, pod, listed);
        const sizes = parseFileSizes(listed.output);
        const names = [...sizes.keys()].sort();
        if (names.length === 0)
          throw new CodedError(
            "restore_failed",
            `influxd-ctl backup left no files in ${pod}:${dir}`,
          );
        const store = deps.objectStore();
        const files = await streamOut(cluster, target, store, ctx, pod, dir, names, asOf);
        const wrong = files.filter((f) => sizes.get(f.name) !== f.size);
        if (wrong.length > 0 || files.length !== names.length)
          throw new CodedError(
            "restore_failed",
            `the set streamed out of ${pod} does not match its files there (${wrong.map((f) => f.name).join(", ") || `${files.length} of ${names.length} files`}); complete.json was not written. Retry phase uploads it again`,
          );
        const complete = buildEnterpriseComplete({
          target: target.name,
          asOf,
          full: true,
          files: files.sort((a, b) => a.name.localeCompare(b.name)),
          output,
          restorebotVersion: deps.env.RESTOREBOT_VERSION ?? "unknown",
        });
        await writeCompleteManifest(store, locationOf(target), complete);
        const point = pointOfSet(complete);
        const fact: BackupPointFact = { asOf, point, bytes: point.bytes };
        await ctx.fact(BACKUP_POINT_FACT, fact);
        await ctx.fact("files", files.length);
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
      summarize: (facts) => `removed ${String(facts.removed)}`,
    },
  ];
  return {
    kind: "influxdb-enterprise",
    phases,
    rollback: [
      {
        ...ENTERPRISE_BACKUP_ROLLBACK[0]!,
        run: removeCopy,
        summarize: (facts) => `removed ${String(facts.removed)}`,
      },
    ],
    async describeHalt(_request, runs) {
      const made = [...runs].reverse().find((r) => r.phase === "backup-set")?.facts;
      const uploaded = runs.some((r) => r.phase === "upload-set" && r.state === "succeeded");
      const state = [
        made?.pod
          ? `The set may be in ${String(made.pod)}:${String(made.directory)}.`
          : "Nothing was written in a meta pod.",
        uploaded
          ? "The set is uploaded with its complete.json."
          : "No complete.json was written: a partly uploaded folder is not a restorable set.",
      ];
      return { state, rollback: "Roll back removes the set's directory from the meta pod." };
    },
    describeFinish(_request, runs) {
      const p = [...runs].reverse().find((r) => r.phase === "upload-set")?.facts[
        BACKUP_POINT_FACT
      ] as BackupPointFact | undefined;
      return p ? [`Full backup set ${p.asOf} uploaded (${p.bytes ?? 0} bytes).`] : [];
    },
  };
}
