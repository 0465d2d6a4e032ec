import { CodedError } from "../errors.js";
import { type DumpObjectRef, describeObject } from "./dump-splitter.js";

/**
 * What restorebot agrees to run from a dump, and how. The restore is one transaction in one
 * database, so anything that would end that transaction, reach another database or change
 * roles is refused — before the restore starts when the dump was preflighted, and with a
 * rollback when it is only met while streaming. Session settings the dump makes are turned
 * into transaction-local ones, so none of them outlives the restore on its connection.
 */

export type StatementDecision = { action: "execute"; sql: string } | { action: "skip" };

const DUMP_HEADER = "--\n-- PostgreSQL database dump\n--\n";

/** Enough decompressed bytes to recognise (or reject) a dump. */
export const HEADER_BYTES = 64;

/** Throws `dump_invalid` unless `head` is the start of a plain-format pg_dump. */
export function assertPlainDumpHeader(head: Buffer): void {
  const text = head.subarray(0, HEADER_BYTES).toString("latin1").replace(/\r\n/g, "\n");
  if (text.startsWith(DUMP_HEADER)) return;
  let what: string;
  if (head.length === 0) what = "It is empty.";
  else if (text.startsWith("PGDMP"))
    what =
      "It is a pg_dump custom-format archive; restorebot restores plain SQL dumps (pg_dump --format=plain), as the snapshot writer makes.";
  else if (text.startsWith("--\n-- PostgreSQL database cluster dump"))
    what =
      "It is a pg_dumpall dump of a whole server; restorebot restores one database (plain pg_dump of the catalog).";
  else if (head.length > 262 && head.subarray(257, 262).toString("latin1") === "ustar")
    what = "It is a tar archive (pg_dump --format=tar?); restorebot needs a plain SQL dump.";
  else
    what = `It starts with ${JSON.stringify(text.slice(0, 40))} instead of pg_dump's "-- PostgreSQL database dump" header.`;
  throw new CodedError("dump_invalid", `This is not a plain pg_dump of a database. ${what}`);
}

/** The first words of a statement, upper-cased, comments skipped. */
function leadingWords(sql: string, count: number): string[] {
  const head = sql
    .slice(0, 400)
    .replace(/--[^\n]*(\n|$)/g, " ")
    .replace(/\/\*[\s\S]*?\*\//g, " ");
  const words = head.match(/[A-Za-z_][A-Za-z0-9_$]*|[^\sA-Za-z0-9_]/g) ?? [];
  return words.slice(0, count).map((w) => w.toUpperCase());
}

const ROLE_OR_CLUSTER_OBJECTS = new Set(["ROLE", "USER", "GROUP", "DATABASE", "TABLESPACE"]);
const TRANSACTION_CONTROL = new Set([
  "START",
  "END",
  "ROLLBACK",
  "ABORT",
  "SAVEPOINT",
  "RELEASE",
  "PREPARE",
]);
const NOT_IN_A_TRANSACTION = new Set(["VACUUM", "CHECKPOINT", "REINDEX", "CLUSTER"]);

/** Stateful reviewer of one dump's statements and meta-commands, in order. */
export class DumpPolicy {
  private restrictKey: string | undefined;
  private restrictLine = 0;
  private largeObjectBlock = false;
  private sawEncoding = false;
  /** Until the first statement that builds something: where pg_dump --clean puts its DROPs. */
  private cleanSection = true;

  /** Decides what to do with one statement; throws `dump_invalid` for what it refuses. */
  statement(sql: string, line: number, object: DumpObjectRef | undefined): StatementDecision {
    const words = leadingWords(sql, 6);
    const [w0 = "", w1 = "", w2 = "", w3 = ""] = words;
    const where = `line ${line}${object ? ` (${describeObject(object)})` : ""}`;
    const refuse = (why: string): never => {
      throw new CodedError(
        "dump_invalid",
        `The dump has a statement restorebot will not run, at ${where}: ${why} Statement: ${preview(sql)}`,
        { details: { line } },
      );
    };

    if (this.cleanSection) {
      // pg_dump --clean starts with DROPs of everything it is about to create; the catalog
      // has just been cleared, so they have nothing left to drop (and without --if-exists
      // they would fail).
      if (
        (w0 === "DROP" &&
          w1 !== "OWNED" &&
          w1 !== "SUBSCRIPTION" &&
          !ROLE_OR_CLUSTER_OBJECTS.has(w1)) ||
        (w0 === "ALTER" &&
          /^ALTER\s+(FOREIGN\s+)?TABLE\s[\s\S]*\sDROP\s+(CONSTRAINT|DEFAULT)\b/i.test(sql))
      )
        return { action: "skip" };
      if (w0 !== "SET" && !/^SELECT\s+pg_catalog\.set_config\(/i.test(sql))
        this.cleanSection = false;
    }
    switch (w0) {
      case "SET":
        return { action: "execute", sql: this.localSetting(sql, w1, w2, refuse) };
      case "SELECT": {
        // pg_dump's `set_config('search_path', '', false)` would outlive the transaction.
        const local = /^SELECT\s+pg_catalog\.set_config\(([\s\S]*),\s*false\s*\)\s*;$/i.exec(sql);
        if (local)
          return { action: "execute", sql: `SELECT pg_catalog.set_config(${local[1]}, true);` };
        return { action: "execute", sql };
      }
      case "BEGIN":
        // pg_dump wraps large-object data in BEGIN/COMMIT; the restore is already one transaction.
        if (/^BEGIN\s*;$/i.test(sql) && !this.largeObjectBlock) {
          this.largeObjectBlock = true;
          return { action: "skip" };
        }
        return refuse("it would start a transaction inside the restore's transaction.");
      case "COMMIT":
        if (/^COMMIT\s*;$/i.test(sql) && this.largeObjectBlock) {
          this.largeObjectBlock = false;
          return { action: "skip" };
        }
        return refuse("it would commit part of the restore, which must be all or nothing.");
      case "COPY":
        return refuse(
          "COPY that does not read FROM stdin would read or write files on the database server.",
        );
      case "GRANT":
      case "REVOKE":
        if (!/\sON\s/i.test(sql))
          return refuse("it changes role membership; restorebot touches no roles.");
        if (/\sON\s+(DATABASE|TABLESPACE|PARAMETER)\s/i.test(sql))
          return refuse("it changes privileges outside this database.");
        return { action: "execute", sql };
      case "REASSIGN":
      case "DROP":
        if (w0 === "REASSIGN" || w1 === "OWNED")
          return refuse("it acts on everything a role owns; restorebot touches no roles.");
        if (w1 === "SUBSCRIPTION") return refuse("it drops a logical replication subscription.");
        break;
      case "ALTER":
        if (w1 === "SYSTEM") return refuse("it changes the server's configuration.");
        if (w1 === "SUBSCRIPTION") return refuse("it changes a logical replication subscription.");
        break;
      case "COMMENT":
      case "SECURITY":
        if (words.some((w, k) => k > 0 && w === "ON")) {
          const target = words[words.indexOf("ON") + 1] ?? "";
          if (ROLE_OR_CLUSTER_OBJECTS.has(target))
            return refuse(`it labels a ${target.toLowerCase()}, which is outside this database.`);
        }
        break;
      default:
        break;
    }
    if (TRANSACTION_CONTROL.has(w0))
      return refuse("transaction control would break the restore's single transaction.");
    if (NOT_IN_A_TRANSACTION.has(w0))
      return refuse(`${w0} cannot run inside the restore's transaction.`);
    if (w0 === "CREATE" && w1 === "SUBSCRIPTION")
      return refuse(
        "the snapshot has a logical replication subscription, which connects to another server; restore it by hand.",
      );
    if (
      (w0 === "CREATE" || w0 === "ALTER" || w0 === "DROP") &&
      ROLE_OR_CLUSTER_OBJECTS.has(w1) &&
      !(w1 === "USER" && w2 === "MAPPING")
    ) {
      return refuse(
        `${w0} ${w1} changes the server outside this database; restorebot restores the catalog database only (this looks like pg_dumpall or pg_dump --create output).`,
      );
    }
    if (
      (w0 === "CREATE" && (w1 === "INDEX" || (w1 === "UNIQUE" && w2 === "INDEX"))) ||
      (w0 === "DROP" && w1 === "INDEX")
    ) {
      if ([w2, w3].includes("CONCURRENTLY"))
        return refuse("CONCURRENTLY cannot run inside the restore's transaction.");
    }
    return { action: "execute", sql };
  }

  /** `SET x = y` → `SET LOCAL x = y`; checks the dump's client encoding. */
  private localSetting(
    sql: string,
    w1: string,
    w2: string,
    refuse: (why: string) => never,
  ): string {
    // Already transaction-scoped, or (CHARACTERISTICS) only for later transactions on a
    // connection that is closed after the restore.
    if (w1 === "LOCAL" || w1 === "TRANSACTION" || w1 === "CONSTRAINTS") return sql;
    if (w1 === "SESSION" && w2 === "CHARACTERISTICS") return sql;
    if (w1 === "CLIENT_ENCODING" || w1 === "NAMES") {
      const value = /(?:=|TO|NAMES)\s*'?([A-Za-z0-9_-]+)'?\s*;$/i.exec(sql)?.[1] ?? "";
      if (!/^(utf-?8|unicode)$/i.test(value))
        refuse(
          `the dump is in the ${value || "unknown"} encoding; restorebot restores UTF-8 dumps (pg_dump --encoding=UTF8).`,
        );
      this.sawEncoding = true;
    }
    if (w1 === "SESSION") {
      // SET SESSION AUTHORIZATION → SET LOCAL SESSION AUTHORIZATION; SET SESSION x → SET LOCAL x
      const rest =
        w2 === "AUTHORIZATION"
          ? sql.replace(/^SET\s+/i, "")
          : sql.replace(/^SET\s+SESSION\s+/i, "");
      return `SET LOCAL ${rest}`;
    }
    return sql.replace(/^SET\s+/i, "SET LOCAL ");
  }

  /** Reviews a psql meta-command; only `\restrict` / `\unrestrict` are accepted (and skipped). */
  meta(command: string, argument: string, line: number): void {
    if (command === "\\restrict" && this.restrictKey === undefined && argument !== "") {
      this.restrictKey = argument;
      this.restrictLine = line;
      return;
    }
    if (command === "\\unrestrict" && this.restrictKey !== undefined) {
      if (argument !== this.restrictKey)
        throw new CodedError(
          "dump_invalid",
          `Line ${line}: \\unrestrict does not match the \\restrict key of line ${this.restrictLine}; the dump has been tampered with or spliced from two dumps.`,
          { details: { line } },
        );
      this.restrictKey = undefined;
      return;
    }
    if (command === "\\connect" || command === "\\c") {
      throw new CodedError(
        "dump_invalid",
        `Line ${line}: the dump switches to another database (${command} ${argument}). It was made with pg_dumpall or pg_dump --create; restorebot restores one database and runs nothing in another. Use a plain pg_dump of the catalog database.`,
        { details: { line } },
      );
    }
    throw new CodedError(
      "dump_invalid",
      `Line ${line}: the dump runs the psql command ${command}${argument ? ` ${preview(argument)}` : ""}, which restorebot does not run (it executes SQL only; pg_dump writes no such command).`,
      { details: { line } },
    );
  }

  /** Checks the end of the dump: pg_dump's completion line read, blocks closed. */
  finish(complete: boolean, line: number): void {
    if (!complete) {
      throw new CodedError(
        "dump_invalid",
        `The dump stops at line ${line} without pg_dump's closing "dump complete" line: it is truncated (or was not written by pg_dump), and restoring it would lose everything after that point.`,
        { details: { line } },
      );
    }
    if (this.restrictKey !== undefined)
      throw new CodedError(
        "dump_invalid",
        `The dump opens \\restrict at line ${this.restrictLine} but never closes it with \\unrestrict: it is truncated.`,
        { details: { line } },
      );
    if (this.largeObjectBlock)
      throw new CodedError(
        "dump_invalid",
        "The dump's large-object block (BEGIN … COMMIT) is never closed: it is truncated.",
        { details: { line } },
      );
  }

  /** Whether the dump declared its client encoding (pg_dump always does). */
  get declaredEncoding(): boolean {
    return this.sawEncoding;
  }
}

/** A statement shortened for an error message. */
export function preview(sql: string, max = 160): string {
  const flat = sql.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}
