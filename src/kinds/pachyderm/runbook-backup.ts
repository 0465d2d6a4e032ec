import { readFileSync } from "node:fs";
import type { ObjectStore } from "../../adapters/s3/object-store.js";
import {
  AS_OF_FACT,
  abortLeftoverUploads,
  type CompleteManifest,
  claimAsOf,
  formatAsOf,
  type PointFile,
  pointPrefix,
  writeCompleteManifest,
} from "../../backups/index.js";
import { CodedError } from "../../errors.js";
import {
  BACKUP_POINT_FACT,
  type HaltAccount,
  PAUSE_WINDOW_FACT,
  type PhaseContext,
  type PhaseRunRecord,
  type Runbook,
  type RunbookPhase,
  type RunRequest,
} from "../../runbook/types.js";
import { derivedRollbackSteps } from "../../steps/index.js";
import { formatBytes, formatDuration } from "../../text/format.js";
import type { PhaseOutline, RunbookDeps } from "../kind.js";
import { configuredDatabases, type PachydermTarget } from "./config.js";
import { OBJECT_MANIFEST, writeObjectManifest } from "./object-manifest.js";
import { copyIntoPool, listLiveObjects, readPoolIndex } from "./object-pool.js";
import { checkPgDumpCanDump, dumpDatabaseToPoint } from "./pg-dump.js";
import { backupLocation, pointFromComplete, readCompleteFile } from "./points.js";
import { type CommitModeReport, readCommitMode } from "./restore-databases.js";
import {
  dsnOf,
  factsOf,
  haltAccountOf,
  liveLocationOf,
  PAUSED_AT_FACT,
  SCALE_DOWN_OUTLINE,
  SCALE_DOWN_PHASE,
  SCALE_UP_OUTLINES,
  scaleDownPhase,
  scaleUpPhase,
  stepDepsOf,
  titleIn,
  waitReadyPhase,
} from "./runbook-common.js";

/**
 * restorebot's version as complete.json records it: package.json, found from src/, from the
 * compiled dist/src/, or from the image's single-file dist/bundle/.
 */
const RESTOREBOT_VERSION = ((): string => {
  for (const up of ["../../../package.json", "../../../../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === "restorebot" && pkg.version) return pkg.version;
    } catch {
      // not there from this layout
    }
  }
  return "unknown";
})();

export const BACKUP_PHASES: readonly PhaseOutline[] = [
  { name: "check", title: "Check pg_dump and the databases", mutates: false },
  {
    name: "pre-copy",
    title: "Copy the live objects into the pool while Pachyderm runs",
    mutates: false,
  },
  SCALE_DOWN_OUTLINE,
  {
    name: "delta-copy",
    title: "Copy what changed since the pre-copy; write the object manifest",
    mutates: false,
  },
  { name: "dump-databases", title: "Dump the databases", mutates: false },
  { name: "write-complete", title: "Write complete.json", mutates: false },
  ...SCALE_UP_OUTLINES,
];

export const ROLLBACK_STEPS: readonly PhaseOutline[] = [
  { name: "rollback-undo-recorded", title: "Undo what the run changed", mutates: true },
];

const title = (name: string): string => titleIn(BACKUP_PHASES, name);

function dsnsOf(deps: RunbookDeps<PachydermTarget>): Array<{ name: string; dsn: string }> {
  return configuredDatabases(deps.target).map((db) => ({ name: db.name, dsn: dsnOf(deps, db) }));
}

/** The moment the pause began, recorded before the first scale-down. */
function pausedAtOf(facts: Record<string, unknown> | undefined): Date {
  const pausedAt = facts?.[PAUSED_AT_FACT];
  if (typeof pausedAt !== "string")
    throw new CodedError("internal", "the backup has no pause time recorded");
  return new Date(pausedAt);
}

/**
 * The as-of of this backup: the point folder the delta copy claimed (the second of the pause,
 * or the first later one no other backup holds). A run recorded before folders were claimed
 * names its point by the pause itself, as it did then.
 */
function asOfOf(
  delta: Record<string, unknown> | undefined,
  down: Record<string, unknown> | undefined,
): string {
  const claimed = delta?.[AS_OF_FACT];
  return typeof claimed === "string" ? claimed : formatAsOf(pausedAtOf(down));
}

/**
 * The backup runbook (DESIGN.md, `pachyderm`): pre-copy while running, then a short pause for
 * the delta copy, both dumps, the manifest and complete.json (last), then pachd back up. Every
 * phase can run again after a crash: copies skip what the pool holds, a dump already recorded
 * is not taken again, complete.json is written only from recorded files.
 */
export function createPachydermBackupRunbook(deps: RunbookDeps<PachydermTarget>): Runbook {
  const { target } = deps;
  const steps = stepDepsOf(deps);
  const backups = backupLocation(target);
  const live = liveLocationOf(target);
  const store = (): ObjectStore => deps.objectStore();
  /** Lists the live bucket and the pool, and copies into the pool what it lacks. */
  const copyLive = async (ctx: PhaseContext, mode: "pre-copy" | "delta", what: string) => {
    const [objects, pool] = await Promise.all([
      listLiveObjects(store(), live),
      readPoolIndex(store(), backups),
    ]);
    const result = await copyIntoPool({
      store: store(),
      live,
      backups,
      objects,
      pool,
      mode,
      signal: ctx.signal,
      onProgress: (p) =>
        ctx.progress(
          `${mode}: ${p.copied} copied, ${p.skipped} already in the pool, of ${p.total}${what}`,
        ),
    });
    return { objects, result };
  };

  const phases: RunbookPhase[] = [
    {
      name: "check",
      title: title("check"),
      mutates: false,
      async run(ctx) {
        const dbs = dsnsOf(deps);
        for (const db of dbs) {
          const v = await checkPgDumpCanDump(db.dsn, db.name);
          await ctx.fact(`pgDump:${db.name}`, v);
        }
        const mode = await readCommitMode(dbs);
        await ctx.fact("commitMode", mode);
      },
      summarize: (facts) =>
        `pg_dump can dump every database; commit mode on restore: ${(facts.commitMode as CommitModeReport | undefined)?.mode ?? "unknown"}`,
    },
    {
      name: "pre-copy",
      title: title("pre-copy"),
      mutates: false,
      async run(ctx) {
        const { result } = await copyLive(ctx, "pre-copy", " live objects");
        await ctx.fact("preCopy", result);
      },
      summarize: (facts) => {
        const p = facts.preCopy as
          | { copied: number; skipped: number; changed: number; copiedBytes: number }
          | undefined;
        return p
          ? `${p.copied} objects copied (${formatBytes(p.copiedBytes)}), ${p.skipped} already in the pool, ${p.changed} changed while copying (left for the delta)`
          : undefined;
      },
    },
    scaleDownPhase(deps, steps, title(SCALE_DOWN_PHASE)),
    {
      name: "delta-copy",
      title: title("delta-copy"),
      mutates: false,
      async run(ctx) {
        const asOf = await claimAsOf(ctx, {
          db: deps.db,
          store: store(),
          location: backups,
          at: pausedAtOf(ctx.earlierFacts(SCALE_DOWN_PHASE)),
        });
        // Listed after the scale-down: this listing is the manifest.
        const { objects, result } = await copyLive(ctx, "delta", "");
        await ctx.fact("delta", result);
        const manifest = await writeObjectManifest(store(), backups, asOf, objects);
        await ctx.fact("manifest", manifest);
        await ctx.fact("objectCount", objects.length);
        await ctx.fact(
          "objectBytes",
          objects.reduce((s, o) => s + o.size, 0),
        );
      },
      summarize: (facts) => {
        const d = facts.delta as { copied: number; copiedBytes: number } | undefined;
        return d
          ? `${d.copied} changed objects copied (${formatBytes(d.copiedBytes)}); manifest of ${String(facts.objectCount)} objects written`
          : undefined;
      },
    },
    {
      name: "dump-databases",
      title: title("dump-databases"),
      mutates: false,
      async run(ctx) {
        const asOf = asOfOf(ctx.earlierFacts("delta-copy"), ctx.earlierFacts(SCALE_DOWN_PHASE));
        const folder = pointPrefix(backups.prefix, asOf, backups.pointsFolder);
        for (const db of dsnsOf(deps)) {
          const key = `dump:${db.name}`;
          if (ctx.facts[key] !== undefined) continue;
          await abortLeftoverUploads(ctx, store(), backups.bucket, folder);
          ctx.progress(`pg_dump of database "${db.name}", streamed gzipped into the point`);
          const file = await dumpDatabaseToPoint({
            store: store(),
            backups,
            asOf,
            fileName: `${db.name}.sql.gz`,
            database: db.name,
            dsn: db.dsn,
            signal: ctx.signal,
          });
          await ctx.fact(key, file);
        }
      },
      summarize: (facts) =>
        Object.entries(facts)
          .filter(([k]) => k.startsWith("dump:"))
          .map(([, f]) => `${(f as PointFile).name} ${formatBytes((f as PointFile).size)}`)
          .join(", "),
    },
    {
      name: "write-complete",
      title: title("write-complete"),
      mutates: false,
      async run(ctx) {
        const asOf = asOfOf(ctx.earlierFacts("delta-copy"), ctx.earlierFacts(SCALE_DOWN_PHASE));
        const delta = ctx.earlierFacts("delta-copy") ?? {};
        const dumps = ctx.earlierFacts("dump-databases") ?? {};
        const check = ctx.earlierFacts("check") ?? {};
        const names = configuredDatabases(target).map((d) => d.name);
        const files: PointFile[] = [];
        for (const name of names) {
          const f = dumps[`dump:${name}`] as PointFile | undefined;
          if (!f) throw new CodedError("internal", `no dump of "${name}" was recorded`);
          files.push(f);
        }
        const manifestFile = delta.manifest as PointFile | undefined;
        if (!manifestFile) throw new CodedError("internal", `no ${OBJECT_MANIFEST} was recorded`);
        files.push(manifestFile);
        const manifest: CompleteManifest = {
          format: 1,
          kind: "pachyderm",
          target: target.name,
          asOf,
          files,
          restorebotVersion: RESTOREBOT_VERSION,
          objectCount: delta.objectCount as number,
          objectBytes: delta.objectBytes as number,
          databases: names,
          ...(check.commitMode ? { commitMode: check.commitMode } : {}),
        };
        await writeCompleteManifest(store(), backups, manifest);
        const read = await readCompleteFile(store(), backups, asOf);
        if (!read) throw new CodedError("internal", "complete.json could not be read back");
        const point = pointFromComplete(read);
        await ctx.fact(BACKUP_POINT_FACT, {
          asOf,
          point,
          bytes: files.reduce((s, f) => s + f.size, 0) + point.objectBytes,
        });
      },
      summarize: (facts) => {
        const p = facts[BACKUP_POINT_FACT] as { asOf: string } | undefined;
        return p ? `point ${p.asOf} is complete` : undefined;
      },
    },
    scaleUpPhase(deps, steps),
    waitReadyPhase(deps, steps, async (ctx) => {
      const pausedAt = ctx.earlierFacts(SCALE_DOWN_PHASE)?.[PAUSED_AT_FACT];
      if (typeof pausedAt === "string")
        await ctx.fact(PAUSE_WINDOW_FACT, ctx.now().getTime() - new Date(pausedAt).getTime());
    }),
  ];

  const rollback = derivedRollbackSteps(steps, { readyTimeoutMs: target.timeouts.podsReady });

  return {
    kind: "pachyderm",
    phases,
    rollback,
    async describeHalt(request: RunRequest, runs: readonly PhaseRunRecord[]): Promise<HaltAccount> {
      const written = factsOf(runs, "write-complete")?.[BACKUP_POINT_FACT] as
        | { asOf: string }
        | undefined;
      const claimed = factsOf(runs, "delta-copy")?.[AS_OF_FACT];
      const paused = typeof factsOf(runs, SCALE_DOWN_PHASE)?.[PAUSED_AT_FACT] === "string";
      const point = written
        ? `Point ${written.asOf} is complete (complete.json written).`
        : typeof claimed === "string"
          ? `Point ${claimed} has no complete.json: it is incomplete and never restorable (retention removes it).`
          : paused
            ? "Pachyderm was paused, but no point folder was written yet."
            : "No point was started: nothing was paused.";
      return haltAccountOf(
        deps,
        steps,
        request.id,
        runs,
        [point],
        " It deletes nothing from the backup bucket.",
      );
    },
    describeFinish(request, runs, finishedAt) {
      const written = factsOf(runs, "write-complete")?.[BACKUP_POINT_FACT] as
        | { asOf: string; point: { objectCount: number; objectBytes: number; files: PointFile[] } }
        | undefined;
      const pause = factsOf(runs, "wait-ready")?.[PAUSE_WINDOW_FACT];
      const lines: string[] = [];
      if (written) {
        const p = written.point;
        lines.push(
          `Point \`${written.asOf}\` is complete: ${p.files
            .filter((f) => f.name.endsWith(".sql.gz"))
            .map((f) => `${f.name} ${formatBytes(f.size)}`)
            .join(
              ", ",
            )}, ${p.objectCount.toLocaleString("en-US")} objects (${formatBytes(p.objectBytes)}).`,
        );
      }
      if (typeof pause === "number")
        lines.push(
          `Pause window: ${formatDuration(pause)} (from the first scale-down until ${target.pachd} was ready again).`,
        );
      if (request.startedAt)
        lines.push(
          `Backup took ${formatDuration(finishedAt.getTime() - request.startedAt.getTime())} in all.`,
        );
      return lines;
    },
  };
}
