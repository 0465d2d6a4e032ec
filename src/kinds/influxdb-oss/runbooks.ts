/**
 * The InfluxDB OSS runbooks: the seed's file-level procedure (stop the process, copy meta/ and
 * data/ — and wal/ —, start; restore is stop, remove, put back, fix ownership, start), with the
 * node stopped by scaling its StatefulSet to 0 and the file work done by a bare helper pod that
 * mounts the node's PVC. Steps from src/steps scale with durable counts and wait on watches;
 * Roll back is this kind's put-back and helper clean-up, then the derived undo (scale back).
 */

import type { KubernetesCluster } from "../../adapters/kubernetes/kubernetes-cluster.js";
import { rbacRulesFor } from "../../adapters/kubernetes/rbac.js";
import { DEFAULT_PART_BYTES, partSizeFor } from "../../adapters/s3/part-writer.js";
import {
  abortLeftoverUploads,
  type BackupLocation,
  type CompleteManifest,
  claimAsOf,
  openSizedPointFile,
  pointPrefix,
  readCompleteManifest,
  writeCompleteManifest,
} from "../../backups/index.js";
import { CodedError } from "../../errors.js";
import { createCompensationLog } from "../../runbook/compensations.js";
import {
  BACKUP_POINT_FACT,
  type BackupPointFact,
  type Facts,
  type PhaseContext,
  type Runbook,
  type RunbookPhase,
  type RunRequest,
} from "../../runbook/types.js";
import {
  callServiceProxy,
  derivedRollbackSteps,
  describeRollback,
  recordedCounts,
  rollbackAfter,
  scaleBack,
  scaleOperations,
  scaleWorkloads,
  serviceProxyOperations,
  WAIT_OPERATIONS,
  waitPodsGone,
  waitPodsReady,
} from "../../steps/index.js";
import type { StepDeps } from "../../steps/types.js";
import { formatBytes, formatCount } from "../../text/format.js";
import type { RunbookDeps } from "../kind.js";
import {
  ARCHIVE_NAME,
  archiveEntryOf,
  archiveKeyOf,
  archiveLocation,
  buildOssComplete,
  checkOssManifest,
} from "./archive-point.js";
import {
  checkStoredArchive,
  confirmArchiveLanded,
  deleteOldDirectories,
  estimateArchive,
  prepareRestore,
  putOldDirectoriesBack,
  streamArchiveIn,
  streamBackupToStore,
} from "./archive-stream.js";
import { type InfluxdbOssTarget, serviceOf } from "./config.js";
import { HELPER_POD_OPERATIONS, type HelperRole, helperPod } from "./helper-pod.js";
import { asideDirectoryOf } from "./helper-scripts.js";
import { type OssPoint, ossPointOf } from "./points.js";

const RESTOREBOT_VERSION = "0.1.0";
const SCALE_ID = "node";

/** What the thread is told once the data directory has been measured. */
export function measuredLine(
  dataDir: string,
  estimate: { fileBytes: number; entries: number },
  partSize: number,
): string {
  const parts =
    partSize > DEFAULT_PART_BYTES
      ? `the upload's parts grow to ${partSize / 1048576} MiB from here on, to fit S3's 10 000 parts`
      : "8 MiB parts are enough";
  return `${dataDir} holds ${formatBytes(estimate.fileBytes)} in ${formatCount(estimate.entries)} files and directories; ${parts}`;
}

export const BACKUP_PHASES = [
  {
    name: "stop-node",
    title: "Stop InfluxDB (scale to 0, wait until its pod is gone)",
    mutates: true,
  },
  { name: "archive", title: "Stream meta/, data/ and wal/ to the object store", mutates: true },
  { name: "remove-helper", title: "Delete the helper pod", mutates: true },
  { name: "start-node", title: "Start InfluxDB and wait until it is ready", mutates: true },
] as const;

export const RESTORE_PHASES = [
  { name: "check-archive", title: "Check the archive against complete.json", mutates: false },
  {
    name: "stop-node",
    title: "Stop InfluxDB (scale to 0, wait until its pod is gone)",
    mutates: true,
  },
  { name: "prepare", title: "Check free space and move the current data aside", mutates: true },
  { name: "extract", title: "Stream the archive in and confirm what landed", mutates: true },
  { name: "remove-helper", title: "Delete the helper pod", mutates: true },
  { name: "start-node", title: "Start InfluxDB and wait until it is ready", mutates: true },
  { name: "check-node", title: "Check /ping and the databases", mutates: false },
  { name: "delete-old", title: "Delete the old data directories", mutates: true },
] as const;

export const ROLLBACK_STEPS = [
  {
    name: "rollback-put-back",
    title: "Put the old data directories back and delete the helper pod",
    mutates: true,
  },
  { name: "rollback-undo-recorded", title: "Undo what the run changed", mutates: true },
] as const;

export const BACKUP_ROLLBACK_STEPS = [
  { name: "rollback-remove-helper", title: "Delete the helper pod", mutates: true },
  { name: "rollback-undo-recorded", title: "Undo what the run changed", mutates: true },
] as const;

/** The Kubernetes access both runbooks use (the chart's Role includes it). */
export function influxdbOssOperations() {
  const workloads = [{ kind: "StatefulSet" as const, name: "x" }];
  return [
    ...scaleOperations([{ kind: "StatefulSet", names: ["x"] }]),
    ...WAIT_OPERATIONS(workloads),
    ...HELPER_POD_OPERATIONS,
    ...serviceProxyOperations(["GET"]),
  ];
}

export const INFLUXDB_OSS_RBAC = rbacRulesFor(influxdbOssOperations());

function titled<T extends { name: string; title: string; mutates: boolean }>(
  outline: readonly T[],
  name: T["name"],
  run: RunbookPhase["run"],
  summarize?: RunbookPhase["summarize"],
): RunbookPhase {
  const phase = outline.find((p) => p.name === name);
  if (!phase) throw new Error(`no phase ${name}`);
  return {
    name: phase.name,
    title: phase.title,
    mutates: phase.mutates,
    run,
    ...(summarize ? { summarize } : {}),
  };
}

function stepDeps(deps: RunbookDeps<InfluxdbOssTarget>): StepDeps {
  return { cluster: deps.cluster, compensations: createCompensationLog(deps.db) };
}

/** The run's helper pod for `role` (one module for both runbooks: helper-pod.ts). */
function helperOf(
  deps: RunbookDeps<InfluxdbOssTarget>,
  request: Pick<RunRequest, "id">,
  role: HelperRole,
) {
  return helperPod(deps.cluster, deps.target, request.id, role);
}

function node(target: InfluxdbOssTarget) {
  return [{ kind: "StatefulSet" as const, name: target.statefulset }];
}

/** Scales the node to 0 and waits until its pod is gone; records when it went (once). */
async function stopNode(
  ctx: PhaseContext,
  deps: RunbookDeps<InfluxdbOssTarget>,
  steps: StepDeps,
): Promise<void> {
  const { target } = deps;
  const checkpoint = await scaleWorkloads(ctx, steps, {
    id: SCALE_ID,
    replicas: 0,
    workloads: [{ kind: "StatefulSet", names: [target.statefulset] }],
  });
  await waitPodsGone(ctx, steps, {
    workloads: node(target),
    timeoutMs: target.timeouts.podsGone,
    description: `InfluxDB pod of ${target.statefulset} gone`,
  });
  if (typeof ctx.facts.stoppedAt !== "string") await ctx.fact("stoppedAt", ctx.now().toISOString());
  await ctx.fact("replicas", checkpoint.original[0]?.replicas ?? 0);
}

/** Scales the node back to its recorded count and waits until it is ready. */
async function startNode(
  ctx: PhaseContext,
  deps: RunbookDeps<InfluxdbOssTarget>,
  steps: StepDeps,
): Promise<number> {
  const checkpoint = recordedCounts(ctx.earlierFacts("stop-node"), SCALE_ID);
  if (!checkpoint)
    throw new CodedError("internal", "the stop-node phase recorded no replica count");
  await scaleBack(ctx, steps, { checkpoint, id: SCALE_ID, phase: "stop-node" });
  const replicas = checkpoint.original[0]?.replicas ?? 0;
  if (replicas > 0)
    await waitPodsReady(ctx, steps, {
      workloads: node(deps.target),
      atLeast: replicas,
      timeoutMs: deps.target.timeouts.podsReady,
    });
  return replicas;
}

/** The `backupPoint` fact: the point exactly as a restore request would freeze it. */
function backupPointFact(
  location: BackupLocation,
  asOf: string,
  archive: { size: number; sha256: string },
): BackupPointFact {
  const point: OssPoint = {
    asOf,
    key: archiveKeyOf(location, asOf),
    size: archive.size,
    sha256: archive.sha256,
  };
  return { asOf, point, bytes: archive.size };
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

/** The backup runbook (DESIGN.md, `influxdb-oss`). */
export function createInfluxdbOssBackupRunbook(deps: RunbookDeps<InfluxdbOssTarget>): Runbook {
  const { target } = deps;
  const steps = stepDeps(deps);
  const location = archiveLocation(target.backups);
  const phase = (
    name: (typeof BACKUP_PHASES)[number]["name"],
    run: RunbookPhase["run"],
    s?: RunbookPhase["summarize"],
  ) => titled(BACKUP_PHASES, name, run, s);
  const phases: RunbookPhase[] = [
    phase(
      "stop-node",
      (ctx) => stopNode(ctx, deps, steps),
      (f) => (typeof f.stoppedAt === "string" ? `pod gone at ${f.stoppedAt}` : undefined),
    ),
    phase(
      "archive",
      async (ctx) => {
        const stoppedAt = ctx.earlierFacts("stop-node")?.stoppedAt;
        if (typeof stoppedAt !== "string")
          throw new CodedError("internal", "the stop-node phase recorded no time");
        const store = deps.objectStore();
        const asOf = await claimAsOf(ctx, {
          db: deps.db,
          store,
          location,
          at: new Date(stoppedAt),
        });
        // A re-run after complete.json was written: the point is stored, nothing to redo.
        const existing = await readCompleteManifest(store, location, asOf);
        if (existing) {
          const entry = archiveEntryOf(existing);
          await ctx.fact("size", entry.size);
          await ctx.fact("sha256", entry.sha256);
          await ctx.fact(BACKUP_POINT_FACT, backupPointFact(location, asOf, entry));
          return;
        }
        const helper = helperOf(deps, ctx.request, "backup");
        await ctx.fact("helperPod", helper.name);
        const key = archiveKeyOf(location, asOf);
        let lastReport = 0;
        const digest = await helper.deletingOnFailure(ctx, async () => {
          await helper.start(ctx);
          const folder = pointPrefix(location.prefix, asOf, location.pointsFolder);
          await abortLeftoverUploads(ctx, store, location.bucket, folder);
          // Measured while the tar already runs, so it adds no downtime; the upload starts
          // with 8 MiB parts and grows them once this says the archive needs it.
          let about: string | undefined;
          // Stopped once the stream has ended: by then the measure has nothing left to size.
          const measuring = new AbortController();
          const stopMeasuring = () => measuring.abort(ctx.signal.reason);
          ctx.signal.addEventListener("abort", stopMeasuring, { once: true });
          const expectedSize = estimateArchive({
            exec: helper.exec(),
            dataDir: target.dataDir,
            signal: measuring.signal,
          }).then(
            (estimate) => {
              const partSize = partSizeFor(estimate.maxBytes, `the archive of ${target.dataDir}`);
              about = formatBytes(estimate.fileBytes);
              ctx.progress(measuredLine(target.dataDir, estimate, partSize));
              return estimate.maxBytes;
            },
            (err: unknown) => {
              if (err instanceof CodedError && err.code === "precondition_failed") throw err;
              if (measuring.signal.aborted) return undefined;
              ctx.progress(
                `could not measure ${target.dataDir} (${err instanceof Error ? err.message : String(err)}); the upload keeps 8 MiB parts, enough for an archive up to 78 GiB`,
              );
              return undefined;
            },
          );
          // Its failure reaches the upload (below); this keeps it from counting as unhandled
          // when the stream fails first.
          void expectedSize.catch(() => undefined);
          let streamed: Awaited<ReturnType<typeof streamBackupToStore>>;
          try {
            streamed = await streamBackupToStore({
              exec: helper.exec(),
              dataDir: target.dataDir,
              key,
              signal: ctx.signal,
              open: (k) =>
                store.openUploadWriter(location.bucket, k, {
                  contentType: "application/x-tar",
                  signal: ctx.signal,
                }),
              expectedSize,
              onProgress: (bytes) => {
                if (bytes - lastReport < 16 * 1024 * 1024) return;
                lastReport = bytes;
                ctx.progress(
                  `archived ${(bytes / 1048576).toFixed(0)} MiB${about === undefined ? "" : ` of about ${about}`} into s3://${location.bucket}/${key}`,
                );
              },
            });
          } finally {
            // Ends the measuring exec before the helper pod can go (it is metadata only and
            // has normally long finished).
            measuring.abort();
            ctx.signal.removeEventListener("abort", stopMeasuring);
            await expectedSize.catch(() => undefined);
          }
          // Written last: only now is the point complete; the node starts only after this.
          await writeCompleteManifest(
            store,
            location,
            buildOssComplete({
              target: target.name,
              asOf,
              archive: streamed,
              restorebotVersion: RESTOREBOT_VERSION,
            }),
          );
          return streamed;
        });
        await ctx.fact("size", digest.size);
        await ctx.fact("sha256", digest.sha256);
        // What the request's point becomes when the backup finishes (the runner writes it).
        await ctx.fact(BACKUP_POINT_FACT, backupPointFact(location, asOf, digest));
      },
      (f) =>
        typeof f.asOf === "string" && typeof f.size === "number"
          ? `point ${f.asOf}: ${ARCHIVE_NAME}, ${f.size} bytes, sha256 ${String(f.sha256).slice(0, 12)}…, complete.json written`
          : undefined,
    ),
    phase("remove-helper", async (ctx) => {
      await helperOf(deps, ctx.request, "backup").remove(ctx);
    }),
    phase(
      "start-node",
      async (ctx) => {
        await startNode(ctx, deps, steps);
        const stoppedAt = ctx.earlierFacts("stop-node")?.stoppedAt;
        if (typeof ctx.facts.pauseWindowMs !== "number" && typeof stoppedAt === "string") {
          const ms = ctx.now().getTime() - new Date(stoppedAt).getTime();
          await ctx.fact("pauseWindowMs", ms);
          await ctx.fact("cardNote", `InfluxDB was down for ${seconds(ms)} (pod gone → ready)`);
        }
      },
      (f) =>
        typeof f.pauseWindowMs === "number"
          ? `ready again; down for ${seconds(f.pauseWindowMs)} (pod gone → ready)`
          : undefined,
    ),
  ];
  const rollback: RunbookPhase[] = [
    {
      ...BACKUP_ROLLBACK_STEPS[0],
      run: async (ctx) => {
        await helperOf(deps, ctx.request, "backup").remove(ctx);
      },
    },
    ...derivedRollbackSteps(steps, { readyTimeoutMs: target.timeouts.podsReady }),
  ];
  return {
    kind: "influxdb-oss",
    phases,
    rollback,
    async describeHalt(request, runs) {
      const archived = runs.find((r) => r.phase === "archive" && r.state === "succeeded");
      const state = [
        archived
          ? `The archive and complete.json of ${String(archived.facts.asOf)} are stored: the point is complete.`
          : "No complete.json was written: the point (if any bytes were uploaded) stays incomplete and is never offered for a restore.",
        runs.some((r) => r.phase === "stop-node")
          ? `StatefulSet ${target.statefulset} may be scaled to 0: InfluxDB is down until it is scaled back.`
          : `StatefulSet ${target.statefulset} was not touched.`,
      ];
      let rollbackText: string;
      try {
        rollbackText = await describeRollback(steps, request.id);
      } catch (err) {
        rollbackText = `(could not read what Roll back would undo: ${err instanceof Error ? err.message : String(err)})`;
      }
      return {
        state,
        rollback: rollbackAfter("Roll back deletes the helper pod", rollbackText),
      };
    },
    describeFinish(_request, runs) {
      const archive = runs.find((r) => r.phase === "archive")?.facts ?? {};
      const start = runs.find((r) => r.phase === "start-node")?.facts ?? {};
      return [
        `Backup of ${target.name} stored as point \`${String(archive.asOf)}\` (${String(archive.size)} bytes, sha256 \`${String(archive.sha256)}\`).`,
        typeof start.pauseWindowMs === "number"
          ? `InfluxDB was down for ${seconds(start.pauseWindowMs)} (pod gone → ready again).`
          : "InfluxDB is up again.",
      ];
    },
  };
}

function preparedOf(runs: readonly { phase: string; facts: Facts }[]): boolean {
  return runs.some((r) => r.phase === "prepare" && r.facts.moveStarted === true);
}

/** The restore runbook (DESIGN.md, `influxdb-oss`). */
export function createInfluxdbOssRestoreRunbook(deps: RunbookDeps<InfluxdbOssTarget>): Runbook {
  const { target } = deps;
  const steps = stepDeps(deps);
  const location = archiveLocation(target.backups);
  const restoreHelper = (request: Pick<RunRequest, "id">) => helperOf(deps, request, "restore");
  const restoreId = (request: Pick<RunRequest, "id">) => request.id.replace(/[^A-Za-z0-9_-]/g, "-");
  const phase = (
    name: (typeof RESTORE_PHASES)[number]["name"],
    run: RunbookPhase["run"],
    s?: RunbookPhase["summarize"],
  ) => titled(RESTORE_PHASES, name, run, s);

  /** complete.json as stored now, checked against the frozen point. */
  const manifestNow = async (ctx: PhaseContext): Promise<CompleteManifest> => {
    const point = ossPointOf(ctx.request.point);
    const manifest = await readCompleteManifest(deps.objectStore(), location, point.asOf);
    if (!manifest)
      throw new CodedError(
        "precondition_failed",
        `point ${point.asOf} has no complete.json any more; pick another with /recovery-points (nothing was changed)`,
      );
    checkOssManifest(manifest, `s3://${location.bucket}/${point.asOf}/complete.json`);
    const entry = archiveEntryOf(manifest);
    if (entry.sha256 !== point.sha256 || entry.size !== point.size)
      throw new CodedError(
        "precondition_failed",
        `point ${point.asOf} changed since it was approved (complete.json now records ${entry.size} bytes, sha256 ${entry.sha256}); ask again with /restore (nothing was changed)`,
      );
    return manifest;
  };

  const phases: RunbookPhase[] = [
    phase(
      "check-archive",
      async (ctx) => {
        const manifest = await manifestNow(ctx);
        const entry = archiveEntryOf(manifest);
        await checkStoredArchive({
          store: deps.objectStore(),
          bucket: location.bucket,
          key: archiveKeyOf(location, manifest.asOf),
          expected: entry,
        });
        await ctx.fact("size", entry.size);
        await ctx.fact("sha256", entry.sha256);
      },
      (f) => `${ARCHIVE_NAME}: ${String(f.size)} bytes, as complete.json records`,
    ),
    phase("stop-node", (ctx) => stopNode(ctx, deps, steps)),
    phase(
      "prepare",
      async (ctx) => {
        const manifest = await manifestNow(ctx);
        const entry = archiveEntryOf(manifest);
        // Checked again: the archive could have been replaced while the node stopped.
        await checkStoredArchive({
          store: deps.objectStore(),
          bucket: location.bucket,
          key: archiveKeyOf(location, manifest.asOf),
          expected: entry,
        });
        const helper = restoreHelper(ctx.request);
        const prepared = await helper.deletingOnFailure(ctx, async () => {
          await helper.start(ctx);
          await ctx.fact("moveStarted", true);
          return prepareRestore({
            exec: helper.exec(),
            dataDir: target.dataDir,
            restoreId: restoreId(ctx.request),
            archiveSize: entry.size,
            signal: ctx.signal,
          });
        });
        await ctx.fact("prepared", true);
        await ctx.fact("owner", prepared.owner);
        await ctx.fact("present", prepared.present);
        await ctx.fact("aside", asideDirectoryOf(target.dataDir, restoreId(ctx.request)));
        ctx.note(
          `Free space checked (${Math.round(prepared.freeKb / 1024)} MiB free, ${Math.round(prepared.needKb / 1024)} MiB needed); ${prepared.present.join("/, ")}/ moved aside to ${asideDirectoryOf(target.dataDir, restoreId(ctx.request))}/ (owner ${prepared.owner}).`,
        );
      },
      (f) =>
        Array.isArray(f.present) ? `moved aside: ${(f.present as string[]).join(", ")}` : undefined,
    ),
    phase(
      "extract",
      async (ctx) => {
        if (ctx.facts.confirmed === true) return;
        const manifest = await manifestNow(ctx);
        const entry = archiveEntryOf(manifest);
        const helper = restoreHelper(ctx.request);
        const ids = {
          dataDir: target.dataDir,
          restoreId: restoreId(ctx.request),
          signal: ctx.signal,
        };
        try {
          // Sized, not hashed here: streamArchiveIn hashes every byte it sends and compares
          // size and sha256 with complete.json itself, so each byte is hashed once.
          const file = await openSizedPointFile(deps.objectStore(), location, manifest.asOf, entry);
          // streamArchiveIn reports the reader's failure; a second error from the reader after
          // that must not go unhandled.
          file.body.on("error", () => undefined);
          try {
            await streamArchiveIn({
              ...ids,
              exec: helper.exec({ stdinBytes: entry.size }),
              source: file.body,
              expected: entry,
            });
          } catch (err) {
            file.body.destroy();
            throw err;
          }
          // Only this second, short exec says the archive is written (see docs/kubernetes.md).
          const landed = await confirmArchiveLanded({
            ...ids,
            exec: helper.exec(),
            expected: entry,
          });
          await ctx.fact("landed", { size: landed.size, sha256: landed.sha256 });
          await ctx.fact("confirmed", true);
        } catch (err) {
          if (ctx.signal.aborted) throw err;
          const failure = err instanceof Error ? err.message : String(err);
          try {
            await putOldDirectoriesBack({ ...ids, exec: helper.exec() });
          } catch (putBackErr) {
            throw new CodedError(
              "restore_failed",
              `${failure}; putting the old directories back ALSO failed: ${putBackErr instanceof Error ? putBackErr.message : String(putBackErr)}. They are in ${asideDirectoryOf(target.dataDir, restoreId(ctx.request))}/`,
              { cause: err },
            );
          }
          await ctx.fact("putBack", true);
          await helper.removeAfterFailure(ctx);
          throw new CodedError(
            "restore_failed",
            `${failure}; the old directories are back in place`,
            { cause: err },
          );
        }
      },
      (f) => {
        const landed = f.landed as { size?: number; sha256?: string } | undefined;
        return landed
          ? `landed ${landed.size} bytes, sha256 ${String(landed.sha256).slice(0, 12)}… as complete.json records`
          : undefined;
      },
    ),
    phase("remove-helper", async (ctx) => {
      await restoreHelper(ctx.request).remove(ctx);
    }),
    phase("start-node", async (ctx) => {
      await startNode(ctx, deps, steps);
    }),
    phase(
      "check-node",
      async (ctx) => {
        const { service, port } = serviceOf(target);
        await callServiceProxy(ctx, steps, { service, port, path: "/ping", expect: [204, 200] });
        const answer = await callServiceProxy(ctx, steps, {
          service,
          port,
          path: "/query",
          query: { q: "SHOW DATABASES" },
        });
        const databases = databasesOf(answer.body);
        await ctx.fact("databases", databases);
        ctx.note(
          `The restored node answers /ping and holds ${databases.length === 0 ? "no databases" : `${databases.length} database${databases.length === 1 ? "" : "s"}: ${databases.join(", ")}`}.`,
        );
      },
      (f) =>
        Array.isArray(f.databases)
          ? `databases: ${(f.databases as string[]).join(", ") || "none"}`
          : undefined,
    ),
    phase("delete-old", async (ctx) => {
      const helper = helperOf(deps, ctx.request, "cleanup");
      await helper.whileUp(ctx, () =>
        deleteOldDirectories({
          exec: helper.exec(),
          dataDir: target.dataDir,
          restoreId: restoreId(ctx.request),
          signal: ctx.signal,
        }),
      );
    }),
  ];

  const rollback: RunbookPhase[] = [
    {
      ...ROLLBACK_STEPS[0],
      run: async (ctx) => {
        const runsPrepared =
          ctx.earlierFacts("prepare")?.moveStarted === true ||
          (await prepareStarted(deps, ctx.request.id));
        const helper = restoreHelper(ctx.request);
        if (!runsPrepared) {
          await helper.remove(ctx);
          await ctx.fact("putBack", "nothing was moved");
          return;
        }
        // The node must be stopped while the directories move (it may have been started).
        await scaleWorkloads(ctx, steps, {
          id: "put-back",
          replicas: 0,
          workloads: [{ kind: "StatefulSet", names: [target.statefulset] }],
        });
        await waitPodsGone(ctx, steps, {
          workloads: node(target),
          timeoutMs: target.timeouts.podsGone,
        });
        await helper.start(ctx);
        await putOldDirectoriesBack({
          exec: helper.exec(),
          dataDir: target.dataDir,
          restoreId: restoreId(ctx.request),
          signal: ctx.signal,
        });
        await helper.remove(ctx);
        await ctx.fact("putBack", "the old directories are back in place");
        // The run's closing lines list what roll back steps record as undone, in order.
        await ctx.fact("undone", [
          `the old directories of ${target.dataDir} are back in place (from ${asideDirectoryOf(target.dataDir, restoreId(ctx.request))}/)`,
        ]);
      },
      summarize: (f) => (typeof f.putBack === "string" ? f.putBack : undefined),
    },
    ...derivedRollbackSteps(steps, { readyTimeoutMs: target.timeouts.podsReady }),
  ];

  return {
    kind: "influxdb-oss",
    phases,
    rollback,
    async describeHalt(request, runs) {
      const aside = asideDirectoryOf(target.dataDir, restoreId(request));
      const extract = runs.find((r) => r.phase === "extract");
      const state: string[] = [];
      if (!preparedOf(runs)) state.push(`The data directory ${target.dataDir} was not touched.`);
      else if (
        !runs.some((r) => r.phase === "prepare" && r.facts.prepared === true) &&
        extract === undefined
      )
        state.push(
          `Moving the current directories of ${target.dataDir} aside did not finish: those already moved are in ${aside}/ (a refusal for free space moves nothing).`,
        );
      else if (extract?.facts.putBack === true)
        state.push(
          `The data directory ${target.dataDir} is as it was: the old directories were put back after the failure.`,
        );
      else if (extract?.facts.confirmed === true)
        state.push(
          `The archive is extracted and confirmed in ${target.dataDir}; the old directories are kept in ${aside}/.`,
        );
      else
        state.push(
          `The data directory ${target.dataDir} was touched: the old directories are in ${aside}/ and ${target.dataDir} may hold a partial extract.`,
        );
      state.push(
        runs.some((r) => r.phase === "stop-node")
          ? `StatefulSet ${target.statefulset} may be scaled to 0: InfluxDB is down until it is scaled back.`
          : `StatefulSet ${target.statefulset} was not touched.`,
      );
      let rollbackText: string;
      try {
        rollbackText = await describeRollback(steps, request.id);
      } catch (err) {
        rollbackText = `(could not read what Roll back would undo: ${err instanceof Error ? err.message : String(err)})`;
      }
      return {
        state,
        rollback: rollbackAfter(
          `Roll back puts the old directories back from ${aside}/ (stopping the node first if it runs) and deletes the helper pod`,
          rollbackText,
        ),
      };
    },
    describeFinish(request, runs) {
      const point = ossPointOf(request.point);
      const databases = runs.find((r) => r.phase === "check-node")?.facts.databases;
      return [
        `${target.name} restored from point \`${point.asOf}\`; the old data directories are deleted.`,
        Array.isArray(databases)
          ? `Databases on the restored node: ${databases.join(", ") || "none"}.`
          : "",
      ].filter((l) => l !== "");
    },
  };
}

async function prepareStarted(
  deps: RunbookDeps<InfluxdbOssTarget>,
  requestId: string,
): Promise<boolean> {
  const { rows } = await deps.db.query<{ facts: Facts }>(
    "SELECT facts FROM phase_runs WHERE request_id = $1 AND phase = 'prepare'",
    [requestId],
  );
  return rows.some((r) => r.facts.moveStarted === true);
}

/** The names in an InfluxDB 1.x `SHOW DATABASES` answer (`_internal` included, as the node says). */
export function databasesOf(body: string): string[] {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new CodedError(
      "restore_failed",
      `SHOW DATABASES answered something that is not JSON: ${body.slice(0, 200)}`,
    );
  }
  const results =
    (json as { results?: Array<{ error?: string; series?: Array<{ values?: unknown[][] }> }> })
      .results ?? [];
  const error = results.find((r) => r.error)?.error;
  if (error)
    throw new CodedError("restore_failed", `SHOW DATABASES failed on the restored node: ${error}`);
  return results
    .flatMap((r) => r.series ?? [])
    .flatMap((s) => s.values ?? [])
    .map((v) => String(v[0]));
}

export type { KubernetesCluster };
