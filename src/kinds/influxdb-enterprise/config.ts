import { z } from "zod";
import {
  type BackupsSettings,
  backupsSchema,
  k8sName,
  type TargetBase,
} from "../../config/schema-parts.js";

/** The keys of an InfluxDB Enterprise 1.7 target besides the shared ones (DESIGN.md). */
export const enterpriseTargetShape = {
  kind: z.literal("influxdb-enterprise"),
  /** The meta nodes: `influxd-ctl` runs here, by exec. */
  meta: z
    .object({
      statefulset: k8sName.default("influxdb-meta"),
      container: z.string().min(1).optional(),
      /**
       * Where restorebot writes in the meta container: the copy of a set being restored, a
       * `/backup` set before upload, the directory kept for incremental sets. Optional (not in
       * DESIGN.md's example); `/tmp` by default. It must hold the largest set.
       */
      scratchDir: z
        .string()
        .regex(
          /^\/[^\s'"\\]*$/,
          "an absolute path without spaces or quotes, e.g. /var/lib/influxdb/scratch",
        )
        .refine((p) => !p.split("/").includes(".."), "a path without ..")
        .transform((p) => (p.length > 1 ? p.replace(/\/+$/, "") : p))
        .default("/tmp"),
    })
    .strict()
    .default({ statefulset: "influxdb-meta", scratchDir: "/tmp" }),
  /** The data nodes and the ConfigMap key holding their influxdb.conf (anti-entropy). */
  data: z
    .object({
      statefulset: k8sName.default("influxdb-data"),
      configMap: k8sName.default("influxdb-data"),
      configKey: z.string().min(1).default("influxdb.conf"),
    })
    .strict()
    .default({
      statefulset: "influxdb-data",
      configMap: "influxdb-data",
      configKey: "influxdb.conf",
    }),
  backups: backupsSchema("sets/"),
};

export interface EnterpriseTarget extends TargetBase {
  kind: "influxdb-enterprise";
  meta: { statefulset: string; container: string; scratchDir: string };
  data: { statefulset: string; configMap: string; configKey: string };
  backups: BackupsSettings;
}

/** The parsed target with defaults filled in (the meta container defaults to its StatefulSet's name). */
export function completeEnterpriseTarget(
  parsed: TargetBase & Record<string, unknown>,
): EnterpriseTarget {
  const raw = parsed as unknown as Omit<EnterpriseTarget, "meta"> & {
    meta: { statefulset: string; container?: string; scratchDir: string };
  };
  return {
    ...raw,
    meta: {
      statefulset: raw.meta.statefulset,
      container: raw.meta.container ?? raw.meta.statefulset,
      scratchDir: raw.meta.scratchDir,
    },
  };
}
