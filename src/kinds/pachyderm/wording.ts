import { code, mrkdwnText } from "../../recovery-points/format.js";
import { formatBytes, formatCount } from "../../text/format.js";
import type { PointWords } from "../kind.js";

const plural = (n: number, one: string) => `${formatCount(n)} ${one}${n === 1 ? "" : "s"}`;

/**
 * Pachyderm's words for its points. Its verify (verify-point.ts) reads each database dump to
 * its end through gunzip against complete.json's sha256, and checks every object of the
 * manifest against one LIST of the pool: present, same size, and same ETag unless the ETag is a
 * multipart one (a copy changes those; they are compared by size).
 */
export const PACHYDERM_POINT_WORDS: PointWords = {
  noun: "point",
  incomplete: "no complete.json (the backup failed, or is still running)",
  noneComplete: "every point lacks its complete.json",
  unusable: "*no database dumps*: nothing to restore the databases from",
  size: (details) =>
    details.dumpSize === undefined ? "" : `database dumps ${formatBytes(details.dumpSize)}`,
  verify: {
    reads:
      "complete.json, each database dump to its end, and every object of its manifest against the pool",
    checks(report, pool) {
      const f = report.facts ?? {};
      if (!report.complete)
        return [
          ":x: *Incomplete:* no complete.json: the backup never finished, and the point must never be restored",
        ];
      const lines = [
        ":white_check_mark: *Complete:* complete.json is present (it is written last)",
      ];
      const listed = Number(f.dumpsListed ?? 0);
      const read = Number(f.dumpsRead ?? 0);
      lines.push(
        report.dump.problem === undefined && read === listed && listed > 0
          ? `:white_check_mark: *Database dumps:* ${plural(read, "dump")} (${formatBytes(report.dump.bytes)}) read to their end through gunzip (${formatBytes(report.dump.sqlBytes ?? 0)} of SQL), each with the sha256 complete.json records`
          : `:x: *Database dumps:* ${formatCount(read)} of ${formatCount(listed)} read to their end${report.dump.problem === undefined ? "" : `: ${mrkdwnText(report.dump.problem)}`}`,
      );
      if (f.manifestRead !== true) {
        lines.push(":x: *Objects:* the object manifest could not be read to its end, see below");
        return lines;
      }
      const objects = Number(f.objects ?? 0);
      const compared = Number(f.etagsCompared ?? 0);
      const absent = Number(f.absent ?? 0);
      const differing = Number(f.differing ?? 0);
      const etags =
        compared === objects
          ? "and ETag"
          : `and, for ${formatCount(compared)} of them, ETag (the other ${formatCount(objects - compared)} have multipart ETags, which a copy changes: compared by size)`;
      lines.push(
        absent === 0 && differing === 0
          ? `:white_check_mark: *Objects:* all ${plural(objects, "object")} of the manifest (${formatBytes(Number(f.objectBytes ?? 0))}) are in ${code(pool)} with their size ${etags}`
          : `:x: *Objects:* of ${plural(objects, "object")} in the manifest, ${formatCount(absent)} missing from ${code(pool)} and ${formatCount(differing)} with another size or ETag; a restore cannot bring them back`,
      );
      return lines;
    },
    passed: (s) =>
      `${plural(s.tableLists, "database dump")} read to the end, ${plural(s.referencedFiles, "object")} present in the pool`,
    failed: (s) => {
      if (!s.complete) return "incomplete (no complete.json)";
      const reasons: string[] = [];
      if (s.dumpProblem !== null) reasons.push("a database dump unusable");
      if (s.missingFiles > 0)
        reasons.push(
          `${formatCount(s.missingFiles)} of ${formatCount(s.referencedFiles)} objects missing`,
        );
      return reasons.join(", ") || plural(s.problems.length, "problem");
    },
    changed: "complete.json has changed since",
    problemsHeading: "Problems",
  },
};
