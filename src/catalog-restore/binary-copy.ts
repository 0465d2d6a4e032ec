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
const TWO_32 = 4294967296;

/** Growable output buffer for one chunk. */
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
  int16(v: number): void {
    this.ensure(2);
    this.buf.writeInt16BE(v, this.at);
    this.at += 2;
  }
  int32(v: number): void {
    this.ensure(4);
    this.buf.writeInt32BE(v, this.at);
    this.at += 4;
  }
  uint32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.at);
    this.at += 4;
  }
  bytes(src: Buffer, from: number, to: number): void {
    this.ensure(to - from);
    src.copy(this.buf, this.at, from, to);
    this.at += to - from;
  }
  byte(v: number): void {
    this.ensure(1);
    this.buf[this.at++] = v;
  }
}

class ConversionError extends Error {}

/** Incremental text → binary COPY converter for one COPY block. */
export class BinaryCopyEncoder {
  private carry: Buffer | undefined;
  private rows = 0;

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
    let input = chunk;
    if (this.carry !== undefined) {
      input = Buffer.concat([this.carry, chunk]);
      this.carry = undefined;
    }
    const out = new Output(Math.ceil(input.length * 1.5) + 256);
    let pos = 0;
    for (;;) {
      const nl = input.indexOf(NL, pos);
      if (nl === -1) break;
      this.row(input, pos, nl, out);
      pos = nl + 1;
    }
    if (pos < input.length) this.carry = Buffer.from(input.subarray(pos));
    return out.buf.subarray(0, out.at);
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
      const tab = b.indexOf(TAB, p);
      const last = c === count - 1;
      if (!last && (tab === -1 || tab > end)) this.fail(`a row has fewer than ${count} fields`);
      if (last && tab !== -1 && tab < end) this.fail(`a row has more than ${count} fields`);
      const fieldEnd = last ? end : tab;
      if (fieldEnd - p === 2 && b[p] === BACKSLASH && b[p + 1] === 0x4e) {
        out.int32(-1); // \N
      } else {
        try {
          writeValue(codecs[c] as ColumnCodec, b, p, fieldEnd, out);
        } catch (err) {
          if (err instanceof ConversionError) this.fail(err.message);
          throw err;
        }
      }
      p = fieldEnd + 1;
    }
    this.rows++;
  }
}

function writeValue(codec: ColumnCodec, b: Buffer, from: number, to: number, out: Output): void {
  if (codec.kind === "int-array") {
    writeIntArray(codec, b, from, to, out);
    return;
  }
  switch (codec.type) {
    case "int2":
      out.int32(2);
      out.int16(parseSmallInt(b, from, to, 32767));
      return;
    case "int4":
      out.int32(4);
      out.int32(parseSmallInt(b, from, to, 2147483647));
      return;
    case "int8":
      out.int32(8);
      writeInt8(b, from, to, out);
      return;
    case "bool": {
      const v = to - from === 1 ? b[from] : -1;
      if (v !== 0x74 && v !== 0x66) throw new ConversionError("a boolean is neither t nor f");
      out.int32(1);
      out.byte(v === 0x74 ? 1 : 0);
      return;
    }
    case "uuid":
      writeUuid(b, from, to, out);
      return;
    case "text":
      writeText(b, from, to, out, 0);
      return;
    case "jsonb":
      writeText(b, from, to, out, 1); // jsonb_recv wants format version 1, then the text
      return;
    case "bytea":
      writeBytea(b, from, to, out);
      return;
  }
}

/** int2/int4 fit a double; the range check guards against a misread column. */
function parseSmallInt(b: Buffer, from: number, to: number, max: number): number {
  let p = from;
  const negative = b[p] === 0x2d;
  if (negative) p++;
  if (p >= to) throw new ConversionError("an integer is empty");
  let v = 0;
  for (; p < to; p++) {
    const d = (b[p] as number) - 0x30;
    if (d < 0 || d > 9) throw new ConversionError("an integer has a non-digit");
    v = v * 10 + d;
  }
  if (v > max + (negative ? 1 : 0)) throw new ConversionError("an integer is out of range");
  return negative ? -v : v;
}

/** int8 in two 32-bit halves: IOx's nanosecond times exceed a double's 53 bits. */
function writeInt8(b: Buffer, from: number, to: number, out: Output): void {
  let p = from;
  const negative = b[p] === 0x2d;
  if (negative) p++;
  if (p >= to || to - p > 19) throw new ConversionError("a bigint is empty or too long");
  let hi = 0;
  let lo = 0;
  for (; p < to; p++) {
    const d = (b[p] as number) - 0x30;
    if (d < 0 || d > 9) throw new ConversionError("a bigint has a non-digit");
    lo = lo * 10 + d;
    const carry = Math.floor(lo / TWO_32);
    lo -= carry * TWO_32;
    hi = hi * 10 + carry;
  }
  if (hi > 0x7fffffff && !(negative && hi === 0x80000000 && lo === 0))
    throw new ConversionError("a bigint is out of range");
  if (negative) {
    // Two's complement of the 64-bit magnitude.
    lo = TWO_32 - lo;
    hi = lo === TWO_32 ? TWO_32 - hi : TWO_32 - hi - 1;
    if (lo === TWO_32) lo = 0;
    if (hi === TWO_32) hi = 0;
  }
  out.uint32(hi);
  out.uint32(lo);
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

function writeUuid(b: Buffer, from: number, to: number, out: Output): void {
  if (to - from !== 36) throw new ConversionError("a uuid is not in its 36-character form");
  out.int32(16);
  out.ensure(16);
  let p = from;
  for (let i = 0; i < 16; i++) {
    if (b[p] === 0x2d) p++;
    const h = hexValue(b[p] as number);
    const l = hexValue(b[p + 1] as number);
    if (h < 0 || l < 0) throw new ConversionError("a uuid has a non-hex digit");
    out.buf[out.at++] = (h << 4) | l;
    p += 2;
  }
}

/**
 * COPY text escapes (\\, \t, \n, octal, \x hex …) undone into `out`, after an int32 length
 * and an optional version byte. Fields without a backslash are copied as they are.
 */
function writeText(b: Buffer, from: number, to: number, out: Output, version: number): void {
  const lengthAt = out.at;
  out.int32(0);
  if (version) out.byte(version);
  const bodyAt = out.at;
  const firstBackslash = b.indexOf(BACKSLASH, from);
  if (firstBackslash === -1 || firstBackslash >= to) out.bytes(b, from, to);
  else unescapeInto(b, from, to, out);
  out.buf.writeInt32BE(out.at - bodyAt + (version ? 1 : 0), lengthAt);
}

function unescapeInto(b: Buffer, from: number, to: number, out: Output): void {
  out.ensure(to - from);
  let p = from;
  while (p < to) {
    const c = b[p] as number;
    if (c !== BACKSLASH || p + 1 >= to) {
      out.buf[out.at++] = c;
      p++;
      continue;
    }
    const e = b[p + 1] as number;
    p += 2;
    switch (e) {
      case 0x62:
        out.buf[out.at++] = 0x08;
        break;
      case 0x66:
        out.buf[out.at++] = 0x0c;
        break;
      case 0x6e:
        out.buf[out.at++] = 0x0a;
        break;
      case 0x72:
        out.buf[out.at++] = 0x0d;
        break;
      case 0x74:
        out.buf[out.at++] = 0x09;
        break;
      case 0x76:
        out.buf[out.at++] = 0x0b;
        break;
      case 0x78: {
        // \x with one or two hex digits
        let v = hexValue(b[p] as number);
        if (p < to && v >= 0) {
          p++;
          const second = p < to ? hexValue(b[p] as number) : -1;
          if (second >= 0) {
            v = (v << 4) | second;
            p++;
          }
          out.buf[out.at++] = v;
        } else {
          out.buf[out.at++] = 0x78;
        }
        break;
      }
      default:
        if (e >= 0x30 && e <= 0x37) {
          // one to three octal digits
          let v = e - 0x30;
          for (
            let k = 0;
            k < 2 && p < to && (b[p] as number) >= 0x30 && (b[p] as number) <= 0x37;
            k++
          ) {
            v = v * 8 + ((b[p] as number) - 0x30);
            p++;
          }
          out.buf[out.at++] = v & 0xff;
        } else {
          out.buf[out.at++] = e;
        }
    }
  }
}

/** bytea text, hex (`\x…`) or escape format, as byteain reads it. */
function writeBytea(b: Buffer, from: number, to: number, out: Output): void {
  // The usual case, hex output: COPY doubles bytea's backslash, and hex digits need no escaping.
  if (
    to - from >= 3 &&
    b[from] === BACKSLASH &&
    b[from + 1] === BACKSLASH &&
    b[from + 2] === 0x78
  ) {
    const digits = to - from - 3;
    if (digits % 2 === 0) {
      out.int32(digits / 2);
      out.ensure(digits / 2);
      for (let p = from + 3; p < to; p += 2) {
        const h = hexValue(b[p] as number);
        const l = hexValue(b[p + 1] as number);
        if (h < 0 || l < 0) throw new ConversionError("a bytea has an invalid hex digit");
        out.buf[out.at++] = (h << 4) | l;
      }
      return;
    }
  }
  // Otherwise undo COPY's escaping first, then read bytea's own format as byteain does.
  const text = new Output(to - from);
  unescapeInto(b, from, to, text);
  const t = text.buf;
  const n = text.at;
  const lengthAt = out.at;
  out.int32(0);
  const bodyAt = out.at;
  if (n >= 2 && t[0] === BACKSLASH && t[1] === 0x78) {
    out.ensure((n - 2) >> 1);
    let p = 2;
    while (p < n) {
      const c = t[p] as number;
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) {
        p++;
        continue;
      }
      const h = hexValue(c);
      const l = p + 1 < n ? hexValue(t[p + 1] as number) : -1;
      if (h < 0 || l < 0) throw new ConversionError("a bytea has an invalid hex digit");
      out.buf[out.at++] = (h << 4) | l;
      p += 2;
    }
  } else {
    out.ensure(n);
    let p = 0;
    while (p < n) {
      const c = t[p] as number;
      if (c !== BACKSLASH) {
        out.buf[out.at++] = c;
        p++;
      } else if (t[p + 1] === BACKSLASH) {
        out.buf[out.at++] = BACKSLASH;
        p += 2;
      } else {
        const d1 = (t[p + 1] ?? 0) - 0x30;
        const d2 = (t[p + 2] ?? 0) - 0x30;
        const d3 = (t[p + 3] ?? 0) - 0x30;
        if (d1 < 0 || d1 > 3 || d2 < 0 || d2 > 7 || d3 < 0 || d3 > 7)
          throw new ConversionError("a bytea has an invalid escape");
        out.buf[out.at++] = d1 * 64 + d2 * 8 + d3;
        p += 4;
      }
    }
  }
  out.buf.writeInt32BE(out.at - bodyAt, lengthAt);
}

/** `{1,2,NULL}`, `{{1,2},{3,4}}`, `[0:1]={1,2}`, `{}` → array_recv's binary layout. */
function writeIntArray(
  codec: { element: "int2" | "int4" | "int8"; elementOid: number },
  b: Buffer,
  from: number,
  to: number,
  out: Output,
): void {
  let p = from;
  const lowerBounds: number[] = [];
  if (b[p] === 0x5b) {
    // dimension decoration: [lb:ub][lb:ub]=
    while (b[p] === 0x5b) {
      const close = b.indexOf(0x5d, p);
      const colon = b.indexOf(0x3a, p);
      if (close === -1 || close > to || colon === -1 || colon > close)
        throw new ConversionError("an array has malformed bounds");
      lowerBounds.push(parseSmallInt(b, p + 1, colon, 2147483647));
      p = close + 1;
    }
    if (b[p] !== 0x3d) throw new ConversionError("an array has malformed bounds");
    p++;
  }
  // Walk the braces once: dimension sizes and elements.
  const sizes: number[] = [];
  const counts: number[] = [];
  const elements: Array<[number, number] | null> = [];
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
      let q = p;
      while (q < to && b[q] !== 0x2c && b[q] !== 0x7d) q++;
      const isNull =
        q - p === 4 && b[p] === 0x4e && b[p + 1] === 0x55 && b[p + 2] === 0x4c && b[p + 3] === 0x4c;
      elements.push(isNull ? null : [p, q]);
      counts[depth - 1] = (counts[depth - 1] as number) + 1;
      p = q;
    }
  }
  if (depth !== 0) throw new ConversionError("an array has unbalanced braces");
  const empty = elements.length === 0;
  const ndim = empty ? 0 : maxDepth;
  const width = codec.element === "int2" ? 2 : codec.element === "int4" ? 4 : 8;
  const hasNull = elements.some((e) => e === null);
  const size = 12 + ndim * 8 + elements.reduce((n, e) => n + 4 + (e === null ? 0 : width), 0);
  out.int32(size);
  out.int32(ndim);
  out.int32(hasNull ? 1 : 0);
  out.uint32(codec.elementOid);
  for (let d = 0; d < ndim; d++) {
    out.int32(sizes[d] as number);
    out.int32(lowerBounds[d] ?? 1);
  }
  for (const e of elements) {
    if (e === null) {
      out.int32(-1);
      continue;
    }
    out.int32(width);
    if (width === 8) writeInt8(b, e[0], e[1], out);
    else if (width === 4) out.int32(parseSmallInt(b, e[0], e[1], 2147483647));
    else out.int16(parseSmallInt(b, e[0], e[1], 32767));
  }
}
