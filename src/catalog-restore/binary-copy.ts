import type pg from "pg";
import { CodedError } from "../errors.js";

/**
 * Turns the text-format rows of a pg_dump COPY block into PostgreSQL's binary COPY format,
 * for tables whose columns all have types with a simple, exact binary form (integers,
 * booleans, UUIDs, bytea, text, json(b), enums, integer arrays, and domains over them).
 *
 * Why: in a restore the database is the bottleneck, and a large share of its COPY time is
 * parsing text into values (array_in, byteain, int8in …). Binary COPY hands it the values
 * ready-made, so the parsing runs here instead, off the database's CPU. The stored values
 * are identical — each converter below mirrors the type's text output exactly — which the
 * tests check by comparing pg_dump output. Any other column type keeps the whole table on
 * text COPY, unchanged.
 */

export type ScalarCodec = "int2" | "int4" | "int8" | "bool" | "uuid" | "bytea" | "text" | "jsonb";
export type ColumnCodec =
  | { kind: "scalar"; type: ScalarCodec }
  | { kind: "int-array"; element: "int2" | "int4" | "int8"; elementOid: number };

const SCALARS: Record<string, ScalarCodec> = {
  int2: "int2",
  int4: "int4",
  int8: "int8",
  bool: "bool",
  uuid: "uuid",
  bytea: "bytea",
  text: "text",
  varchar: "text",
  json: "text",
  jsonb: "jsonb",
};
const INT_ELEMENTS = new Set(["int2", "int4", "int8"]);

/** One row of the type lookup; see `readCopyColumnCodecs`. */
export interface TypeInfo {
  oid: number;
  name: string;
  namespace: string;
  /** pg_type.typtype: b base, d domain, e enum, … */
  kind: string;
  baseType: number;
  element: number;
  category: string;
}

/** The codec for a column of type `oid`, or undefined when it has no exact binary form here. */
export function codecFor(oid: number, types: Map<number, TypeInfo>): ColumnCodec | undefined {
  let type = types.get(oid);
  for (let depth = 0; type?.kind === "d" && depth < 10; depth++) type = types.get(type.baseType);
  if (type === undefined) return undefined;
  if (type.kind === "e") return { kind: "scalar", type: "text" }; // enum_recv takes the label
  if (type.namespace !== "pg_catalog" || type.kind !== "b") return undefined;
  const scalar = SCALARS[type.name];
  if (scalar !== undefined) return { kind: "scalar", type: scalar };
  if (type.category === "A") {
    const element = types.get(type.element);
    if (
      element?.namespace === "pg_catalog" &&
      element.kind === "b" &&
      INT_ELEMENTS.has(element.name)
    )
      return {
        kind: "int-array",
        element: element.name as "int2" | "int4" | "int8",
        elementOid: element.oid,
      };
  }
  return undefined;
}

/** `COPY rel (a, "b c") FROM stdin;` → the relation as written and the column names. */
export function parseCopyStatement(
  sql: string,
): { relation: string; columns: string[] | undefined } | undefined {
  const match =
    /^COPY\s+((?:"(?:[^"]|"")*"|[^\s("])+(?:\.(?:"(?:[^"]|"")*"|[^\s(".]+))*)\s*(?:\(([\s\S]*)\)\s*)?FROM\s+stdin\s*;$/i.exec(
      sql,
    );
  if (!match) return undefined;
  const relation = match[1] as string;
  const list = match[2];
  if (list === undefined) return { relation, columns: undefined };
  const columns: string[] = [];
  const identifier = /\s*(?:"((?:[^"]|"")*)"|([^\s,"]+))\s*(,|$)/y;
  let at = 0;
  while (at < list.length) {
    identifier.lastIndex = at;
    const m = identifier.exec(list);
    if (!m) return undefined;
    columns.push(m[1] !== undefined ? m[1].replace(/""/g, '"') : (m[2] as string));
    at = identifier.lastIndex;
    if (m[3] === "") break;
  }
  return { relation, columns };
}

/** The binary form of a pg_dump COPY statement. */
export function binaryCopyStatement(sql: string): string {
  return sql.replace(/\s*;\s*$/, " WITH (FORMAT binary);");
}

/**
 * Looks up the target table's column types (after its CREATE TABLE, in the restore's
 * transaction) and returns one codec per COPY column, or undefined to keep text COPY.
 */
export async function readCopyColumnCodecs(
  client: pg.ClientBase,
  sql: string,
): Promise<ColumnCodec[] | undefined> {
  const parsed = parseCopyStatement(sql);
  if (parsed === undefined) return undefined;
  const { rows: attributes } = await client.query<{ name: string; type: number }>(
    `SELECT attname AS name, atttypid::int AS type FROM pg_catalog.pg_attribute
     WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
     ORDER BY attnum`,
    [parsed.relation],
  );
  const { rows: typeRows } = await client.query<{
    oid: number;
    name: string;
    namespace: string;
    kind: string;
    base_type: number;
    element: number;
    category: string;
  }>(
    `WITH RECURSIVE t AS (
       SELECT oid FROM pg_catalog.pg_type WHERE oid = ANY($1::oid[])
       UNION
       SELECT p.oid FROM pg_catalog.pg_type p JOIN pg_catalog.pg_type c ON p.oid IN (c.typbasetype, c.typelem)
       JOIN t ON c.oid = t.oid
     )
     SELECT y.oid::int, y.typname AS name, n.nspname AS namespace, y.typtype AS kind,
            y.typbasetype::int AS base_type, y.typelem::int AS element, y.typcategory AS category
     FROM t JOIN pg_catalog.pg_type y ON y.oid = t.oid JOIN pg_catalog.pg_namespace n ON n.oid = y.typnamespace`,
    [attributes.map((a) => a.type)],
  );
  const types = new Map<number, TypeInfo>(
    typeRows.map((r) => [
      r.oid,
      {
        oid: r.oid,
        name: r.name,
        namespace: r.namespace,
        kind: r.kind,
        baseType: r.base_type,
        element: r.element,
        category: r.category,
      },
    ]),
  );
  const byName = new Map(attributes.map((a) => [a.name, a.type]));
  const names = parsed.columns ?? attributes.map((a) => a.name);
  const codecs: ColumnCodec[] = [];
  for (const name of names) {
    const oid = byName.get(name);
    const codec = oid === undefined ? undefined : codecFor(oid, types);
    if (codec === undefined) return undefined;
    codecs.push(codec);
  }
  return codecs.length > 0 ? codecs : undefined;
}

const BACKSLASH = 0x5c;
const TAB = 0x09;
const NL = 0x0a;
const SIGNATURE = Buffer.from([
  0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
]);
const TWO_16 = 65536;
const TWO_32 = 4294967296;
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[0x30 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[0x61 + i] = 10 + i;
  HEX[0x41 + i] = 10 + i;
}

/** Output for one chunk; callers reserve room per row, so the writers need no checks. */
class Output {
  buf: Buffer;
  at = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  ensure(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(bigger, 0, 0, this.at);
    this.buf = bigger;
  }
  // Byte by byte: Buffer's write*BE methods validate their arguments on every call.
  int16(v: number): void {
    const buf = this.buf;
    const at = this.at;
    buf[at] = (v >> 8) & 0xff;
    buf[at + 1] = v & 0xff;
    this.at = at + 2;
  }
  int32(v: number): void {
    const buf = this.buf;
    const at = this.at;
    buf[at] = (v >>> 24) & 0xff;
    buf[at + 1] = (v >>> 16) & 0xff;
    buf[at + 2] = (v >>> 8) & 0xff;
    buf[at + 3] = v & 0xff;
    this.at = at + 4;
  }
  uint32(v: number): void {
    this.int32(v >>> 0);
  }
}

class ConversionError extends Error {}

/** Incremental text → binary COPY converter for one COPY block. */
export class BinaryCopyEncoder {
  private carry: Buffer | undefined;
  private rows = 0;
  /**
   * Rows are converted into this buffer, reused for every chunk, and each chunk's result is
   * copied out at its exact size: a fresh 1.5× buffer per chunk would leave ~50 % more
   * garbage outside the V8 heap (freed only at the next collection), which is what sets
   * the process's peak RSS.
   */
  private readonly scratch = new Output(0);

  constructor(
    private readonly codecs: ColumnCodec[],
    private readonly table: string,
    private readonly firstLine: number,
  ) {}

  /** The binary COPY signature, flags and header extension. */
  header(): Buffer {
    return SIGNATURE;
  }

  /** Converts every complete row in `chunk` (keeping a partial last row for the next call). */
  encode(chunk: Buffer): Buffer {
    const count = this.codecs.length;
    // Binary is ~1.3× the text of a typical catalog row; `reserve` grows it for denser rows.
    const out = this.scratch;
    out.at = 0;
    out.ensure(Math.ceil(chunk.length * 1.5) + 1024);
    const reserve = (rowBytes: number) => out.ensure(2 + 36 * count + 10 * rowBytes);
    let pos = 0;
    try {
      if (this.carry !== undefined) {
        // Finish the row split across chunks without copying the whole new chunk.
        const nl = chunk.indexOf(NL);
        if (nl === -1) {
          this.carry = Buffer.concat([this.carry, chunk]);
          return Buffer.alloc(0);
        }
        const row = Buffer.concat([this.carry, chunk.subarray(0, nl + 1)]);
        this.carry = undefined;
        reserve(row.length);
        this.row(row, 0, row.length - 1, out);
        this.rows++;
        pos = nl + 1;
      }
      for (;;) {
        const nl = chunk.indexOf(NL, pos);
        if (nl === -1) break;
        reserve(nl - pos);
        this.row(chunk, pos, nl, out);
        pos = nl + 1;
        this.rows++;
      }
    } catch (err) {
      if (err instanceof ConversionError) this.fail(err.message);
      throw err;
    }
    if (pos < chunk.length) this.carry = Buffer.from(chunk.subarray(pos));
    return Buffer.from(out.buf.subarray(0, out.at));
  }

  /** The end-of-data marker; throws if a partial row is left over. */
  finish(): Buffer {
    if (this.carry !== undefined && this.carry.length > 0)
      this.fail("the COPY data ends in the middle of a row");
    return Buffer.from([0xff, 0xff]);
  }

  private fail(why: string): never {
    throw new CodedError(
      "restore_failed",
      `Cannot convert the COPY data of ${this.table} near line ${this.firstLine + this.rows + 1} of the dump to binary: ${why}.`,
      { details: { line: this.firstLine + this.rows + 1 } },
    );
  }

  private row(b: Buffer, start: number, end: number, out: Output): void {
    const codecs = this.codecs;
    const count = codecs.length;
    out.int16(count);
    let p = start;
    for (let c = 0; c < count; c++) {
      if (p > end) throw new ConversionError(`a row has fewer than ${count} fields`);
      if (b[p] === BACKSLASH && b[p + 1] === 0x4e && (p + 2 === end || b[p + 2] === TAB)) {
        out.int32(-1); // \N
        p += 2;
      } else {
        p = writeValue(codecs[c] as ColumnCodec, b, p, end, out);
      }
      if (c < count - 1) {
        if (p >= end || b[p] !== TAB)
          throw new ConversionError(
            p >= end ? `a row has fewer than ${count} fields` : "a value has unexpected characters",
          );
        p++;
      } else if (p !== end) {
        throw new ConversionError(
          b[p] === TAB
            ? `a row has more than ${count} fields`
            : "a value has unexpected characters",
        );
      }
    }
  }
}

/** Where the field starting at `p` ends (its tab, or the end of the row). */
function fieldEnd(b: Buffer, p: number, end: number): number {
  const tab = b.indexOf(TAB, p);
  return tab === -1 || tab > end ? end : tab;
}

/** Writes one non-NULL value; returns the position just after it. */
function writeValue(codec: ColumnCodec, b: Buffer, p: number, end: number, out: Output): number {
  if (codec.kind === "int-array") return writeIntArray(codec, b, p, end, out);
  switch (codec.type) {
    case "int8":
      out.int32(8);
      return writeInt8(b, p, end, out);
    case "int4": {
      out.int32(4);
      const q = readInt(b, p, end, 2147483647);
      out.int32(parsed);
      return q;
    }
    case "int2": {
      out.int32(2);
      const q = readInt(b, p, end, 32767);
      out.int16(parsed);
      return q;
    }
    case "bool": {
      const v = b[p];
      if (v !== 0x74 && v !== 0x66) throw new ConversionError("a boolean is neither t nor f");
      out.int32(1);
      out.buf[out.at++] = v === 0x74 ? 1 : 0;
      return p + 1;
    }
    case "uuid":
      return writeUuid(b, p, end, out);
    case "text":
      return writeText(b, p, fieldEnd(b, p, end), out, 0);
    case "jsonb":
      return writeText(b, p, fieldEnd(b, p, end), out, 1); // format version 1, then the text
    case "bytea":
      return writeBytea(b, p, fieldEnd(b, p, end), out);
  }
}

/** The value read by the last `readInt` (saves allocating a pair per integer). */
let parsed = 0;

/** Reads an int2/int4 (exact in a double) into `parsed`; returns the position after it. */
function readInt(b: Buffer, start: number, end: number, max: number): number {
  let p = start;
  const negative = b[p] === 0x2d;
  if (negative) p++;
  const first = p;
  let v = 0;
  for (; p < end; p++) {
    const d = (b[p] as number) - 0x30;
    if (d < 0 || d > 9) break;
    v = v * 10 + d;
  }
  if (p === first || p - first > 10) throw new ConversionError("an integer is malformed");
  if (v > max + (negative ? 1 : 0)) throw new ConversionError("an integer is out of range");
  parsed = negative ? -v : v;
  return p;
}

/**
 * int8 as two 32-bit halves (nanosecond timestamps exceed a double's 53 bits): up to 15
 * digits directly, longer numbers as high·10⁹ + low with every product kept below 2⁵³.
 */
function writeInt8(b: Buffer, start: number, end: number, out: Output): number {
  let p = start;
  const negative = b[p] === 0x2d;
  if (negative) p++;
  const first = p;
  const exactEnd = Math.min(end, first + 15);
  let v = 0;
  for (; p < exactEnd; p++) {
    const d = (b[p] as number) - 0x30;
    if (d < 0 || d > 9) break;
    v = v * 10 + d;
  }
  if (p === first) throw new ConversionError("a bigint is malformed");
  let hi: number;
  let lo: number;
  const more = p === exactEnd ? (b[p] as number) - 0x30 : -1;
  if (more < 0 || more > 9) {
    hi = Math.floor(v / TWO_32);
    lo = v - hi * TWO_32;
  } else {
    // 16 to 19 digits: v holds the first 15; value = v·10^m + rest, split so that every
    // product stays below 2^53.
    let rest = 0;
    let scale = 1;
    for (; p < end; p++) {
      const d = (b[p] as number) - 0x30;
      if (d < 0 || d > 9) break;
      rest = rest * 10 + d;
      scale *= 10;
    }
    if (scale > 10000) throw new ConversionError("a bigint is out of range");
    const a = Math.floor(v / TWO_16);
    const x = (v - a * TWO_16) * scale + rest;
    const y = a * scale;
    const yHigh = Math.floor(y / TWO_16);
    const sum = x + (y - yHigh * TWO_16) * TWO_16;
    const carry = Math.floor(sum / TWO_32);
    lo = sum - carry * TWO_32;
    hi = yHigh + carry;
  }
  if (hi > 0x7fffffff && !(negative && hi === 0x80000000 && lo === 0))
    throw new ConversionError("a bigint is out of range");
  if (negative) {
    // Two's complement of the 64-bit magnitude.
    if (lo === 0) {
      hi = hi === 0 ? 0 : TWO_32 - hi;
    } else {
      lo = TWO_32 - lo;
      hi = TWO_32 - hi - 1;
    }
  }
  out.int32(hi);
  out.int32(lo);
  return p;
}

function writeUuid(b: Buffer, start: number, end: number, out: Output): number {
  if (end - start < 36) throw new ConversionError("a uuid is not in its 36-character form");
  out.int32(16);
  const buf = out.buf;
  let at = out.at;
  let p = start;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) {
      if (b[p] !== 0x2d) throw new ConversionError("a uuid is not in its 36-character form");
      p++;
    }
    const h = HEX[b[p] as number] as number;
    const l = HEX[b[p + 1] as number] as number;
    if (h < 0 || l < 0) throw new ConversionError("a uuid has a non-hex digit");
    buf[at++] = (h << 4) | l;
    p += 2;
  }
  out.at = at;
  return p;
}

/**
 * COPY text escapes (\\, \t, \n, octal, \x hex …) undone into `out`, after an int32 length
 * and an optional version byte. Fields without a backslash are copied as they are.
 */
function writeText(b: Buffer, from: number, to: number, out: Output, version: number): number {
  const lengthAt = out.at;
  out.at += 4;
  if (version) out.buf[out.at++] = version;
  const firstBackslash = b.indexOf(BACKSLASH, from);
  if (firstBackslash === -1 || firstBackslash >= to) {
    b.copy(out.buf, out.at, from, to);
    out.at += to - from;
  } else {
    out.at = unescapeInto(b, from, to, out.buf, out.at);
  }
  out.buf.writeInt32BE(out.at - lengthAt - 4, lengthAt);
  return to;
}

/** Undoes COPY's text escaping of b[from, to) into `dst` at `at`; returns the new end. */
function unescapeInto(b: Buffer, from: number, to: number, dst: Buffer, start: number): number {
  let at = start;
  let p = from;
  while (p < to) {
    const c = b[p] as number;
    if (c !== BACKSLASH || p + 1 >= to) {
      dst[at++] = c;
      p++;
      continue;
    }
    const e = b[p + 1] as number;
    p += 2;
    switch (e) {
      case 0x62:
        dst[at++] = 0x08;
        break;
      case 0x66:
        dst[at++] = 0x0c;
        break;
      case 0x6e:
        dst[at++] = 0x0a;
        break;
      case 0x72:
        dst[at++] = 0x0d;
        break;
      case 0x74:
        dst[at++] = 0x09;
        break;
      case 0x76:
        dst[at++] = 0x0b;
        break;
      case 0x78: {
        // \x with one or two hex digits
        const first = p < to ? (HEX[b[p] as number] as number) : -1;
        if (first < 0) {
          dst[at++] = 0x78;
          break;
        }
        p++;
        const second = p < to ? (HEX[b[p] as number] as number) : -1;
        if (second >= 0) {
          dst[at++] = (first << 4) | second;
          p++;
        } else {
          dst[at++] = first;
        }
        break;
      }
      default:
        if (e >= 0x30 && e <= 0x37) {
          // one to three octal digits
          let v = e - 0x30;
          for (let k = 0; k < 2 && p < to; k++) {
            const d = (b[p] as number) - 0x30;
            if (d < 0 || d > 7) break;
            v = v * 8 + d;
            p++;
          }
          dst[at++] = v & 0xff;
        } else {
          dst[at++] = e;
        }
    }
  }
  return at;
}

/** bytea text, hex (`\x…`) or escape format, as byteain reads it. */
function writeBytea(b: Buffer, from: number, to: number, out: Output): number {
  const lengthAt = out.at;
  out.at += 4;
  const buf = out.buf;
  // The usual case, hex output: COPY doubles bytea's backslash; hex digits need no escaping.
  if (
    to - from >= 3 &&
    b[from] === BACKSLASH &&
    b[from + 1] === BACKSLASH &&
    b[from + 2] === 0x78
  ) {
    if ((to - from - 3) % 2 === 0) {
      let at = out.at;
      for (let p = from + 3; p < to; p += 2) {
        const h = HEX[b[p] as number] as number;
        const l = HEX[b[p + 1] as number] as number;
        if (h < 0 || l < 0) throw new ConversionError("a bytea has an invalid hex digit");
        buf[at++] = (h << 4) | l;
      }
      out.at = at;
      buf.writeInt32BE(out.at - lengthAt - 4, lengthAt);
      return to;
    }
  }
  // Otherwise undo COPY's escaping first, then read bytea's own format as byteain does.
  const text = Buffer.allocUnsafe(to - from);
  const n = unescapeInto(b, from, to, text, 0);
  let at = out.at;
  if (n >= 2 && text[0] === BACKSLASH && text[1] === 0x78) {
    let p = 2;
    while (p < n) {
      const c = text[p] as number;
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) {
        p++;
        continue;
      }
      const h = HEX[c] as number;
      const l = p + 1 < n ? (HEX[text[p + 1] as number] as number) : -1;
      if (h < 0 || l < 0) throw new ConversionError("a bytea has an invalid hex digit");
      buf[at++] = (h << 4) | l;
      p += 2;
    }
  } else {
    let p = 0;
    while (p < n) {
      const c = text[p] as number;
      if (c !== BACKSLASH) {
        buf[at++] = c;
        p++;
      } else if (text[p + 1] === BACKSLASH) {
        buf[at++] = BACKSLASH;
        p += 2;
      } else {
        const d1 = (text[p + 1] ?? 0) - 0x30;
        const d2 = (text[p + 2] ?? 0) - 0x30;
        const d3 = (text[p + 3] ?? 0) - 0x30;
        if (d1 < 0 || d1 > 3 || d2 < 0 || d2 > 7 || d3 < 0 || d3 > 7)
          throw new ConversionError("a bytea has an invalid escape");
        buf[at++] = d1 * 64 + d2 * 8 + d3;
        p += 4;
      }
    }
  }
  out.at = at;
  buf.writeInt32BE(out.at - lengthAt - 4, lengthAt);
  return to;
}

type IntArrayCodec = { element: "int2" | "int4" | "int8"; elementOid: number };

/**
 * Integer arrays as array_recv reads them. One-dimensional arrays (`{1,NULL,3}`, `{}`) are
 * written in one pass with the header filled in afterwards; anything else (`{{1,2},{3,4}}`,
 * `[0:1]={5,6}`) takes the general path.
 */
function writeIntArray(
  codec: IntArrayCodec,
  b: Buffer,
  start: number,
  end: number,
  out: Output,
): number {
  if (b[start] !== 0x7b || b[start + 1] === 0x7b)
    return writeAnyIntArray(codec, b, start, end, out);
  const headerAt = out.at;
  if (b[start + 1] === 0x7d) {
    out.int32(12);
    out.int32(0);
    out.int32(0);
    out.uint32(codec.elementOid);
    return start + 2;
  }
  out.at += 4 + 12 + 8;
  let p = start + 1;
  let count = 0;
  let nulls = 0;
  for (;;) {
    if (b[p] === 0x4e && b[p + 1] === 0x55 && b[p + 2] === 0x4c && b[p + 3] === 0x4c) {
      out.int32(-1);
      nulls++;
      p += 4;
    } else if (codec.element === "int8") {
      out.int32(8);
      p = writeInt8(b, p, end, out);
    } else if (codec.element === "int4") {
      out.int32(4);
      p = readInt(b, p, end, 2147483647);
      out.int32(parsed);
    } else {
      out.int32(2);
      p = readInt(b, p, end, 32767);
      out.int16(parsed);
    }
    count++;
    const c = b[p];
    p++;
    if (c === 0x2c) continue;
    if (c === 0x7d) break;
    throw new ConversionError("an array is malformed");
  }
  const after = out.at;
  out.at = headerAt;
  out.int32(after - headerAt - 4);
  out.int32(1);
  out.int32(nulls > 0 ? 1 : 0);
  out.uint32(codec.elementOid);
  out.int32(count);
  out.int32(1);
  out.at = after;
  return p;
}

/** Multi-dimensional arrays and arrays with explicit bounds. */
function writeAnyIntArray(
  codec: IntArrayCodec,
  b: Buffer,
  start: number,
  end: number,
  out: Output,
): number {
  const to = fieldEnd(b, start, end);
  let p = start;
  const lowerBounds: number[] = [];
  while (b[p] === 0x5b) {
    // dimension decoration: [lb:ub][lb:ub]=
    const colon = b.indexOf(0x3a, p);
    const close = b.indexOf(0x5d, p);
    if (colon === -1 || close === -1 || colon > close || close > to)
      throw new ConversionError("an array has malformed bounds");
    readInt(b, p + 1, colon, 2147483647);
    lowerBounds.push(parsed);
    p = close + 1;
  }
  if (lowerBounds.length > 0) {
    if (b[p] !== 0x3d) throw new ConversionError("an array has malformed bounds");
    p++;
  }
  const sizes: number[] = [];
  const counts: number[] = [];
  const elements: number[] = []; // start offsets, -1 for NULL
  let depth = 0;
  let maxDepth = 0;
  while (p < to) {
    const c = b[p] as number;
    if (c === 0x7b) {
      depth++;
      if (depth > maxDepth) maxDepth = depth;
      counts[depth - 1] = 0;
      p++;
    } else if (c === 0x7d) {
      const count = counts[depth - 1] as number;
      if (sizes[depth - 1] === undefined) sizes[depth - 1] = count;
      else if (sizes[depth - 1] !== count) throw new ConversionError("an array is not rectangular");
      depth--;
      if (depth > 0) counts[depth - 1] = (counts[depth - 1] as number) + 1;
      p++;
    } else if (c === 0x2c) {
      p++;
    } else {
      const isNull = b[p] === 0x4e && b[p + 1] === 0x55 && b[p + 2] === 0x4c && b[p + 3] === 0x4c;
      elements.push(isNull ? -1 : p);
      counts[depth - 1] = (counts[depth - 1] as number) + 1;
      while (p < to && b[p] !== 0x2c && b[p] !== 0x7d) p++;
    }
  }
  if (depth !== 0) throw new ConversionError("an array has unbalanced braces");
  const ndim = elements.length === 0 ? 0 : maxDepth;
  const headerAt = out.at;
  out.at += 4;
  out.int32(ndim);
  out.int32(elements.includes(-1) ? 1 : 0);
  out.uint32(codec.elementOid);
  for (let d = 0; d < ndim; d++) {
    out.int32(sizes[d] as number);
    out.int32(lowerBounds[d] ?? 1);
  }
  for (const at of elements) {
    if (at === -1) {
      out.int32(-1);
    } else if (codec.element === "int8") {
      out.int32(8);
      writeInt8(b, at, to, out);
    } else if (codec.element === "int4") {
      out.int32(4);
      readInt(b, at, to, 2147483647);
      out.int32(parsed);
    } else {
      out.int32(2);
      readInt(b, at, to, 32767);
      out.int16(parsed);
    }
  }
  out.buf.writeInt32BE(out.at - headerAt - 4, headerAt);
  return to;
}
