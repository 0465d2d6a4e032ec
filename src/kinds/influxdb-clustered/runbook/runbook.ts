import { asCodedError } from "../../../errors.js";
import { listReplicaRecords } from "../../../runbook/run-store.js";
import type { HaltAccount, PhaseRunRecord, Runbook, RunRequest } from "../../../runbook/types.js";
import {
  formatBytes,
  formatCount,
  formatDuration,
  formatUtc,
  formatUtcClock,
} from "../../../text/format.js";
import { appInstanceOf, describePodList, targetComponents } from "./components.js";
import {
  type InfluxdbRunbookDeps,
  influxdbPhases,
  influxdbRollbackSteps,
  operatorFoundPaused,
} from "./phases.js";

/** The vendor's note: data flushed in the last minutes before a snapshot may be missing from it. */
const INGEST_LAG_NOTE =
  "per the vendor, data written in the ~15 minutes before the point may be missing for some tables";

/** The InfluxDB Clustered runbook over one target's clients. */
export function createInfluxdbClusteredRunbook(deps: InfluxdbRunbookDeps): Runbook {
  return {
    kind: "influxdb-clustered",
    phases: influxdbPhases(deps),
    rollback: influxdbRollbackSteps(deps),
    describeHalt: (request, runs) => describeHalt(deps, request, runs),
    describeFinish: (request, runs, finishedAt) => describeFinish(request, runs, finishedAt),
    // Its own account of a roll back: the operator and the catalog.
    describeRollbackFinish: (request, runs) => describeRollbackFinish(request, runs),
  };
}

function run(runs: readonly PhaseRunRecord[], phase: string): PhaseRunRecord | undefined {
  return runs.find((r) => r.phase === phase);
}

/** Whether the catalog database holds the snapshot now, said plainly. */
export function catalogState(
  request: RunRequest,
  runs: readonly PhaseRunRecord[],
): {
  restored: boolean;
  /** An interrupted attempt may have committed: neither "restored" nor "untouched" is certain. */
  maybeRestored?: boolean;
  line: string;
} {
  const restore = run(runs, "restore-catalog");
  const point = formatUtc(request.pointTime);
  if (!restore)
    return { restored: false, line: "Catalog database: untouched (phase 7 never started)." };
  switch (restore.state) {
    case "succeeded": {
      const at = restore.facts.committedAt
        ? ` at ${formatUtcClock(new Date(String(restore.facts.committedAt)))}`
        : "";
      return {
        restored: true,
        line: `Catalog database: *restored* to the snapshot of ${point} (committed${at}).`,
      };
    }
    case "failed":
      if (restore.facts.commitOutcomeUnknown === true)
        return {
          restored: false,
          maybeRestored: true,
          line: "Catalog database: the connection was lost while committing, so the catalog is either exactly the snapshot (if the commit landed) or exactly as before the run, never in between. Retry phase restores it again, exactly.",
        };
      if (restore.facts.interruptedInSql === true)
        return {
          restored: false,
          maybeRestored: true,
          line: "Catalog database: the last attempt was rolled back, but an earlier one was interrupted inside its transaction, so the catalog is either exactly the snapshot (if that commit landed) or exactly as before the run, never in between.",
        };
      return {
        restored: false,
        line: "Catalog database: untouched — the restore ran in one transaction, which was rolled back.",
      };
    default:
      return {
        restored: false,
        line: "Catalog database: the restore was interrupted; it runs in one transaction, so the catalog is either exactly the snapshot or exactly as before, never in between.",
      };
  }
}

async function describeHalt(
  deps: InfluxdbRunbookDeps,
  request: RunRequest,
  runs: readonly PhaseRunRecord[],
): Promise<HaltAccount> {
  const components = targetComponents(deps.target);
  const order = new Map(components.map((c, i) => [c.name, i]));
  const records = (await listReplicaRecords(deps.db, request.id).catch(() => [])).sort(
    (a, b) => (order.get(a.component) ?? 99) - (order.get(b.component) ?? 99),
  );
  const recorded = new Map(records.map((r) => [r.component, r.replicas]));
  const state: string[] = [];

  // Read at once and under one deadline: each call retries for a while on its own, and an API
  // server that does not answer must not hold the halt (and its buttons) back for minutes.
  const timeoutMs = deps.haltReadTimeoutMs ?? 20_000;
  const deadline = new Promise<never>((_, reject) => {
    const timer = setTimeout(
      () =>
        reject(new Error(`no answer from the Kubernetes API within ${formatDuration(timeoutMs)}`)),
      timeoutMs,
    );
    timer.unref();
  });
  deadline.catch(() => undefined);
  const read = <T>(call: () => Promise<T>) =>
    Promise.race([call(), deadline]).then(
      (value) => ({ ok: true as const, value }),
      (err: unknown) => ({ ok: false as const, message: asCodedError(err).message }),
    );
  const [pausedRead, podsRead, ...replicaReads] = await Promise.all([
    read(() => deps.cluster.getOperatorPaused(appInstanceOf(deps.target))),
    read(() => deps.cluster.listPods(components.map((c) => c.name))),
    ...components.map((c) => read(() => deps.cluster.getReplicas(c.kind, c.name))),
  ]);

  if (pausedRead.ok)
    state.push(
      pausedRead.value
        ? `Operator: *paused* (AppInstance ${deps.target.appInstance} has spec.pause: true).`
        : `Operator: not paused (AppInstance ${deps.target.appInstance} manages the install).`,
    );
  else state.push(`Operator: could not be read (${pausedRead.message}).`);

  const pods = podsRead.ok ? podsRead.value : undefined;
  if (!podsRead.ok) state.push(`Pods: could not be listed (${podsRead.message}).`);
  for (const [i, c] of components.entries()) {
    const replicaRead = replicaReads[i] as (typeof replicaReads)[number];
    const replicas = replicaRead.ok
      ? String(replicaRead.value)
      : `unknown (${replicaRead.message})`;
    const was = recorded.get(c.name);
    const mine = pods?.filter((p) => p.component === c.name) ?? [];
    const ready = mine.filter((p) => p.ready).length;
    const podText = pods
      ? mine.length
        ? `${ready} ready of ${mine.length} pods${
            mine.some((p) => !p.ready)
              ? `: ${describePodList(
                  mine.filter((p) => !p.ready),
                  4,
                )}`
              : ""
          }`
        : "no pods"
      : "pods unknown";
    state.push(
      `${c.name} (${c.kind}): ${replicas} replicas${was !== undefined ? ` (recorded ${was})` : ""}, ${podText}.`,
    );
  }
  const catalog = catalogState(request, runs);
  state.push(catalog.line);
  if (records.length === 0) state.push("No replica counts were recorded, so nothing was scaled.");

  const pauseStarted = runs.some((r) => r.phase === "pause-operator");
  // Someone else's pause is left as it was found, by phase 10 and by Roll back alike.
  const foundPaused = operatorFoundPaused(runs) === true;
  if (foundPaused)
    state.push(
      `The operator was already paused before this run, so restorebot leaves it paused (AppInstance ${deps.target.appInstance}).`,
    );
  const operatorEnd = foundPaused
    ? "leaves the operator paused, as it was found"
    : "unpauses the operator";
  const rollback = !pauseStarted
    ? "nothing was changed, so Roll back changes nothing: it ends the request and leaves the operator as it is."
    : records.length === 0
      ? foundPaused
        ? "nothing was scaled, and the operator was already paused before this run, so Roll back changes nothing: it leaves the operator paused, as it was found."
        : "nothing was scaled, so Roll back only unpauses the operator."
      : `scales every component back up to its recorded count (${records.map((r) => `${r.component} ${r.replicas}`).join(", ")}), the catalog first and then the ingesters, each waiting for min(2, n) ready pods, and ${operatorEnd}.${
          catalog.restored
            ? ` It does *not* undo the catalog restore, which is committed: the catalog stays at the snapshot of ${formatUtc(request.pointTime)}.`
            : catalog.maybeRestored
              ? " It does *not* undo the interrupted catalog restore if that committed."
              : ""
        }`;
  return { state, rollback };
}

function describeRollbackFinish(request: RunRequest, runs: readonly PhaseRunRecord[]): string[] {
  const catalog = catalogState(request, runs);
  const scaled = run(runs, "rollback-scale-up");
  const nothing = scaled?.facts.nothingScaled === true;
  const operatorUntouched = run(runs, "rollback-unpause")?.facts.operatorUntouched === true;
  const leftPaused = run(runs, "rollback-unpause")?.facts.leftPaused === true;
  const notReady = Array.isArray(scaled?.facts.podsNotReady)
    ? (scaled?.facts.podsNotReady as string[])
    : [];
  return [
    operatorUntouched
      ? `*Rolled back ${request.target}*: nothing had been changed; the operator was left as it was.`
      : `*Rolled back ${request.target}*: ${nothing ? "nothing had been scaled" : "every component is back at its recorded replica count"} and the operator is ${leftPaused ? "*left paused*, as it was found before the run" : "unpaused"}.`,
    catalog.restored
      ? `The catalog restore was committed before the run stopped and is *not* undone: the catalog holds the snapshot of ${formatUtc(request.pointTime)}.`
      : "The catalog database was not changed.",
    ...(notReady.length
      ? [
          `Not ready yet when the roll back ended: ${notReady.join(", ")}; the operator now looks after them.`,
        ]
      : []),
  ];
}

function describeFinish(
  request: RunRequest,
  runs: readonly PhaseRunRecord[],
  finishedAt: Date,
): string[] {
  const since = request.approvedAt ?? request.startedAt ?? finishedAt;
  const total = finishedAt.getTime() - since.getTime();
  const stoppedAt = run(runs, "scale-down-workloads")?.facts.writesStoppedAt;
  const writesStopped = stoppedAt ? new Date(String(stoppedAt)) : (request.startedAt ?? finishedAt);
  const unpausedAt = run(runs, "unpause-operator")?.facts.unpausedAt;
  const leftPaused = run(runs, "unpause-operator")?.facts.leftPaused === true;
  const downtime = unpausedAt
    ? new Date(String(unpausedAt)).getTime() - writesStopped.getTime()
    : undefined;
  const restore = run(runs, "restore-catalog")?.facts ?? {};
  const lossMs = writesStopped.getTime() - request.pointTime.getTime();
  return [
    `*Restore of ${request.target} complete*: the cluster runs on the catalog of *${formatUtc(request.pointTime)}*.`,
    `Total time *${formatDuration(total)}* from ${request.approvedAt ? "approval" : "start"} to done (the RTO achieved)${downtime !== undefined ? `; components were down for ${formatDuration(downtime)}` : ""}.`,
    `Data-loss window: what was written between ${formatUtc(request.pointTime)} and ${formatUtcClock(writesStopped)} (when writes stopped), about ${formatDuration(Math.max(0, lossMs))}, is not in the restored catalog; ${INGEST_LAG_NOTE}.`,
    ...(leftPaused
      ? [
          "The operator is *left paused*, as it was found before the run: whoever paused it unpauses it.",
        ]
      : []),
    ...(restore.rowsCopied !== undefined
      ? [
          `Catalog: ${formatBytes(Number(restore.compressedBytes))} restored, ${formatCount(Number(restore.rowsCopied))} rows, in ${formatDuration(Number(restore.restoreMs))}.`,
        ]
      : []),
  ];
}
