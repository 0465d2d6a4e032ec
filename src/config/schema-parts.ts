import { z } from "zod";
import { cronProblem } from "./cron.js";
import { DURATION_FORMAT, parseDuration } from "./duration.js";

/**
 * The pieces of restorebot.yaml every kind shares: the target keys the core reads (name, kind,
 * namespace, kube context, policy override, timeouts, retention, backups) and the value types a
 * kind's own branch is built from (durations, Kubernetes names, DSN variable names, buckets).
 */

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

export const duration = z
  .string({ message: `expected a duration (${DURATION_FORMAT})` })
  .refine((v) => parseDuration(v) !== undefined && (parseDuration(v) ?? 0) > 0, {
    message: `expected a duration (${DURATION_FORMAT})`,
  })
  .transform((v) => parseDuration(v) as number)
  .meta({ pattern: "^[0-9]{1,9}[smhd]$", description: DURATION_FORMAT });

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
  /** Who may run `/backup` (default: the approvers). */
  backupers: z.array(slackPrincipal),
  /** Approvals a `/backup` needs from people other than its requester; 0 starts it at once. */
  backupApprovals: z
    .number({ message: "expected a whole number of approvals, 0 or more" })
    .int({ message: "expected a whole number of approvals, 0 or more" })
    .min(0, { message: "expected a whole number of approvals, 0 or more" })
    .max(10, { message: "at most 10 approvals can be required" }),
};

export const policySchema = z
  .object({
    requesters: policyShape.requesters.default(["*"]),
    approvers: policyShape.approvers.default([]),
    requiredApprovals: policyShape.requiredApprovals.default(1),
    requestTtl: policyShape.requestTtl.default(30 * 60_000),
    backupers: policyShape.backupers.optional(),
    backupApprovals: policyShape.backupApprovals.default(0),
  })
  .strict();

export const policyOverrideSchema = z
  .object({
    requesters: policyShape.requesters.optional(),
    approvers: policyShape.approvers.optional(),
    requiredApprovals: policyShape.requiredApprovals.optional(),
    requestTtl: policyShape.requestTtl.optional(),
    backupers: policyShape.backupers.optional(),
    backupApprovals: policyShape.backupApprovals.optional(),
  })
  .strict();

export type Policy = z.infer<typeof policySchema>;

/** The name of an environment variable holding a DSN; never the DSN itself. */
export const envVarName = z
  .string({ message: "expected the name of an environment variable" })
  .refine((v) => !/:\/\/|\s|=/.test(v), {
    message:
      "must name an environment variable that holds the DSN (e.g. PROD_CATALOG_DSN), never the DSN itself",
  })
  .refine((v) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(v), {
    message: "expected an environment variable name such as PROD_CATALOG_DSN",
  })
  .meta({
    pattern: "^[A-Za-z_][A-Za-z0-9_]*$",
    description: "Name of the environment variable holding the DSN, never the DSN itself",
  });

export const k8sName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, { message: "expected a Kubernetes resource name" })
  .max(253);

export const bucketName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { message: "expected an S3 bucket name" });

export const httpUrl = z
  .string()
  .refine((v) => /^https?:\/\/[^\s]+$/.test(v), {
    message: "expected an http:// or https:// URL",
  })
  .meta({ pattern: "^https?://[^\\s]+$" });

const DAY = 86_400_000;

/** Target keys every kind has (besides `kind`, which each branch sets to its own literal). */
export const sharedTargetShape = {
  name: z
    .string({ message: "expected a target name ([a-z0-9-]+)" })
    .regex(/^[a-z0-9-]+$/, {
      message: "expected a target name of lowercase letters, digits and - ([a-z0-9-]+)",
    })
    .max(40, { message: "target names are at most 40 characters" })
    .refine((v) => !(RESERVED_TARGET_NAMES as readonly string[]).includes(v), {
      message: `is a reserved word; choose another name (reserved: ${RESERVED_TARGET_NAMES.join(", ")})`,
    })
    .meta({
      not: { enum: [...RESERVED_TARGET_NAMES] },
      description: `Target name; reserved words (${RESERVED_TARGET_NAMES.join(", ")}) are refused`,
    }),
  namespace: k8sName,
  kubeContext: z.string().min(1).optional(),
  retention: z
    .object({ hourly: duration.default(30 * DAY), daily: duration.default(90 * DAY) })
    .strict()
    .default({ hourly: 30 * DAY, daily: 90 * DAY }),
  timeouts: z
    .object({ podsGone: duration.default(15 * 60_000), podsReady: duration.default(15 * 60_000) })
    .strict()
    .default({ podsGone: 15 * 60_000, podsReady: 15 * 60_000 }),
  /** Backups restorebot takes itself, for kinds that have a backup runbook. */
  backup: z
    .object({
      schedule: z
        .string({ message: "expected a cron schedule such as 0 * * * *" })
        .refine((v) => cronProblem(v) === undefined, {
          message:
            "expected a cron schedule in UTC such as 0 * * * * (minute hour day month weekday)",
        }),
      /** Where scheduled backups post their card (default: the first of slack.channels). */
      channel: z
        .string()
        .regex(/^[CGD][A-Z0-9]{1,20}$/, { message: "expected a Slack channel ID (C…)" })
        .optional(),
      retention: duration.optional(),
    })
    .strict()
    .optional(),
  policy: policyOverrideSchema.optional(),
};

/** What the core knows of every target, whatever its kind. */
export interface TargetBase {
  name: string;
  kind: string;
  namespace: string;
  kubeContext?: string | undefined;
  retention: { hourly: number; daily: number };
  timeouts: { podsGone: number; podsReady: number };
  backup?:
    | { schedule: string; retention?: number | undefined; channel?: string | undefined }
    | undefined;
  /** Effective policy: the target's keys replace the global ones, the rest are inherited. */
  policy: Policy;
}

/**
 * `backups:` of the kinds whose points restorebot writes to one bucket and prefix (InfluxDB
 * OSS archives, InfluxDB Enterprise sets): the same keys, each kind its default prefix.
 */
export function backupsSchema(defaultPrefix: string) {
  return z
    .object({
      bucket: bucketName,
      prefix: z.string().default(defaultPrefix),
      endpoint: httpUrl.optional(),
      region: z.string().min(1).default("us-east-1"),
      forcePathStyle: z.boolean().default(false),
    })
    .strict();
}

export interface BackupsSettings {
  bucket: string;
  prefix: string;
  endpoint?: string | undefined;
  region: string;
  forcePathStyle: boolean;
}

/** The object store of a `backups:` block (for `Kind.config.objectStore`). */
export function backupsObjectStore({ backups }: { backups: BackupsSettings }): {
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
} {
  return {
    ...(backups.endpoint ? { endpoint: backups.endpoint } : {}),
    region: backups.region,
    forcePathStyle: backups.forcePathStyle,
  };
}
