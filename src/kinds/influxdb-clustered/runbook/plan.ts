import type { PodSummary } from "../../../adapters/kubernetes/cluster-port.js";
import { formatBytes, formatDuration, formatUtc } from "../../../text/format.js";
import type { FrozenPoint } from "../../kind.js";
import type { InfluxTarget as Target } from "../config.js";
import { influxPointOf } from "../points.js";
import {
  BLOOM_FILE,
  DUMP_FILE,
  readyQuorum,
  SHUTDOWN_STEP_1,
  targetComponents,
} from "./components.js";
import { INFLUXDB_PHASES, type InfluxdbPhaseName } from "./phase-list.js";

/**
 * `/restore plan` for InfluxDB Clustered: every action the ten phases would take, with the
 * cluster's live replica counts, as a pure function of what was read. Nothing here talks to
 * the cluster; the caller reads it (with GET and LIST calls only) and passes the result in.
 */

/** What was read from the cluster; a value or the reason it could not be read. */
export interface LiveCluster {
  replicas: Record<string, number | { error: string }>;
  pods: PodSummary[] | { error: string };
  operatorPaused: boolean | { error: string };
}

export interface PlanInput {
  target: Target;
  /** Resolved the way a request freezes it, so the plan shows what a restore would use. */
  point: FrozenPoint;
  live: LiveCluster;
  now: Date;
  /** An active request on the target, which a restore would have to wait for. */
  activeRequest?: { id: string; state: string };
}

export interface PlanText {
  /** One line per phase, numbered as the runbook numbers them. */
  phases: string[];
  /** Things worth knowing before asking for the restore. */
  warnings: string[];
  summary: string;
}

function isError(value: unknown): value is { error: string } {
  return typeof value === "object" && value !== null && "error" in value;
}

export function describeInfluxdbPlan(input: PlanInput): PlanText {
  const { target, point, live, now } = input;
  const components = targetComponents(target);
  const frozen = influxPointOf(point.point);
  const count = (name: string): string => {
    const n = live.replicas[name];
    return n === undefined ? "?" : isError(n) ? "? (unreadable)" : String(n);
  };
  const num = (name: string): number | undefined => {
    const n = live.replicas[name];
    return typeof n === "number" ? n : undefined;
  };
  const pods = isError(live.pods) ? undefined : live.pods;
  const podsOf = (names: string[]) => pods?.filter((p) => names.includes(p.component)) ?? [];
  const gone = (ms: number) => `timeout ${formatDuration(ms)}`;
  const paused = live.operatorPaused;
  const operatorNow = isError(paused)
    ? `could not be read: ${paused.error}`
    : paused
      ? "already paused"
      : "not paused now";
  const step1 = SHUTDOWN_STEP_1.map((role) => target.components[role]);
  const ingester = target.components.ingester;
  const catalog = target.components.catalog;
  const nonCatalog = components.filter((c) => c.role !== "catalog").map((c) => c.name);
  const bucket = target.snapshots.bucket;
  const quorum = (name: string) => {
    const n = num(name);
    return n === undefined ? "min(2, n)" : String(readyQuorum(n));
  };
  const totalPods = components.reduce((sum, c) => sum + (num(c.name) ?? 0), 0);

  const lines: Record<InfluxdbPhaseName, string> = {
    "check-recovery-point": `check that s3://${bucket}/${frozen.prefix} still has ${DUMP_FILE} (ETag ${(frozen.dumpEtag ?? "none").replace(/"/g, "")}) and ${BLOOM_FILE} (written last: proof the snapshot is complete)`,
    "prepare-snapshot": `download ${DUMP_FILE} (${formatBytes(frozen.dumpSize ?? 0)}) to the worker and check it end to end: gzip, pg_dump header and closing line, every statement`,
    "pause-operator": `set spec.pause: true on AppInstance ${target.appInstance} (${operatorNow})`,
    "record-replicas": `record, before anything is scaled: ${components.map((c) => `${c.name} ${count(c.name)}`).join(", ")}`,
    "scale-down-workloads": `scale ${step1.map((n) => `${n} ${count(n)} → 0`).join(", ")}, then ${ingester} ${count(ingester)} → 0; wait until every non-catalog pod is gone (${podsOf(nonCatalog).length} now; ingesters flush their WAL first; ${gone(target.timeouts.podsGone)})`,
    "scale-down-catalog": `scale ${catalog} ${count(catalog)} → 0 and wait until its pods are gone (${podsOf([catalog]).length} now; ${gone(target.timeouts.podsGone)})`,
    "restore-catalog": `replace the catalog database (the DSN in $${target.catalog.dsnEnv}) with the snapshot, in one transaction: all of it or nothing`,
    "scale-up": `scale ${catalog} 0 → ${count(catalog)} and wait for ${quorum(catalog)} ready; ${ingester} 0 → ${count(ingester)} and wait for ${quorum(ingester)} ready; then ${[
      ...step1,
    ]
      .reverse()
      .map((n) => `${n} 0 → ${count(n)}`)
      .join(", ")} (${gone(target.timeouts.podsReady)} per wait)`,
    "verify-pods": `wait until all ${totalPods} pods are Running and Ready at the recorded counts (${gone(target.timeouts.podsReady)})`,
    "unpause-operator": `set spec.pause: false on AppInstance ${target.appInstance}`,
  };
  const phases = INFLUXDB_PHASES.map((p, i) => `${i + 1}. *${p.title}* — ${lines[p.name]}`);

  const warnings: string[] = [];
  for (const c of components) {
    const n = live.replicas[c.name];
    if (isError(n)) warnings.push(`${c.name}: replicas could not be read (${n.error}).`);
    else if (n === 0)
      warnings.push(
        `${c.name} has 0 replicas now, so it would stay at 0 after the restore (unless the last restore of this target was halted or abandoned with a count recorded for it: that count is carried forward).`,
      );
  }
  if (isError(live.pods)) warnings.push(`Pods could not be listed (${live.pods.error}).`);
  else {
    const notReady = live.pods.filter((p) => !p.ready);
    if (notReady.length)
      warnings.push(
        `${notReady.length} pod(s) are not ready now: ${notReady
          .slice(0, 5)
          .map((p) => p.name)
          .join(", ")}${notReady.length > 5 ? " …" : ""}.`,
      );
  }
  if (paused === true)
    warnings.push(
      "The operator is already paused; the restore leaves it paused at the end, as found (unless the pause is a halted or abandoned restorebot run's, which is lifted).",
    );
  if (isError(paused))
    warnings.push(`The operator's pause flag could not be read (${paused.error}).`);
  if (input.activeRequest)
    warnings.push(
      `\`${target.name}\` already has an active request (\`${input.activeRequest.id}\`, ${input.activeRequest.state}); a new one would have to wait for it.`,
    );

  const lossMs = now.getTime() - point.time.getTime();
  const summary = `Restoring \`${target.name}\` to *${formatUtc(point.time)}* (\`${point.id}\`) would lose what was written after it: about ${formatDuration(Math.max(0, lossMs))} so far.`;
  return { phases, warnings, summary };
}
