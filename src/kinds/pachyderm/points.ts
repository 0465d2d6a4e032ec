import { createHash } from "node:crypto";
import type { ObjectStore } from "../../adapters/s3/object-store.js";
import {
  type BackupLocation,
  type BackupPoint,
  bareEtag,
  COMPLETE_FILE,
  type CompleteManifest,
  listBackupPoints,
  parseAsOf,
  parseCompleteManifest,
  pointFileKey,
  pointsPrefix,
} from "../../backups/index.js";
import { CodedError } from "../../errors.js";
import type {
  RecoveryPointDetails,
  RecoveryPointRef,
  RecoveryPointSource,
  VerificationReport,
} from "../../recovery-points/recovery-point.js";
import { formatBytes } from "../../text/format.js";
import type { FreezeResult, FrozenPointCheck, JsonValue } from "../kind.js";
import { configuredDatabases, type PachydermTarget } from "./config.js";
import { OBJECT_MANIFEST } from "./object-manifest.js";
import { type CommitModeReport, commitModeSentence } from "./restore-databases.js";
import { verifyPachydermPoint } from "./verify-point.js";

/**
 * A Pachyderm recovery point is a backup restorebot wrote: `points/<as-of>/` under the target's
 * `backups.prefix`, complete once complete.json is there. What a request freezes is
 * complete.json itself (its sha256, size and ETag) and what it lists, so a point rewritten after
 * approval is refused before anything changes.
 */
export interface PachydermPoint {
  asOf: string;
  complete: { sha256: string; size: number; etag: string };
  files: Array<{ name: string; size: number; sha256: string }>;
  objectCount: number;
  objectBytes: number;
  databases: string[];
  /** The servers' setting when the backup was taken; the restore reads it again. */
  commitMode?: CommitModeReport | undefined;
}

export function backupLocation(target: PachydermTarget): BackupLocation {
  return { bucket: target.backups.bucket, prefix: target.backups.prefix };
}

function isCommitMode(v: unknown): v is CommitModeReport {
  const r = v as CommitModeReport | null;
  return (
    typeof r === "object" &&
    r !== null &&
    (r.mode === "prepared" || r.mode === "sequential") &&
    Array.isArray(r.servers)
  );
}

/** complete.json as stored: its bytes' sha256, size and ETag, and what it says. */
export async function readCompleteFile(
  store: Pick<ObjectStore, "getStream">,
  backups: BackupLocation,
  asOf: string,
): Promise<{ manifest: CompleteManifest; sha256: string; size: number; etag: string } | undefined> {
  const key = pointFileKey(backups.prefix, asOf, COMPLETE_FILE);
  let stream: Awaited<ReturnType<ObjectStore["getStream"]>>;
  try {
    stream = await store.getStream(backups.bucket, key);
  } catch (err) {
    if (err instanceof CodedError && err.code === "not_found") return undefined;
    throw err;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of stream.body) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  const manifest = parseCompleteManifest(bytes.toString("utf8"), `s3://${backups.bucket}/${key}`);
  if (manifest.asOf !== asOf)
    throw new CodedError(
      "dump_invalid",
      `s3://${backups.bucket}/${key} says asOf ${manifest.asOf}, but it sits in the folder of ${asOf}: the point was moved or edited and cannot be trusted.`,
    );
  return {
    manifest,
    sha256: createHash("sha256").update(bytes).digest("hex"),
    size: bytes.length,
    etag: bareEtag(stream.etag),
  };
}

/** The point a request freezes, from complete.json as read. */
export function pointFromComplete(read: {
  manifest: CompleteManifest;
  sha256: string;
  size: number;
  etag: string;
}): PachydermPoint {
  const m = read.manifest as CompleteManifest & {
    objectCount?: unknown;
    objectBytes?: unknown;
    databases?: unknown;
    commitMode?: unknown;
  };
  return {
    asOf: m.asOf,
    complete: { sha256: read.sha256, size: read.size, etag: read.etag },
    files: m.files.map((f) => ({ name: f.name, size: f.size, sha256: f.sha256 })),
    objectCount: typeof m.objectCount === "number" ? m.objectCount : 0,
    objectBytes: typeof m.objectBytes === "number" ? m.objectBytes : 0,
    databases: Array.isArray(m.databases)
      ? m.databases.filter((d): d is string => typeof d === "string")
      : [],
    ...(isCommitMode(m.commitMode) ? { commitMode: m.commitMode } : {}),
  };
}

export function pachydermPointOf(point: JsonValue): PachydermPoint {
  const p = point as unknown as PachydermPoint | null;
  if (
    typeof p !== "object" ||
    p === null ||
    typeof p.asOf !== "string" ||
    typeof p.complete !== "object" ||
    !Array.isArray(p.files)
  )
    throw new CodedError("internal", "the request's frozen point is not a Pachyderm point");
  return p;
}

function dumpSizes(point: Pick<PachydermPoint, "files">): string {
  return point.files
    .filter((f) => f.name.endsWith(".sql.gz"))
    .map((f) => `${f.name} ${formatBytes(f.size)}`)
    .join(", ");
}

/** One line of the point's facts: dumps and objects (the listing adds the expiry). */
export function pointSummary(point: PachydermPoint): string {
  const parts = [
    dumpSizes(point),
    `${point.objectCount.toLocaleString("en-US")} objects (${formatBytes(point.objectBytes)})`,
  ];
  return parts.filter((p) => p !== "").join(" · ");
}

/** Points from `listBackupPoints`, cached between a listing and the details it asks for. */
export function createPachydermSource(
  target: PachydermTarget,
  objectStore: () => ObjectStore,
): RecoveryPointSource {
  const backups = backupLocation(target);
  const location = `s3://${backups.bucket}/${pointsPrefix(backups.prefix)}`;
  let listed: Map<string, BackupPoint> = new Map();
  const listing = async () => {
    const points = await listBackupPoints(objectStore(), backups, {
      retentionMs: target.backup?.retention,
    });
    listed = new Map(points.map((p) => [p.asOf, p]));
    return points;
  };
  return {
    location,
    dataLocation: `s3://${backups.bucket}/${backups.prefix}objects/`,
    emptyHint: `take one with /backup ${target.name} <reason>, or set backup.schedule on the target`,
    expiresBy: "backup",
    async listPoints() {
      const points = await listing();
      return { points: points.map((p) => ({ id: p.asOf, time: p.time })), skipped: [] };
    },
    async describePoints(refs) {
      const out = new Map<string, RecoveryPointDetails>();
      await Promise.all(
        refs.map(async (ref) => {
          const listedPoint = listed.get(ref.id);
          const expiresAt =
            target.backup?.retention === undefined
              ? undefined
              : new Date(ref.time.getTime() + target.backup.retention);
          let read: Awaited<ReturnType<typeof readCompleteFile>>;
          let problem: string | undefined;
          try {
            read = await readCompleteFile(objectStore(), backups, ref.id);
          } catch (err) {
            if (!(err instanceof CodedError) || err.code !== "dump_invalid") throw err;
            problem = err.message;
          }
          if (read === undefined) {
            if (listedPoint === undefined && problem === undefined) return;
            out.set(ref.id, {
              complete: false,
              dumpSize: undefined,
              dumpEtag: undefined,
              incompleteReason:
                problem ?? "no complete.json (the backup failed, or is still running)",
              ...(expiresAt ? { expiresAt } : {}),
            });
            return;
          }
          const point = pointFromComplete(read);
          out.set(ref.id, {
            complete: true,
            dumpSize: point.files
              .filter((f) => f.name.endsWith(".sql.gz"))
              .reduce((s, f) => s + f.size, 0),
            dumpEtag: point.complete.etag,
            summary: pointSummary(point),
            record: point,
            ...(expiresAt ? { expiresAt } : {}),
          });
        }),
      );
      return out;
    },
    async verifyPoint(ref, _options): Promise<VerificationReport> {
      const started = Date.now();
      const read = await readCompleteFile(objectStore(), backups, ref.id);
      if (read === undefined) {
        return {
          ok: false,
          complete: false,
          dump: {
            present: false,
            bytes: 0,
            sqlBytes: undefined,
            etag: undefined,
            problem: "no complete.json: the point is incomplete",
          },
          tableLists: 0,
          referencedFiles: 0,
          referencedPrefixes: 0,
          missingFiles: 0,
          missingSample: [],
          problems: ["no complete.json: the point is incomplete and never restorable"],
          requests: { lists: 0, objectLists: 0, reads: 1 },
          durationMs: Date.now() - started,
        };
      }
      const result = await verifyPachydermPoint(objectStore(), backups, read.manifest);
      const dumpProblems = result.problems.filter((p) => p.includes(".sql.gz"));
      return {
        ok: result.ok,
        complete: true,
        dump: {
          present: result.dumps.length > 0,
          bytes: result.dumps.reduce((s, d) => s + d.compressedBytes, 0),
          sqlBytes: result.dumps.reduce((s, d) => s + d.sqlBytes, 0),
          etag: read.etag,
          problem: dumpProblems.length > 0 ? dumpProblems.join("; ") : undefined,
        },
        tableLists: result.dumps.length,
        referencedFiles: result.objects,
        referencedPrefixes: 1,
        missingFiles: result.absent,
        missingSample: [],
        problems: result.problems,
        requests: { lists: 2, objectLists: 1, reads: result.dumps.length + 2 },
        durationMs: Date.now() - started,
        facts: {
          dumpsListed: read.manifest.files.filter((f) => f.name.endsWith(".sql.gz")).length,
          dumpsRead: result.dumps.length,
          manifestRead: result.manifestRead,
          objects: result.objects,
          objectBytes: result.objectBytes,
          etagsCompared: result.etagsCompared,
          absent: result.absent,
          differing: result.differing,
        },
      };
    },
  };
}

/** What a request freezes: complete.json's bytes and what it lists; refuses what cannot be restored. */
export function freezePachydermPoint(
  target: PachydermTarget,
  ref: RecoveryPointRef,
  details: RecoveryPointDetails | undefined,
): FreezeResult {
  if (details === undefined)
    return {
      ok: false,
      final: false,
      message: `Point ${ref.id} of ${target.name} disappeared while it was being read. Run /recovery-points ${target.name} and pick another.`,
    };
  if (!details.complete || details.record === undefined)
    return {
      ok: false,
      final: false,
      message: `Point ${ref.id} of ${target.name} is incomplete (${details.incompleteReason ?? "no complete.json"}), so it can never be restored. Pick a complete one from /recovery-points ${target.name}.`,
    };
  const point = details.record as PachydermPoint;
  const wanted = configuredDatabases(target).map((d) => d.name);
  const missing = wanted.filter((d) => !point.databases.includes(d));
  const extra = point.databases.filter((d) => !wanted.includes(d));
  if (missing.length > 0 || extra.length > 0)
    return {
      ok: false,
      final: true,
      message: `Point ${ref.id} holds the database(s) ${point.databases.map((d) => `"${d}"`).join(", ") || "none"}, but ${target.name} is configured with ${wanted.map((d) => `"${d}"`).join(", ")}: restoring it would leave ${missing.length > 0 ? `"${missing.join('", "')}" from another time` : `"${extra.join('", "')}" unrestored`}. Pick a point taken with the same databases, or change databases in restorebot.yaml.`,
    };
  if (!point.files.some((f) => f.name === OBJECT_MANIFEST))
    return {
      ok: false,
      final: true,
      message: `Point ${ref.id} lists no ${OBJECT_MANIFEST} in its complete.json, so its objects cannot be restored. Pick another point.`,
    };
  return { ok: true, point: point as unknown as JsonValue };
}

/** The approval card's lines for the point, with the commit mode said before approval. */
export function pachydermCardLines(value: JsonValue): string[] {
  const point = pachydermPointOf(value);
  const lines = [
    `complete.json sha256 \`${point.complete.sha256.slice(0, 16)}…\` · ETag \`${point.complete.etag}\``,
    `${dumpSizes(point)} · ${point.objectCount.toLocaleString("en-US")} objects (${formatBytes(point.objectBytes)})`,
  ];
  if (point.databases.length > 1) {
    lines.push(
      point.commitMode
        ? `${commitModeSentence(point.commitMode)} (servers' setting when the backup was taken; read again before anything changes)`
        : "How the databases commit is read from the servers before anything changes: together (prepared transactions) when both allow it, otherwise one after the other.",
    );
  }
  return lines;
}

export function pachydermReportLine(value: JsonValue): string {
  const point = pachydermPointOf(value);
  return `\`points/${point.asOf}/\` (complete.json ETag \`${point.complete.etag}\`, ${point.objectCount.toLocaleString("en-US")} objects)`;
}

/** The frozen point against the store now: complete.json must be byte for byte the same. */
export async function recheckPachydermPoint(
  store: Pick<ObjectStore, "getStream">,
  backups: BackupLocation,
  frozen: PachydermPoint,
): Promise<FrozenPointCheck> {
  if (parseAsOf(frozen.asOf) === undefined)
    return { ok: false, message: `The frozen point ${frozen.asOf} is not an as-of name.` };
  const read = await readCompleteFile(store, backups, frozen.asOf);
  if (read === undefined)
    return {
      ok: false,
      message: `complete.json of point ${frozen.asOf} is gone since the request (s3://${backups.bucket}/${pointFileKey(backups.prefix, frozen.asOf, COMPLETE_FILE)}): the point was pruned or removed. Nothing was changed; request a restore of another point.`,
    };
  if (read.sha256 !== frozen.complete.sha256 || read.size !== frozen.complete.size)
    return {
      ok: false,
      message: `complete.json of point ${frozen.asOf} changed since the request was approved (sha256 ${read.sha256.slice(0, 12)}… now, ${frozen.complete.sha256.slice(0, 12)}… then): the point is not what was approved. Nothing was changed; request the restore again.`,
    };
  return { ok: true };
}
