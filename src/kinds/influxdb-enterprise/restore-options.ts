/**
 * `/restore <target> <point> [--db X [--newdb Y]] [--rp R [--newrp S]] <reason…>` for
 * InfluxDB Enterprise, and the `influxd-ctl restore` command it becomes (seed: "Restore
 * options", "Restore examples").
 */

import { CodedError } from "../../errors.js";
import type { EnterpriseComplete } from "./backup-set.js";

export interface EnterpriseRestoreOptions {
  db?: string;
  newdb?: string;
  rp?: string;
  newrp?: string;
}

const FLAGS = ["--db", "--newdb", "--rp", "--newrp"] as const;
type Flag = (typeof FLAGS)[number];

const USAGE =
  "/restore <target> <point> [--db <db> [--newdb <db>]] [--rp <rp> [--newrp <rp>]] <reason>";

function refuse(message: string): never {
  throw new CodedError("usage", message);
}

/**
 * Takes the kind's flags from the front of `tokens` (the words after the point); the rest is
 * the reason. Refuses a flag without its value, a flag given twice, an unknown `--flag`, and
 * the combinations influxd-ctl refuses.
 */
export function parseEnterpriseRestoreOptions(tokens: string[]): {
  options: EnterpriseRestoreOptions;
  rest: string[];
} {
  const options: EnterpriseRestoreOptions = {};
  let i = 0;
  while (i < tokens.length) {
    const token = tokens[i] ?? "";
    if (!token.startsWith("--")) break;
    const [name, inline] = token.includes("=")
      ? [token.slice(0, token.indexOf("=")), token.slice(token.indexOf("=") + 1)]
      : [token, undefined];
    if (!(FLAGS as readonly string[]).includes(name))
      refuse(`unknown option ${name}; the options are --db, --newdb, --rp and --newrp: ${USAGE}`);
    const flag = name as Flag;
    const value = inline ?? tokens[i + 1];
    i += inline === undefined ? 2 : 1;
    if (value === undefined || value === "" || value.startsWith("--"))
      refuse(`${flag} needs a name after it, e.g. ${flag} telegraf: ${USAGE}`);
    const key = flag.slice(2) as keyof EnterpriseRestoreOptions;
    if (options[key] !== undefined) refuse(`${flag} is given twice; give it once: ${USAGE}`);
    options[key] = value;
  }
  checkCombination(options);
  return { options, rest: tokens.slice(i) };
}

function checkCombination(o: EnterpriseRestoreOptions): void {
  if (o.newdb !== undefined && o.db === undefined)
    refuse(
      `--newdb needs --db to name the database to copy from; type --db <db-in-the-set> --newdb ${o.newdb}`,
    );
  if (o.newrp !== undefined && o.rp === undefined)
    refuse(
      `--newrp needs --rp to name the retention policy to copy from; type --rp <rp-in-the-set> --newrp ${o.newrp}`,
    );
  if (o.rp !== undefined && o.db === undefined)
    refuse(
      `--rp needs --db: a retention policy belongs to a database; type --db <db> --rp ${o.rp}`,
    );
  if (o.newdb !== undefined && o.newdb === o.db)
    refuse(
      `--newdb ${o.newdb} is the same as --db; leave out --newdb to restore over ${o.db}, or name a new database`,
    );
}

/** Checks the options against what the set holds; each refusal lists what it does hold. */
export function validateAgainstSet(
  options: EnterpriseRestoreOptions,
  set: Pick<EnterpriseComplete, "databases" | "retentionPolicies" | "asOf">,
): void {
  checkCombination(options);
  if (options.db !== undefined && !set.databases.includes(options.db))
    refuse(
      `the set ${set.asOf} holds no database ${options.db}; it holds ${list(set.databases)}. Type --db with one of those`,
    );
  if (options.db !== undefined && options.rp !== undefined) {
    const rps = set.retentionPolicies
      .filter((r) => r.database === options.db)
      .map((r) => r.retentionPolicy);
    if (!rps.includes(options.rp))
      refuse(
        `the set ${set.asOf} holds no retention policy ${options.rp} in ${options.db}; it holds ${list(rps)}. Type --rp with one of those`,
      );
  }
}

function list(names: string[]): string {
  return names.length === 0 ? "none" : names.join(", ");
}

/** What the restore will overwrite, in words for the approval card. */
export function describeRestoreScope(options: EnterpriseRestoreOptions, full: boolean): string {
  if (options.db === undefined)
    return `every database in the ${full ? "full" : "incremental"} set, over the live data`;
  const what =
    options.rp === undefined
      ? `database ${options.db}`
      : `retention policy ${options.rp} of database ${options.db}`;
  if (options.newdb !== undefined)
    return `${what} into the new database ${options.newdb}${options.newrp ? ` as retention policy ${options.newrp}` : ""}, beside the live data (nothing live is overwritten)`;
  if (options.newrp !== undefined)
    return `${what} into the new retention policy ${options.newrp}, beside the live data (nothing live is overwritten)`;
  return `${what}, over the live data`;
}

/**
 * The `influxd-ctl restore` argv: options first, then `-full <dir>/<manifest>` for a full set or
 * the set's directory for an incremental one.
 */
export function buildRestoreCommand(opts: {
  setDirectory: string;
  full: boolean;
  manifest: string;
  options: EnterpriseRestoreOptions;
}): string[] {
  const argv = ["influxd-ctl", "restore"];
  const o = opts.options;
  if (o.db !== undefined) argv.push("-db", o.db);
  if (o.newdb !== undefined) argv.push("-newdb", o.newdb);
  if (o.rp !== undefined) argv.push("-rp", o.rp);
  if (o.newrp !== undefined) argv.push("-newrp", o.newrp);
  const dir = opts.setDirectory.replace(/\/+$/, "");
  if (opts.full) argv.push("-full", `${dir}/${opts.manifest}`);
  else argv.push(`${dir}/`);
  return argv;
}

export interface RestoreOutcome {
  transferredBytes: number;
  shards: Array<{ database: string; retentionPolicy: string; from: number; to: number }>;
}

const RESTORING_SHARD = /^Restoring db (.+?), rp (.+), shard (\d+) to shard (\d+)\.\.\.$/;
const RESTORED_FROM = /^Restored from (.+) in \S+, transferred (\d+) bytes$/;

/**
 * Checks what `influxd-ctl restore` printed and its exit status: success needs status 0 and the
 * "Restored from … transferred N bytes" line. The failure names the tool's own error line.
 */
export function checkRestoreOutput(output: string, exitCode: number | undefined): RestoreOutcome {
  const lines = output.split(/\r?\n/).map((l) => l.trim());
  const shards: RestoreOutcome["shards"] = [];
  let transferred: number | undefined;
  for (const line of lines) {
    const s = RESTORING_SHARD.exec(line);
    if (s)
      shards.push({
        database: s[1] ?? "",
        retentionPolicy: s[2] ?? "",
        from: Number(s[3]),
        to: Number(s[4]),
      });
    const r = RESTORED_FROM.exec(line);
    if (r) transferred = Number(r[2]);
  }
  const errorLine = lines.find((l) => /^restore: /.test(l) || /^Error\b/i.test(l));
  if (exitCode !== 0 || transferred === undefined) {
    const status =
      exitCode === undefined ? "ended without an exit status" : `exited with ${exitCode}`;
    const why =
      errorLine ??
      (transferred === undefined ? 'no "Restored from … transferred N bytes" line' : "");
    throw new CodedError("restore_failed", `influxd-ctl restore ${status}${why ? `: ${why}` : ""}`);
  }
  return { transferredBytes: transferred, shards };
}
