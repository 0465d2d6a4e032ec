import { mrkdwnText } from "../../recovery-points/format.js";
import { formatBytes } from "../../text/format.js";
import type { PointWords, RestoreWords } from "../kind.js";
import { ARCHIVE_NAME } from "./archive-point.js";
import { ossPointOf } from "./points.js";

/**
 * InfluxDB OSS's words for its archives. Its verify (points.ts) finds complete.json, then reads
 * influxdb.tar to its end through the checked reader (its size and sha256 against
 * complete.json) and checks that it ends with tar's end-of-archive blocks: nothing more.
 */
export const OSS_POINT_WORDS: PointWords = {
  noun: "archive",
  incomplete: "no complete.json (the backup failed, or is still running)",
  noneComplete: "every archive lacks its complete.json",
  unusable: `*no ${ARCHIVE_NAME}*: nothing to restore the node from`,
  size: (details) =>
    details.dumpSize === undefined ? "" : `${ARCHIVE_NAME} ${formatBytes(details.dumpSize)}`,
  verify: {
    reads: `complete.json, and the whole ${ARCHIVE_NAME} against the size and sha256 it records`,
    checks(report) {
      if (!report.complete)
        return [
          `:x: *Incomplete:* ${mrkdwnText(report.dump.problem ?? "no complete.json")}: the backup never finished, and the archive must never be restored`,
        ];
      const lines = [
        ":white_check_mark: *Complete:* complete.json is present (it is written after the archive)",
      ];
      lines.push(
        report.dump.problem === undefined
          ? `:white_check_mark: *Archive:* ${ARCHIVE_NAME} (${formatBytes(report.dump.bytes)}) read to its end: its size and sha256 match complete.json, and it ends with tar's end-of-archive blocks`
          : `:x: *Archive:* ${mrkdwnText(report.dump.problem)}`,
      );
      return lines;
    },
    passed: () => `${ARCHIVE_NAME} read to its end, sha256 matches complete.json`,
    failed: (s) =>
      !s.complete
        ? "incomplete (no complete.json)"
        : s.dumpProblem
          ? `${ARCHIVE_NAME} unusable`
          : "",
    changed: "complete.json records another archive since",
    problemsHeading: "Problems",
  },
};

/** What an OSS restore replaces, stops and loses: the node's whole data directory. */
export const OSS_RESTORE_WORDS: RestoreWords = {
  lost: "everything written to InfluxDB",
  replaces: (_point, time) => `its meta/, data/ and wal/ with the archive of ${time}`,
  downtime: (point) =>
    `InfluxDB is down from phase 2 (its StatefulSet scaled to 0) until it is started again and ready in phase 6, while the archive (${formatBytes(ossPointOf(point).size)}) is streamed in; the old directories are kept until the restored node answers, and put back on any failure.`,
  untouched: "its data directories were never touched",
  replacing: "the archive's extraction",
  point: (point) => ({ label: "Archive", name: ossPointOf(point).asOf }),
};
