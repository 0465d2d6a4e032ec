import { z } from "zod";
import { normalisePrefix } from "../../backups/index.js";
import {
  bucketName,
  envVarName,
  httpUrl,
  k8sName,
  type TargetBase,
} from "../../config/schema-parts.js";
import type { ConfigProblem } from "../kind.js";

/** A Kubernetes label selector of `key=value` pairs, comma-separated (as `kubectl -l`). */
const labelSelector = z
  .string()
  .regex(/^[A-Za-z0-9._/-]+=[A-Za-z0-9._-]*(,[A-Za-z0-9._/-]+=[A-Za-z0-9._-]*)*$/, {
    message: "expected a label selector such as suite=pachyderm,component=worker",
  });

const databaseShape = z.object({ dsnEnv: envVarName }).strict();

const s3Location = (defaultPrefix: string) =>
  z
    .object({
      bucket: bucketName,
      prefix: z.string().default(defaultPrefix),
      endpoint: httpUrl.optional(),
      region: z.string().min(1).optional(),
      forcePathStyle: z.boolean().optional(),
    })
    .strict();

/** The keys of a Pachyderm target besides the shared ones (DESIGN.md, `pachyderm`). */
export const pachydermTargetShape = {
  kind: z.literal("pachyderm"),
  pachd: k8sName.default("pachd"),
  workerSelector: labelSelector.default("suite=pachyderm,component=worker"),
  databases: z.object({ pachyderm: databaseShape, dex: databaseShape.optional() }).strict(),
  objectStore: s3Location(""),
  backups: s3Location("restorebot/"),
};

export interface PachydermS3Location {
  bucket: string;
  /** "" or ending in "/". */
  prefix: string;
  endpoint?: string | undefined;
  region: string;
  forcePathStyle: boolean;
}

export interface PachydermTarget extends TargetBase {
  kind: "pachyderm";
  /** The pachd Deployment. */
  pachd: string;
  /** Label selector of the pipeline workers' ReplicationControllers. */
  workerSelector: string;
  databases: { pachyderm: { dsnEnv: string }; dex?: { dsnEnv: string } | undefined };
  objectStore: PachydermS3Location;
  backups: PachydermS3Location;
}

type RawLocation = {
  bucket: string;
  prefix: string;
  endpoint?: string | undefined;
  region?: string | undefined;
  forcePathStyle?: boolean | undefined;
};

/**
 * Defaults filled in: prefixes normalised; the backups' endpoint, region and path style default
 * to the object store's (objects are copied server-side, so both are in one S3 service).
 */
export function completePachydermTarget(
  parsed: TargetBase & Record<string, unknown>,
): PachydermTarget {
  const raw = parsed as unknown as Omit<PachydermTarget, "objectStore" | "backups"> & {
    objectStore: RawLocation;
    backups: RawLocation;
  };
  const live = raw.objectStore;
  const objectStore: PachydermS3Location = {
    bucket: live.bucket,
    prefix: normalisePrefix(live.prefix),
    ...(live.endpoint ? { endpoint: live.endpoint } : {}),
    region: live.region ?? "us-east-1",
    forcePathStyle: live.forcePathStyle ?? false,
  };
  const b = raw.backups;
  const endpoint = b.endpoint ?? objectStore.endpoint;
  const backups: PachydermS3Location = {
    bucket: b.bucket,
    prefix: normalisePrefix(b.prefix),
    ...(endpoint ? { endpoint } : {}),
    region: b.region ?? objectStore.region,
    forcePathStyle: b.forcePathStyle ?? objectStore.forcePathStyle,
  };
  return { ...raw, objectStore, backups };
}

/** The databases the target names, in restore order: `pachyderm`, then `dex` when configured. */
export function configuredDatabases(
  target: PachydermTarget,
): Array<{ name: string; dsnEnv: string }> {
  return [
    { name: "pachyderm", dsnEnv: target.databases.pachyderm.dsnEnv },
    ...(target.databases.dex ? [{ name: "dex", dsnEnv: target.databases.dex.dsnEnv }] : []),
  ];
}

export function pachydermConfigProblems(
  target: PachydermTarget,
  context: { env: NodeJS.ProcessEnv; requireSecrets: boolean },
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const live = target.objectStore;
  const b = target.backups;
  if ((live.endpoint ?? "") !== (b.endpoint ?? "") || live.region !== b.region) {
    problems.push({
      key: "backups.endpoint",
      message: `must be the same S3 service as objectStore (${live.endpoint ?? "AWS"} ${live.region}): objects are copied server-side between the two buckets`,
    });
  }
  if (live.bucket === b.bucket) {
    const a = live.prefix;
    const c = b.prefix;
    if (a === "" || c === "" || a.startsWith(c) || c.startsWith(a))
      problems.push({
        key: "backups.bucket",
        message: `backups must not overlap the live object store (s3://${live.bucket}/${live.prefix}): use a separate bucket, as Pachyderm's own documentation asks`,
      });
  }
  if (context.requireSecrets) {
    for (const db of configuredDatabases(target)) {
      if (!context.env[db.dsnEnv])
        problems.push({
          key: `databases.${db.name}.dsnEnv`,
          message: `environment variable ${db.dsnEnv} is not set; it must hold the PostgreSQL DSN of the ${db.name} database`,
        });
    }
  }
  return problems;
}
