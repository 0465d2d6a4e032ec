import type { JsonValue, RestoreWords } from "../kind.js";
import { type FrozenStackStatePoint, frozenLabel, frozenStackStatePoint } from "./frozen-point.js";
import { stackstateOptionsOf } from "./options.js";
import { STACKGRAPH_LABEL } from "./runbook.js";

function indicesOf(point: FrozenStackStatePoint, options: JsonValue | null): string[] {
  return stackstateOptionsOf(options).indices ?? point.indices ?? [];
}

const indicesText = (n: number) => (n === 1 ? "1 index" : `${n} indices`);

/**
 * What a StackState restore replaces, stops and loses: one store per request, each in its own
 * words (what the runbook scales down for it, DESIGN.md and docs/stackstate.md).
 */
export const STACKSTATE_RESTORE_WORDS: RestoreWords = {
  lost(value, options) {
    const point = frozenStackStatePoint(value);
    switch (point.store) {
      case "stackgraph":
        return "topology changes in StackGraph";
      case "metrics":
        return `metrics written to Victoria Metrics instance \`${point.instance}\``;
      case "clickhouse":
        return "data written to ClickHouse's `otel` database";
      case "elasticsearch":
        return `events written to the ${indicesText(indicesOf(point, options).length)} restored`;
    }
  },
  replaces(value, time, options) {
    const point = frozenStackStatePoint(value);
    const label = `\`${frozenLabel(point)}\``;
    switch (point.store) {
      case "stackgraph":
        return stackstateOptionsOf(options).force
          ? `its StackGraph graph with the backup ${label} of ${time}, overwriting the graph's existing data (--force)`
          : `its StackGraph graph with the backup ${label} of ${time}, if the graph is empty (one that holds data halts the restore with the tool's message; request again with --force to overwrite it)`;
      case "metrics":
        return `the data of Victoria Metrics instance \`${point.instance}\` with its version ${label} (last completed ${point.lastCompleted ?? time})`;
      case "clickhouse":
        return `every table of ClickHouse's \`otel\` database (the chart's restore always overrides them all) with the backup ${label} of ${time}${(point.chain?.length ?? 0) > 1 ? ` (with its chain ${point.chain?.join(" → ")})` : ""}`;
      case "elasticsearch":
        return `${indicesText(indicesOf(point, options).length)} (deleted first) with those of snapshot ${label} of ${time}; other indices are not touched`;
    }
  },
  // Short: Slack cuts the Approve dialog at 300 characters, and the data loss comes after it.
  effect(target, value) {
    const point = frozenStackStatePoint(value);
    return `restores \`${frozenLabel(point)}\` into ${target}, stopping what writes to its ${point.store} store until then (the card says what)`;
  },
  downtime(value, options) {
    const point = frozenStackStatePoint(value);
    switch (point.store) {
      case "stackgraph":
        return `The Deployments labelled ${STACKGRAPH_LABEL} (StackState's servers that use the graph) are scaled to 0 from phase 2 until the restore Job has ended, then back to their recorded counts: StackState is unavailable meanwhile.`;
      case "metrics":
        return `The StatefulSet of Victoria Metrics instance ${point.instance} is scaled to 0 from phase 2 until the restore Job has ended and it is ready again: that instance takes no metrics meanwhile. Other instances are not stopped.`;
      case "clickhouse":
        return "The OpenTelemetry collector StatefulSet is scaled to 0 from phase 2 until `clickhouse-backup restore_remote` has ended (it is scaled back even when the restore fails): no OpenTelemetry data is taken in meanwhile. ClickHouse itself stays up.";
      case "elasticsearch":
        return `The indexer Deployments are scaled to 0 from phase 2 until the restored indices have recovered: no events are indexed meanwhile. Elasticsearch stays up; the ${indicesText(indicesOf(point, options).length)} restored are absent between their deletion and the end of their recovery.`;
    }
  },
  untouched: "the store was never touched",
  replacing: "the restore of the store",
  point: (value) => ({ label: "Backup", name: frozenLabel(frozenStackStatePoint(value)) }),
};
