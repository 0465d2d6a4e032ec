import { z } from "zod";
import {
  bucketName,
  envVarName,
  httpUrl,
  k8sName,
  type TargetBase,
} from "../../config/schema-parts.js";

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

/** The keys of an InfluxDB Clustered target besides the shared ones. */
export const influxdbTargetShape = {
  kind: z.literal("influxdb-clustered"),
  appInstance: k8sName,
  catalog: z.object({ dsnEnv: envVarName }).strict(),
  snapshots: z
    .object({
      bucket: bucketName,
      prefix: z.string().default("catalog_backup_file_lists/"),
      endpoint: httpUrl.optional(),
      region: z.string().min(1).default("us-east-1"),
      forcePathStyle: z.boolean().default(false),
    })
    .strict(),
  components: z
    .object(
      Object.fromEntries(
        Object.keys(INFLUXDB_COMPONENT_DEFAULTS).map((role) => [role, k8sName.optional()]),
      ) as Record<InfluxComponentRole, z.ZodOptional<typeof k8sName>>,
    )
    .strict()
    .optional(),
};

export interface InfluxTarget extends TargetBase {
  kind: "influxdb-clustered";
  appInstance: string;
  catalog: { dsnEnv: string };
  snapshots: {
    bucket: string;
    prefix: string;
    endpoint?: string | undefined;
    region: string;
    forcePathStyle: boolean;
  };
  /** Workload names by role, defaults filled in. */
  components: Record<InfluxComponentRole, string>;
}

/** The parsed target with every component's workload name filled in. */
export function completeInfluxTarget(parsed: TargetBase & Record<string, unknown>): InfluxTarget {
  const raw = parsed as unknown as Omit<InfluxTarget, "components"> & {
    components?: Partial<Record<InfluxComponentRole, string | undefined>>;
  };
  const components: Record<InfluxComponentRole, string> = { ...INFLUXDB_COMPONENT_DEFAULTS };
  for (const [role, name] of Object.entries(raw.components ?? {}))
    if (name !== undefined) components[role as InfluxComponentRole] = name;
  return { ...raw, components };
}
