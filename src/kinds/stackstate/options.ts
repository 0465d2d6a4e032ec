import { escapeMrkdwn } from "../../approvals/format.js";
import type { JsonValue, RestoreOptions } from "../kind.js";
import type { StackStateTarget } from "./config.js";
import { indicesToRestore, parseIndicesOption } from "./elasticsearch-restore.js";
import { frozenStackStatePoint } from "./frozen-point.js";
import type { ElasticsearchPoint } from "./points.js";

/** A StackState request's options: `--force` (StackGraph), `--indices a,b` (Elasticsearch). */
export interface StackStateOptions {
  force?: true;
  indices?: string[];
}

export function stackstateOptionsOf(value: JsonValue | null | undefined): StackStateOptions {
  if (value === null || value === undefined || typeof value !== "object" || Array.isArray(value))
    return {};
  const v = value as { force?: unknown; indices?: unknown };
  return {
    ...(v.force === true ? { force: true as const } : {}),
    ...(Array.isArray(v.indices)
      ? { indices: v.indices.filter((i): i is string => typeof i === "string") }
      : {}),
  };
}

const USAGE = "[--force] [--indices a,b]";

export const stackstateRestoreOptions: RestoreOptions<StackStateTarget> = {
  usage: USAGE,
  parse(words) {
    const options: StackStateOptions = {};
    let i = 0;
    while (i < words.length) {
      const word = words[i] as string;
      if (word === "--force") {
        options.force = true;
        i++;
      } else if (word === "--indices" || word.startsWith("--indices=")) {
        const value = word === "--indices" ? words[i + 1] : word.slice("--indices=".length);
        const names = parseIndicesOption(value);
        if (names === undefined || value?.startsWith("--"))
          return {
            ok: false,
            message:
              "`--indices` needs a comma-separated list of index names, e.g. `--indices sts_internal_events-2021.02.19,sts_multi_metrics-2021.02.19`.",
          };
        options.indices = names;
        i += word === "--indices" ? 2 : 1;
      } else if (word.startsWith("--")) {
        return {
          ok: false,
          message: `\`${word}\` is not a StackState restore option; the options are \`--force\` (StackGraph: overwrite a graph that holds data) and \`--indices a,b\` (Elasticsearch: only these indices).`,
        };
      } else break;
    }
    return { ok: true, options: options as JsonValue, consumed: i };
  },
  check(value, pointValue) {
    const options = stackstateOptionsOf(value);
    const point = frozenStackStatePoint(pointValue);
    if (options.force && point.store !== "stackgraph")
      return `\`--force\` applies to StackGraph restores only (a ${point.store} restore always replaces what it restores); leave it out.`;
    if (options.indices && point.store !== "elasticsearch")
      return `\`--indices\` applies to Elasticsearch restores only; leave it out for a ${point.store} restore.`;
    if (options.indices && point.store === "elasticsearch") {
      try {
        indicesToRestore(
          { name: point.name, indices: point.indices ?? [] } as unknown as ElasticsearchPoint,
          options.indices,
        );
      } catch (err) {
        return (err as Error).message;
      }
    }
    return undefined;
  },
  cardLines(value, pointValue) {
    const options = stackstateOptionsOf(value);
    const point = frozenStackStatePoint(pointValue);
    const lines: string[] = [];
    if (options.force)
      lines.push(
        "*`--force`: existing StackGraph data is overwritten.* The graph is replaced by the backup even if it holds data.",
      );
    if (options.indices && point.store === "elasticsearch") {
      const shown = options.indices.slice(0, 30).map((i) => `\`${escapeMrkdwn(i)}\``);
      lines.push(
        `*Only these ${options.indices.length} of the snapshot's ${(point.indices ?? []).length} indices are deleted and restored (--indices):* ${shown.join(", ")}${options.indices.length > shown.length ? `, and ${options.indices.length - shown.length} more` : ""}`,
      );
    }
    return lines;
  },
};
