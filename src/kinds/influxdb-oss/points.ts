/**
 * InfluxDB OSS recovery points: the archives restorebot wrote, listed from the object store
 * (one LIST, complete.json read per point), frozen with the archive's size and sha256, and
 * verified by reading the archive to its end against complete.json.
 */

import { z } from "zod";
import type { ObjectStore } from "../../adapters/s3/object-store.js";
import { listBackupPoints, openCheckedPointFile, parseAsOf } from "../../backups/index.js";
import { CodedError } from "../../errors.js";
import type {
  RecoveryPointDetails,
  RecoveryPointRef,
  RecoveryPointSource,
  VerificationReport,
} from "../../recovery-points/recovery-point.js";
import { formatBytes } from "../../text/format.js";
import type { FreezeResult, JsonValue } from "../kind.js";
import { ARCHIVE_NAME, archiveEntryOf, archiveLocation, KIND_ID } from "./archive-point.js";
import type { InfluxdbOssTarget } from "./config.js";

/** What a request freezes: the point and the archive exactly as complete.json listed it. */
const ossPointSchema = z.object({
  asOf: z.string(),
  key: z.string(),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type OssPoint = z.infer<typeof ossPointSchema>;

export function ossPointOf(point: JsonValue | unknown): OssPoint {
  const parsed = ossPointSchema.safeParse(point);
  if (!parsed.success)
    throw new CodedError(
      "internal",
      "the request's frozen point is not an influxdb-oss archive point; make a new request",
    );
  return parsed.data;
}

/** Details of a listed point, with what freezing needs. */
interface OssDetails extends RecoveryPointDetails {
  archive?: { key: string; size: number; sha256: string };
  problem?: string;
}

function mib(bytes: number): string {
  return bytes >= 1048576 ? `${(bytes / 1048576).toFixed(1)} MiB` : `${bytes} bytes`;
}

export function createInfluxdbOssSource(
  target: InfluxdbOssTarget,
  store: () => ObjectStore,
): RecoveryPointSource {
  const location = archiveLocation(target.backups);
  const list = () =>
    listBackupPoints(store(), location, {
      ...(target.backup?.retention !== undefined ? { retentionMs: target.backup.retention } : {}),
    });
  return {
    location: `s3://${location.bucket}/${location.prefix}`,
    dataLocation: `s3://${location.bucket}/${location.prefix}`,
    emptyHint: `no archives yet: take one with /backup ${target.name}`,
    // restorebot's own backups: kept by `backup.retention`, not by a garbage collector.
    expiresBy: "backup",
    async listPoints() {
      const points = await list();
      return { points: points.map((p) => ({ id: p.asOf, time: p.time })), skipped: [] };
    },
    async describePoints(refs) {
      const wanted = new Set(refs.map((r) => r.id));
      const out = new Map<string, RecoveryPointDetails>();
      for (const p of await list()) {
        if (!wanted.has(p.asOf)) continue;
        const stored = p.files.find((f) => f.name === ARCHIVE_NAME);
        let details: OssDetails = {
          complete: p.complete,
          dumpSize: stored?.size ?? p.totalBytes,
          dumpEtag: undefined,
          summary: `${ARCHIVE_NAME} ${formatBytes(stored?.size ?? p.totalBytes)}`,
          ...(p.complete
            ? {}
            : {
                incompleteReason:
                  p.problem ?? "no complete.json (the backup failed, or is still running)",
              }),
          ...(p.expiresAt ? { expiresAt: p.expiresAt } : {}),
          ...(p.problem ? { problem: p.problem } : {}),
        };
        if (p.manifest) {
          try {
            if (p.manifest.kind !== KIND_ID) throw new Error(`a ${p.manifest.kind} point`);
            const entry = archiveEntryOf(p.manifest);
            details = {
              ...details,
              dumpEtag: entry.sha256.slice(0, 16),
              archive: {
                key: `${location.prefix}${p.asOf}/${ARCHIVE_NAME}`,
                size: entry.size,
                sha256: entry.sha256,
              },
            };
          } catch (err) {
            const problem = err instanceof Error ? err.message : String(err);
            details = { ...details, complete: false, problem, incompleteReason: problem };
          }
        }
        out.set(p.asOf, details);
      }
      return out;
    },
    async verifyPoint(point: RecoveryPointRef): Promise<VerificationReport> {
      const started = performance.now();
      const report: VerificationReport = {
        ok: false,
        complete: false,
        dump: {
          present: false,
          bytes: 0,
          sqlBytes: undefined,
          etag: undefined,
          problem: undefined,
        },
        tableLists: 0,
        referencedFiles: 0,
        referencedPrefixes: 0,
        missingFiles: 0,
        missingSample: [],
        problems: [],
        requests: { lists: 1, objectLists: 0, reads: 0 },
        durationMs: 0,
      };
      const found = (await list()).find((p) => p.asOf === point.id);
      if (!found?.manifest) {
        report.dump.problem = found
          ? "no complete.json: the backup never finished"
          : "no such point";
        report.durationMs = performance.now() - started;
        return report;
      }
      report.complete = true;
      try {
        const entry = archiveEntryOf(found.manifest);
        report.dump.etag = entry.sha256.slice(0, 16);
        const file = await openCheckedPointFile(store(), location, found.asOf, entry);
        report.dump.present = true;
        report.requests.reads = 1;
        // Read to the end: the checked reader fails on a short, long or different archive; the
        // last 1 KiB must be tar's end-of-archive blocks (zeros).
        let tail = Buffer.alloc(0);
        for await (const chunk of file.body as AsyncIterable<Buffer>) {
          report.dump.bytes += chunk.length;
          tail = Buffer.concat([tail, chunk]).subarray(-1024);
        }
        if (tail.length < 1024 || tail.some((b) => b !== 0))
          throw new Error("the archive does not end with tar's end-of-archive blocks");
        report.ok = true;
      } catch (err) {
        report.dump.problem = err instanceof Error ? err.message : String(err);
      }
      report.durationMs = performance.now() - started;
      return report;
    },
  };
}

export function freezeOssPoint(
  _target: InfluxdbOssTarget,
  ref: RecoveryPointRef,
  details: RecoveryPointDetails | undefined,
): FreezeResult {
  const d = details as OssDetails | undefined;
  if (!d || !parseAsOf(ref.id))
    return {
      ok: false,
      final: false,
      message: `point ${ref.id} is not in the store any more; list them with /recovery-points`,
    };
  if (!d.complete || !d.archive)
    return {
      ok: false,
      final: true,
      message: `point ${ref.id} is incomplete (${d.problem ?? "no complete.json: the backup never finished"}) and cannot be restored; pick a complete one from /recovery-points`,
    };
  if (d.dumpSize !== d.archive.size)
    return {
      ok: false,
      final: true,
      message: `point ${ref.id}'s archive holds ${d.dumpSize} bytes but complete.json records ${d.archive.size}: it is damaged; pick another from /recovery-points`,
    };
  return { ok: true, point: { asOf: ref.id, ...d.archive } };
}

export function ossCardLines(point: JsonValue): string[] {
  const p = ossPointOf(point);
  return [
    `Archive \`${p.key}\` (${mib(p.size)}, sha256 \`${p.sha256.slice(0, 16)}…\`)`,
    "Replaces meta/, data/ and wal/ of the node; the old directories are kept until the restored node answers.",
  ];
}

export function ossReportLine(point: JsonValue): string {
  const p = ossPointOf(point);
  return `\`${p.key}\` (${mib(p.size)})`;
}
