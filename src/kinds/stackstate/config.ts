import { z } from "zod";
import { bucketName, httpUrl, k8sName, type TargetBase } from "../../config/schema-parts.js";
import type { StackStateStoresConfig } from "./points.js";

/** The keys of a StackState target besides the shared ones (DESIGN.md, `stackstate`). */
export const stackstateTargetShape = {
  kind: z.literal("stackstate"),
  /** Prefix of the chart's resource names (`<release>-victoria-metrics-0`, `<release>-otel-collector`). */
  release: k8sName.default("stackstate"),
  backupStore: z
    .object({
      endpoint: httpUrl.optional(),
      region: z.string().min(1).default("us-east-1"),
      forcePathStyle: z.boolean().default(true),
    })
    .strict()
    .default({ region: "us-east-1", forcePathStyle: true }),
  stores: z
    .object({
      stackgraph: z
        .object({
          bucket: bucketName.default("sts-stackgraph-backup"),
          prefix: z.string().optional(),
        })
        .strict()
        .optional(),
      metrics: z
        .object({
          bucket: bucketName.default("sts-victoria-metrics-backup"),
          instances: z.array(k8sName).min(1).default(["victoria-metrics-0", "victoria-metrics-1"]),
          prefix: z.string().optional(),
        })
        .strict()
        .optional(),
      clickhouse: z
        .object({
          bucket: bucketName.default("sts-clickhouse-backup"),
          prefix: z.string().optional(),
          pod: k8sName.default("stackstate-clickhouse-shard0-0"),
          container: k8sName.default("backup"),
        })
        .strict()
        .optional(),
      elasticsearch: z
        .object({
          service: k8sName.default("stackstate-elasticsearch-master"),
          port: z.number().int().min(1).max(65535).default(9200),
          repository: z.string().min(1).default("sts-backup"),
          /** Indexer Deployments to stop; default every Deployment whose name ends in `2es`. */
          indexers: z.array(k8sName).min(1).optional(),
        })
        .strict()
        .optional(),
    })
    .strict(),
};

export interface StackStateTarget extends TargetBase {
  kind: "stackstate";
  release: string;
  backupStore: { endpoint?: string | undefined; region: string; forcePathStyle: boolean };
  stores: StackStateStoresConfig & {
    clickhouse?: { bucket: string; prefix?: string; pod: string; container: string };
  };
}

export function completeStackStateTarget(
  parsed: TargetBase & Record<string, unknown>,
): StackStateTarget {
  return parsed as unknown as StackStateTarget;
}
