import type { PointWords } from "../kinds/kind.js";
import type { types } from "../slack/slack-api.js";
import { formatAge, formatBytes, formatCount, formatDuration, formatUtc } from "../text/format.js";
import { clip, code, mrkdwnText } from "./format.js";
import type { ListedPoint, RecoveryPointListing } from "./list-recovery-points.js";
import type {
  RecoveryPointRef,
  VerificationProgress,
  VerificationReport,
} from "./recovery-point.js";
import { type StoredVerification, summarize } from "./verification-store.js";

export type Block = types.KnownBlock;

export interface SlackMessage {
  /** Notification and screen-reader text; Slack shows blocks when present. */
  text: string;
  blocks: Block[];
}

/** The button another feature turns into the restore request modal. */
export const RESTORE_POINT_ACTION = "restore_point_open";
/** "Older points": the next page of a listing. */
export const OLDER_POINTS_ACTION = "recovery_points_older";

/** What the "Older points" button carries: enough to list the next page without state. */
export interface OlderPointsValue {
  target: string;
  cadence: "all" | "hourly" | "daily";
  sinceMs: number | null;
  limit: number;
  /** The oldest point shown, as listed. */
  before: string;
}

const SECTION_MAX = 3000;

/**
 * Words for a kind that gives none: they name no file and claim no check beyond what every
 * verification report carries (its ok, its problems), so a new kind is never described in
 * another system's terms.
 */
export const NEUTRAL_POINT_WORDS: PointWords = {
  noun: "point",
  incomplete: "the point is not finished (still being written, or it failed)",
  noneComplete: "every point is incomplete or unusable",
  unusable: "*unusable*: it lacks what a restore needs",
  size: (details) => (details.dumpSize === undefined ? "" : formatBytes(details.dumpSize)),
  verify: {
    reads: "the point's files",
    checks: (report) =>
      report.ok
        ? [":white_check_mark: *Checked:* no problem found"]
        : [
            report.problems.length > 0
              ? `:x: *Problems:* ${report.problems.length}, see below`
              : `:x: *Problem:* ${mrkdwnText(report.dump.problem ?? (report.complete ? "the point is not sound" : "the point is incomplete"))}`,
          ],
    passed: () => "no problem found",
    failed: (s) => (s.complete ? `${s.problems.length || 1} problem(s)` : "incomplete"),
    changed: "the point has changed since",
    problemsHeading: "Problems",
  },
};

function section(text: string, blockId?: string): Block {
  return {
    type: "section",
    ...(blockId === undefined ? {} : { block_id: blockId }),
    text: { type: "mrkdwn", text: clip(text, SECTION_MAX) },
  };
}

function context(...texts: string[]): Block {
  return {
    type: "context",
    elements: texts.map((t) => ({ type: "mrkdwn" as const, text: clip(t, SECTION_MAX) })),
  };
}

function header(text: string): Block {
  return { type: "header", text: { type: "plain_text", text: clip(text, 150) } };
}

/**
 * A kind's own listing (StackState's stores): a section per part, and on each part that offers
 * one a button opening the request form on its point (RESTORE_POINT_ACTION, as on a time-named
 * listing; the form lets the person pick another point and give the kind's options).
 */
/** The button that opens the request form for `point` of `target`. */
function restoreButton(target: string, point: string, label: string) {
  return {
    type: "button" as const,
    action_id: RESTORE_POINT_ACTION,
    text: { type: "plain_text" as const, text: label },
    value: JSON.stringify({ target, point }),
  };
}

export function namedListingMessage(
  target: string,
  listing: { text: string; sections: Array<{ text: string; restorePoint: string | undefined }> },
): SlackMessage {
  const blocks = listing.sections.map((part) => {
    const block = section(part.text);
    if (part.restorePoint !== undefined && block.type === "section")
      block.accessory = restoreButton(target, part.restorePoint, "Restore…");
    return block;
  });
  return { text: clip(listing.text, 40_000), blocks };
}

/** `/recovery-points`: the header answers "what can we restore to, and how much do we lose?". */
export function recoveryPointsMessage(
  listing: RecoveryPointListing,
  words: PointWords = NEUTRAL_POINT_WORDS,
): SlackMessage {
  const { now } = listing;
  const blocks: Block[] = [header(`Recovery points · ${listing.target}`)];
  blocks.push(section(summaryText(listing, words)));
  blocks.push(context(...contextTexts(listing, words)));
  blocks.push({ type: "divider" });
  if (listing.points.length === 0) {
    blocks.push(
      section(
        listing.totalPoints === 0
          ? `No ${words.noun}s at all under ${code(listing.location)}.${listing.emptyHint ? ` ${listing.emptyHint}` : ""}`
          : `No point matches ${describeFilter(listing)}.`,
      ),
    );
  }
  for (const point of listing.points)
    blocks.push(pointBlock(listing.target, point, now, listing.expiresBy, words));
  const oldestShown = listing.points.at(-1);
  if (listing.olderCount > 0 && oldestShown !== undefined) {
    const value: OlderPointsValue = {
      target: listing.target,
      cadence: listing.query.cadence,
      sinceMs: listing.query.sinceMs ?? null,
      limit: listing.query.limit,
      before: oldestShown.ref.id,
    };
    blocks.push({
      type: "actions",
      block_id: "recovery_points_paging",
      elements: [
        {
          type: "button",
          action_id: OLDER_POINTS_ACTION,
          text: {
            type: "plain_text",
            text: `Older points (${formatCount(listing.olderCount)} more)`,
          },
          value: JSON.stringify(value),
        },
      ],
    });
    blocks.push(
      context(
        `${listing.truncatedToMessage ? "Slack shows at most 40 points per message. " : ""}Or type ${code(`/recovery-points ${listing.target} --before ${oldestShown.ref.id}`)}`,
      ),
    );
  }
  return { text: summaryFallback(listing), blocks };
}

function summaryText(listing: RecoveryPointListing, words: PointWords): string {
  const { now, newestComplete, oldestComplete } = listing;
  const lines: string[] = [];
  if (newestComplete === undefined) {
    lines.push(
      listing.totalPoints === 0
        ? ":rotating_light: *No recovery points*: nothing can be restored."
        : `:rotating_light: *No complete recovery point*${listing.completeScanLimited ? " among the newest 200" : ""}: ${words.noneComplete}, so nothing can be restored.`,
    );
  } else {
    const rpo = now.getTime() - newestComplete.time.getTime();
    lines.push(
      `*Newest complete:* ${code(newestComplete.id)} (${formatAge(newestComplete.time, now)})`,
    );
    lines.push(
      `*RPO now:* ${formatDuration(Math.max(0, rpo))} — a restore loses what was written after that point`,
    );
    lines.push(
      oldestComplete === undefined
        ? `*Restorable window:* ends at ${code(newestComplete.id)}; no complete point among the oldest 200`
        : `*Restorable window:* ${code(oldestComplete.id)} → ${code(newestComplete.id)} (${formatDuration(newestComplete.time.getTime() - oldestComplete.time.getTime())})`,
    );
  }
  if (listing.newest !== undefined && !listing.newestIsComplete && newestComplete !== undefined) {
    lines.push(
      `:warning: The newest ${words.noun} ${code(listing.newest.id)} is incomplete (still being written, or it failed).`,
    );
  }
  return lines.join("\n");
}

function contextTexts(listing: RecoveryPointListing, words: PointWords): string[] {
  const texts = [
    `${formatCount(listing.totalPoints)} points in ${code(listing.location)}${listing.expiresBy === "backup" ? "" : ` (${formatCount(listing.counts.hourly)} hourly, ${formatCount(listing.counts.daily)} daily at 00:00 UTC)`} · showing ${formatCount(listing.points.length)}, newest first${listing.query.cadence !== "all" || listing.query.sinceMs !== undefined || listing.query.before !== undefined ? ` · ${describeFilter(listing)}` : ""}`,
  ];
  if (listing.verificationsUnavailable) {
    texts.push(
      ":warning: Past verify results are not shown: restorebot's database did not answer.",
    );
  }
  if (listing.skipped.length > 0) {
    const names = listing.skipped.slice(0, 3).map(code).join(", ");
    texts.push(
      `${formatCount(listing.skipped.length)} folder${listing.skipped.length === 1 ? "" : "s"} skipped: not a ${words.noun} time (${names}${listing.skipped.length > 3 ? ", …" : ""})`,
    );
  }
  return texts;
}

function describeFilter(listing: RecoveryPointListing): string {
  const parts: string[] = [];
  const q = listing.query;
  if (q.cadence !== "all") parts.push(q.cadence === "daily" ? "daily (00:00 UTC)" : "hourly");
  if (q.sinceMs !== undefined) parts.push(`since ${formatDuration(q.sinceMs)} ago`);
  if (q.before !== undefined) parts.push(`older than ${formatUtc(q.before)}`);
  return parts.length === 0 ? "the query" : parts.join(", ");
}

function summaryFallback(listing: RecoveryPointListing): string {
  const newest = listing.newestComplete;
  return newest === undefined
    ? `Recovery points for ${listing.target}: no complete point.`
    : `Recovery points for ${listing.target}: newest complete ${newest.id} (${formatAge(newest.time, listing.now)}); ${listing.points.length} of ${listing.totalPoints} shown.`;
}

function pointBlock(
  target: string,
  point: ListedPoint,
  now: Date,
  expiresBy: RecoveryPointListing["expiresBy"],
  words: PointWords,
): Block {
  const { ref, details } = point;
  // restorebot's own backups have no hourly or daily points: they are kept by age alone.
  const title =
    expiresBy === "backup"
      ? `*${code(ref.id)}* · ${formatAge(ref.time, now)}`
      : `*${code(ref.id)}* · ${point.cadence} · ${formatAge(ref.time, now)}`;
  const lines: string[] = [];
  if (details === undefined) {
    lines.push(`:grey_question: ${title} — *gone*: the folder disappeared while listing`);
  } else if (!details.complete) {
    lines.push(
      `:no_entry: ${title} — *incomplete*: ${details.incompleteReason ?? words.incomplete}; cannot be restored`,
    );
  } else if (details.dumpSize === undefined) {
    lines.push(`:no_entry: ${title} — ${words.unusable}`);
  } else {
    lines.push(`:large_green_circle: ${title}`);
  }
  const facts: string[] = [];
  if (details?.summary !== undefined) facts.push(details.summary);
  else if (details !== undefined && words.size(details) !== "") facts.push(words.size(details));
  facts.push(expiryText(point, now, expiresBy));
  lines.push(facts.join(" · "));
  if (point.verification !== undefined) {
    lines.push(verificationLine(point.verification, details?.dumpEtag, now, words));
  }
  const block: Block = {
    type: "section",
    block_id: `point:${ref.id}`,
    text: { type: "mrkdwn", text: clip(lines.join("\n"), SECTION_MAX) },
  };
  // Incomplete points are never offered for restore (for InfluxDB Clustered, the vendor's
  // document: "make sure that the bloom filter file exists").
  if (point.restorable) {
    block.accessory = restoreButton(target, ref.id, "Restore to this point");
  }
  return block;
}

function expiryText(
  point: ListedPoint,
  now: Date,
  expiresBy: RecoveryPointListing["expiresBy"],
): string {
  const { expiresAt } = point;
  if (expiresAt === undefined) return "kept until removed (no `backup.retention`)";
  switch (point.expiry) {
    case "overdue":
      return expiresBy === "backup"
        ? `:warning: *past \`backup.retention\`* since ${formatUtc(expiresAt)}: restorebot's retention removes it at its next run, unless a request froze it or it is the newest complete point`
        : `:warning: *past its ${point.cadence} retention* since ${formatUtc(expiresAt)}: the garbage collector may delete it at any moment`;
    case "expiring":
      return `:hourglass_flowing_sand: *expires in ${formatDuration(expiresAt.getTime() - now.getTime())}* (${formatUtc(expiresAt)})`;
    case "kept":
      return `kept until ${formatUtc(expiresAt)}`;
  }
}

/** "verified 2 h ago: 48,211 files, none missing", or why the result no longer holds. */
export function verificationLine(
  v: StoredVerification,
  currentDumpEtag: string | undefined,
  now: Date,
  words: PointWords = NEUTRAL_POINT_WORDS,
): string {
  const when = formatAge(v.verifiedAt, now);
  if (currentDumpEtag !== undefined && v.dumpEtag !== null && v.dumpEtag !== currentDumpEtag) {
    return `:grey_question: verified ${when}, but ${words.verify.changed}: verify again`;
  }
  if (v.ok) return `:white_check_mark: verified ${when}: ${words.verify.passed(v.summary)}`;
  return `:x: verification failed ${when}: ${words.verify.failed(v.summary) || "see the last verify"}`;
}

/** `/recovery-points verify`: each check the kind made with its outcome, then what is missing. */
export function verificationMessage(input: {
  target: string;
  point: RecoveryPointRef;
  bucket: string;
  report: VerificationReport;
  saved: boolean;
  words?: PointWords;
}): SlackMessage {
  const { target, point, report, bucket } = input;
  const words = (input.words ?? NEUTRAL_POINT_WORDS).verify;
  const verdict = report.ok
    ? `:white_check_mark: *${code(point.id)} is restorable.*`
    : `:x: *${code(point.id)} is not restorable.*`;
  const checks = words.checks(report, bucket);
  const blocks: Block[] = [
    header(`Verify · ${target}`),
    section(`${verdict}\n${checks.join("\n")}`),
  ];
  if (report.missingSample.length > 0) {
    const more = report.missingFiles - report.missingSample.length;
    blocks.push(
      section(
        `*Missing* (first ${report.missingSample.length}${more > 0 ? ` of ${formatCount(report.missingFiles)}` : ""}):\n\`\`\`${mrkdwnText(report.missingSample.join("\n"))}\`\`\``,
      ),
    );
  }
  if (report.problems.length > 0) {
    blocks.push(
      section(
        `*${words.problemsHeading}:*\n${report.problems.map((p) => `• ${mrkdwnText(p)}`).join("\n")}`,
      ),
    );
  }
  const r = report.requests;
  blocks.push(
    context(
      `Checked in ${formatDuration(report.durationMs)} with ${formatCount(r.lists + r.objectLists)} list requests and ${formatCount(r.reads)} reads${input.saved ? " · saved: later listings show this result" : " · could not be saved"}`,
    ),
  );
  const text = report.ok
    ? `${target} ${point.id} is restorable: ${words.passed(summarize(report))}.`
    : `${target} ${point.id} is not restorable.`;
  return { text, blocks };
}

/** The message shown while a long verify runs. */
export function verificationProgressText(
  target: string,
  point: RecoveryPointRef,
  progress: VerificationProgress | undefined,
  elapsedMs: number,
  words: PointWords = NEUTRAL_POINT_WORDS,
): string {
  const head = `:hourglass_flowing_sand: Verifying ${target} ${code(point.id)} (${formatDuration(elapsedMs)} so far)`;
  if (progress === undefined || words.verify.progress === undefined)
    return `${head}: reading ${words.verify.reads}…`;
  return `${head}: ${words.verify.progress(progress)}`;
}

/** "No point at …; nearest: …": the next command to type is in the answer. */
export function pointNotFoundText(input: {
  target: string;
  requested: Date;
  nearest: readonly RecoveryPointRef[];
  location: string;
  now: Date;
}): string {
  const asked = `${input.requested.toISOString().slice(0, 19)}+00:00`;
  if (input.nearest.length === 0) {
    return `:mag: ${input.target} has no recovery points at all under ${code(input.location)}.`;
  }
  const nearest = input.nearest
    .map((p) => {
      const delta = p.time.getTime() - input.requested.getTime();
      return `• ${code(p.id)} (${formatDuration(Math.abs(delta))} ${delta < 0 ? "earlier" : "later"}; ${formatAge(p.time, input.now)})`;
    })
    .join("\n");
  const first = input.nearest[0] as RecoveryPointRef;
  return `:mag: ${input.target} has no recovery point at ${code(asked)}. The nearest:\n${nearest}\nFor example: ${code(`/recovery-points verify ${input.target} ${first.id}`)}`;
}
