import { code, mrkdwnText } from "../../recovery-points/format.js";
import { formatPointTime } from "../../slack/commands/recovery-point-time.js";
import { formatBytes, formatCount } from "../../text/format.js";
import type { PointWords, RestoreWords } from "../kind.js";

/**
 * InfluxDB Clustered's words for its snapshots: what its verify checks (bloom.bin.gz written
 * last, the whole pg_dump.gz, every Parquet file the table file lists reference) and how the
 * listing names what a snapshot lacks.
 */
export const CLUSTERED_POINT_WORDS: PointWords = {
  noun: "snapshot",
  incomplete: "no bloom.bin.gz (still being written, or the snapshot failed)",
  noneComplete: "every snapshot lacks bloom.bin.gz or pg_dump.gz",
  unusable: "*no pg_dump.gz*: nothing to restore the catalog from",
  size: (details) =>
    details.dumpSize === undefined
      ? "no pg_dump.gz"
      : `pg_dump.gz ${formatBytes(details.dumpSize)}`,
  verify: {
    reads: "bloom.bin.gz, the whole pg_dump.gz, and every Parquet file its file lists reference",
    checks(report, bucket) {
      const checks: string[] = [];
      checks.push(
        report.complete
          ? ":white_check_mark: *Complete:* bloom.bin.gz is present (it is written last)"
          : ":x: *Incomplete:* bloom.bin.gz is missing: the snapshot never finished, and must never be restored",
      );
      const dump = report.dump;
      checks.push(
        dump.problem === undefined
          ? `:white_check_mark: *Catalog dump:* pg_dump.gz (${formatBytes(dump.bytes)}) decompresses end to end, CRC checked (${formatBytes(dump.sqlBytes ?? 0)} of SQL), and is a PostgreSQL dump`
          : `:x: *Catalog dump:* ${mrkdwnText(dump.problem)}`,
      );
      const files = `${formatCount(report.referencedFiles)} Parquet file${report.referencedFiles === 1 ? "" : "s"} referenced by ${formatCount(report.tableLists)} table file list${report.tableLists === 1 ? "" : "s"} (${formatCount(report.referencedPrefixes)} table prefixes)`;
      checks.push(
        report.missingFiles === 0
          ? `:white_check_mark: *Parquet files:* all ${files} are in ${code(bucket)}`
          : `:x: *Parquet files:* ${formatCount(report.missingFiles)} of ${files} are missing from ${code(bucket)}; a restore cannot bring them back`,
      );
      if (report.problems.length > 0)
        checks.push(`:x: *File lists:* ${report.problems.length} problem(s), see below`);
      return checks;
    },
    passed: (s) => `${formatCount(s.referencedFiles)} files, none missing`,
    failed(s) {
      const reasons: string[] = [];
      if (!s.complete) reasons.push("incomplete");
      if (s.dumpProblem !== null) reasons.push("pg_dump.gz unusable");
      if (s.missingFiles > 0)
        reasons.push(
          `${formatCount(s.missingFiles)} of ${formatCount(s.referencedFiles)} files missing`,
        );
      if (s.problems.length > 0) reasons.push("unreadable file lists");
      return reasons.join(", ");
    },
    changed: "pg_dump.gz has changed since",
    progress(progress) {
      switch (progress.stage) {
        case "dump":
          return `decompressing pg_dump.gz, ${formatBytes(progress.bytesRead)} of ${formatBytes(progress.totalBytes)}…`;
        case "file-lists":
          return `read ${formatCount(progress.done)} of ${formatCount(progress.total)} table file lists (${formatCount(progress.referencedFiles)} Parquet files referenced)…`;
        case "objects":
          return `checked ${formatCount(progress.prefixesDone)} of ${formatCount(progress.prefixesTotal)} table prefixes (${formatCount(progress.objectsListed)} objects listed)…`;
      }
    },
    problemsHeading: "File list problems",
  },
};

/** What a Clustered restore replaces and loses: the catalog, from the snapshot's pg_dump.gz. */
export const CLUSTERED_RESTORE_WORDS: RestoreWords = {
  lost: "catalog changes",
  replaces: (_point, time) => `its catalog with the snapshot of ${time}`,
  untouched: "the catalog was never touched",
  replacing: "the catalog restore",
  point: (_point, pointTime) => ({ label: "Snapshot", name: formatPointTime(pointTime) }),
};
