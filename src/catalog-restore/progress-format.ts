import { formatBytes, formatCount, formatDuration } from "../text/format.js";
import type { CatalogRestoreProgress } from "./restore-engine.js";

/** Text for progress: a bar redrawn in place on a terminal, plain lines in logs. */

const PHASE_TEXT: Record<CatalogRestoreProgress["phase"], string> = {
  connecting: "connecting",
  clearing: "clearing the catalog",
  restoring: "restoring",
  committing: "committing",
  committed: "committed",
  prepared: "prepared (waiting for the other databases)",
  "rolled-back": "rolled back",
};

/** Share of the work done, from compressed bytes (what the source reports a total for). */
export function fractionDone(p: CatalogRestoreProgress): number | undefined {
  if (p.compressedBytesTotal === null || p.compressedBytesTotal <= 0) return undefined;
  return Math.min(1, p.compressedBytesRead / p.compressedBytesTotal);
}

/** One terminal line: `[#######-----]  45%  12.9 MiB/28.8 MiB  270,123 rows  7.2 s  TABLE DATA …`. */
export function formatProgressBar(
  p: CatalogRestoreProgress,
  totalRows: number | undefined,
  columns = 100,
): string {
  const fraction = fractionDone(p);
  const width = 24;
  const filled = fraction === undefined ? 0 : Math.round(fraction * width);
  const bar = `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
  const percent =
    fraction === undefined ? "  ?%" : `${String(Math.floor(fraction * 100)).padStart(3)}%`;
  const bytes =
    p.compressedBytesTotal === null
      ? formatBytes(p.compressedBytesRead)
      : `${formatBytes(p.compressedBytesRead)}/${formatBytes(p.compressedBytesTotal)}`;
  const rows =
    totalRows === undefined
      ? `${formatCount(p.rowsCopied)} rows`
      : `${formatCount(p.rowsCopied)}/${formatCount(totalRows)} rows`;
  const what = p.phase === "restoring" ? (p.currentObject ?? "") : PHASE_TEXT[p.phase];
  const line = `${bar} ${percent}  ${bytes}  ${rows}  ${formatDuration(p.elapsedMs)}  ${what}`;
  return line.length > columns ? `${line.slice(0, columns - 1)}…` : line;
}

/** One log line, for pipes and CI logs. */
export function formatProgressLine(
  p: CatalogRestoreProgress,
  totalRows: number | undefined,
): string {
  const fraction = fractionDone(p);
  const parts = [
    `restore-catalog: ${PHASE_TEXT[p.phase]}`,
    fraction === undefined
      ? `${formatBytes(p.compressedBytesRead)} read`
      : `${Math.floor(fraction * 100)}% (${formatBytes(p.compressedBytesRead)} of ${formatBytes(p.compressedBytesTotal ?? 0)} compressed)`,
    totalRows === undefined
      ? `${formatCount(p.rowsCopied)} rows copied`
      : `${formatCount(p.rowsCopied)} of ${formatCount(totalRows)} rows copied`,
    `${formatCount(p.statementsExecuted)} statements`,
    `after ${formatDuration(p.elapsedMs)}`,
  ];
  if (p.phase === "restoring" && p.currentObject)
    parts.push(`now: ${p.currentObject} (line ${p.line})`);
  return parts.join(", ");
}
