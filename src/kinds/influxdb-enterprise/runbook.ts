/**
 * The InfluxDB Enterprise 1.7 restore runbook (seed: "Restore", "Disable anti-entropy (AE)
 * before restoring a backup"): check the set → anti-entropy off, one data node at a time →
 * copy the set into a meta pod (`tar xf -` fed from the object store, then its files checked)
 * → `influxd-ctl restore` → remove the copy → anti-entropy back on, one node at a time.
 */

import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { pack as tarPack } from "tar-stream";
import type { ClusterPort, StepCluster } from "../../adapters/kubernetes/cluster-port.js";
import type { PodWorkPort } from "../../adapters/kubernetes/pod-work-port.js";
import { type KubernetesOperation, rbacRulesFor } from "../../adapters/kubernetes/rbac.js";
import type { ObjectStore } from "../../adapters/s3/object-store.js";
import { openCheckedPointFile } from "../../backups/index.js";
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
  CONFIG_MAP_OPERATIONS,
  describeRollback,
  restartPodOperations,
  rollbackAfter,
  type StepDeps,
} from "../../steps/index.js";
import { formatBytes, formatDuration } from "../../text/format.js";
import type { KindOutline, PhaseOutline, RunbookDeps } from "../kind.js";
import {
  type AntiEntropyOriginal,
  antiEntropyState,
  rollBackAntiEntropy,
  turnAntiEntropyBack,
  turnAntiEntropyOff,
} from "./anti-entropy-steps.js";
import type { EnterpriseTarget } from "./config.js";
import {
  commandFailed,
  emptyDirectory,
  execInMeta,
  filesIn,
  freeBytes,
  type MetaCluster,
  mustExec,
  readyMetaPod,
} from "./meta-exec.js";
import {
  describeSet,
  type EnterprisePoint,
  enterprisePointOf,
  locationOf,
  recheckFrozenSet,
} from "./points.js";
import { runInfluxdCtlRestore } from "./restore-exec.js";
import {
  describeRestoreScope,
  type EnterpriseRestoreOptions,
  validateAgainstSet,
} from "./restore-options.js";

export const ENTERPRISE_PHASES: readonly PhaseOutline[] = [
  { name: "check-set", title: "Check the backup set", mutates: false },
  { name: "anti-entropy-off", title: "Turn anti-entropy off on each data node", mutates: true },
  { name: "copy-set", title: "Copy the set into a meta pod", mutates: true },
  { name: "restore", title: "Run influxd-ctl restore", mutates: true },
  { name: "remove-copy", title: "Remove the copy from the meta pod", mutates: true },
  { name: "anti-entropy-on", title: "Turn anti-entropy back on on each data node", mutates: true },
];

export const ENTERPRISE_ROLLBACK: readonly PhaseOutline[] = [
  { name: "rollback-remove-copy", title: "Remove the copy from the meta pod", mutates: true },
  {
    name: "rollback-anti-entropy",
    title: "Put the data nodes' config back and restart them",
    mutates: true,
  },
];

export const ENTERPRISE_OUTLINE: KindOutline = {
  phases: ENTERPRISE_PHASES,
  rollback: ENTERPRISE_ROLLBACK,
  replacesData: "restore",
  takesDown: "anti-entropy-off",
  bringsUp: "anti-entropy-on",
};

/** Every Kubernetes operation the runbook uses (the chart's Role is generated from it). */
export const ENTERPRISE_OPERATIONS: KubernetesOperation[] = [
  ...CONFIG_MAP_OPERATIONS,
  ...restartPodOperations("StatefulSet"),
  { type: "podWork", method: "execInPod" },
];

export const ENTERPRISE_RBAC = rbacRulesFor(ENTERPRISE_OPERATIONS);

/** Where the set is copied in the meta pod: one directory per request, under `meta.scratchDir`. */
export function copyDirectory(target: Pick<EnterpriseTarget, "meta">, requestId: string): string {
  return `${target.meta.scratchDir}/restorebot-${requestId}`;
}

const ORIGINAL_FACT = "antiEntropy:original";
const TAR_BLOCK = 512;

/** The exact size of the tar stream of these files (ustar headers, end-of-archive blocks). */
export function tarSize(files: ReadonlyArray<{ size: number }>): number {
  return (
    files.reduce((n, f) => n + TAR_BLOCK + Math.ceil(f.size / TAR_BLOCK) * TAR_BLOCK, 0) +
    2 * TAR_BLOCK
  );
}

/** The set's files, read from the object store one after another (each checked), as one tar. */
export function setAsTar(
  store: ObjectStore,
  target: EnterpriseTarget,
  point: EnterprisePoint,
  signal: AbortSignal,
): Readable {
  const pack = tarPack();
  const out = new PassThrough();
  pack.pipe(out);
  void (async () => {
    try {
      for (const file of point.files) {
        if (signal.aborted) throw new CodedError("cancelled", "the copy was cancelled");
        const { body } = await openCheckedPointFile(store, locationOf(target), point.asOf, file);
        const entry = pack.entry({ name: file.name, size: file.size, mode: 0o644 });
        await pipeline(body, entry);
      }
      pack.finalize();
    } catch (err) {
      out.destroy(err as Error);
      pack.destroy();
    }
  })();
  return out;
}

interface RunbookContext {
  target: EnterpriseTarget;
  steps: StepDeps;
  pods: StepCluster & PodWorkPort;
  deps: RunbookDeps<EnterpriseTarget>;
}

function metaCluster(rc: RunbookContext): MetaCluster {
  return rc.pods;
}

function pointOf(request: RunRequest): EnterprisePoint {
  return enterprisePointOf(request.point);
}

export function optionsOf(request: Pick<RunRequest, "options">): EnterpriseRestoreOptions {
  return (request.options ?? {}) as unknown as EnterpriseRestoreOptions;
}

function checkSetPhase(rc: RunbookContext): RunbookPhase {
  return {
    ...ENTERPRISE_PHASES[0]!,
    async run(ctx) {
      const point = pointOf(ctx.request);
      const check = await recheckFrozenSet(rc.deps.objectStore(), locationOf(rc.target), point);
      if (!check.ok) throw new CodedError("precondition_failed", check.message);
      const options = optionsOf(ctx.request);
      validateAgainstSet(options, { ...point, asOf: point.asOf });
      // Room for the copy before anything changes (when the meta container has `df`).
      const pod = await readyMetaPod(rc.pods, rc.target);
      const scratch = rc.target.meta.scratchDir;
      const free = await freeBytes(rc.pods, rc.target, ctx.signal, pod, scratch);
      if (free !== undefined && free < point.bytes)
        throw new CodedError(
          "precondition_failed",
          `${pod}:${scratch} has ${formatBytes(free)} free and the set needs ${formatBytes(point.bytes)}; nothing was changed. Free space there or set meta.scratchDir to a larger volume, then Retry phase`,
        );
      if (free !== undefined) await ctx.fact("free", free);
      await ctx.fact("set", describeSet(point));
      await ctx.fact("scope", describeRestoreScope(options, point.full));
    },
    summarize: (facts) => `${String(facts.set)} is still there and unchanged`,
  };
}

function antiEntropyOffPhase(rc: RunbookContext): RunbookPhase {
  return {
    ...ENTERPRISE_PHASES[1]!,
    async run(ctx) {
      const original = await turnAntiEntropyOff(
        ctx,
        rc.steps,
        rc.target,
        rc.target.timeouts.podsReady,
      );
      await ctx.fact("wasOn", original.wasOn);
    },
    summarize: (facts) =>
      facts.wasOn
        ? "anti-entropy off on every data node (each restarted and Ready)"
        : "anti-entropy was already off; no data node restarted",
  };
}

function copySetPhase(rc: RunbookContext): RunbookPhase {
  return {
    ...ENTERPRISE_PHASES[2]!,
    async run(ctx) {
      const point = pointOf(ctx.request);
      const cluster = metaCluster(rc);
      const target = rc.target;
      const pod = await readyMetaPod(cluster, target);
      const dir = copyDirectory(target, ctx.request.id);
      await ctx.fact("pod", pod);
      await ctx.fact("directory", dir);
      // A resumed attempt starts from an empty directory: a partial copy is never restored.
      await emptyDirectory(cluster, target, ctx.signal, pod, dir);
      const bytes = tarSize(point.files);
      ctx.progress(`streaming ${point.files.length} files (${bytes} bytes) into ${pod}:${dir}`);
      const tar = setAsTar(rc.deps.objectStore(), target, point, ctx.signal);
      const untar = await execInMeta(
        cluster,
        target,
        ctx.signal,
        pod,
        ["tar", "xf", "-", "-C", dir],
        {
          stdin: { stream: tar, bytes },
        },
      );
      if (untar.exitCode !== 0) throw commandFailed(`tar xf - -C ${dir}`, pod, untar);
      const sizes = await filesIn(metaCluster(rc), target, ctx.signal, pod, dir);
      const wrong = point.files.filter((f) => sizes.get(f.name) !== f.size);
      if (wrong.length > 0)
        throw new CodedError(
          "restore_failed",
          `the copy in ${pod}:${dir} does not match the set: ${wrong
            .map((f) =>
              sizes.has(f.name)
                ? `${f.name} is ${sizes.get(f.name)} bytes, not ${f.size}`
                : `${f.name} is missing`,
            )
            .join("; ")}. Retry phase copies it again`,
        );
      await ctx.fact("files", point.files.length);
      await ctx.fact("bytes", point.bytes);
    },
    summarize: (facts) =>
      `${String(facts.files)} files (${String(facts.bytes)} bytes) in ${String(facts.pod)}:${String(facts.directory)}, sizes checked`,
  };
}

function restorePhase(rc: RunbookContext): RunbookPhase {
  return {
    ...ENTERPRISE_PHASES[3]!,
    async run(ctx) {
      const point = pointOf(ctx.request);
      const copy = ctx.earlierFacts("copy-set");
      const pod = String(copy?.pod ?? (await readyMetaPod(metaCluster(rc), rc.target)));
      const dir = String(copy?.directory ?? copyDirectory(rc.target, ctx.request.id));
      if (ctx.facts.restoreStarted === true)
        ctx.note(
          "The previous attempt's `influxd-ctl restore` was interrupted or failed; running it again.",
        );
      await ctx.fact("restoreStarted", true);
      const outcome = await runInfluxdCtlRestore(ctx, rc.pods, {
        pod,
        container: rc.target.meta.container,
        setDirectory: dir,
        point,
        options: optionsOf(ctx.request),
      });
      await ctx.fact("transferredBytes", outcome.transferredBytes);
      await ctx.fact("shards", outcome.shards.length);
    },
    summarize: (facts) =>
      `influxd-ctl restore transferred ${String(facts.transferredBytes)} bytes (${String(facts.shards)} shards)`,
  };
}

async function removeCopy(rc: RunbookContext, ctx: PhaseContext): Promise<string | undefined> {
  const copy = ctx.earlierFacts("copy-set") ?? undefined;
  const dir = copyDirectory(rc.target, ctx.request.id);
  const pod =
    typeof copy?.pod === "string" ? copy.pod : await readyMetaPod(metaCluster(rc), rc.target);
  await mustExec(metaCluster(rc), rc.target, ctx.signal, pod, ["rm", "-rf", dir]);
  await ctx.fact("removed", `${pod}:${dir}`);
  return pod;
}

function removeCopyPhase(rc: RunbookContext): RunbookPhase {
  return {
    ...ENTERPRISE_PHASES[4]!,
    async run(ctx) {
      await removeCopy(rc, ctx);
    },
    summarize: (facts) => `removed ${String(facts.removed)}`,
  };
}

function originalOf(ctx: PhaseContext): AntiEntropyOriginal | undefined {
  return ctx.earlierFacts("anti-entropy-off")?.[ORIGINAL_FACT] as AntiEntropyOriginal | undefined;
}

function antiEntropyOnPhase(rc: RunbookContext): RunbookPhase {
  return {
    ...ENTERPRISE_PHASES[5]!,
    async run(ctx) {
      const original = originalOf(ctx);
      if (!original) return;
      await turnAntiEntropyBack(
        ctx,
        rc.steps,
        rc.target,
        original,
        "anti-entropy-off",
        rc.target.timeouts.podsReady,
      );
      await ctx.fact("wasOn", original.wasOn);
    },
    summarize: (facts) =>
      facts.wasOn
        ? "anti-entropy back on every data node (each restarted and Ready)"
        : "anti-entropy was off before the run; left off",
  };
}

function rollbackPhases(rc: RunbookContext): RunbookPhase[] {
  return [
    {
      ...ENTERPRISE_ROLLBACK[0]!,
      async run(ctx) {
        await removeCopy(rc, ctx);
      },
      summarize: (facts) => `removed ${String(facts.removed)}`,
    },
    {
      ...ENTERPRISE_ROLLBACK[1]!,
      async run(ctx) {
        await rollBackAntiEntropy(ctx, rc.steps, rc.target, rc.target.timeouts.podsReady);
        await ctx.fact("done", true);
      },
      summarize: () => "the data nodes' config is as it was found; each node restarted with it",
    },
  ];
}

/** Every fact recorded by these phases, in run order (later attempts and phases win). */
function mergedFacts(runs: readonly PhaseRunRecord[], phases: readonly string[]): Facts {
  const facts: Facts = {};
  for (const r of [...runs].sort((a, b) => a.phaseIndex - b.phaseIndex || a.attempt - b.attempt))
    if (phases.includes(r.phase)) Object.assign(facts, r.facts);
  return facts;
}

function factsOf(runs: readonly PhaseRunRecord[], phase: string): Facts | undefined {
  return [...runs].reverse().find((r) => r.phase === phase)?.facts;
}

/** The cluster as this runbook uses it: steps' cluster plus exec. */
export function asEnterpriseCluster(cluster: ClusterPort): StepCluster & PodWorkPort {
  const c = cluster as Partial<StepCluster & PodWorkPort>;
  for (const m of ["execInPod", "getConfigMap", "replaceConfigMap", "deletePod"] as const)
    if (typeof c[m] !== "function")
      throw new CodedError(
        "internal",
        `the Kubernetes client given to the InfluxDB Enterprise runbook has no ${m}`,
      );
  return cluster as StepCluster & PodWorkPort;
}

export function createEnterpriseRunbook(deps: RunbookDeps<EnterpriseTarget>): Runbook {
  const cluster = asEnterpriseCluster(deps.cluster);
  const steps: StepDeps = {
    cluster,
    compensations: createCompensationLog(deps.db),
    podWork: cluster,
  };
  const rc: RunbookContext = { target: deps.target, steps, pods: cluster, deps };
  return {
    kind: "influxdb-enterprise",
    phases: [
      checkSetPhase(rc),
      antiEntropyOffPhase(rc),
      copySetPhase(rc),
      restorePhase(rc),
      removeCopyPhase(rc),
      antiEntropyOnPhase(rc),
    ],
    rollback: rollbackPhases(rc),
    async describeHalt(request, runs) {
      const state: string[] = [];
      const facts = mergedFacts(runs, [
        "anti-entropy-off",
        "anti-entropy-on",
        "rollback-anti-entropy",
      ]);
      let pods: string[];
      try {
        pods = (await cluster.listPods([deps.target.data.statefulset])).map((p) => p.name);
      } catch (err) {
        pods = Object.keys(facts)
          .filter((k) => k.startsWith("antiEntropy:off:"))
          .map((k) => k.slice("antiEntropy:off:".length));
        state.push(`The data pods could not be listed now (${(err as Error).message}).`);
      }
      state.push(antiEntropyState(facts, pods));
      const restore = factsOf(runs, "restore");
      state.push(
        restore?.restoreStarted === true
          ? `The database was touched: \`influxd-ctl restore\` started (${describeRestoreScope(optionsOf(request), pointOf(request).full)}); its output is above. Roll back does not undo what it restored.`
          : "The database was not touched: `influxd-ctl restore` never started.",
      );
      const copy = factsOf(runs, "copy-set");
      const removed = runs.some(
        (r) =>
          (r.phase === "remove-copy" || r.phase === "rollback-remove-copy") &&
          r.state === "succeeded",
      );
      if (copy?.pod && !removed)
        state.push(`A copy of the set may be in ${String(copy.pod)}:${String(copy.directory)}.`);
      let rollback: string;
      try {
        rollback = `${rollbackAfter("Roll back removes the copy from the meta pod", await describeRollback(steps, request.id))} Each data node is then restarted with that config, one at a time.`;
      } catch (err) {
        rollback = `Roll back removes the copy and puts the data nodes' config back (what it recorded could not be listed now: ${(err as Error).message}).`;
      }
      return { state, rollback };
    },
    describeRollbackFinish: (request, runs) =>
      rolledBackRestoreLines(
        request,
        runs,
        "restore",
        "*Not undone:* data `influxd-ctl restore` may already have written is not put back.",
      ),
    describeFinish(request, runs, finishedAt) {
      const point = pointOf(request);
      const started = request.startedAt ?? finishedAt;
      const restore = factsOf(runs, "restore");
      return [
        `Restored ${describeRestoreScope(optionsOf(request), point.full)} from the ${describeSet(point)} in ${formatDuration(finishedAt.getTime() - started.getTime())}.`,
        ...(restore?.transferredBytes !== undefined
          ? [`influxd-ctl restore transferred ${String(restore.transferredBytes)} bytes.`]
          : []),
      ];
    },
  };
}
