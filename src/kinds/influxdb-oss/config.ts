import { z } from "zod";
import {
  type BackupsSettings,
  backupsSchema,
  k8sName,
  type TargetBase,
} from "../../config/schema-parts.js";

/** `influxdb:8086`: the node's Service and port, for /ping and /query through the proxy. */
const servicePort = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?:([0-9]{1,5}|[a-z][-a-z0-9]*)$/, {
    message: "expected <service>:<port>, e.g. influxdb:8086",
  });

/** The keys of an InfluxDB OSS (1.x) target besides the shared ones (DESIGN.md). */
export const influxdbOssTargetShape = {
  kind: z.literal("influxdb-oss"),
  /** One replica, its data on a PVC. */
  statefulset: k8sName,
  dataDir: z
    .string()
    .regex(/^\/[^\n\r\0]*$/, { message: "expected an absolute path such as /var/lib/influxdb" })
    .default("/var/lib/influxdb"),
  helperImage: z.string().min(1).default("busybox:1.36"),
  service: servicePort.default("influxdb:8086"),
  /**
   * The node's PVC. Default `<statefulset>-data-<statefulset>-0`: the influxdata chart's
   * volumeClaimTemplate (`<fullname>-data`) for pod 0.
   */
  pvc: k8sName.optional(),
  /** The volume's mount path in the node's pod; default dataDir (the PVC mounted there). */
  mountPath: z.string().regex(/^\//).optional(),
  backups: backupsSchema("archives/"),
};

export interface InfluxdbOssTarget extends TargetBase {
  kind: "influxdb-oss";
  statefulset: string;
  dataDir: string;
  helperImage: string;
  service: string;
  pvc: string;
  mountPath: string;
  backups: BackupsSettings;
}

export function completeInfluxdbOssTarget(
  parsed: TargetBase & Record<string, unknown>,
): InfluxdbOssTarget {
  const raw = parsed as unknown as Omit<InfluxdbOssTarget, "pvc" | "mountPath"> & {
    pvc?: string;
    mountPath?: string;
  };
  const dataDir = raw.dataDir.length > 1 ? raw.dataDir.replace(/\/+$/, "") : raw.dataDir;
  const prefix = raw.backups.prefix.replace(/^\/+/, "");
  return {
    ...raw,
    dataDir,
    backups: {
      ...raw.backups,
      prefix: prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`,
    },
    pvc: raw.pvc ?? `${raw.statefulset}-data-${raw.statefulset}-0`,
    mountPath: raw.mountPath ?? dataDir,
  };
}

/** The service and port of `service: influxdb:8086`. */
export function serviceOf(target: Pick<InfluxdbOssTarget, "service">): {
  service: string;
  port: number | string;
} {
  const [service = "", port = ""] = target.service.split(":");
  return { service, port: /^\d+$/.test(port) ? Number(port) : port };
}
