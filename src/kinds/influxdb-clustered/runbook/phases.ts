import { createReadStream } from "node:fs";
import { join } from "node:path";
import type {
  ClusterPort,
  PodSummary,
  StepCluster,
  WorkloadStatus,
} from "../../../adapters/kubernetes/cluster-port.js";
import { isTerminalPod } from "../../../adapters/kubernetes/pod-summary.js";
import type { ObjectStore } from "../../../adapters/s3/object-store.js";
import { preflightDump } from "../../../catalog-restore/preflight.js";
import {
  CATALOG_WORDING,
  type RestoreWording,
  restoreCatalog,
} from "../../../catalog-restore/restore-engine.js";
import type { DatabaseClientConfig } from "../../../db/database.js";
import { CodedError } from "../../../errors.js";
import type { Logger } from "../../../logging/logger.js";
import { createCompensationLog } from "../../../runbook/compensations.js";
import {
  type Db,
  findRunLeftBehind,
  listPhaseRuns,
  listReplicaRecords,
  recordReplicaCounts,
} from "../../../runbook/run-store.js";
import {
  CARD_NOTE_FACT,
  type Facts,
  type PhaseContext,
  type PhaseDefinition,
  type PhaseRunRecord,
  phasesOf,
  type RunbookPhase,
} from "../../../runbook/types.js";
import {
  scaleBack,
  scaleWorkloads,
  type WorkloadSelection,
} from "../../../steps/scale-workloads.js";
import type { StepDeps } from "../../../steps/types.js";
import {
  waitPodsGone,
  waitPodsReady,
  workloadsNotReady,
  workloadsSay,
} from "../../../steps/wait-pods.js";
import { formatBytes, formatCount, formatDuration, formatUtc } from "../../../text/format.js";
import type { InfluxComponentRole, InfluxTarget as Target } from "../config.js";
import { influxPointOf } from "../points.js";
import {
  appInstanceOf,
  assertOperatorPaused,
  BLOOM_FILE,
  type Component,
  componentOf,
  DUMP_FILE,
  describePodList,
  plural,
  readyQuorum,
  requireRecordedCounts,
  SHUTDOWN_STEP_1,
  targetComponents,
} from "./components.js";
import { ensureSnapshotFile } from "./snapshot-file.js";

/** The clients an InfluxDB Clustered run works with, built by the worker for one target. */
export interface InfluxdbRunbookDeps {
  target: Target;
  /** restorebot's own database (replica records). */
  db: Db;
  cluster: ClusterPort;
  objectStore: Pick<ObjectStore, "head" | "getStream">;
  /** The catalog database, from the env var the target names; never logged or narrated. */
  catalogConnection: string | DatabaseClientConfig;
  /** Downloaded snapshots go in `<workDir>/<request id>/`. */
  workDir: string;
  logger: Logger;
  /** How often the catalog restore reports progress to the runner (which narrates every ~5 s). */
  restoreProgressIntervalMs?: number;
  /** How long a halt waits for the cluster's state before saying what it could not read (20 s). */
  haltReadTimeoutMs?: number;
}

type PhaseRun = (ctx: PhaseContext) => Promise<void>;

/** How the restore engine's messages name the catalog's clients: InfluxDB's pods. */
const INFLUXDB_CATALOG_WORDING: RestoreWording = {
  ...CATALOG_WORDING,
  stopClients: "every catalog client (the InfluxDB catalog pods must be scaled to 0)",
  beforeClients: "before starting the InfluxDB pods",
};

function normalizePrefix(prefix: string): string {
  return prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`;
}

export function snapshotDir(deps: Pick<InfluxdbRunbookDeps, "workDir">, requestId: string): string {
  return join(deps.workDir, requestId);
}

// ---- 1. check the recovery point --------------------------------------------------------------

function checkRecoveryPoint(deps: InfluxdbRunbookDeps): PhaseRun {
  return async (ctx) => {
    const { request } = ctx;
    const { target } = deps;
    const frozen = influxPointOf(request.point);
    const base = normalizePrefix(target.snapshots.prefix);
    // Same target: the frozen point must be a snapshot folder of this target's bucket/prefix.
    if (request.target !== target.name || request.kind !== target.kind) {
      throw new CodedError(
        "precondition_failed",
        `Request ${request.id} is for ${request.target} (${request.kind}), not ${target.name} (${target.kind}).`,
      );
    }
    if (!frozen.prefix.startsWith(base) || frozen.dumpKey !== `${frozen.prefix}${DUMP_FILE}`) {
      throw new CodedError(
        "precondition_failed",
        `The frozen recovery point ${frozen.prefix} is not a snapshot folder of ${target.name} (s3://${target.snapshots.bucket}/${base}). Nothing was changed; make a new request.`,
      );
    }
    const where = `s3://${target.snapshots.bucket}/${frozen.prefix}`;
    const [dump, bloom] = await Promise.all([
      deps.objectStore.head(target.snapshots.bucket, frozen.dumpKey),
      deps.objectStore.head(target.snapshots.bucket, `${frozen.prefix}${BLOOM_FILE}`),
    ]);
    if (!dump) {
      throw new CodedError(
        "not_found",
        `The recovery point ${formatUtc(request.pointTime)} is gone: ${where}${DUMP_FILE} no longer exists (retention may have removed it). Nothing was changed; choose another point.`,
      );
    }
    if (!bloom) {
      throw new CodedError(
        "precondition_failed",
        `The recovery point ${formatUtc(request.pointTime)} is incomplete: ${where}${BLOOM_FILE}, written last, is missing, so it must never be restored. Nothing was changed; choose another point.`,
      );
    }
    // Without a frozen ETag nothing proves the dump is the one approved: stop, never skip.
    if (!frozen.dumpEtag) {
      throw new CodedError(
        "precondition_failed",
        `Request ${request.id} froze no ETag for ${where}${DUMP_FILE}, so I cannot check that the dump is still the one approved. Nothing was changed; make a new request for the point.`,
      );
    }
    if (!dump.etag) {
      throw new CodedError(
        "precondition_failed",
        `The store answered for ${where}${DUMP_FILE} without an ETag, so I cannot check that the dump is still the one approved (ETag ${frozen.dumpEtag}). Nothing was changed; check that the store returns ETags and that nothing is rewriting the snapshot, then make a new request for the point.`,
      );
    }
    if (dump.etag !== frozen.dumpEtag) {
      throw new CodedError(
        "precondition_failed",
        `${where}${DUMP_FILE} changed since the request was approved (ETag ${dump.etag}, approved ${frozen.dumpEtag}). Nothing was changed; make a new request for the point as it is now.`,
      );
    }
    await ctx.fact("point", request.pointTime.toISOString());
    await ctx.fact("dumpBytes", dump.size);
    await ctx.fact("dumpEtag", dump.etag);
  };
}

// ---- 2. download and prepare the snapshot -----------------------------------------------------

async function downloadSnapshot(deps: InfluxdbRunbookDeps, ctx: PhaseContext) {
  const { request } = ctx;
  const frozen = influxPointOf(request.point);
  return ensureSnapshotFile({
    store: deps.objectStore,
    bucket: deps.target.snapshots.bucket,
    key: frozen.dumpKey,
    expectedEtag: frozen.dumpEtag,
    dir: snapshotDir(deps, request.id),
    signal: ctx.signal,
    onProgress: (bytes, total) =>
      ctx.progress(
        `downloading ${DUMP_FILE}: ${formatBytes(bytes)} of ${formatBytes(total)} (${percent(bytes, total)})`,
      ),
  });
}

function prepareSnapshot(deps: InfluxdbRunbookDeps): PhaseRun {
  return async (ctx) => {
    const file = await downloadSnapshot(deps, ctx);
    await ctx.fact("snapshotBytes", file.size);
    await ctx.fact("downloaded", file.downloaded);
    // Everything that can be checked without the catalog is checked now, before the operator
    // is paused: a broken dump stops the run while the cluster is still untouched.
    const preflight = await preflightDump(createReadStream(file.path), {
      compressedBytesTotal: file.size,
      signal: ctx.signal,
      progressIntervalMs: 1_000,
      onProgress: (p) =>
        ctx.progress(
          `checking the dump: ${formatBytes(p.compressedBytesRead)} of ${formatBytes(file.size)} (${percent(p.compressedBytesRead, file.size)}), ${formatCount(p.rows)} rows`,
        ),
    });
    await ctx.fact("sqlBytes", preflight.sqlBytes);
    await ctx.fact("statements", preflight.statements);
    await ctx.fact("rows", preflight.rows);
    await ctx.fact("tables", preflight.tableRows.length);
    if (preflight.pgDumpVersion) await ctx.fact("pgDumpVersion", preflight.pgDumpVersion);
  };
}

// ---- 3. pause the operator --------------------------------------------------------------------

/**
 * Whether the run these checkpoints belong to found the operator already paused (true), paused
 * it itself (false), or never read it (undefined: phase 3 never got as far as pausing).
 */
export function operatorFoundPaused(runs: readonly PhaseRunRecord[]): boolean | undefined {
  const found = runs.find((r) => r.phase === "pause-operator")?.facts.wasPaused;
  return typeof found === "boolean" ? found : undefined;
}

/** Whether a run's checkpoints show the operator unpaused again (phase 10 or roll back). */
function operatorReleased(runs: readonly PhaseRunRecord[]): boolean {
  return runs.some(
    (r) =>
      r.state === "succeeded" &&
      (r.phase === "unpause-operator" || r.phase === "rollback-unpause") &&
      r.facts.leftPaused !== true &&
      r.facts.operatorUntouched !== true,
  );
}

function pauseOperator(deps: InfluxdbRunbookDeps): PhaseRun {
  return async (ctx) => {
    const { appInstance } = deps.target;
    // Read once, before the first pause, and kept: a resumed attempt must not mistake our own
    // pause for one that was already there.
    if (ctx.facts.wasPaused === undefined) {
      let wasPaused = await deps.cluster.getOperatorPaused(appInstanceOf(deps.target));
      if (wasPaused) {
        // A pause left by an earlier run of restorebot that was halted or abandoned before it
        // unpaused is that run's, not someone else's: it carries that run's own finding.
        const earlier = await findRunLeftBehind(deps.db, ctx.request.target, ctx.request.id);
        const earlierFound = earlier ? operatorFoundPaused(earlier.runs) : undefined;
        if (earlier && earlierFound !== undefined && !operatorReleased(earlier.runs)) {
          wasPaused = earlierFound;
          await ctx.fact("pausedByRun", { requestId: earlier.id, state: earlier.state });
        }
      }
      await ctx.fact("wasPaused", wasPaused);
      const by = ctx.facts.pausedByRun as { requestId: string; state: string } | undefined;
      if (wasPaused) {
        await ctx.fact(
          CARD_NOTE_FACT,
          `already paused before this run${by ? ` (and before ${by.requestId})` : ""}: it stays paused at the end`,
        );
        ctx.note(
          `AppInstance ${appInstance} was *already paused* before this run${by ? ` (already before ${by.requestId}, ${by.state})` : ""}: someone else paused it, so restorebot leaves it paused when the restore ends; whoever paused it unpauses it.`,
        );
      } else if (by) {
        await ctx.fact(
          CARD_NOTE_FACT,
          `paused by ${by.requestId} (${by.state}), not by someone else: unpaused at the end`,
        );
      }
    }
    await deps.cluster.setOperatorPaused(appInstanceOf(deps.target), true);
    if (!(await deps.cluster.getOperatorPaused(appInstanceOf(deps.target)))) {
      throw new CodedError(
        "kubernetes_error",
        `AppInstance ${appInstance} still does not show spec.pause: true after it was set; nothing was scaled.`,
      );
    }
    await ctx.fact("appInstance", appInstance);
  };
}

// ---- 4. record replica counts -----------------------------------------------------------------

function recordReplicas(deps: InfluxdbRunbookDeps): PhaseRun {
  return async (ctx) => {
    const components = targetComponents(deps.target);
    const existing = await listReplicaRecords(deps.db, ctx.request.id);
    const have = new Set(existing.map((r) => r.component));
    const missing = components.filter((c) => !have.has(c.name));
    // Counts already recorded are never read again: the cluster may be half scaled by now.
    // Phase 5 refuses to run without every count, so anything missing here is read from a
    // cluster nothing has scaled yet.
    const read = await Promise.all(
      missing.map(async (c) => ({
        component: c.name,
        workloadKind: c.kind,
        replicas: await deps.cluster.getReplicas(c.kind, c.name),
      })),
    );
    // …unless an earlier run that was halted or abandoned left it scaled down: a component it
    // recorded above 0 and that is at 0 now goes back to that last known-good count, never to 0.
    const carried: Record<string, number> = {};
    if (read.some((r) => r.replicas === 0)) {
      const earlier = await findRunLeftBehind(deps.db, ctx.request.target, ctx.request.id);
      const known = new Map(earlier?.replicas.map((r) => [r.component, r.replicas]) ?? []);
      for (const r of read) {
        const good = known.get(r.component);
        if (r.replicas === 0 && good !== undefined && good > 0) {
          r.replicas = good;
          carried[r.component] = good;
        }
      }
      if (earlier && Object.keys(carried).length) {
        // Durable before the counts: every later account can say where they came from.
        await ctx.fact("carriedFrom", { requestId: earlier.id, state: earlier.state });
        await ctx.fact("carried", carried);
        const names = Object.entries(carried).map(([name, n]) => `${name} ${n}`);
        await ctx.fact(
          CARD_NOTE_FACT,
          `carried forward from ${earlier.id} (${earlier.state} with them at 0): ${names.join(", ")}`,
        );
        ctx.note(
          `${names.length === 1 ? "One component is" : `${names.length} components are`} at 0 because ${earlier.id} was ${earlier.state} with the cluster scaled down, so their counts are carried forward from what it recorded before scaling: ${names.join(", ")}. The restore scales them back to these counts.`,
        );
      }
    }
    const records = await recordReplicaCounts(deps.db, ctx.request.id, read);
    const counts: Record<string, number> = {};
    for (const c of components) {
      const r = records.find((x) => x.component === c.name);
      if (r) counts[c.name] = r.replicas;
    }
    await ctx.fact("replicas", counts);
    await ctx.fact("recordedEarlier", missing.length === 0);
    const zero = components.filter((c) => counts[c.name] === 0).map((c) => c.name);
    if (zero.length && missing.length)
      ctx.note(
        `${zero.join(", ")} ${zero.length === 1 ? "has" : "have"} 0 replicas now, so ${zero.length === 1 ? "it stays" : "they stay"} at 0 after the restore.`,
      );
  };
}

// ---- scaling through the step library ---------------------------------------------------------

/** The ids phases 5 and 6 scale under (their checkpoints and undo records are keyed by them). */
const SCALE_IDS = { step1: "shutdown-step-1", ingester: "ingester", catalog: "catalog" } as const;

/** Which phase scaled a component down, under which id: what scaling it back settles. */
const SCALED_BY: Record<InfluxComponentRole, { phase: string; id: string }> = {
  gc: { phase: "scale-down-workloads", id: SCALE_IDS.step1 },
  router: { phase: "scale-down-workloads", id: SCALE_IDS.step1 },
  querier: { phase: "scale-down-workloads", id: SCALE_IDS.step1 },
  compactor: { phase: "scale-down-workloads", id: SCALE_IDS.step1 },
  ingester: { phase: "scale-down-workloads", id: SCALE_IDS.ingester },
  catalog: { phase: "scale-down-catalog", id: SCALE_IDS.catalog },
};

function selectionOf(c: Component): WorkloadSelection {
  return { kind: c.kind, names: [c.name] };
}

/** The step library's deps over this run's clients: scaling uses only the ClusterPort part. */
function stepDeps(deps: InfluxdbRunbookDeps): StepDeps {
  return {
    cluster: deps.cluster as StepCluster,
    compensations: createCompensationLog(deps.db),
  };
}

// ---- waits ------------------------------------------------------------------------------------

/*
 * Pods are matched by label or owner, which someone can change; each wait also asks the
 * workloads themselves (their controller's status, once it has observed the latest scale), so a
 * pod stripped of both its label and its owner reference cannot make a wait pass early.
 */

async function waitUntilPodsGone(
  deps: InfluxdbRunbookDeps,
  ctx: PhaseContext,
  components: readonly Component[],
  description: string,
): Promise<{ waitedMs: number; maxPods: number }> {
  // Stopped pods are named in the progress line only, as this runbook always has.
  const waited = await waitPodsGone(ctx, deps, {
    workloads: components.map((c) => ({ kind: c.kind, name: c.name })),
    timeoutMs: deps.target.timeouts.podsGone,
    description,
    noteStopped: false,
  });
  return { waitedMs: waited.waitedMs, maxPods: waited.maxPods };
}

async function waitUntilReady(
  deps: InfluxdbRunbookDeps,
  ctx: PhaseContext,
  component: Component,
  wanted: number,
  description: string,
): Promise<number> {
  const waited = await waitPodsReady(ctx, deps, {
    workloads: [{ kind: component.kind, name: component.name }],
    atLeast: wanted,
    timeoutMs: deps.target.timeouts.podsReady,
    description,
    noteStopped: false,
  });
  return waited.waitedMs;
}

// ---- 5. scale down everything but the catalog -------------------------------------------------

function scaleDownWorkloads(deps: InfluxdbRunbookDeps): PhaseRun {
  return async (ctx) => {
    const components = targetComponents(deps.target);
    // Nothing is scaled unless the operator is paused and every count is recorded.
    await assertOperatorPaused(deps.cluster, appInstanceOf(deps.target));
    const counts = await requireRecordedCounts(deps.db, ctx.request.id, components);
    // The end of the data-loss window: from here on nothing new reaches the catalog.
    if (ctx.facts.writesStoppedAt === undefined)
      await ctx.fact("writesStoppedAt", ctx.now().toISOString());
    // The counts to come back to are phase 4's (perhaps carried from an earlier halted run),
    // never what the cluster shows now; each scale records its undo first.
    const steps = stepDeps(deps);
    const known = Object.fromEntries(counts);
    await scaleWorkloads(ctx, steps, {
      id: SCALE_IDS.step1,
      workloads: SHUTDOWN_STEP_1.map((role) => selectionOf(componentOf(deps.target, role))),
      replicas: 0,
      known,
    });
    // Ingesters after step 1; they flush their WAL while terminating, which can take minutes.
    await scaleWorkloads(ctx, steps, {
      id: SCALE_IDS.ingester,
      workloads: [selectionOf(componentOf(deps.target, "ingester"))],
      replicas: 0,
      known,
    });
    const nonCatalog = components.filter((c) => c.role !== "catalog");
    const waited = await waitUntilPodsGone(deps, ctx, nonCatalog, "every non-catalog pod gone");
    await ctx.fact(
      "scaledToZero",
      nonCatalog.map((c) => c.name),
    );
    await ctx.fact("podsWaitedFor", waited.maxPods);
    await ctx.fact("waitMs", Math.round(waited.waitedMs));
  };
}

// ---- 6. scale down the catalog ----------------------------------------------------------------

function scaleDownCatalog(deps: InfluxdbRunbookDeps): PhaseRun {
  return async (ctx) => {
    const components = targetComponents(deps.target);
    const nonCatalog = components.filter((c) => c.role !== "catalog");
    // The catalog goes last, and only after every other pod is gone: an ingester still
    // flushing its WAL into a catalog about to be replaced would survive the restore.
    const stillThere = (await deps.cluster.listPods(nonCatalog.map((c) => c.name))).filter(
      (p) => !isTerminalPod(p),
    );
    if (stillThere.length) {
      throw new CodedError(
        "precondition_failed",
        `${plural(stillThere.length, "non-catalog pod")} still exist (${describePodList(stillThere)}), so the catalog was not scaled down. Someone may have scaled a component up; check, then Retry phase or Roll back.`,
      );
    }
    await assertOperatorPaused(deps.cluster, appInstanceOf(deps.target));
    const catalog = componentOf(deps.target, "catalog");
    const counts = await requireRecordedCounts(deps.db, ctx.request.id, components);
    await scaleWorkloads(ctx, stepDeps(deps), {
      id: SCALE_IDS.catalog,
      workloads: [selectionOf(catalog)],
      replicas: 0,
      known: Object.fromEntries(counts),
    });
    const waited = await waitUntilPodsGone(deps, ctx, [catalog], "every catalog pod gone");
    await ctx.fact("podsWaitedFor", waited.maxPods);
    await ctx.fact("waitMs", Math.round(waited.waitedMs));
  };
}

// ---- 7. restore the catalog database ----------------------------------------------------------

function restoreCatalogDatabase(deps: InfluxdbRunbookDeps): PhaseRun {
  return async (ctx) => {
    const components = targetComponents(deps.target);
    // The catalog database is not touched while any InfluxDB pod could still use it, nor
    // while the operator could bring pods back (someone unpaused it since phase 6).
    await assertOperatorPaused(deps.cluster, appInstanceOf(deps.target)).catch((err: unknown) => {
      throw new CodedError(
        "precondition_failed",
        `${err instanceof Error ? err.message.replace("Nothing was scaled in this phase.", "The catalog database was not touched.") : String(err)}`,
      );
    });
    const pods = (await deps.cluster.listPods(components.map((c) => c.name))).filter(
      (p) => !isTerminalPod(p),
    );
    if (pods.length) {
      throw new CodedError(
        "precondition_failed",
        `${plural(pods.length, "pod")} of the install still exist (${describePodList(pods)}), so the catalog database was not touched. Retry phase once they are gone, or Roll back.`,
      );
    }
    const file = await downloadSnapshot(deps, ctx);
    if (file.downloaded)
      ctx.note(`Downloaded the snapshot again on this worker (${formatBytes(file.size)}).`);
    // sqlInFlightSince is durable before the transaction opens and cleared once it has ended in
    // a rollback. Still set when a new attempt starts, the worker died inside the transaction,
    // perhaps after COMMIT reached the server: the catalog may already be the snapshot, and only
    // this attempt's outcome can tell (the restore is exact, so running it again is safe).
    if (ctx.facts.sqlInFlightSince) await ctx.fact("interruptedInSql", true);
    await ctx.fact("restoreStartedAt", ctx.now().toISOString());
    await ctx.fact("sqlInFlightSince", ctx.now().toISOString());
    let result: Awaited<ReturnType<typeof restoreCatalog>>;
    try {
      result = await restoreCatalog({
        source: createReadStream(file.path),
        compressedBytesTotal: file.size,
        connection: deps.catalogConnection,
        signal: ctx.signal,
        logger: deps.logger,
        progressIntervalMs: deps.restoreProgressIntervalMs ?? 1_000,
        wording: INFLUXDB_CATALOG_WORDING,
        onWarning: (message) => ctx.note(message),
        onProgress: (p) => {
          if (p.phase === "connecting") return;
          const total = p.compressedBytesTotal ?? file.size;
          const what =
            p.phase === "clearing"
              ? "clearing the catalog"
              : p.phase === "committing"
                ? "committing"
                : `${formatBytes(p.compressedBytesRead)} of ${formatBytes(total)} (${percent(p.compressedBytesRead, total)}), ${formatCount(p.rowsCopied)} rows${p.currentObject ? ` · ${p.currentObject}` : ""}`;
          ctx.progress(`restoring: ${what}`);
        },
      });
    } catch (err) {
      // The engine rolls the transaction back before throwing, except when the connection was
      // lost during COMMIT and the server could not be asked how it ended: then the catalog may
      // already be the snapshot, and the marker stays so every later account says so.
      if (err instanceof CodedError && err.details?.outcome === "unknown") {
        await ctx.fact("commitOutcomeUnknown", true);
      } else {
        await ctx.fact("sqlInFlightSince", null);
      }
      throw err;
    }
    await ctx.fact("committedAt", ctx.now().toISOString());
    await ctx.fact("sqlInFlightSince", null);
    await ctx.fact("compressedBytes", result.compressedBytes);
    await ctx.fact("sqlBytes", result.sqlBytes);
    await ctx.fact("rowsCopied", result.rowsCopied);
    await ctx.fact("statements", result.statementsExecuted);
    await ctx.fact("restoreMs", Math.round(result.durationMs));
  };
}

// ---- 8. scale back up -------------------------------------------------------------------------

/**
 * The startup sequence, to the recorded counts: the catalog, then (once min(2, n) of its pods
 * are ready) the ingesters, then (once min(2, n) ingesters are ready) the rest, in reverse
 * shutdown order. Idempotent: scaling to a count a workload already has changes nothing.
 */
async function scaleUpInOrder(
  deps: InfluxdbRunbookDeps,
  ctx: PhaseContext,
  settledBy: "run" | "rollback",
): Promise<Facts> {
  const components = targetComponents(deps.target);
  const counts = await requireRecordedCounts(deps.db, ctx.request.id, components);
  const steps = stepDeps(deps);
  // Back to the recorded counts, settling the undo phases 5 and 6 recorded for each.
  const back = (c: Component) =>
    scaleBack(ctx, steps, {
      checkpoint: {
        original: [{ kind: c.kind, name: c.name, replicas: counts.get(c.name) ?? 0 }],
        recordedAt: "",
      },
      ...SCALED_BY[c.role],
      settledBy,
    });
  const waits: Record<string, number> = {};
  for (const role of ["catalog", "ingester"] as const) {
    const c = componentOf(deps.target, role);
    const n = counts.get(c.name) ?? 0;
    await back(c);
    const wanted = readyQuorum(n);
    if (wanted > 0)
      waits[c.name] = Math.round(
        await waitUntilReady(deps, ctx, c, wanted, `at least ${wanted} ${role} pods ready`),
      );
  }
  for (const role of [...SHUTDOWN_STEP_1].reverse()) await back(componentOf(deps.target, role));
  return { replicas: Object.fromEntries(counts), readyWaitMs: waits };
}

function scaleUp(deps: InfluxdbRunbookDeps): PhaseRun {
  return async (ctx) => {
    const facts = await scaleUpInOrder(deps, ctx, "run");
    for (const [key, value] of Object.entries(facts)) await ctx.fact(key, value);
  };
}

// ---- 9. verify every pod is ready -------------------------------------------------------------

function verifyPods(deps: InfluxdbRunbookDeps): PhaseRun {
  return async (ctx) => {
    const components = targetComponents(deps.target);
    const counts = await requireRecordedCounts(deps.db, ctx.request.id, components);
    const podsReady = (pods: PodSummary[]) =>
      components.every((c) => {
        const mine = pods.filter((p) => p.component === c.name && !isTerminalPod(p));
        const n = counts.get(c.name) ?? 0;
        return mine.length === n && mine.every((p) => p.ready && p.phase === "Running");
      });
    const workloadsLagging = (workloads: readonly WorkloadStatus[]) =>
      workloadsNotReady(workloads, (w) => counts.get(w.name) ?? 0, true);
    const allReady = (pods: PodSummary[], workloads: WorkloadStatus[]) =>
      podsReady(pods) && workloadsLagging(workloads).length === 0;
    const started = performance.now();
    const pods = await deps.cluster.waitForPods(
      components.map((c) => c.name),
      allReady,
      {
        timeoutMs: deps.target.timeouts.podsReady,
        signal: ctx.signal,
        description: "every pod Running and Ready at its recorded count",
        workloads: components.map((c) => ({ kind: c.kind, name: c.name })),
        onProgress: (current, workloads) => {
          if (allReady(current, workloads)) return;
          if (podsReady(current)) {
            ctx.progress(
              `every pod Running and Ready at its recorded count, but ${workloadsSay(workloadsLagging(workloads))}`,
            );
            return;
          }
          const lagging = components
            .map((c) => {
              const mine = current.filter((p) => p.component === c.name);
              const ready = mine.filter((p) => p.ready).length;
              return { c, ready, n: counts.get(c.name) ?? 0, extra: mine.length - ready };
            })
            .filter((x) => x.ready !== x.n || x.extra > 0)
            .map((x) => `${x.c.name} ${x.ready}/${x.n} ready`);
          const notReady = current.filter((p) => !p.ready);
          ctx.progress(
            `waiting for ${lagging.join(", ")}${notReady.length ? ` (${describePodList(notReady)})` : ""}`,
          );
        },
      },
    );
    await ctx.fact("podsReady", pods.length);
    await ctx.fact("waitMs", Math.round(performance.now() - started));
  };
}

// ---- 10. unpause the operator -----------------------------------------------------------------

/** Leaves an operator someone else paused as it was found, saying so in the thread and card. */
async function leaveOperatorPaused(deps: InfluxdbRunbookDeps, ctx: PhaseContext): Promise<void> {
  const { appInstance, namespace } = deps.target;
  await ctx.fact("leftPaused", true);
  await ctx.fact(CARD_NOTE_FACT, "left paused, as found before this run");
  ctx.note(
    `The operator is *left paused*, as it was found: AppInstance ${appInstance} already had spec.pause: true before this run, so whoever paused it unpauses it (\`kubectl -n ${namespace} patch appinstance ${appInstance} --type merge -p '{"spec":{"pause":false}}'\`).`,
  );
}

function unpauseOperator(deps: InfluxdbRunbookDeps): PhaseRun {
  return async (ctx) => {
    const { appInstance } = deps.target;
    if (ctx.earlierFacts("pause-operator")?.wasPaused === true) {
      await leaveOperatorPaused(deps, ctx);
      return;
    }
    await deps.cluster.setOperatorPaused(appInstanceOf(deps.target), false);
    if (await deps.cluster.getOperatorPaused(appInstanceOf(deps.target))) {
      throw new CodedError(
        "kubernetes_error",
        `AppInstance ${appInstance} still shows spec.pause: true after it was cleared.`,
      );
    }
    await ctx.fact("unpausedAt", ctx.now().toISOString());
  };
}

// ---- roll back --------------------------------------------------------------------------------

function rollbackScaleUp(deps: InfluxdbRunbookDeps): PhaseRun {
  return async (ctx) => {
    const records = await listReplicaRecords(deps.db, ctx.request.id);
    if (records.length === 0) {
      // Phase 5 never scales without recorded counts, so nothing was scaled.
      await ctx.fact("nothingScaled", true);
      return;
    }
    const facts = await scaleUpInOrder(deps, ctx, "rollback");
    for (const [key, value] of Object.entries(facts)) await ctx.fact(key, value);
    const pods = await deps.cluster.listPods(targetComponents(deps.target).map((c) => c.name));
    const notReady = pods.filter((p) => !p.ready);
    if (notReady.length)
      await ctx.fact(
        "podsNotReady",
        notReady.map((p) => p.name),
      );
  };
}

function rollbackUnpause(deps: InfluxdbRunbookDeps): PhaseRun {
  const unpause = unpauseOperator(deps);
  return async (ctx) => {
    // Phase 3 records what it found before it first sets the pause: without that record,
    // restorebot never paused the operator; with `true`, someone else had.
    const found = operatorFoundPaused(await listPhaseRuns(deps.db, ctx.request.id));
    if (found === undefined) {
      await ctx.fact("operatorUntouched", true);
      return;
    }
    if (found) {
      await leaveOperatorPaused(deps, ctx);
      return;
    }
    await unpause(ctx);
  };
}

// ---- summaries --------------------------------------------------------------------------------

function percent(part: number, total: number): string {
  if (!total) return "?%";
  return `${Math.min(100, Math.floor((part / total) * 100))}%`;
}

function replicaList(replicas: unknown): string {
  if (!replicas || typeof replicas !== "object") return "";
  return Object.entries(replicas as Record<string, number>)
    .map(([name, n]) => `${name} ${n}`)
    .join(", ");
}

type Definition = PhaseDefinition<InfluxdbRunbookDeps>;

/**
 * The ten phases of an InfluxDB Clustered restore (DESIGN.md, "Runbook phases"), each one
 * object: the outline (phase-list.ts) and the runnable phases both come from this list.
 */
export const INFLUXDB_PHASE_DEFINITIONS = [
  {
    name: "check-recovery-point",
    title: "Check the recovery point",
    mutates: false,
    run: checkRecoveryPoint,
    summarize: (f) =>
      `${formatUtc(new Date(String(f.point)))} is complete (${BLOOM_FILE} present) and unchanged (${DUMP_FILE} ${formatBytes(Number(f.dumpBytes))})`,
  },
  {
    name: "prepare-snapshot",
    title: "Download and prepare the snapshot",
    mutates: false,
    run: prepareSnapshot,
    summarize: (f) =>
      `${formatBytes(Number(f.snapshotBytes))} ${f.downloaded ? "downloaded" : "already on disk"} and checked: ${formatCount(Number(f.statements))} statements, ${formatCount(Number(f.rows))} rows in ${formatCount(Number(f.tables))} tables`,
  },
  {
    name: "pause-operator",
    title: "Pause the operator",
    mutates: true,
    run: pauseOperator,
    summarize: (f) =>
      `AppInstance ${String(f.appInstance)} has spec.pause: true${f.wasPaused ? " (it was already paused before this run)" : ""}`,
  },
  {
    name: "record-replicas",
    title: "Record replica counts",
    mutates: false,
    run: recordReplicas,
    summarize: (f) => {
      const from = f.carriedFrom as { requestId?: string; state?: string } | undefined;
      const carried = from?.requestId
        ? ` (${Object.keys((f.carried as Record<string, number>) ?? {}).join(", ")} carried forward from ${from.requestId}, ${from.state} with them at 0)`
        : "";
      return `${f.recordedEarlier ? "using the counts recorded earlier" : "recorded"}: ${replicaList(f.replicas)}${carried}`;
    },
  },
  {
    name: "scale-down-workloads",
    title: "Scale down everything but the catalog",
    mutates: true,
    run: scaleDownWorkloads,
    summarize: (f) =>
      `${(f.scaledToZero as string[] | undefined)?.length ?? 0} components at 0; every non-catalog pod gone after ${formatDuration(Number(f.waitMs))}${Number(f.podsWaitedFor) ? ` (waited for ${plural(Number(f.podsWaitedFor), "pod")})` : ""}`,
  },
  {
    name: "scale-down-catalog",
    title: "Scale down the catalog",
    mutates: true,
    run: scaleDownCatalog,
    summarize: (f) => `catalog at 0; its pods gone after ${formatDuration(Number(f.waitMs))}`,
  },
  {
    name: "restore-catalog",
    title: "Restore the catalog database",
    mutates: true,
    run: restoreCatalogDatabase,
    summarize: (f) =>
      `${formatBytes(Number(f.compressedBytes))} compressed (${formatBytes(Number(f.sqlBytes))} of SQL), ${formatCount(Number(f.rowsCopied))} rows, committed in one transaction`,
  },
  {
    name: "scale-up",
    title: "Scale back up",
    mutates: true,
    run: scaleUp,
    summarize: (f) => `back to ${replicaList(f.replicas)}`,
  },
  {
    name: "verify-pods",
    title: "Verify every pod is ready",
    mutates: false,
    run: verifyPods,
    summarize: (f) => `${plural(Number(f.podsReady), "pod")} Running and Ready`,
  },
  {
    name: "unpause-operator",
    title: "Unpause the operator",
    mutates: true,
    run: unpauseOperator,
    summarize: (f) =>
      f.leftPaused
        ? "left paused, as it was found before this run"
        : "the operator manages the install again",
  },
] as const satisfies readonly Definition[];

/** The two steps of its roll back. */
export const INFLUXDB_ROLLBACK_DEFINITIONS = [
  {
    name: "rollback-scale-up",
    title: "Scale back up to the recorded counts",
    mutates: true,
    run: rollbackScaleUp,
    summarize: (f) =>
      f.nothingScaled
        ? "nothing had been scaled"
        : `back to ${replicaList(f.replicas)}${Array.isArray(f.podsNotReady) && f.podsNotReady.length ? `; not ready yet: ${(f.podsNotReady as string[]).join(", ")}` : ""}`,
  },
  {
    name: "rollback-unpause",
    title: "Unpause the operator",
    mutates: true,
    run: rollbackUnpause,
    summarize: (f) =>
      f.operatorUntouched
        ? "restorebot never paused the operator, so it is left as it was"
        : f.leftPaused
          ? "left paused, as it was found before this run"
          : "the operator manages the install again",
  },
] as const satisfies readonly Definition[];

export function influxdbPhases(deps: InfluxdbRunbookDeps): RunbookPhase[] {
  return phasesOf(INFLUXDB_PHASE_DEFINITIONS, deps);
}

export function influxdbRollbackSteps(deps: InfluxdbRunbookDeps): RunbookPhase[] {
  return phasesOf(INFLUXDB_ROLLBACK_DEFINITIONS, deps);
}
