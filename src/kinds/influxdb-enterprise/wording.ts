import { mrkdwnText } from "../../recovery-points/format.js";
import { formatBytes, formatCount } from "../../text/format.js";
import type { JsonValue, PointWords, RestoreWords } from "../kind.js";
import { enterprisePointOf } from "./points.js";
import { describeRestoreScope, type EnterpriseRestoreOptions } from "./restore-options.js";

const plural = (n: number, one: string) => `${formatCount(n)} ${one}${n === 1 ? "" : "s"}`;

/**
 * InfluxDB Enterprise's words for its backup sets. Its verify (`verifySet`) reads complete.json,
 * lists the set's files against the sizes it records, and only when every file is there with
 * its size reads each to its end against its sha256: the lines say which of these ran.
 */
export const ENTERPRISE_POINT_WORDS: PointWords = {
  noun: "backup set",
  incomplete: "no complete.json (the upload never finished, or is still running)",
  noneComplete: "every backup set lacks its complete.json",
  unusable: "*no files*: complete.json lists nothing to restore",
  size: (details) => (details.dumpSize === undefined ? "" : formatBytes(details.dumpSize)),
  verify: {
    reads:
      "complete.json, the set's files against the sizes it records, and each file to its end against its sha256",
    checks(report) {
      const f = report.facts ?? {};
      if (!report.complete)
        return [
          `:x: *Incomplete:* ${mrkdwnText(report.dump.problem ?? "no complete.json")}; the set must never be restored`,
        ];
      const files = report.referencedFiles;
      const lines = [
        `:white_check_mark: *Complete:* complete.json is present and lists ${plural(files, "file")}`,
      ];
      const sizeProblems = Number(f.sizeProblems ?? 0);
      if (f.sizesChecked !== true) return lines;
      if (sizeProblems > 0) {
        lines.push(
          `:x: *Files:* ${plural(sizeProblems, "file")} of ${formatCount(files)} missing or not the size complete.json records; no file was read further`,
        );
        return lines;
      }
      lines.push(
        `:white_check_mark: *Files:* all ${plural(files, "file")} present with the sizes complete.json records`,
      );
      const readProblems = Number(f.readProblems ?? 0);
      lines.push(
        readProblems === 0
          ? `:white_check_mark: *Contents:* every file read to its end (${formatBytes(Number(f.bytesRead ?? 0))}), each with the sha256 complete.json records`
          : `:x: *Contents:* ${plural(readProblems, "file")} of ${formatCount(files)} unreadable or with another sha256 than complete.json records`,
      );
      return lines;
    },
    passed: (s) =>
      `${plural(s.referencedFiles, "file")} present and read to their end, sha256 matching complete.json`,
    failed: (s) =>
      !s.complete
        ? "incomplete (no complete.json)"
        : s.missingFiles > 0
          ? `${plural(s.missingFiles, "file")} missing`
          : `${plural(s.problems.length, "problem")}`,
    changed: "complete.json has changed since",
    problemsHeading: "Problems",
  },
};

function optionsOf(options: JsonValue | null): EnterpriseRestoreOptions {
  return (options ?? {}) as EnterpriseRestoreOptions;
}

const besideLive = (o: EnterpriseRestoreOptions) => o.newdb !== undefined || o.newrp !== undefined;

/**
 * What an Enterprise restore overwrites (the set's databases, narrowed by --db/--rp; nothing
 * live with --newdb/--newrp) and what it restarts (each data node, one at a time, while
 * anti-entropy is turned off and back on). The cluster is never taken down as a whole.
 */
export const ENTERPRISE_RESTORE_WORDS: RestoreWords = {
  lost: (point, options) => {
    const o = optionsOf(options);
    if (besideLive(o)) return undefined;
    const set = enterprisePointOf(point);
    return o.db === undefined
      ? `writes to ${set.databases.map((d) => `\`${d}\``).join(", ") || "the set's databases"}`
      : `writes to \`${o.rp === undefined ? o.db : `${o.db}.${o.rp}`}\``;
  },
  replaces: (point, time, options) => {
    const o = optionsOf(options);
    const scope = `${describeRestoreScope(o, enterprisePointOf(point).full)} from the set of ${time}`;
    return besideLive(o) ? `nothing live — ${scope}` : scope;
  },
  effect: (target, point, time, options) =>
    `restores, on ${target}, ${describeRestoreScope(optionsOf(options), enterprisePointOf(point).full)}, from the set of ${time}`,
  downtime: () =>
    "The cluster stays up: when anti-entropy is on, each data node is restarted one at a time to turn it off (and again to turn it back on), so each node is briefly unavailable; `influxd-ctl restore` then writes into the live cluster.",
  untouched: "no data was written",
  replacing: "`influxd-ctl restore`",
  point: (point) => ({ label: "Backup set", name: enterprisePointOf(point).asOf }),
};
