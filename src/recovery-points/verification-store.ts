import type { DatabasePool } from "../db/database.js";
import type { VerificationReport } from "./recovery-point.js";

/** What later listings show of a verification ("verified 2 h ago: 48,211 files, none missing"). */
export interface VerificationSummary {
  complete: boolean;
  dumpProblem: string | null;
  tableLists: number;
  referencedFiles: number;
  missingFiles: number;
  missingSample: string[];
  problems: string[];
  durationMs: number;
  /** The kind's own counts (the report's `facts`), when it gives them. */
  facts?: Record<string, number | boolean>;
}

export interface StoredVerification {
  target: string;
  pointTime: Date;
  /** The dump's ETag when it was verified: a different one now means the result is stale. */
  dumpEtag: string | null;
  verifiedAt: Date;
  ok: boolean;
  /** Who asked, for the audit of who proved what. */
  verifiedBy: string | null;
  summary: VerificationSummary;
}

type Queryable = Pick<DatabasePool, "query">;

export function summarize(report: VerificationReport): VerificationSummary {
  return {
    complete: report.complete,
    dumpProblem: report.dump.problem ?? null,
    tableLists: report.tableLists,
    referencedFiles: report.referencedFiles,
    missingFiles: report.missingFiles,
    missingSample: report.missingSample,
    problems: report.problems,
    durationMs: report.durationMs,
    ...(report.facts === undefined ? {} : { facts: report.facts }),
  };
}

/** The latest result per point wins: a verify is a fact about the point as it is now. */
export async function saveVerification(
  db: Queryable,
  entry: {
    target: string;
    pointTime: Date;
    report: VerificationReport;
    verifiedAt: Date;
    verifiedBy: string | undefined;
  },
): Promise<void> {
  const summary = { ...summarize(entry.report), verifiedBy: entry.verifiedBy ?? null };
  await db.query(
    `INSERT INTO point_verifications (target, point_time, dump_etag, verified_at, ok, summary)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (target, point_time) DO UPDATE
       SET dump_etag = EXCLUDED.dump_etag, verified_at = EXCLUDED.verified_at,
           ok = EXCLUDED.ok, summary = EXCLUDED.summary`,
    [
      entry.target,
      entry.pointTime,
      entry.report.dump.etag ?? null,
      entry.verifiedAt,
      entry.report.ok,
      JSON.stringify(summary),
    ],
  );
}

/** Stored results for these points of one target, keyed by the point's epoch milliseconds. */
export async function loadVerifications(
  db: Queryable,
  target: string,
  pointTimes: readonly Date[],
): Promise<Map<number, StoredVerification>> {
  const out = new Map<number, StoredVerification>();
  if (pointTimes.length === 0) return out;
  const result = await db.query<{
    point_time: Date;
    dump_etag: string | null;
    verified_at: Date;
    ok: boolean;
    summary: VerificationSummary & { verifiedBy?: string | null };
  }>(
    `SELECT point_time, dump_etag, verified_at, ok, summary
       FROM point_verifications
      WHERE target = $1 AND point_time = ANY($2::timestamptz[])`,
    [target, pointTimes.map((t) => t.toISOString())],
  );
  for (const row of result.rows) {
    const { verifiedBy, ...summary } = row.summary;
    out.set(row.point_time.getTime(), {
      target,
      pointTime: row.point_time,
      dumpEtag: row.dump_etag,
      verifiedAt: row.verified_at,
      ok: row.ok,
      verifiedBy: verifiedBy ?? null,
      summary,
    });
  }
  return out;
}
