import type { ClusterPort, WorkloadRef } from "../../adapters/kubernetes/cluster-port.js";
import type { KubernetesCluster } from "../../adapters/kubernetes/kubernetes-cluster.js";
import type { Manifest } from "../../adapters/kubernetes/pod-work-port.js";
import { type KubernetesOperation, rbacRulesFor } from "../../adapters/kubernetes/rbac.js";
import { CodedError } from "../../errors.js";
import { createCompensationLog } from "../../runbook/compensations.js";
import type {
  Facts,
  PhaseContext,
  PhaseRunRecord,
  Runbook,
  RunbookPhase,
  RunRequest,
} from "../../runbook/types.js";
import { rolledBackRestoreLines } from "../../runbook/types.js";
import {
  deleteJobAndPvc,
  derivedRollbackSteps,
  describeRollback,
  RUN_JOB_OPERATIONS,
  recordedCounts,
  runJob,
  runJobCheckpoint,
  type ScaleCheckpoint,
  type StepDeps,
  scaleBack,
  scaleOperations,
  scaleWorkloads,
  serviceProxyOperations,
  WAIT_OPERATIONS,
  waitPodsGone,
  waitPodsReady,
} from "../../steps/index.js";
import { formatDuration } from "../../text/format.js";
import type { KindOutline, PhaseOutline, RunbookDeps } from "../kind.js";
import {
  BACKUP_SCRIPTS_LABEL,
  findBackupScriptsConfigMap,
  type RestoreTemplate,
  renderRestoreManifests,
} from "./chart-templates.js";
import {
  type ClickHouseRestoreCheckpoint,
  clickHouseRunDirectory,
  followClickHouseRestore,
  removeClickHouseRun,
} from "./clickhouse-restore.js";
import type { StackStateTarget } from "./config.js";
import {
  deleteIndices,
  indicesToRestore,
  startSnapshotRestore,
  waitForRestoreRecovery,
} from "./elasticsearch-restore.js";
import {
  type FrozenStackStatePoint,
  frozenLabel,
  frozenStackStatePoint,
  recheckFrozenPoint,
} from "./frozen-point.js";
import { readersFor } from "./named-points.js";
import { stackstateOptionsOf } from "./options.js";
import type { ElasticsearchPoint } from "./points.js";

/** The tool's own words when StackGraph holds data and `-force` was not given. */
export const STACKGRAPH_NOT_EMPTY = /Restore isn't possible in a non empty/i;
export const STACKGRAPH_NOT_EMPTY_MESSAGE =
  "the graph is not empty; request again with --force to overwrite it";
export const STACKGRAPH_LABEL = "stackstate.com/connects-to-stackgraph=true";
/** How long a restore Job may run before restorebot gives up on it. */
const JOB_TIMEOUT_MS = 6 * 3_600_000;

export const STACKSTATE_PHASES: readonly PhaseOutline[] = [
  {
    name: "check-point",
    title: "Check the backup and the chart's restore templates",
    mutates: false,
  },
  { name: "scale-down", title: "Stop what writes to the store", mutates: true },
  { name: "restore", title: "Restore the store", mutates: true },
  { name: "scale-up", title: "Start what was stopped", mutates: true },
  { name: "clean-up", title: "Delete the restore Job and its volume", mutates: true },
];

export const STACKSTATE_ROLLBACK: readonly PhaseOutline[] = [
  { name: "rollback-undo-recorded", title: "Undo what the run changed", mutates: true },
];

export const STACKSTATE_OUTLINE: KindOutline = {
  phases: STACKSTATE_PHASES,
  rollback: STACKSTATE_ROLLBACK,
  replacesData: "restore",
  takesDown: "scale-down",
  bringsUp: "scale-up",
};

/** The Job's name for a request: derived from it, so a resumed phase finds the same Job. */
export function restoreJobName(template: string, requestId: string): string {
  return `${template}-${requestId.replace(/^rb-/, "")}`.slice(0, 63);
}

/** What a request's store scales down, and how (names, or the label the chart sets). */
export function workloadsToStop(
  target: StackStateTarget,
  point: FrozenStackStatePoint,
):
  | { kind: "Deployment"; labelSelector: string }
  | { kind: "StatefulSet"; names: string[] }
  | { kind: "Deployment"; indexers: "suffix-2es" | string[] } {
  switch (point.store) {
    case "stackgraph":
      return { kind: "Deployment", labelSelector: STACKGRAPH_LABEL };
    case "metrics":
      return { kind: "StatefulSet", names: [`${target.release}-${point.instance}`] };
    case "clickhouse":
      return { kind: "StatefulSet", names: [`${target.release}-otel-collector`] };
    case "elasticsearch":
      return {
        kind: "Deployment",
        indexers: target.stores.elasticsearch?.indexers ?? "suffix-2es",
      };
  }
}

function templateFor(
  point: FrozenStackStatePoint,
  force: boolean,
  indices: readonly string[],
): RestoreTemplate | undefined {
  switch (point.store) {
    case "stackgraph":
      return { template: "stackgraph-restore-backup", backupFile: point.name, force };
    case "metrics":
      return {
        template: "victoria-metrics-restore-backup",
        instance: point.instance ?? "",
        s3Prefix: point.name,
      };
    case "elasticsearch":
      // Restored through the snapshot API, not a Job; the template is not used.
      void indices;
      return undefined;
    case "clickhouse":
      return undefined;
  }
}

/** The cluster as the StackState runbook uses it: the production adapter, with pod work. */
export function asKubernetesCluster(cluster: ClusterPort): KubernetesCluster {
  const c = cluster as Partial<KubernetesCluster>;
  for (const m of ["createJob", "execInPod", "listConfigMaps", "callServiceProxy"] as const)
    if (typeof c[m] !== "function")
      throw new CodedError(
        "internal",
        `the Kubernetes client given to the StackState runbook has no ${m}`,
      );
  return cluster as KubernetesCluster;
}

/** Every Kubernetes operation the StackState runbooks use (the Role is generated from it). */
export const STACKSTATE_OPERATIONS: KubernetesOperation[] = [
  ...scaleOperations([
    { kind: "Deployment", labelSelector: STACKGRAPH_LABEL },
    { kind: "StatefulSet", names: [] },
  ]),
  ...WAIT_OPERATIONS([]),
  { type: "listConfigMaps" },
  ...RUN_JOB_OPERATIONS,
  { type: "podWork", method: "execInPod" },
  ...serviceProxyOperations(["GET", "POST", "DELETE"]),
];

export const STACKSTATE_RBAC = rbacRulesFor(STACKSTATE_OPERATIONS);

interface RunbookContext {
  target: StackStateTarget;
  cluster: KubernetesCluster;
  steps: StepDeps;
  deps: RunbookDeps<StackStateTarget>;
}

function pointOf(request: RunRequest): FrozenStackStatePoint {
  return frozenStackStatePoint(request.point);
}

async function renderFor(
  rc: RunbookContext,
  request: RunRequest,
): Promise<{ job: Manifest; pvc: Manifest | undefined; configMap: string } | undefined> {
  const point = pointOf(request);
  const options = stackstateOptionsOf(request.options);
  const template = templateFor(point, options.force === true, options.indices ?? []);
  if (template === undefined) return undefined;
  const configMaps = await rc.cluster.listConfigMaps(`${BACKUP_SCRIPTS_LABEL}=true`);
  const cm = findBackupScriptsConfigMap(configMaps, rc.target.namespace);
  const rendered = renderRestoreManifests(
    cm,
    template,
    restoreJobName(template.template, request.id),
  );
  return {
    job: rendered.job as Manifest,
    pvc: rendered.pvc as Manifest | undefined,
    configMap: rendered.configMap,
  };
}

function checkPointPhase(rc: RunbookContext): RunbookPhase {
  return {
    ...STACKSTATE_PHASES[0]!,
    async run(ctx) {
      const frozen = pointOf(ctx.request);
      const readers = readersFor(
        rc.target,
        { objectStore: rc.deps.objectStore, cluster: () => rc.cluster },
        ctx.signal,
      );
      const { point, note } = await recheckFrozenPoint(
        frozen,
        rc.target.stores,
        readers,
        ctx.now(),
      );
      if (note) ctx.note(note);
      await ctx.fact("point", frozenLabel(frozen));
      const options = stackstateOptionsOf(ctx.request.options);
      if (point.store === "elasticsearch") {
        const indices = indicesToRestore(point as ElasticsearchPoint, options.indices);
        await ctx.fact("indices", indices);
      }
      const rendered = await renderFor(rc, ctx.request);
      if (rendered) {
        await ctx.fact("job", rendered.job.metadata?.name);
        await ctx.fact("configMap", rendered.configMap);
      }
    },
    summarize: (facts) =>
      `${String(facts.point)} is still there and unchanged${facts.job ? `; Job ${String(facts.job)} rendered from ConfigMap ${String(facts.configMap)}` : ""}${Array.isArray(facts.indices) ? `; ${facts.indices.length} indices to restore` : ""}`,
  };
}

async function resolveStopList(
  rc: RunbookContext,
  ctx: PhaseContext,
): Promise<
  | { kind: "Deployment" | "StatefulSet"; names: string[] }
  | { kind: "Deployment"; labelSelector: string }
> {
  const what = workloadsToStop(rc.target, pointOf(ctx.request));
  if ("indexers" in what) {
    if (what.indexers !== "suffix-2es") return { kind: "Deployment", names: [...what.indexers] };
    const all = await rc.cluster.listWorkloads("Deployment", "");
    return { kind: "Deployment", names: all.filter((n) => n.endsWith("2es")) };
  }
  return what;
}

function workloadsOf(checkpoint: ScaleCheckpoint | undefined): WorkloadRef[] {
  return (checkpoint?.original ?? []).map(({ kind, name }) => ({ kind, name }));
}

function scaleDownPhase(rc: RunbookContext): RunbookPhase {
  return {
    ...STACKSTATE_PHASES[1]!,
    async run(ctx) {
      // Resolved once: a resumed attempt reuses the checkpoint's list and counts.
      const selection = recordedCounts(ctx.facts, "store") ? [] : [await resolveStopList(rc, ctx)];
      const checkpoint = await scaleWorkloads(ctx, rc.steps, {
        id: "store",
        replicas: 0,
        workloads: selection,
      });
      const workloads = workloadsOf(checkpoint);
      if (workloads.length === 0) {
        await ctx.fact("stopped", []);
        return;
      }
      const waited = await waitPodsGone(ctx, rc.steps, {
        workloads,
        timeoutMs: rc.target.timeouts.podsGone,
      });
      await ctx.fact(
        "stopped",
        checkpoint.original.map((w) => `${w.name} (was ${w.replicas})`),
      );
      await ctx.fact("waitedMs", Math.round(waited.waitedMs));
    },
    summarize: (facts) => {
      const stopped = Array.isArray(facts.stopped) ? (facts.stopped as string[]) : [];
      return stopped.length
        ? `stopped ${stopped.join(", ")}; pods gone after ${formatDuration(Number(facts.waitedMs ?? 0))}`
        : "nothing to stop";
    },
  };
}

function tailText(lines: readonly string[], max = 15): string {
  return lines.slice(-max).join("\n");
}

async function restoreWithJob(rc: RunbookContext, ctx: PhaseContext): Promise<void> {
  const rendered = await renderFor(rc, ctx.request);
  if (!rendered) return;
  const result = await runJob(ctx, rc.steps, {
    id: "restore",
    job: rendered.job,
    ...(rendered.pvc ? { pvc: rendered.pvc } : {}),
    startTimeoutMs: rc.target.timeouts.podsReady,
    timeoutMs: JOB_TIMEOUT_MS,
  });
  await ctx.fact("job", result.job);
  if (result.outcome === "succeeded") return;
  const point = pointOf(ctx.request);
  if (point.store === "stackgraph" && result.tail.some((l) => STACKGRAPH_NOT_EMPTY.test(l))) {
    throw new CodedError(
      "restore_failed",
      `${STACKGRAPH_NOT_EMPTY_MESSAGE} (Job ${result.job} said: ${result.tail.find((l) => STACKGRAPH_NOT_EMPTY.test(l))?.trim()}).`,
    );
  }
  const pods = result.pods.map((p) => `${p.name}: ${p.detail}`).join("; ");
  throw new CodedError(
    "restore_failed",
    `Job ${result.job} failed${pods ? ` (${pods})` : ""}. Last lines of its log:\n${tailText(result.tail)}`,
  );
}

const CLICKHOUSE_RUN_FACT = "clickhouseRun";

async function restoreClickHouse(rc: RunbookContext, ctx: PhaseContext): Promise<void> {
  const point = pointOf(ctx.request);
  const config = rc.target.stores.clickhouse!;
  const where = { pod: config.pod!, container: config.container! };
  const exec = (options: Parameters<KubernetesCluster["execInPod"]>[0]) =>
    rc.cluster.execInPod(options);
  const stopped = recordedCounts(ctx.earlierFacts("scale-down"), "store");
  const scaleCollectorBack = async () => {
    // The collector goes back to its recorded count whether or not the restore worked.
    if (!stopped) return;
    await scaleBack(ctx, rc.steps, { checkpoint: stopped, id: "store", phase: "scale-down" });
    await ctx.fact("collectorBack", true);
  };
  const earlier = ctx.facts[CLICKHOUSE_RUN_FACT] as ClickHouseRestoreCheckpoint | undefined;
  const ended = typeof ctx.facts.exitCode === "number" ? (ctx.facts.exitCode as number) : undefined;
  if (earlier !== undefined && ended === 0) {
    // The restore finished before the worker stopped: only the collector is left to start.
    await scaleCollectorBack();
    return;
  }
  // A run that ended (a Retry after it failed) is followed by a new one; a run whose end was not
  // seen (the worker stopped while it ran) is the one to follow — it is still running, or its
  // exit status is waiting in the container.
  const run = earlier === undefined ? 1 : ended === undefined ? earlier.run : earlier.run + 1;
  const checkpoint: ClickHouseRestoreCheckpoint =
    earlier !== undefined && run === earlier.run
      ? earlier
      : { run, directory: clickHouseRunDirectory(ctx.request.id, run), bytesPosted: 0 };
  // A retried phase finds the collector back up (it is scaled back even on failure): stop it again.
  if (stopped?.original.length) {
    for (const w of stopped.original)
      if ((await rc.cluster.getReplicas(w.kind, w.name)) !== 0)
        await rc.cluster.scale(w.kind, w.name, 0);
    await waitPodsGone(ctx, rc.steps, {
      workloads: workloadsOf(stopped),
      timeoutMs: rc.target.timeouts.podsGone,
    });
  }
  // Recorded before the exec: whoever runs this phase next follows this run, never starts another.
  await ctx.fact(CLICKHOUSE_RUN_FACT, checkpoint);
  if (ended !== undefined) await ctx.fact("exitCode", undefined);
  await ctx.fact("execStartedAt", ctx.now().toISOString());
  const output: string[] = [];
  let buffer: string[] = [];
  let posted = checkpoint.bytesPosted;
  let saving: Promise<void> = Promise.resolve();
  const flush = () => {
    if (buffer.length === 0) return saving;
    ctx.note(`\`clickhouse-backup\` output:\n\`\`\`\n${buffer.join("\n")}\n\`\`\``);
    buffer = [];
    const bytesPosted = posted;
    saving = saving.then(() => ctx.fact(CLICKHOUSE_RUN_FACT, { ...checkpoint, bytesPosted }));
    return saving;
  };
  const timer = setInterval(() => void flush(), 2_000);
  let exitCode: number;
  try {
    ({ exitCode } = await followClickHouseRestore({
      exec,
      ...where,
      backup: point.name,
      checkpoint,
      onLines: (lines, bytesPosted) => {
        for (const line of lines) {
          output.push(line);
          if (output.length > 200) output.shift();
          buffer.push(line);
        }
        posted = bytesPosted;
        if (buffer.length >= 40) void flush();
      },
      onStatus: (text) => {
        if (text.startsWith("following") && earlier !== undefined)
          ctx.note(
            `Following \`clickhouse-backup restore_remote ${point.name}\` again after an interruption: it kept running in ${where.pod}/${where.container} (${text}; ${checkpoint.bytesPosted} bytes of its output were already posted).`,
          );
        else ctx.progress(`clickhouse-backup restore_remote ${point.name}: ${text}`);
      },
      signal: ctx.signal,
    }));
  } finally {
    clearInterval(timer);
    await flush();
  }
  await ctx.fact("exitCode", exitCode);
  await removeClickHouseRun(exec, { ...where, directory: checkpoint.directory });
  await scaleCollectorBack();
  if (exitCode !== 0)
    throw new CodedError(
      "restore_failed",
      `clickhouse-backup restore_remote ${point.name} exited with ${exitCode}; the collector was scaled back to its recorded count. Its last output:\n${tailText(output)}`,
    );
}

async function restoreElasticsearch(rc: RunbookContext, ctx: PhaseContext): Promise<void> {
  const point = pointOf(ctx.request);
  const config = rc.target.stores.elasticsearch!;
  const readers = readersFor(
    rc.target,
    { objectStore: rc.deps.objectStore, cluster: () => rc.cluster },
    ctx.signal,
  );
  const http = readers.elasticsearch!;
  const indices =
    (ctx.earlierFacts("check-point")?.indices as string[] | undefined) ??
    indicesToRestore(
      { name: point.name, indices: point.indices ?? [] } as unknown as ElasticsearchPoint,
      stackstateOptionsOf(ctx.request.options).indices,
    );
  if (ctx.facts.restoreStarted !== true) {
    ctx.progress(`deleting ${indices.length} indices`);
    const deleted = await deleteIndices(http, indices);
    await ctx.fact("deleted", deleted.length);
    await startSnapshotRestore(http, config.repository, point.name, indices);
    await ctx.fact("restoreStarted", true);
  }
  const progress = await waitForRestoreRecovery(http, indices, {
    timeoutMs: rc.target.timeouts.podsReady,
    signal: ctx.signal,
    onProgress: (p) =>
      ctx.progress(
        `recovering: ${p.primariesDone} of ${p.primaries} primary shards of ${p.indices} indices`,
      ),
  });
  await ctx.fact("primaries", progress.primaries);
}

function restorePhase(rc: RunbookContext): RunbookPhase {
  return {
    ...STACKSTATE_PHASES[2]!,
    async run(ctx) {
      const point = pointOf(ctx.request);
      await ctx.fact("store", point.store);
      if (point.store === "clickhouse") return restoreClickHouse(rc, ctx);
      if (point.store === "elasticsearch") return restoreElasticsearch(rc, ctx);
      return restoreWithJob(rc, ctx);
    },
    summarize: (facts) =>
      facts.job
        ? `Job ${String(facts.job)} completed`
        : facts.store === "elasticsearch"
          ? `${String(facts.deleted ?? 0)} indices deleted; snapshot restored (${String(facts.primaries ?? 0)} primary shards recovered)`
          : facts.store === "clickhouse"
            ? "clickhouse-backup restore_remote succeeded; collector back to its recorded count"
            : undefined,
  };
}

function scaleUpPhase(rc: RunbookContext): RunbookPhase {
  return {
    ...STACKSTATE_PHASES[3]!,
    async run(ctx) {
      const checkpoint = recordedCounts(ctx.earlierFacts("scale-down"), "store");
      if (!checkpoint) return;
      const back = await scaleBack(ctx, rc.steps, { checkpoint, id: "store", phase: "scale-down" });
      const wanted = back.filter((w) => w.replicas > 0);
      if (wanted.length)
        await waitPodsReady(ctx, rc.steps, {
          workloads: wanted.map(({ kind, name }) => ({ kind, name })),
          atLeast: Object.fromEntries(wanted.map((w) => [w.name, w.replicas])),
          timeoutMs: rc.target.timeouts.podsReady,
        });
      await ctx.fact(
        "started",
        back.map((w) => `${w.name} → ${w.replicas}`),
      );
    },
    summarize: (facts) => {
      const started = Array.isArray(facts.started) ? (facts.started as string[]) : [];
      return started.length
        ? `back to the recorded counts and ready: ${started.join(", ")}`
        : "nothing to start";
    },
  };
}

function cleanUpPhase(rc: RunbookContext): RunbookPhase {
  return {
    ...STACKSTATE_PHASES[4]!,
    async run(ctx) {
      const checkpoint = runJobCheckpoint(ctx.earlierFacts("restore"), "restore");
      if (!checkpoint) return;
      await deleteJobAndPvc(ctx, rc.steps, { id: "restore", phase: "restore", checkpoint });
      await ctx.fact("deleted", [
        `Job ${checkpoint.job}`,
        ...(checkpoint.pvc ? [`PersistentVolumeClaim ${checkpoint.pvc}`] : []),
      ]);
    },
    summarize: (facts) =>
      Array.isArray(facts.deleted)
        ? `deleted ${(facts.deleted as string[]).join(" and ")}`
        : "no Job to delete",
  };
}

function factsOf(runs: readonly PhaseRunRecord[], phase: string): Facts | undefined {
  return [...runs].reverse().find((r) => r.phase === phase)?.facts;
}

export function createStackStateRunbook(deps: RunbookDeps<StackStateTarget>): Runbook {
  const cluster = asKubernetesCluster(deps.cluster);
  const steps: StepDeps = {
    cluster,
    compensations: createCompensationLog(deps.db),
    podWork: cluster,
  };
  const rc: RunbookContext = { target: deps.target, cluster, steps, deps };
  return {
    kind: "stackstate",
    phases: [
      checkPointPhase(rc),
      scaleDownPhase(rc),
      restorePhase(rc),
      scaleUpPhase(rc),
      cleanUpPhase(rc),
    ],
    rollback: derivedRollbackSteps(steps, { readyTimeoutMs: deps.target.timeouts.podsReady }),
    async describeHalt(request, runs) {
      const state: string[] = [];
      const point = pointOf(request);
      const stopped = recordedCounts(factsOf(runs, "scale-down"), "store");
      if (stopped?.original.length) {
        const now = await Promise.all(
          stopped.original.map(async (w) => {
            try {
              return `${w.kind} ${w.name}: ${await cluster.getReplicas(w.kind, w.name)} replicas now (recorded ${w.replicas})`;
            } catch (err) {
              return `${w.kind} ${w.name}: could not be read (${(err as Error).message}); recorded ${w.replicas}`;
            }
          }),
        );
        state.push(...now);
      } else state.push("Nothing was scaled down.");
      const job = runJobCheckpoint(factsOf(runs, "restore"), "restore");
      if (job)
        state.push(
          `Job ${job.job}${job.pvc ? ` and PVC ${job.pvc}` : ""} are still there (their logs are above).`,
        );
      if (point.store === "elasticsearch" && factsOf(runs, "restore")?.deleted !== undefined)
        state.push(
          `${String(factsOf(runs, "restore")?.deleted)} indices of ${frozenLabel(point)} were deleted before the snapshot restore; Roll back does not bring them back — retry the phase to restore them.`,
        );
      let rollback: string;
      try {
        rollback = await describeRollback(steps, request.id);
      } catch (err) {
        rollback = `Roll back undoes what the run recorded (it could not be listed now: ${(err as Error).message}).`;
      }
      return { state, rollback };
    },
    describeRollbackFinish: (request, runs) =>
      rolledBackRestoreLines(
        request,
        runs,
        "restore",
        "*Not undone:* data the restore may already have replaced is not put back.",
      ),
    describeFinish(request, runs, finishedAt) {
      const point = pointOf(request);
      const started = request.startedAt ?? finishedAt;
      const lines = [
        `${frozenLabel(point)} restored in ${formatDuration(finishedAt.getTime() - started.getTime())}.`,
      ];
      const stopped = factsOf(runs, "scale-down")?.stopped;
      if (Array.isArray(stopped) && stopped.length)
        lines.push(
          `Stopped during the restore and started again: ${(stopped as string[]).join(", ")}.`,
        );
      return lines;
    },
  };
}
