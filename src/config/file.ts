import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { CodedError } from "../errors.js";
import { DURATION_FORMAT, parseDuration } from "./duration.js";

/** Target names that would be ambiguous with slash-command subcommands (DESIGN.md). */
export const RESERVED_TARGET_NAMES = [
  "help",
  "plan",
  "status",
  "cancel",
  "history",
  "targets",
  "verify",
  "drill",
  "latest",
] as const;

export const TARGET_KINDS = ["influxdb-clustered"] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

/** InfluxDB Clustered components by role, with the vendor's default workload names. */
export const INFLUXDB_COMPONENT_DEFAULTS = {
  gc: "global-gc",
  router: "global-router",
  querier: "iox-shared-querier",
  compactor: "iox-shared-compactor",
  ingester: "iox-shared-ingester",
  catalog: "iox-shared-catalog",
} as const;
export type InfluxComponentRole = keyof typeof INFLUXDB_COMPONENT_DEFAULTS;

const duration = z
  .string({ message: `expected a duration (${DURATION_FORMAT})` })
  .refine((v) => parseDuration(v) !== undefined && (parseDuration(v) ?? 0) > 0, {
    message: `expected a duration (${DURATION_FORMAT})`,
  })
  .transform((v) => parseDuration(v) as number);

const slackPrincipal = z.string().regex(/^(\*|[UWS][A-Z0-9]{1,20})$/, {
  message: 'expected a Slack user ID (U…/W…), a user-group ID (S…), or "*"',
});

const policyShape = {
  requesters: z.array(slackPrincipal),
  approvers: z.array(slackPrincipal),
  requiredApprovals: z
    .number({ message: "expected a whole number of approvals, at least 1" })
    .int({ message: "expected a whole number of approvals, at least 1" })
    .min(1, { message: "expected a whole number of approvals, at least 1" })
    .max(10, { message: "at most 10 approvals can be required" }),
  requestTtl: duration,
};

const policySchema = z
  .object({
    requesters: policyShape.requesters.default(["*"]),
    approvers: policyShape.approvers.default([]),
    requiredApprovals: policyShape.requiredApprovals.default(1),
    requestTtl: policyShape.requestTtl.default(30 * 60_000),
  })
  .strict();

const policyOverrideSchema = z
  .object({
    requesters: policyShape.requesters.optional(),
    approvers: policyShape.approvers.optional(),
    requiredApprovals: policyShape.requiredApprovals.optional(),
    requestTtl: policyShape.requestTtl.optional(),
  })
  .strict();

const envVarName = z
  .string({ message: "expected the name of an environment variable" })
  .refine((v) => !/:\/\/|\s|=/.test(v), {
    message:
      "must name an environment variable that holds the DSN (e.g. PROD_CATALOG_DSN), never the DSN itself",
  })
  .refine((v) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(v), {
    message: "expected an environment variable name such as PROD_CATALOG_DSN",
  });

const k8sName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, { message: "expected a Kubernetes resource name" })
  .max(253);

const targetSchema = z
  .object({
    name: z
      .string({ message: "expected a target name ([a-z0-9-]+)" })
      .regex(/^[a-z0-9-]+$/, {
        message: "expected a target name of lowercase letters, digits and - ([a-z0-9-]+)",
      })
      .max(40, { message: "target names are at most 40 characters" })
      .refine((v) => !(RESERVED_TARGET_NAMES as readonly string[]).includes(v), {
        message: `is a reserved word; choose another name (reserved: ${RESERVED_TARGET_NAMES.join(", ")})`,
      }),
    kind: z.enum(TARGET_KINDS, { message: `expected one of: ${TARGET_KINDS.join(", ")}` }),
    namespace: k8sName,
    appInstance: k8sName,
    kubeContext: z.string().min(1).optional(),
    catalog: z.object({ dsnEnv: envVarName }).strict(),
    snapshots: z
      .object({
        bucket: z
          .string()
          .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { message: "expected an S3 bucket name" }),
        prefix: z.string().default("catalog_backup_file_lists/"),
        endpoint: z
          .string()
          .refine((v) => /^https?:\/\/[^\s]+$/.test(v), {
            message: "expected an http:// or https:// URL",
          })
          .optional(),
        region: z.string().min(1).default("us-east-1"),
        forcePathStyle: z.boolean().default(false),
      })
      .strict(),
    retention: z
      .object({
        hourly: duration.default(30 * 86_400_000),
        daily: duration.default(90 * 86_400_000),
      })
      .strict()
      .default({ hourly: 30 * 86_400_000, daily: 90 * 86_400_000 }),
    timeouts: z
      .object({ podsGone: duration.default(15 * 60_000), podsReady: duration.default(15 * 60_000) })
      .strict()
      .default({ podsGone: 15 * 60_000, podsReady: 15 * 60_000 }),
    components: z
      .object(
        Object.fromEntries(
          Object.keys(INFLUXDB_COMPONENT_DEFAULTS).map((role) => [role, k8sName.optional()]),
        ) as Record<InfluxComponentRole, z.ZodOptional<typeof k8sName>>,
      )
      .strict()
      .optional(),
    policy: policyOverrideSchema.optional(),
  })
  .strict();

const configSchema = z
  .object({
    policy: policySchema.default({
      requesters: ["*"],
      approvers: [],
      requiredApprovals: 1,
      requestTtl: 30 * 60_000,
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
    targets: z.array(targetSchema).min(1, { message: "at least one target is required" }),
  })
  .strict();

export type Policy = z.infer<typeof policySchema>;
type RawTarget = z.infer<typeof targetSchema>;

export interface Target extends Omit<RawTarget, "policy" | "components"> {
  /** Effective policy: the target's keys replace the global ones, the rest are inherited. */
  policy: Policy;
  /** Workload names by role, defaults filled in. */
  components: Record<InfluxComponentRole, string>;
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

/**
 * Parses and validates the YAML text of restorebot.yaml. `env` is consulted only to check that
 * each `dsnEnv` names a variable that is set, when `requireCatalogDsn` is true (the worker).
 */
export function parseConfig(
  text: string,
  options: { source?: string; env?: NodeJS.ProcessEnv; requireCatalogDsn?: boolean } = {},
): Config {
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
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = formatPath(issue?.path ?? []);
    let message = issue?.message ?? "invalid";
    if (issue?.code === "unrecognized_keys")
      message = `unknown key ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
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
    const { policy: override, components, ...rest } = t;
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
    if (options.requireCatalogDsn && !options.env?.[t.catalog.dsnEnv]) {
      throw new CodedError(
        "config_invalid",
        `${source}: targets[${i}].catalog.dsnEnv (target "${t.name}"): environment variable ${t.catalog.dsnEnv} is not set; it must hold the catalog's PostgreSQL DSN`,
      );
    }
    if (t.retention.daily < t.retention.hourly) {
      throw new CodedError(
        "config_invalid",
        `${source}: targets[${i}].retention (target "${t.name}"): daily retention must be at least the hourly retention`,
      );
    }
    return {
      ...rest,
      policy,
      components: { ...INFLUXDB_COMPONENT_DEFAULTS, ...definedOnly(components) },
    };
  });
  return { policy: value.policy, slack: value.slack, targets };
}

function definedOnly<T extends Record<string, string | undefined>>(
  obj: T | undefined,
): Partial<Record<keyof T, string>> {
  const out: Partial<Record<keyof T, string>> = {};
  for (const [k, v] of Object.entries(obj ?? {})) if (v !== undefined) out[k as keyof T] = v;
  return out;
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
  options: { env?: NodeJS.ProcessEnv; requireCatalogDsn?: boolean } = {},
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
