import { CodedError } from "../errors.js";
import { formatBytes } from "../text/format.js";

/**
 * Splits a plain-format `pg_dump` into statements, `COPY … FROM stdin` data and psql
 * meta-commands, incrementally: bytes go in chunk by chunk, events come out, and nothing but
 * the statement being read is held in memory. COPY data is passed on as slices of the input
 * chunks (no copy, no decoding), because it is nearly all of a catalog dump.
 *
 * The statement boundaries follow psql's own lexer (psqlscan.l), since psql is what pg_dump
 * writes for: `;` ends a statement only outside quotes, comments, dollar-quoted bodies and
 * parentheses, and outside the `BEGIN … END` of an SQL-standard function body.
 */

/** The object pg_dump announces in the comment block above each entry. */
export interface DumpObjectRef {
  /** pg_dump's TOC type, e.g. "TABLE", "TABLE DATA", "FUNCTION", "FK CONSTRAINT". */
  type: string;
  /** "-" for objects outside any schema. */
  schema: string;
  /** As pg_dump prints it: functions carry their argument types, triggers their table. */
  name: string;
  /** The role pg_dump will make the owner, when it says. */
  owner?: string | undefined;
}

export type DumpEvent =
  | { kind: "statement"; sql: string; line: number; object: DumpObjectRef | undefined }
  /** A `COPY … FROM stdin;` statement; its data follows as copy-data events. */
  | { kind: "copy-start"; sql: string; line: number; object: DumpObjectRef | undefined }
  /** Whole rows and part-rows, in order; `rows` counts the rows this slice completes. */
  | { kind: "copy-data"; data: Buffer; rows: number }
  | { kind: "copy-end"; line: number; rows: number }
  /** A psql backslash command such as `\restrict <key>` or `\connect db`. */
  | { kind: "meta"; command: string; argument: string; line: number };

/** Largest single statement accepted; a dump's biggest is a function body of a few KB. */
export const MAX_STATEMENT_BYTES = 16 * 1024 * 1024;
const MAX_COMMENT_BYTES = 4096;

const COMPLETION_TRAILER = "-- PostgreSQL database dump complete";

enum State {
  Normal,
  Dash,
  LineComment,
  Slash,
  Block,
  BlockStar,
  BlockSlash,
  Quote,
  QuoteEnd,
  EQuote,
  EQuoteBackslash,
  EQuoteEnd,
  Ident,
  IdentQuote,
  IdentQuoteEnd,
  DollarOpen,
  DollarBody,
  DollarClose,
  Meta,
  AfterCopyStatement,
  CopyData,
}

const NL = 0x0a;
const CR = 0x0d;
const BACKSLASH = 0x5c;
const DOT = 0x2e;
const QUOTE = 0x27;
const DQUOTE = 0x22;
const DOLLAR = 0x24;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === NL || c === CR || c === 0x0c || c === 0x0b;
}
function isIdentStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c >= 0x80;
}
function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
function isIdentCont(c: number): boolean {
  return isIdentStart(c) || isDigit(c) || c === DOLLAR;
}
function isDollarTagCont(c: number): boolean {
  return isIdentStart(c) || isDigit(c);
}
function lower(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
}

const TOC_COMMENT =
  /^-- (?:Data for )?Name: (.*); Type: ([A-Z][A-Z ]*); Schema: ([^;]*);(?: Owner: ([^;]*?))?(?:;|$)/;
const COPY_FROM_STDIN = /^COPY\s[\s\S]*\sFROM\s+stdin\s*;$/i;
const STANDARD_STRINGS = /^SET\s+standard_conforming_strings\s*(?:=|TO)\s*'?(on|off)'?\s*;$/i;

const utf8 = new TextDecoder("utf-8", { fatal: true });

function decodeUtf8(bytes: Buffer, what: string, line: number): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new CodedError(
      "dump_invalid",
      `The dump has bytes that are not valid UTF-8 in ${what} at line ${line}; restorebot reads UTF-8 dumps only.`,
      { details: { line } },
    );
  }
}

export class DumpSplitter {
  private state = State.Normal;
  private line = 1;
  /** Bytes of the statement being read, from its first significant byte. */
  private parts: Buffer[] = [];
  private partsBytes = 0;
  /** Offset in the current chunk where the statement began, or -1 when between statements. */
  private startInChunk = -1;
  private inStatement = false;
  private statementLine = 0;
  private parenDepth = 0;
  private beginDepth = 0;
  private identifierCount = 0;
  private leadingWords: string[] = [];
  private word = "";
  private wordLength = 0;
  private dollarTag: number[] = [];
  private closeTag: number[] = [];
  private blockDepth = 0;
  private standardStrings = true;
  private comment: number[] = [];
  private commentLine = 0;
  private commentTracked = false;
  private pendingObject: DumpObjectRef | undefined;
  private copyRows = 0;
  private copyAtLineStart = true;
  private copyTable: DumpObjectRef | undefined;
  /** Input held back because a COPY terminator may straddle two chunks. */
  private carry: Buffer | undefined;
  private trailerSeen = false;
  private statementsAfterTrailer = 0;
  private finished = false;
  private versions: { server?: string | undefined; pgDump?: string | undefined } = {};

  /** 1-based number of the line being read. */
  get currentLine(): number {
    return this.line;
  }

  /** The server and pg_dump versions from the dump's header comments, when present. */
  get dumpVersions(): { server?: string | undefined; pgDump?: string | undefined } {
    return this.versions;
  }

  /** Whether pg_dump's closing "dump complete" comment has been read, with no statement after it. */
  get complete(): boolean {
    return this.trailerSeen && this.statementsAfterTrailer === 0;
  }

  push(input: Buffer): DumpEvent[] {
    if (this.finished) throw new Error("DumpSplitter.push after end()");
    let chunk = input;
    if (this.carry !== undefined) {
      chunk = Buffer.concat([this.carry, input]);
      this.carry = undefined;
    }
    const events: DumpEvent[] = [];
    this.scan(chunk, events, false);
    return events;
  }

  /** Ends the input; throws when it stops in the middle of a statement, string or COPY block. */
  end(): DumpEvent[] {
    const events: DumpEvent[] = [];
    if (this.carry !== undefined) {
      const rest = this.carry;
      this.carry = undefined;
      this.scan(rest, events, true);
    }
    this.finished = true;
    switch (this.state) {
      case State.CopyData:
      case State.AfterCopyStatement:
        throw new CodedError(
          "dump_invalid",
          `The dump ends inside the COPY data of ${describeObject(this.copyTable)} (line ${this.line}): it is truncated.`,
          { details: { line: this.line } },
        );
      case State.Meta:
        this.finishMeta(events);
        this.state = State.Normal;
        break;
      case State.LineComment:
        this.finishComment();
        this.state = State.Normal;
        break;
      default:
        break;
    }
    if (this.inStatement || this.state !== State.Normal) {
      const line = this.inStatement ? this.statementLine : this.line;
      throw new CodedError(
        "dump_invalid",
        `The dump ends in the middle of a statement that starts at line ${line}${this.pendingObject ? ` (${describeObject(this.pendingObject)})` : ""}: it is truncated.`,
        { details: { line } },
      );
    }
    return events;
  }

  private scan(buf: Buffer, events: DumpEvent[], atEnd: boolean): void {
    const n = buf.length;
    let i = 0;
    while (i < n) {
      if (this.state === State.CopyData) {
        i = this.scanCopyData(buf, i, events, atEnd);
        continue;
      }
      const c = buf[i] as number;
      switch (this.state) {
        case State.Normal:
          this.normal(buf, i, c, events);
          break;
        case State.Dash:
          if (c === 0x2d) {
            this.state = State.LineComment;
            this.commentTracked = !this.inStatement;
            this.comment = this.commentTracked ? [0x2d, 0x2d] : [];
            this.commentLine = this.line;
          } else {
            this.state = State.Normal;
            if (!this.inStatement) this.unexpected("-");
            continue; // reread c as ordinary SQL
          }
          break;
        case State.LineComment:
          if (c === NL) {
            this.finishComment();
            this.state = State.Normal;
            this.line++;
          } else if (this.commentTracked && this.comment.length < MAX_COMMENT_BYTES) {
            this.comment.push(c);
          }
          break;
        case State.Slash:
          if (c === 0x2a) {
            this.state = State.Block;
            this.blockDepth = 1;
          } else {
            this.state = State.Normal;
            if (!this.inStatement) this.unexpected("/");
            continue;
          }
          break;
        case State.Block:
          if (c === 0x2a) this.state = State.BlockStar;
          else if (c === 0x2f) this.state = State.BlockSlash;
          else if (c === NL) this.line++;
          break;
        case State.BlockStar:
          if (c === 0x2f) {
            this.blockDepth--;
            this.state = this.blockDepth === 0 ? State.Normal : State.Block;
          } else {
            this.state = State.Block;
            continue;
          }
          break;
        case State.BlockSlash:
          if (c === 0x2a) {
            this.blockDepth++;
            this.state = State.Block;
          } else {
            this.state = State.Block;
            continue;
          }
          break;
        case State.Quote:
          if (c === QUOTE) this.state = State.QuoteEnd;
          else if (c === BACKSLASH && !this.standardStrings) this.state = State.EQuoteBackslash;
          else if (c === NL) this.line++;
          break;
        case State.QuoteEnd:
          if (c === QUOTE) {
            this.state = State.Quote; // '' is an escaped quote
          } else {
            this.state = State.Normal;
            continue;
          }
          break;
        case State.EQuote:
          if (c === QUOTE) this.state = State.EQuoteEnd;
          else if (c === BACKSLASH) this.state = State.EQuoteBackslash;
          else if (c === NL) this.line++;
          break;
        case State.EQuoteBackslash:
          if (c === NL) this.line++;
          this.state = this.standardStrings ? State.EQuote : State.Quote;
          break;
        case State.EQuoteEnd:
          if (c === QUOTE) {
            this.state = State.EQuote;
          } else {
            this.state = State.Normal;
            continue;
          }
          break;
        case State.Ident:
          if (isIdentCont(c)) {
            if (this.wordLength < 12) this.word += String.fromCharCode(lower(c));
            this.wordLength++;
          } else if (c === QUOTE && this.wordLength === 1 && this.word === "e") {
            // E'…' strings take backslash escapes whatever standard_conforming_strings says.
            this.state = State.EQuote;
          } else {
            this.finishWord();
            this.state = State.Normal;
            continue;
          }
          break;
        case State.IdentQuote:
          if (c === DQUOTE) this.state = State.IdentQuoteEnd;
          else if (c === NL) this.line++;
          break;
        case State.IdentQuoteEnd:
          if (c === DQUOTE) {
            this.state = State.IdentQuote;
          } else {
            this.state = State.Normal;
            continue;
          }
          break;
        case State.DollarOpen:
          if (c === DOLLAR) {
            this.state = State.DollarBody;
          } else if (isIdentStart(c) || (isDigit(c) && this.dollarTag.length > 0)) {
            this.dollarTag.push(c);
          } else {
            // `$1` or a lone `$`: not a dollar quote after all.
            this.state = State.Normal;
            continue;
          }
          break;
        case State.DollarBody:
          if (c === DOLLAR) {
            this.closeTag = [];
            this.state = State.DollarClose;
          } else if (c === NL) {
            this.line++;
          }
          break;
        case State.DollarClose:
          if (c === DOLLAR) {
            if (sameBytes(this.closeTag, this.dollarTag)) {
              this.state = State.Normal;
            } else {
              this.closeTag = []; // this `$` may open the real closing tag
            }
          } else if (isDollarTagCont(c) && this.closeTag.length < this.dollarTag.length) {
            this.closeTag.push(c);
          } else {
            this.state = State.DollarBody;
            continue;
          }
          break;
        case State.Meta:
          if (c === NL) {
            this.finishMeta(events);
            this.state = State.Normal;
            this.line++;
          } else if (this.comment.length < MAX_COMMENT_BYTES) {
            this.comment.push(c);
          }
          break;
        case State.AfterCopyStatement:
          if (c === NL) {
            this.line++;
            this.state = State.CopyData;
            this.copyAtLineStart = true;
            this.copyRows = 0;
          } else if (!isSpace(c)) {
            throw new CodedError(
              "dump_invalid",
              `Line ${this.line}: unexpected text after a COPY … FROM stdin statement; pg_dump starts the data on the next line.`,
              { details: { line: this.line } },
            );
          }
          break;
        default:
          break;
      }
      i++;
    }
    // Keep the unfinished statement's bytes for the next chunk.
    if (this.inStatement && this.startInChunk >= 0 && this.startInChunk < n) {
      this.addPart(buf.subarray(this.startInChunk, n));
    }
    if (this.inStatement) this.startInChunk = 0;
  }

  private normal(buf: Buffer, i: number, c: number, events: DumpEvent[]): void {
    if (isSpace(c)) {
      if (c === NL) this.line++;
      return;
    }
    if (c === 0x2d) {
      this.state = State.Dash;
      return;
    }
    if (c === 0x2f) {
      this.state = State.Slash;
      return;
    }
    if (c === BACKSLASH) {
      if (this.inStatement) {
        throw new CodedError(
          "dump_invalid",
          `Line ${this.line}: a psql backslash command inside the statement that starts at line ${this.statementLine}; pg_dump never writes that.`,
          { details: { line: this.line } },
        );
      }
      this.state = State.Meta;
      this.comment = [];
      this.commentLine = this.line;
      return;
    }
    if (!this.inStatement) this.beginStatement(i);
    if (c === 0x3b) {
      if (this.parenDepth === 0 && this.beginDepth === 0) this.finishStatement(buf, i + 1, events);
      return;
    }
    if (c === QUOTE) this.state = this.standardStrings ? State.Quote : State.EQuote;
    else if (c === DQUOTE) this.state = State.IdentQuote;
    else if (c === DOLLAR) {
      this.dollarTag = [];
      this.state = State.DollarOpen;
    } else if (c === 0x28) this.parenDepth++;
    else if (c === 0x29) {
      if (this.parenDepth > 0) this.parenDepth--;
    } else if (isIdentStart(c)) {
      this.word = String.fromCharCode(lower(c));
      this.wordLength = 1;
      this.state = State.Ident;
    }
  }

  private beginStatement(offset: number): void {
    this.inStatement = true;
    this.startInChunk = offset;
    this.statementLine = this.line;
    this.parts = [];
    this.partsBytes = 0;
    this.parenDepth = 0;
    this.beginDepth = 0;
    this.identifierCount = 0;
    this.leadingWords = [];
  }

  /** psql's heuristic for `CREATE [OR REPLACE] FUNCTION|PROCEDURE … BEGIN ATOMIC … END`. */
  private finishWord(): void {
    const word = this.wordLength > 12 ? "" : this.word;
    if (this.identifierCount < 4) this.leadingWords.push(word);
    this.identifierCount++;
    const [w0, w1, w2, w3] = this.leadingWords;
    const isRoutine =
      w0 === "create" &&
      (w1 === "function" ||
        w1 === "procedure" ||
        (w1 === "or" && w2 === "replace" && (w3 === "function" || w3 === "procedure")));
    if (!isRoutine || this.parenDepth !== 0) return;
    if (word === "begin") this.beginDepth++;
    else if (word === "case") {
      if (this.beginDepth >= 1) this.beginDepth++;
    } else if (word === "end" && this.beginDepth > 0) this.beginDepth--;
  }

  private addPart(part: Buffer): void {
    this.partsBytes += part.length;
    if (this.partsBytes > MAX_STATEMENT_BYTES) {
      throw new CodedError(
        "dump_invalid",
        `The statement that starts at line ${this.statementLine} is longer than ${formatBytes(MAX_STATEMENT_BYTES)}; that is not something pg_dump writes (is a quote left open?).`,
        { details: { line: this.statementLine } },
      );
    }
    this.parts.push(part);
  }

  private finishStatement(buf: Buffer, endInChunk: number, events: DumpEvent[]): void {
    this.addPart(buf.subarray(this.startInChunk, endInChunk));
    const bytes = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts);
    const line = this.statementLine;
    const sql = decodeUtf8(bytes, "the statement", line);
    const object = this.pendingObject;
    this.inStatement = false;
    this.startInChunk = -1;
    this.parts = [];
    this.partsBytes = 0;
    if (/^;\s*$/.test(sql)) return; // an empty statement; psql sends nothing either
    if (this.trailerSeen) this.statementsAfterTrailer++;
    const standard = STANDARD_STRINGS.exec(sql);
    if (standard) this.standardStrings = (standard[1] as string).toLowerCase() === "on";
    if (COPY_FROM_STDIN.test(sql)) {
      this.copyTable = object;
      this.state = State.AfterCopyStatement;
      events.push({ kind: "copy-start", sql, line, object });
    } else {
      events.push({ kind: "statement", sql, line, object });
    }
  }

  private finishComment(): void {
    if (!this.commentTracked) return;
    this.commentTracked = false;
    const text = decodeUtf8(Buffer.from(this.comment), "a comment", this.commentLine);
    this.comment = [];
    const toc = TOC_COMMENT.exec(text);
    if (toc) {
      const owner = toc[4]?.trim();
      this.pendingObject = {
        name: toc[1] as string,
        type: toc[2] as string,
        schema: toc[3] as string,
        ...(owner && owner !== "-" ? { owner } : {}),
      };
    } else if (text.startsWith("-- Dumped ")) {
      const version = /^-- Dumped (from database|by pg_dump) version (.+)$/.exec(text.trimEnd());
      if (version?.[1] === "from database") this.versions.server = version[2];
      else if (version) this.versions.pgDump = version[2];
    } else if (text.trimEnd() === COMPLETION_TRAILER) {
      this.trailerSeen = true;
      this.statementsAfterTrailer = 0;
    }
  }

  private finishMeta(events: DumpEvent[]): void {
    const text = decodeUtf8(Buffer.from(this.comment), "a backslash command", this.commentLine);
    this.comment = [];
    const match = /^(\S*)\s*([\s\S]*?)\s*$/.exec(text);
    events.push({
      kind: "meta",
      command: `\\${match?.[1] ?? ""}`,
      argument: match?.[2] ?? "",
      line: this.commentLine,
    });
  }

  /**
   * COPY text format: one row per line; the block ends with a line holding only `\.`. Data
   * lines can never start with `\.` (a backslash in data is written `\\`), so looking at
   * line starts is enough. Returns the offset where scanning stopped.
   */
  private scanCopyData(buf: Buffer, from: number, events: DumpEvent[], atEnd: boolean): number {
    const n = buf.length;
    let i = from;
    let rows = 0;
    while (i < n) {
      if (this.copyAtLineStart && buf[i] === BACKSLASH) {
        const terminator = copyTerminatorLength(buf, i, atEnd);
        if (terminator === undefined) {
          // Cannot tell yet: keep these few bytes for the next chunk.
          this.emitCopyData(buf, from, i, rows, events);
          this.carry = Buffer.from(buf.subarray(i));
          return n;
        }
        if (terminator > 0) {
          this.emitCopyData(buf, from, i, rows, events);
          this.line++;
          events.push({ kind: "copy-end", line: this.line - 1, rows: this.copyRows });
          this.state = State.Normal;
          this.pendingObject = undefined;
          return i + terminator;
        }
      }
      const nl = buf.indexOf(NL, i);
      if (nl === -1) {
        this.copyAtLineStart = false;
        i = n;
        break;
      }
      rows++;
      this.line++;
      this.copyAtLineStart = true;
      i = nl + 1;
    }
    this.emitCopyData(buf, from, i, rows, events);
    return i;
  }

  private emitCopyData(
    buf: Buffer,
    from: number,
    to: number,
    rows: number,
    events: DumpEvent[],
  ): void {
    this.copyRows += rows;
    if (to > from) events.push({ kind: "copy-data", data: buf.subarray(from, to), rows });
  }

  private unexpected(char: string): never {
    throw new CodedError(
      "dump_invalid",
      `Line ${this.line}: a statement cannot start with "${char}"; this is not SQL that pg_dump writes.`,
      { details: { line: this.line } },
    );
  }
}

/** Length of the `\.` end-of-data line at `i` (0 when the line is data, undefined when unsure). */
function copyTerminatorLength(buf: Buffer, i: number, atEnd: boolean): number | undefined {
  const left = buf.length - i;
  if (left < 2) return atEnd ? 0 : undefined;
  if (buf[i + 1] !== DOT) return 0;
  if (left < 3) return atEnd ? 2 : undefined;
  const c = buf[i + 2];
  if (c === NL) return 3;
  if (c === CR) {
    if (left < 4) return atEnd ? 0 : undefined;
    return buf[i + 3] === NL ? 4 : 0;
  }
  return 0;
}

function sameBytes(a: number[], b: number[]): boolean {
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}

/** "TABLE DATA public.orders", or "an unnamed entry". */
export function describeObject(object: DumpObjectRef | undefined): string {
  if (object === undefined) return "an unnamed entry";
  const qualified = object.schema === "-" ? object.name : `${object.schema}.${object.name}`;
  return `${object.type} ${qualified}`;
}
