import type { ClusterSnapshot, SimEvent } from "../../../stand-ins/kubernetes/index.js";

/**
 * Replays the simulator's mutation log and reports every breach of the runbook's ordering
 * rules (DESIGN.md): nothing scaled before the operator is paused; the catalog scaled down only
 * once every non-catalog pod is gone; at start-up the catalog first, ingesters only once
 * min(2, n) catalog pods are ready, the rest only once min(2, n) ingesters are ready; nothing
 * scaled after the operator is unpaused.
 */
export function orderingViolations(
  initial: ClusterSnapshot,
  events: readonly SimEvent[],
  names: { catalog: string; ingester: string },
  originals: Readonly<Record<string, number>>,
): string[] {
  const violations: string[] = [];
  const live = new Map<string, Set<string>>();
  const ready = new Map<string, Set<string>>();
  for (const c of initial.components) {
    live.set(c.name, new Set(c.pods.filter((p) => !p.terminating).map((p) => p.name)));
    ready.set(c.name, new Set(c.pods.filter((p) => p.ready && !p.terminating).map((p) => p.name)));
    for (const p of c.pods.filter((p) => p.terminating)) live.get(c.name)?.add(p.name);
  }
  let paused = initial.customResource?.paused ?? false;
  let unpausedAfterPause = false;
  let everPaused = false;
  const quorum = (name: string) => Math.min(2, originals[name] ?? 0);
  const count = (m: Map<string, Set<string>>, name: string) => m.get(name)?.size ?? 0;

  for (const e of [...events].sort((a, b) => a.seq - b.seq)) {
    switch (e.type) {
      case "pause":
        if (e.source !== "api") break;
        if (e.to) everPaused = true;
        else if (everPaused) unpausedAfterPause = true;
        paused = e.to;
        break;
      case "scale": {
        if (e.source !== "api") break;
        if (!paused)
          violations.push(
            `#${e.seq} ${e.component} scaled ${e.from}→${e.to} while the operator was not paused`,
          );
        if (unpausedAfterPause)
          violations.push(`#${e.seq} ${e.component} scaled after the operator was unpaused`);
        if (e.to === 0 && e.component === names.catalog) {
          const others = [...live.entries()].filter(
            ([n, pods]) => n !== names.catalog && pods.size > 0,
          );
          if (others.length)
            violations.push(
              `#${e.seq} catalog scaled down while ${others.map(([n, p]) => `${n} had ${p.size} pods`).join(", ")}`,
            );
        }
        if (
          e.to > e.from &&
          e.component === names.ingester &&
          count(ready, names.catalog) < quorum(names.catalog)
        )
          violations.push(
            `#${e.seq} ingesters scaled up with ${count(ready, names.catalog)} catalog pods ready (need ${quorum(names.catalog)})`,
          );
        if (e.to > e.from && e.component !== names.ingester && e.component !== names.catalog) {
          if (count(ready, names.catalog) < quorum(names.catalog))
            violations.push(`#${e.seq} ${e.component} scaled up before the catalog was ready`);
          if (count(ready, names.ingester) < quorum(names.ingester))
            violations.push(
              `#${e.seq} ${e.component} scaled up with ${count(ready, names.ingester)} ingesters ready (need ${quorum(names.ingester)})`,
            );
        }
        break;
      }
      case "pod-created":
        live.get(e.component)?.add(e.pod);
        break;
      case "pod-ready":
        ready.get(e.component)?.add(e.pod);
        break;
      case "pod-terminating":
        ready.get(e.component)?.delete(e.pod);
        break;
      case "pod-deleted":
        live.get(e.component)?.delete(e.pod);
        ready.get(e.component)?.delete(e.pod);
        break;
      default:
        break;
    }
  }
  return violations;
}

/** When the last pod of `component` was deleted (ms since epoch), if any was. */
export function lastPodDeletedAt(
  events: readonly SimEvent[],
  component: string,
): number | undefined {
  const deleted = events.filter((e) => e.type === "pod-deleted" && e.component === component);
  return deleted.at(-1)?.at;
}
