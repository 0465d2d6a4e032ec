import { escapeMrkdwn } from "../../approvals/format.js";
import { DURATION_FORMAT, parseDuration } from "../../config/duration.js";
import type { JsonValue } from "../../kinds/kind.js";
import { POINT_FORMS, type PointRef, parsePointRef } from "./recovery-point-time.js";

/**
 * The slash-command grammar of DESIGN.md, as pure functions. A parse either yields a command
 * or a refusal that says what was wrong and shows the usage; nothing is recorded on a refusal.
 */
export type RecoveryPointsCommand =
  | { kind: "help" }
  | {
      kind: "list";
      target: string | undefined;
      cadence: "all" | "hourly" | "daily";
      sinceMs: number | undefined;
      limit: number;
      /** Show points older than this one (the "older points" button). */
      before: Date | undefined;
      /** `--store S`: one store of a multi-store target. */
      store?: string;
    }
  | { kind: "verify"; target: string; point: PointRef };

export type RestoreCommand =
  | { kind: "help" }
  | {
      kind: "request";
      target: string;
      point: PointRef;
      reason: string;
      /** The kind's restore options as its parser read them; absent when none were typed. */
      options?: JsonValue;
    }
  | { kind: "plan"; target: string; point: PointRef }
  | { kind: "status"; requestId: string | undefined }
  | { kind: "cancel"; requestId: string }
  | { kind: "history"; target: string | undefined }
  | { kind: "targets" };

export type BackupCommand =
  | { kind: "help" }
  | {
      kind: "request";
      target: string;
      reason: string;
      /** The kind's backup options as its parser read them; absent when none were typed. */
      options?: JsonValue;
    }
  | { kind: "status"; target: string | undefined };

/**
 * `error` is Slack mrkdwn, ready to send: `&`, `<` and `>` are escaped (Slack reads `<…>` as a
 * link, mention or `<!channel>`), in the usage as in the words it echoes back.
 */
/**
 * What the grammar needs to know of a target's kind: whether it names its own points, its
 * stores, and its restore options (bound to the target). Built by the listener from the
 * registry; targets without it take the default point forms (`POINT_FORMS`), no stores and no
 * restore options.
 */
export interface TargetSyntax {
  /** The kind's point syntax ("<store>:<name> or <store>:latest") when it names its own points. */
  namedPoints?: string;
  /** The stores of a multi-store target. */
  stores?: readonly string[];
  options?: {
    usage: string;
    parse(
      words: readonly string[],
    ): { ok: true; options: JsonValue; consumed: number } | { ok: false; message: string };
  };
  /** The kind's `/backup` flags (bound to the target); a target without takes none. */
  backupOptions?: {
    usage: string;
    parse(
      words: readonly string[],
    ): { ok: true; options: JsonValue; consumed: number } | { ok: false; message: string };
  };
}

export type SyntaxOf = (target: string) => TargetSyntax | undefined;

export type ParseResult<T> = { ok: true; command: T } | { ok: false; error: string };

// Written as plain text and escaped once: `<target>` must reach Slack as `&lt;target&gt;`.
export const RECOVERY_POINTS_USAGE = escapeMrkdwn(
  [
    "*Usage*",
    "`/recovery-points [target] [--store S] [--hourly|--daily] [--since 48h] [--limit 20] [--before <point>]` — list recovery points, newest first (`--before`: only points older than that one, to page back; `--store`: one store of a StackState target)",
    "`/recovery-points verify <target> <point>` — check that a point is complete and restorable",
    "`/recovery-points help` — this message",
    `A point is ${POINT_FORMS}.`,
  ].join("\n"),
);

export const RESTORE_USAGE = escapeMrkdwn(
  [
    "*Usage*",
    "`/restore <target> <point|latest> <reason…>` — request a restore (a second person must approve)",
    "`/restore <target> <point> [options] <reason…>` — a kind's own flags go before the reason (StackState: `--force`, `--indices a,b`)",
    "`/restore plan <target> <point|latest>` — dry run: what would be done, with live replica counts",
    "`/restore status [request-id]` — where a restore stands",
    "`/restore cancel <request-id>` — cancel a request, or stop a run at the next phase boundary",
    "`/restore history [target]` — recent requests and what happened to them",
    "`/restore targets` — the clusters restorebot can restore",
    "`/restore help` — this message",
    "`/backup <target> <reason…>` · `/backup status [target]` — backups restorebot takes (see `/backup help`)",
    `A point is ${POINT_FORMS}.`,
  ].join("\n"),
);

export const BACKUP_USAGE = escapeMrkdwn(
  [
    "*Usage*",
    "`/backup <target> <reason…>` — take a backup now (for systems whose backups restorebot takes; approvers may start one)",
    "`/backup <target> [options] <reason…>` — a kind's own flags go before the reason (InfluxDB Enterprise: `--incremental`)",
    "`/backup status [target]` — the last backups and the next scheduled one",
    "`/backup help` — this message",
  ].join("\n"),
);

export const MAX_LIST_LIMIT = 100;
export const DEFAULT_LIST_LIMIT = 20;
const REQUEST_ID = /^rb-[a-z0-9]{8}$/;
export const REASON_MIN_LENGTH = 10;
export const REASON_MAX_LENGTH = 1000;

export function isRequestId(text: string): boolean {
  return REQUEST_ID.test(text);
}

function tokenize(text: string): string[] {
  return text.trim().split(/\s+/).filter(Boolean);
}

/** `problem` is plain text (it may echo what was typed); `usage` is already mrkdwn. */
function refuse<T>(problem: string, usage: string): ParseResult<T> {
  return { ok: false, error: `${escapeMrkdwn(problem)}\n\n${usage}` };
}

function describeTargets(targets: readonly string[]): string {
  return targets.length
    ? `Known targets: ${targets.map((t) => `\`${t}\``).join(", ")}.`
    : "No targets are configured.";
}

/** A point word for `target`: the kind's own name when it names its points, else a time. */
function pointFor(
  target: string,
  word: string,
  syntaxOf: SyntaxOf | undefined,
): { ok: true; ref: PointRef } | { ok: false; problem: string } {
  const named = syntaxOf?.(target)?.namedPoints;
  if (named !== undefined) return { ok: true, ref: { kind: "named", text: word } };
  const ref = parsePointRef(word);
  if (!ref)
    return {
      ok: false,
      problem: `\`${word}\` is not a recovery point. A point is ${POINT_FORMS}.`,
    };
  return { ok: true, ref };
}

export function parseRecoveryPointsCommand(
  text: string,
  targets: readonly string[],
  syntaxOf?: SyntaxOf,
): ParseResult<RecoveryPointsCommand> {
  const words = tokenize(text);
  const usage = RECOVERY_POINTS_USAGE;
  if (words[0] === "help") {
    if (words.length > 1) return refuse("`help` takes no arguments.", usage);
    return { ok: true, command: { kind: "help" } };
  }
  if (words[0] === "verify") {
    const [, target, point, ...rest] = words;
    if (!target || !point) return refuse("`verify` needs a target and a point.", usage);
    if (!targets.includes(target))
      return refuse(`Unknown target \`${target}\`. ${describeTargets(targets)}`, usage);
    const parsedPoint = pointFor(target, point, syntaxOf);
    if (!parsedPoint.ok) return refuse(parsedPoint.problem, usage);
    if (rest.length) return refuse(`Unexpected \`${rest.join(" ")}\` after the point.`, usage);
    return { ok: true, command: { kind: "verify", target, point: parsedPoint.ref } };
  }

  let target: string | undefined;
  let cadence: "all" | "hourly" | "daily" = "all";
  let sinceMs: number | undefined;
  let limit = DEFAULT_LIST_LIMIT;
  let before: Date | undefined;
  let store: string | undefined;
  for (let i = 0; i < words.length; i++) {
    const word = words[i] as string;
    if (word === "--store") {
      const value = words[++i];
      if (value === undefined || value.startsWith("-"))
        return refuse("`--store` needs a store name, e.g. `--store stackgraph`.", usage);
      store = value;
    } else if (word === "--hourly" || word === "--daily") {
      const wanted = word === "--hourly" ? "hourly" : "daily";
      if (cadence !== "all" && cadence !== wanted)
        return refuse("Use either `--hourly` or `--daily`, not both.", usage);
      cadence = wanted;
    } else if (word === "--since") {
      const value = words[++i];
      const ms = value === undefined ? undefined : parseDuration(value);
      if (ms === undefined || ms <= 0) {
        return refuse(
          `\`--since\` needs a duration (${DURATION_FORMAT}), e.g. \`--since 48h\`.`,
          usage,
        );
      }
      sinceMs = ms;
    } else if (word === "--limit") {
      const value = words[++i];
      const n = value !== undefined && /^\d+$/.test(value) ? Number(value) : Number.NaN;
      if (!Number.isInteger(n) || n < 1 || n > MAX_LIST_LIMIT) {
        return refuse(
          `\`--limit\` needs a whole number from 1 to ${MAX_LIST_LIMIT}, e.g. \`--limit 20\`.`,
          usage,
        );
      }
      limit = n;
    } else if (word === "--before") {
      const value = words[++i];
      const ref = value === undefined ? undefined : parsePointRef(value);
      if (ref?.kind !== "time")
        return refuse(`\`--before\` needs a point time, e.g. \`2024-08-12T14:00Z\`.`, usage);
      before = ref.time;
    } else if (word.startsWith("-")) {
      return refuse(`Unknown option \`${word}\`.`, usage);
    } else if (target === undefined) {
      if (!targets.includes(word)) {
        return refuse(
          `Unknown target or subcommand \`${word}\`. ${describeTargets(targets)}`,
          usage,
        );
      }
      target = word;
    } else {
      return refuse(`Unexpected \`${word}\`: only one target can be listed at a time.`, usage);
    }
  }
  if (target === undefined && targets.length === 1) target = targets[0];
  if (target === undefined) {
    return refuse(`Name a target: several are configured. ${describeTargets(targets)}`, usage);
  }
  if (store !== undefined) {
    const stores = syntaxOf?.(target)?.stores ?? [];
    if (stores.length === 0)
      return refuse(
        `\`${target}\` keeps its recovery points in one store, so \`--store\` does not apply (it picks one store of a multi-store target such as StackState). Leave it out: \`/recovery-points ${target}\`.`,
        usage,
      );
    if (!stores.includes(store))
      return refuse(
        `\`${target}\` has no store \`${store}\`; its stores are ${stores.map((s) => `\`${s}\``).join(", ")}. e.g. \`/recovery-points ${target} --store ${stores[0]}\`.`,
        usage,
      );
  }
  return {
    ok: true,
    command: {
      kind: "list",
      target,
      cadence,
      sinceMs,
      limit,
      before,
      ...(store === undefined ? {} : { store }),
    },
  };
}

export function parseRestoreCommand(
  text: string,
  targets: readonly string[],
  syntaxOf?: SyntaxOf,
): ParseResult<RestoreCommand> {
  const words = tokenize(text);
  const usage = RESTORE_USAGE;
  const [first, ...rest] = words;
  switch (first) {
    case undefined:
      return refuse("Tell me what to restore.", usage);
    case "help":
      return rest.length
        ? refuse("`help` takes no arguments.", usage)
        : { ok: true, command: { kind: "help" } };
    case "targets":
      return rest.length
        ? refuse("`targets` takes no arguments.", usage)
        : { ok: true, command: { kind: "targets" } };
    case "status": {
      if (rest.length > 1) return refuse("`status` takes at most one request id.", usage);
      const id = rest[0];
      if (id !== undefined && !isRequestId(id))
        return refuse(`\`${id}\` is not a request id (they look like \`rb-k3m9x2qa\`).`, usage);
      return { ok: true, command: { kind: "status", requestId: id } };
    }
    case "cancel": {
      const id = rest[0];
      if (id === undefined || rest.length > 1)
        return refuse(
          "`cancel` needs exactly one request id, e.g. `/restore cancel rb-k3m9x2qa`.",
          usage,
        );
      if (!isRequestId(id))
        return refuse(`\`${id}\` is not a request id (they look like \`rb-k3m9x2qa\`).`, usage);
      return { ok: true, command: { kind: "cancel", requestId: id } };
    }
    case "history": {
      if (rest.length > 1) return refuse("`history` takes at most one target.", usage);
      const target = rest[0];
      if (target !== undefined && !targets.includes(target))
        return refuse(`Unknown target \`${target}\`. ${describeTargets(targets)}`, usage);
      return { ok: true, command: { kind: "history", target } };
    }
    case "plan": {
      const [target, point, ...extra] = rest;
      if (!target || !point)
        return refuse(
          "`plan` needs a target and a point, e.g. `/restore plan prod latest`.",
          usage,
        );
      if (!targets.includes(target))
        return refuse(`Unknown target \`${target}\`. ${describeTargets(targets)}`, usage);
      const parsedPoint = pointFor(target, point, syntaxOf);
      if (!parsedPoint.ok) return refuse(parsedPoint.problem, usage);
      if (extra.length)
        return refuse(`Unexpected \`${extra.join(" ")}\`: a plan needs no reason.`, usage);
      return { ok: true, command: { kind: "plan", target, point: parsedPoint.ref } };
    }
    case "verify":
    case "drill":
      return refuse(
        first === "verify"
          ? "`verify` belongs to `/recovery-points`: use `/recovery-points verify <target> <point>`."
          : "`drill` is not available yet.",
        usage,
      );
    default: {
      const target = first;
      if (!targets.includes(target)) {
        return refuse(
          `Unknown target or subcommand \`${target}\`. ${describeTargets(targets)}`,
          usage,
        );
      }
      const [point, ...afterPoint] = rest;
      const syntax = syntaxOf?.(target);
      if (!point)
        return refuse(
          `Which recovery point? e.g. \`/restore ${target} ${syntax?.namedPoints === undefined ? "latest" : "<point>"} <reason…>\`.${syntax?.namedPoints === undefined ? "" : ` A point of \`${target}\` is ${syntax.namedPoints}.`}`,
          usage,
        );
      const parsedPoint = pointFor(target, point, syntaxOf);
      if (!parsedPoint.ok) return refuse(parsedPoint.problem, usage);
      const ref = parsedPoint.ref;
      let reasonWords = afterPoint;
      let options: JsonValue | undefined;
      if (syntax?.options !== undefined) {
        const read = syntax.options.parse(afterPoint);
        if (!read.ok)
          return refuse(
            `${read.message} Usage: /restore ${target} ${point} ${syntax.options.usage} <reason…>`,
            usage,
          );
        if (read.consumed > 0) options = read.options;
        reasonWords = afterPoint.slice(read.consumed);
      }
      const reason = reasonWords.join(" ").trim();
      if (!reason) {
        return refuse(
          `A reason is mandatory: say why, e.g. \`/restore ${target} ${point} data corrupted by a bad migration INC-1234\`.`,
          usage,
        );
      }
      if (reason.length < REASON_MIN_LENGTH) {
        return refuse(
          `The reason \`${reason}\` is too short: say why in at least ${REASON_MIN_LENGTH} characters (an incident id helps).`,
          usage,
        );
      }
      if (reason.length > REASON_MAX_LENGTH)
        return refuse(`The reason is too long: at most ${REASON_MAX_LENGTH} characters.`, usage);
      return {
        ok: true,
        command: {
          kind: "request",
          target,
          point: ref,
          reason,
          ...(options === undefined ? {} : { options }),
        },
      };
    }
  }
}

/** Checks a reason the way every request does; a refusal text when it will not do. */
function reasonProblem(reason: string, example: string): string | undefined {
  if (!reason) return `A reason is mandatory: say why, e.g. \`${example}\`.`;
  if (reason.length < REASON_MIN_LENGTH)
    return `The reason \`${reason}\` is too short: say why in at least ${REASON_MIN_LENGTH} characters (an incident id helps).`;
  if (reason.length > REASON_MAX_LENGTH)
    return `The reason is too long: at most ${REASON_MAX_LENGTH} characters.`;
  return undefined;
}

export function parseBackupCommand(
  text: string,
  targets: readonly string[],
  syntaxOf?: SyntaxOf,
): ParseResult<BackupCommand> {
  const words = tokenize(text);
  const usage = BACKUP_USAGE;
  const [first, ...rest] = words;
  switch (first) {
    case undefined:
      return refuse("Tell me which target to back up, and why.", usage);
    case "help":
      return rest.length
        ? refuse("`help` takes no arguments.", usage)
        : { ok: true, command: { kind: "help" } };
    case "status": {
      if (rest.length > 1) return refuse("`status` takes at most one target.", usage);
      const target = rest[0];
      if (target !== undefined && !targets.includes(target))
        return refuse(`Unknown target \`${target}\`. ${describeTargets(targets)}`, usage);
      return { ok: true, command: { kind: "status", target } };
    }
    default: {
      const target = first;
      if (target.startsWith("-")) return refuse(`Unknown option \`${target}\`.`, usage);
      if (!targets.includes(target))
        return refuse(
          `Unknown target or subcommand \`${target}\`. ${describeTargets(targets)}`,
          usage,
        );
      const syntax = syntaxOf?.(target);
      let reasonWords = rest;
      let options: JsonValue | undefined;
      if (syntax?.backupOptions !== undefined) {
        const read = syntax.backupOptions.parse(rest);
        if (!read.ok)
          return refuse(
            `${read.message} Usage: /backup ${target} ${syntax.backupOptions.usage} <reason…>`,
            usage,
          );
        if (read.consumed > 0) options = read.options;
        reasonWords = rest.slice(read.consumed);
      } else if (syntax !== undefined && rest[0]?.startsWith("--"))
        return refuse(
          `\`/backup ${target}\` takes no options, so \`${rest[0]}\` is not one: type \`/backup ${target} <reason…>\`.`,
          usage,
        );
      const reason = reasonWords.join(" ").trim();
      const problem = reasonProblem(reason, `/backup ${target} before the schema migration CHG-42`);
      if (problem) return refuse(problem, usage);
      return {
        ok: true,
        command: { kind: "request", target, reason, ...(options === undefined ? {} : { options }) },
      };
    }
  }
}
