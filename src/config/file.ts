import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { CodedError } from "../errors.js";
import { DEFAULT_KINDS, type KindRegistry, type Target } from "../kinds/registry.js";
import { type Policy, policySchema, sharedTargetShape, type TargetBase } from "./schema-parts.js";

export type { Policy, TargetBase } from "./schema-parts.js";
export { RESERVED_TARGET_NAMES } from "./schema-parts.js";
export type { Target };

/** The `targets` entry: a union on `kind`, one branch per registered kind (shared keys first). */
function targetSchemaOf(kinds: KindRegistry) {
  const branches = kinds.all.map((kind) =>
    z.object({ ...sharedTargetShape, ...kind.config.shape, kind: z.literal(kind.id) }).strict(),
  );
  const [first, ...rest] = branches;
  if (!first) throw new Error("no kinds are registered");
  return z.discriminatedUnion("kind", [first, ...rest]);
}

export function configSchemaOf(kinds: KindRegistry) {
  return z
    .object({
      policy: policySchema.default({
        requesters: ["*"],
        approvers: [],
        requiredApprovals: 1,
        requestTtl: 30 * 60_000,
        backupApprovals: 0,
      }),
      slack: z
        .object({
          channels: z
            .array(
              z
                .string()
                .regex(/^[CGD][A-Z0-9]{1,20}$/, { message: "expected a Slack channel ID (C…)" }),
            )
            .default([]),
        })
        .strict()
        .default({ channels: [] }),
      targets: z
        .array(targetSchemaOf(kinds))
        .min(1, { message: "at least one target is required" })
        .meta({
          description: "At least one target; the chart fails with a clear message when empty",
        }),
    })
    .strict()
    .meta({
      description: "restorebot.yaml (DESIGN.md, 'Config file'), rendered into a ConfigMap",
    });
}

export interface Config {
  policy: Policy;
  slack: { channels: string[] };
  targets: Target[];
}

function formatPath(path: PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || "(top level)";
}

export interface ParseOptions {
  source?: string;
  env?: NodeJS.ProcessEnv;
  /** The worker: every environment variable a target names (its DSNs) must be set. */
  requireCatalogDsn?: boolean;
  /** The kinds a target may be; default the ones restorebot ships. */
  kinds?: KindRegistry;
}

/**
 * Parses and validates the YAML text of restorebot.yaml. `env` is consulted only to check that
 * each variable a target names is set, when `requireCatalogDsn` is true (the worker).
 */
export function parseConfig(text: string, options: ParseOptions = {}): Config {
  const kinds = options.kinds ?? DEFAULT_KINDS;
  const source = options.source ?? "restorebot.yaml";
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    const reason = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new CodedError("config_invalid", `${source}: not valid YAML: ${reason}`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new CodedError(
      "config_invalid",
      `${source}: expected a mapping with policy, slack and targets`,
    );
  }
  const parsed = configSchemaOf(kinds).safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = formatPath(issue?.path ?? []);
    let message = issue?.message ?? "invalid";
    if (issue?.code === "unrecognized_keys")
      message = `unknown key ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
    if (issue?.code === "invalid_union" && issue.path.at(-1) === "kind")
      message = `expected one of: ${kinds.ids().join(", ")}`;
    if (issue?.code === "invalid_type" && /received undefined/.test(message))
      message = `is required (${message.replace(/^Invalid input: /, "")})`;
    const targetName = targetNameAt(raw, issue?.path ?? []);
    throw new CodedError(
      "config_invalid",
      `${source}: ${where}${targetName ? ` (target "${targetName}")` : ""}: ${message}`,
    );
  }
  const value = parsed.data;
  const seen = new Set<string>();
  const targets: Target[] = value.targets.map((t, i) => {
    if (seen.has(t.name)) {
      throw new CodedError(
        "config_invalid",
        `${source}: targets[${i}].name: "${t.name}" is used by two targets; names must be unique`,
      );
    }
    seen.add(t.name);
    const { policy: override, ...rest } = t as typeof t & { policy?: Partial<Policy> };
    const policy: Policy = { ...value.policy };
    for (const [key, v] of Object.entries(override ?? {})) {
      if (v !== undefined) (policy as Record<string, unknown>)[key] = v;
    }
    if (policy.approvers.length === 0) {
      throw new CodedError(
        "config_invalid",
        `${source}: policy.approvers (target "${t.name}"): no approvers are configured, so no restore could ever be approved; list Slack user or user-group IDs`,
      );
    }
    if (t.retention.daily < t.retention.hourly) {
      throw new CodedError(
        "config_invalid",
        `${source}: targets[${i}].retention (target "${t.name}"): daily retention must be at least the hourly retention`,
      );
    }
    if (t.backup && !t.backup.channel && value.slack.channels.length === 0) {
      throw new CodedError(
        "config_invalid",
        `${source}: targets[${i}].backup.channel (target "${t.name}"): scheduled backups post their card in a channel: set backup.channel or slack.channels`,
      );
    }
    const kind = kinds.get(t.kind);
    const target = kind.config.complete({ ...rest, policy } as TargetBase &
      Record<string, unknown>);
    const [problem] = kind.config.problems(target, {
      env: options.env ?? {},
      requireSecrets: options.requireCatalogDsn === true,
    });
    if (problem) {
      throw new CodedError(
        "config_invalid",
        `${source}: targets[${i}].${problem.key} (target "${t.name}"): ${problem.message}`,
      );
    }
    return target as Target;
  });
  return { policy: value.policy, slack: value.slack, targets };
}

function targetNameAt(raw: unknown, path: PropertyKey[]): string | undefined {
  if (path[0] !== "targets" || typeof path[1] !== "number") return undefined;
  const targets = (raw as { targets?: unknown }).targets;
  if (!Array.isArray(targets)) return undefined;
  const t = targets[path[1]] as { name?: unknown } | undefined;
  return typeof t?.name === "string" && path[2] !== "name" ? t.name : undefined;
}

export async function loadConfig(
  path: string,
  options: Omit<ParseOptions, "source"> = {},
): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CodedError(
      "config_invalid",
      code === "ENOENT"
        ? `RESTOREBOT_CONFIG: config file ${path} does not exist; create it (see restorebot.example.yaml) or point RESTOREBOT_CONFIG at it`
        : `RESTOREBOT_CONFIG: cannot read ${path} (${code ?? "error"})`,
    );
  }
  return parseConfig(text, { source: path, ...options });
}

export function findTarget(config: Config, name: string): Target | undefined {
  return config.targets.find((t) => t.name === name);
}
