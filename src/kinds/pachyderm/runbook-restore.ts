import type { ObjectStore } from "../../adapters/s3/object-store.js";
import { checkPointFileSizes, openCheckedPointFile } from "../../backups/index.js";
import { CodedError } from "../../errors.js";
import type {
  HaltAccount,
  PhaseRunRecord,
  Runbook,
  RunbookPhase,
  RunRequest,
} from "../../runbook/types.js";
import { forwardPhaseStarted, rolledBackLines } from "../../runbook/types.js";
import { derivedRollbackSteps } from "../../steps/index.js";
import { formatBytes, formatDuration, formatUtc } from "../../text/format.js";
import type { PhaseOutline, RunbookDeps } from "../kind.js";
import { configuredDatabases, type PachydermTarget } from "./config.js";
import { OBJECT_MANIFEST, readObjectManifest } from "./object-manifest.js";
import {
  backupLocation,
  type PachydermPoint,
  pachydermPointOf,
  recheckPachydermPoint,
} from "./points.js";
import {
  type CommitMode,
  commitModeSentence,
  type DatabaseToRestore,
  readCommitMode,
  restoreDatabases,
  settlePrepared,
} from "./restore-databases.js";
import { planObjectRestore, restoreObjectsFromPool } from "./restore-objects.js";
import {
  dsnOf,
  factsOf,
  haltAccountOf,
  liveLocationOf,
  SCALE_DOWN_OUTLINE,
  SCALE_DOWN_PHASE,
  SCALE_UP_OUTLINES,
  scaleDownPhase,
  scaleUpPhase,
  stepDepsOf,
  titleIn,
  waitReadyPhase,
} from "./runbook-common.js";

export const RESTORE_PHASES: readonly PhaseOutline[] = [
  {
    name: "check-point",
    title: "Check the point (complete, unchanged, every object in the pool)",
    mutates: false,
  },
  SCALE_DOWN_OUTLINE,
  { name: "restore-databases", title: "Restore the databases exactly, together", mutates: true },
  {
    name: "restore-objects",
    title: "Copy the point's objects into the live bucket",
    mutates: true,
  },
  ...SCALE_UP_OUTLINES,
];

const title = (name: string): string => titleIn(RESTORE_PHASES, name);

/** The restore's decision, durable once every database is prepared: a resumed run commits. */
const DECISION_FACT = "decision";

export function createPachydermRestoreRunbook(deps: RunbookDeps<PachydermTarget>): Runbook {
  const { target } = deps;
  const steps = stepDepsOf(deps);
  const backups = backupLocation(target);
  const live = liveLocationOf(target);
  const store = (): ObjectStore => deps.objectStore();

  const databases = (point: PachydermPoint): DatabaseToRestore[] =>
    configuredDatabases(target).map((db) => {
      const dsn = dsnOf(deps, db);
      const file = point.files.find((f) => f.name === `${db.name}.sql.gz`);
      if (!file)
        throw new CodedError(
          "dump_invalid",
          `Point ${point.asOf} has no ${db.name}.sql.gz: it cannot restore database "${db.name}". Nothing was changed.`,
        );
      return {
        name: db.name,
        dsn,
        openDump: () => openCheckedPointFile(store(), backups, point.asOf, file),
      };
    });

  const manifestOf = (point: PachydermPoint) => {
    const file = point.files.find((f) => f.name === OBJECT_MANIFEST);
    if (!file)
      throw new CodedError("dump_invalid", `Point ${point.asOf} lists no ${OBJECT_MANIFEST}.`);
    return readObjectManifest(store(), backups, point.asOf, file);
  };

  const phases: RunbookPhase[] = [
    {
      name: "check-point",
      title: title("check-point"),
      mutates: false,
      async run(ctx) {
        const point = pachydermPointOf(ctx.request.point);
        const check = await recheckPachydermPoint(store(), backups, point);
        if (!check.ok) throw new CodedError("precondition_failed", check.message);
        const problems = await checkPointFileSizes(store(), backups, {
          format: 1,
          kind: "pachyderm",
          target: target.name,
          asOf: point.asOf,
          files: point.files,
          restorebotVersion: "-",
        });
        if (problems.length > 0)
          throw new CodedError(
            "dump_invalid",
            `Point ${point.asOf} does not match its complete.json: ${problems
              .map((p) =>
                p.problem === "missing"
                  ? `${p.name} is missing`
                  : `${p.name} is ${p.actual} bytes, not ${p.expected}`,
              )
              .join("; ")}. Nothing was changed.`,
          );
        const plan = await planObjectRestore(store(), live, backups, manifestOf(point));
        await ctx.fact("objects", {
          total: plan.total,
          toCopy: plan.toCopy.length,
          toCopyBytes: plan.toCopyBytes,
        });
        const mode = await readCommitMode(databases(point));
        if (point.commitMode?.mode === "prepared" && mode.mode === "sequential")
          throw new CodedError(
            "precondition_failed",
            `The card said the databases commit together, but now ${commitModeSentence(mode)} Nothing was changed: set max_prepared_transactions on the server and Retry, or request the restore again to approve sequential commits.`,
          );
        await ctx.fact("commitMode", mode);
      },
      summarize: (facts) => {
        const o = facts.objects as
          | { total: number; toCopy: number; toCopyBytes: number }
          | undefined;
        const mode = (facts.commitMode as { mode?: CommitMode } | undefined)?.mode;
        return o
          ? `unchanged since the request; ${o.toCopy} of ${o.total} objects to copy (${formatBytes(o.toCopyBytes)}); databases commit ${mode === "prepared" ? "together (prepared)" : "one after the other"}`
          : undefined;
      },
    },
    scaleDownPhase(deps, steps, title(SCALE_DOWN_PHASE)),
    {
      name: "restore-databases",
      title: title("restore-databases"),
      mutates: true,
      async run(ctx) {
        const point = pachydermPointOf(ctx.request.point);
        const dbs = databases(point);
        const mode =
          (ctx.earlierFacts("check-point")?.commitMode as { mode?: CommitMode } | undefined)
            ?.mode ?? "sequential";
        const runId = ctx.request.id;
        if (mode === "prepared") {
          if (ctx.facts[DECISION_FACT] === "commit") {
            // Every database was prepared before the interruption: finish the commit.
            const settled = await settlePrepared(dbs, runId, "commit");
            await ctx.fact("settled", settled);
            await ctx.fact(
              "committed",
              dbs.map((d) => d.name),
            );
            return;
          }
          // An earlier attempt may have left some prepared: they were never decided, so end them.
          const leftovers = await settlePrepared(dbs, runId, "rollback");
          if (leftovers.some((l) => l.outcome === "rolled back"))
            ctx.note(
              `An interrupted attempt had prepared ${leftovers
                .filter((l) => l.outcome === "rolled back")
                .map((l) => `"${l.name}"`)
                .join(" and ")} without committing; rolled back, restoring again.`,
            );
        }
        await ctx.fact("inFlightSince", ctx.now().toISOString());
        try {
          const result = await restoreDatabases({
            databases: dbs,
            runId,
            mode,
            signal: ctx.signal,
            onProgress: (name, p) =>
              ctx.progress(`restoring "${name}": ${p.phase}, ${p.rowsCopied} rows`),
            onWarning: (m) => ctx.note(m),
            onPrepared: () => ctx.fact(DECISION_FACT, "commit"),
          });
          await ctx.fact("committed", result.committed);
          await ctx.fact("mode", result.mode);
        } catch (err) {
          const details = err instanceof CodedError ? err.details : undefined;
          if (details && Array.isArray(details.committed))
            await ctx.fact("committed", details.committed);
          throw err;
        } finally {
          await ctx.fact("inFlightSince", null);
        }
      },
      summarize: (facts) => {
        const committed = Array.isArray(facts.committed) ? (facts.committed as string[]) : [];
        return `${committed.map((c) => `"${c}"`).join(" and ")} restored exactly (${facts.mode === "prepared" || facts.decision === "commit" ? "committed together" : "committed one after the other"})`;
      },
    },
    {
      name: "restore-objects",
      title: title("restore-objects"),
      mutates: true,
      async run(ctx) {
        const point = pachydermPointOf(ctx.request.point);
        const progress = await restoreObjectsFromPool({
          store: store(),
          live,
          backups,
          manifest: manifestOf(point),
          signal: ctx.signal,
          onProgress: (p) =>
            ctx.progress(
              `copied ${p.copied} of ${p.toCopy} objects (${p.present} of ${p.total} already in place)`,
            ),
        });
        await ctx.fact("objects", progress);
      },
      summarize: (facts) => {
        const p = facts.objects as
          | { copied: number; copiedBytes: number; present: number; total: number }
          | undefined;
        return p
          ? `${p.copied} objects copied (${formatBytes(p.copiedBytes)}); ${p.present} of ${p.total} were already in place; nothing deleted`
          : undefined;
      },
    },
    scaleUpPhase(deps, steps),
    waitReadyPhase(deps, steps),
  ];

  return {
    kind: "pachyderm",
    phases,
    rollback: derivedRollbackSteps(steps, { readyTimeoutMs: target.timeouts.podsReady }),
    async describeHalt(request: RunRequest, runs: readonly PhaseRunRecord[]): Promise<HaltAccount> {
      const state: string[] = [];
      const dbFacts = factsOf(runs, "restore-databases");
      const committed = Array.isArray(dbFacts?.committed) ? (dbFacts.committed as string[]) : [];
      const names = configuredDatabases(target).map((d) => d.name);
      if (dbFacts === undefined) state.push("The databases were not touched.");
      else if (committed.length === names.length)
        state.push(
          `Databases ${names.map((n) => `"${n}"`).join(" and ")} are restored to the point.`,
        );
      else if (committed.length > 0)
        state.push(
          `Database ${committed.map((n) => `"${n}"`).join(" and ")} is restored and committed; ${names
            .filter((n) => !committed.includes(n))
            .map((n) => `"${n}"`)
            .join(" and ")} is unchanged.`,
        );
      else if (dbFacts.decision === "commit")
        state.push("Both databases are prepared and decided: Retry commits them.");
      else state.push("No database restore was committed: the databases are as they were.");
      const objects = factsOf(runs, "restore-objects")?.objects as { copied: number } | undefined;
      if (objects) state.push(`${objects.copied} objects were copied into the live bucket.`);
      return haltAccountOf(
        deps,
        steps,
        request.id,
        runs,
        state,
        committed.length > 0
          ? " The restored databases and the copied objects are not undone."
          : "",
      );
    },
    describeRollbackFinish: (request, runs) => pachydermRolledBackLines(request, runs),
    describeFinish(request, _runs, finishedAt) {
      const point = pachydermPointOf(request.point);
      const asOf = new Date(point.asOf);
      const lines = [`Restored point \`${point.asOf}\` (${formatUtc(asOf)}).`];
      if (request.startedAt)
        lines.push(
          `RTO achieved: ${formatDuration(finishedAt.getTime() - request.startedAt.getTime())} from the start of the run until ${target.pachd} was ready.`,
        );
      const since = request.startedAt ?? request.createdAt;
      lines.push(
        `Data-loss window: everything written after ${formatUtc(asOf)} (${formatDuration(since.getTime() - asOf.getTime())} before the restore began) is gone.`,
      );
      return lines;
    },
  };
}

/**
 * A rolled-back Pachyderm restore's closing lines: what Roll back undid, and what it leaves —
 * the databases the restore had committed (as its phase recorded them) and objects it had
 * copied back into the pool.
 */
export function pachydermRolledBackLines(
  request: RunRequest,
  runs: readonly PhaseRunRecord[],
): string[] {
  const recorded = runs.find((r) => r.phaseIndex < 100 && r.phase === "restore-databases")?.facts
    .committed;
  const committed = Array.isArray(recorded) ? recorded.map(String) : [];
  const kept = [
    committed.length
      ? `the database${committed.length === 1 ? "" : "s"} the restore had committed (${committed.join(", ")}) stay${committed.length === 1 ? "s" : ""} restored`
      : undefined,
    forwardPhaseStarted(runs, "restore-objects")
      ? "objects it had copied back stay in the pool"
      : undefined,
  ].filter((line): line is string => line !== undefined);
  return rolledBackLines(
    request,
    runs,
    kept.length ? `*Not undone:* ${kept.join("; ")}.` : undefined,
  );
}
