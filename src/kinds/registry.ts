import type { RbacRule } from "../adapters/kubernetes/rbac.js";
import type { TargetBase } from "../config/schema-parts.js";
import { influxdbClustered } from "./influxdb-clustered/index.js";
import { influxdbEnterprise } from "./influxdb-enterprise/index.js";
import { influxdbOss } from "./influxdb-oss/index.js";
import type { Kind, PhaseOutline } from "./kind.js";
import { pachyderm } from "./pachyderm/index.js";
import { stackstate } from "./stackstate/index.js";

/** Every kind restorebot knows: one line per kind (docs/adding-a-system.md). */
export const KINDS = [
  influxdbClustered,
  influxdbOss,
  stackstate,
  pachyderm,
  influxdbEnterprise,
] as const;

/** A target of any registered kind, as parsed from restorebot.yaml. */
export type Target = (typeof KINDS)[number] extends Kind<infer T> ? T : never;

/**
 * The kinds one process knows, looked up by a target's or a request's `kind`. The bot and the
 * worker get it on AppDeps; tests add kinds of their own with `createKindRegistry`.
 */
export interface KindRegistry {
  readonly all: readonly Kind[];
  ids(): string[];
  /** The kind, or undefined when no kind of that id is registered. */
  find(id: string): Kind | undefined;
  /** The kind; throws (a bug, or a request of a kind no longer configured) when unknown. */
  get(id: string): Kind;
  /** The kind of a target, typed for that target. */
  of<T extends TargetBase>(target: T): Kind<T>;
  /** The phases (forward) or roll back steps of a kind's runbook, in order; [] when unknown. */
  outline(id: string, mode?: "forward" | "rollback"): PhaseOutline[];
  takingDownPhase(id: string): string | undefined;
  bringingUpPhase(id: string): string | undefined;
  dataReplacingPhase(id: string): string | undefined;
}

export function createKindRegistry(kinds: readonly Kind[] = KINDS): KindRegistry {
  const byId = new Map<string, Kind>();
  for (const kind of kinds) {
    if (byId.has(kind.id)) throw new Error(`two kinds are registered as ${kind.id}`);
    byId.set(kind.id, kind);
  }
  const find = (id: string) => byId.get(id);
  const get = (id: string): Kind => {
    const kind = byId.get(id);
    if (!kind)
      throw new Error(`no kind ${id} is registered (known: ${[...byId.keys()].join(", ")})`);
    return kind;
  };
  return {
    all: [...kinds],
    ids: () => [...byId.keys()],
    find,
    get,
    of: <T extends TargetBase>(target: T) => get(target.kind) as unknown as Kind<T>,
    outline(id, mode = "forward") {
      const outline = find(id)?.outline;
      if (!outline) return [];
      return [...(mode === "forward" ? outline.phases : outline.rollback)];
    },
    takingDownPhase: (id) => find(id)?.outline.takesDown,
    bringingUpPhase: (id) => find(id)?.outline.bringsUp,
    dataReplacingPhase: (id) => find(id)?.outline.replacesData,
  };
}

/** The registry of the kinds restorebot ships. */
export const DEFAULT_KINDS: KindRegistry = createKindRegistry(KINDS);

/** The Kubernetes access every registered kind needs, merged (the chart's Role). */
export function rbacRulesOf(registry: KindRegistry = DEFAULT_KINDS): RbacRule[] {
  const merged = new Map<string, RbacRule>();
  for (const kind of registry.all)
    for (const rule of kind.rbac) {
      const key = `${rule.apiGroups.join(",")}|${rule.resources.join(",")}`;
      const seen = merged.get(key);
      if (seen) seen.verbs = [...new Set([...seen.verbs, ...rule.verbs])];
      else merged.set(key, { ...rule, verbs: [...rule.verbs] });
    }
  return [...merged.values()];
}
