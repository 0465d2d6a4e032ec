/**
 * InfluxDB Enterprise backup sets as recovery points: one folder per set directly under the
 * target's `backups.prefix` (`<prefix><as-of>/`), complete.json written last. Listing reads only the
 * folder names; describing reads each asked-about set's complete.json (full or incremental,
 * databases, retention policies, shards, size); verifying reads every file against it.
 */

import type { ObjectStore } from "../../adapters/s3/object-store.js";
import {
  type BackupLocation,
  checkPointFileSizes,
  listBackupPoints,
  normalisePrefix,
  openCheckedPointFile,
  parseAsOf,
  readCompleteManifest,
} from "../../backups/index.js";
import { asCodedError } from "../../errors.js";
import type {
  RecoveryPointDetails,
  RecoveryPointRef,
  RecoveryPointSource,
  VerificationReport,
} from "../../recovery-points/recovery-point.js";
import { formatBytes } from "../../text/format.js";
import type { FreezeResult, FrozenPointCheck, JsonValue } from "../kind.js";
import { type EnterpriseComplete, parseEnterpriseComplete } from "./backup-set.js";
import type { EnterpriseTarget } from "./config.js";

/** Details of one set: the shared fields plus the set's complete.json (undefined when incomplete). */
export interface EnterpriseDetails extends RecoveryPointDetails {
  set: EnterpriseComplete | undefined;
  /** Why a folder with a complete.json still is not a set restorebot can restore. */
  problem: string | undefined;
}

/** What a request freezes: the set as its complete.json describes it. */
export interface EnterprisePoint {
  kind: "influxdb-enterprise-set";
  asOf: string;
  full: boolean;
  manifest: string;
  databases: string[];
  retentionPolicies: Array<{ database: string; retentionPolicy: string }>;
  shards: number;
  bytes: number;
  files: Array<{ name: string; size: number; sha256: string }>;
}

/** Sets sit directly under the prefix (`<prefix><as-of>/…`, DESIGN.md): no `points/` folder. */
export function locationOf(target: EnterpriseTarget): BackupLocation {
  return {
    bucket: target.backups.bucket,
    prefix: normalisePrefix(target.backups.prefix),
    pointsFolder: "",
  };
}

async function readSet(
  store: Pick<ObjectStore, "getStream">,
  location: BackupLocation,
  asOf: string,
): Promise<EnterpriseComplete | undefined> {
  const manifest = await readCompleteManifest(store, location, asOf);
  if (!manifest) return undefined;
  return parseEnterpriseComplete(
    JSON.stringify(manifest),
    `s3://${location.bucket}/${location.prefix}${asOf}/complete.json`,
  );
}

export function createEnterpriseSource(
  store: ObjectStore,
  target: EnterpriseTarget,
): RecoveryPointSource {
  const location = locationOf(target);
  const where = `s3://${location.bucket}/${location.prefix}`;
  return {
    location: where,
    dataLocation: where,
    emptyHint: `no backup sets yet: run /backup ${target.name} <reason>, or check backups.bucket and backups.prefix`,
    // restorebot's own backups: kept by `backup.retention`, not by a garbage collector.
    expiresBy: "backup",
    async listPoints() {
      const points = await listBackupPoints(store, location);
      return {
        points: points.map((p) => ({ id: p.asOf, time: p.time })),
        skipped: [],
      };
    },
    async describePoints(refs) {
      const out = new Map<string, RecoveryPointDetails>();
      for (const ref of refs) {
        if (parseAsOf(ref.id) === undefined) continue;
        let set: EnterpriseComplete | undefined;
        let problem: string | undefined;
        try {
          set = await readSet(store, location, ref.id);
        } catch (err) {
          problem = asCodedError(err).message;
        }
        const retention = target.backup?.retention;
        const details: EnterpriseDetails = {
          complete: set !== undefined,
          dumpSize: set ? set.files.reduce((n, f) => n + f.size, 0) : undefined,
          dumpEtag: undefined,
          ...(set ? { summary: describeSet(pointOfSet(set)) } : {}),
          ...(set
            ? {}
            : {
                incompleteReason:
                  problem ?? "no complete.json (the upload never finished, or is still running)",
              }),
          ...(retention === undefined
            ? {}
            : { expiresAt: new Date(ref.time.getTime() + retention) }),
          set,
          problem,
        };
        out.set(ref.id, details);
      }
      return out;
    },
    async verifyPoint(ref) {
      return verifySet(store, location, ref);
    },
  };
}

/** Every file of the set read to its end against complete.json (size and sha256). */
export async function verifySet(
  store: ObjectStore,
  location: BackupLocation,
  ref: RecoveryPointRef,
): Promise<VerificationReport> {
  const started = Date.now();
  const problems: string[] = [];
  let set: EnterpriseComplete | undefined;
  let bytes = 0;
  let reads = 0;
  let sizeProblems = 0;
  let filesRead = 0;
  let readProblems = 0;
  let sizesChecked = false;
  try {
    set = await readSet(store, location, ref.id);
    reads++;
  } catch (err) {
    problems.push(asCodedError(err).message);
  }
  if (set) {
    const sized = await checkPointFileSizes(store, location, set);
    sizesChecked = true;
    sizeProblems = sized.length;
    for (const p of sized)
      problems.push(
        p.problem === "missing"
          ? `${p.name} is missing (complete.json lists ${p.expected} bytes)`
          : `${p.name} is ${p.actual} bytes; complete.json lists ${p.expected}`,
      );
    if (problems.length === 0)
      for (const file of set.files) {
        try {
          const { body } = await openCheckedPointFile(store, location, set.asOf, file);
          reads++;
          for await (const chunk of body) bytes += (chunk as Buffer).length;
          filesRead++;
        } catch (err) {
          readProblems++;
          problems.push(asCodedError(err).message);
        }
      }
  } else if (problems.length === 0) problems.push("the set has no complete.json: it is incomplete");
  return {
    ok: set !== undefined && problems.length === 0,
    complete: set !== undefined,
    dump: {
      present: set !== undefined,
      bytes,
      sqlBytes: undefined,
      etag: undefined,
      problem: problems[0],
    },
    tableLists: 0,
    referencedFiles: set?.files.length ?? 0,
    referencedPrefixes: 0,
    missingFiles: problems.filter((p) => p.includes("is missing")).length,
    missingSample: [],
    problems,
    requests: { lists: 2, objectLists: 0, reads },
    durationMs: Date.now() - started,
    facts: { sizesChecked, sizeProblems, filesRead, readProblems, bytesRead: bytes },
  };
}

export function pointOfSet(set: EnterpriseComplete): EnterprisePoint {
  return {
    kind: "influxdb-enterprise-set",
    asOf: set.asOf,
    full: set.full,
    manifest: set.manifest,
    databases: set.databases,
    retentionPolicies: set.retentionPolicies,
    shards: set.shards.length,
    bytes: set.files.reduce((n, f) => n + f.size, 0),
    files: set.files,
  };
}

export function freezeEnterprisePoint(
  _target: EnterpriseTarget,
  ref: RecoveryPointRef,
  details: RecoveryPointDetails | undefined,
): FreezeResult {
  const d = details as EnterpriseDetails | undefined;
  if (d?.problem)
    return {
      ok: false,
      message: `the set ${ref.id} cannot be restored: ${d.problem}`,
      final: true,
    };
  if (!d?.set)
    return {
      ok: false,
      message: `the set ${ref.id} has no complete.json: its upload never finished, so it is not restorable; pick another from /recovery-points`,
      final: false,
    };
  return { ok: true, point: pointOfSet(d.set) as unknown as JsonValue };
}

/** The frozen point, or a refusal naming what it is instead (a point of another kind). */
export function enterprisePointOf(point: JsonValue): EnterprisePoint {
  const p = point as unknown as EnterprisePoint | null;
  if (!p || typeof p !== "object" || p.kind !== "influxdb-enterprise-set")
    throw new Error("the frozen point is not an influxdb-enterprise backup set");
  return p;
}

/** Re-reads the set before a run changes anything: refused when its complete.json or a file changed. */
export async function recheckFrozenSet(
  store: ObjectStore,
  location: BackupLocation,
  point: EnterprisePoint,
): Promise<FrozenPointCheck> {
  let set: EnterpriseComplete | undefined;
  try {
    set = await readSet(store, location, point.asOf);
  } catch (err) {
    return { ok: false, message: asCodedError(err).message };
  }
  if (!set)
    return {
      ok: false,
      message: `the set ${point.asOf} no longer has a complete.json; nothing was changed`,
    };
  // Compared key-order free: the request row keeps the point as jsonb, which reorders keys.
  if (canonical(pointOfSet(set)) !== canonical(point))
    return {
      ok: false,
      message: `the set ${point.asOf} changed after the request was approved (its complete.json differs); nothing was changed. Make a new request`,
    };
  const problems = await checkPointFileSizes(store, location, set);
  if (problems.length > 0)
    return {
      ok: false,
      message: `the set ${point.asOf} is damaged: ${problems.map((p) => (p.problem === "missing" ? `${p.name} is missing` : `${p.name} is ${p.actual} bytes, not ${p.expected}`)).join("; ")}. Nothing was changed`,
    };
  return { ok: true };
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)),
        )
      : v,
  );
}

/** One line for listings and reports: time, full/incremental, what it holds, size. */
export function describeSet(point: EnterprisePoint): string {
  const rps = point.retentionPolicies.map((r) => `${r.database}.${r.retentionPolicy}`).join(", ");
  return `${point.full ? "full" : "incremental"} set of ${point.asOf}: ${rps || "no shards"} (${point.shards} shard${point.shards === 1 ? "" : "s"}, ${formatBytes(point.bytes)})`;
}

export function enterpriseCardLines(point: JsonValue): string[] {
  const p = enterprisePointOf(point);
  return [
    `${p.full ? "Full" : "Incremental"} backup set \`${p.asOf}\` (manifest \`${p.manifest}\`), ${formatBytes(p.bytes)}`,
    `Holds ${p.retentionPolicies.map((r) => `\`${r.database}.${r.retentionPolicy}\``).join(", ") || "no shards"}`,
  ];
}
