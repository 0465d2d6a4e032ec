import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { CodedError } from "../../src/errors.js";
import { splitAll } from "./support.js";

const PAGILA = gunzipSync(
  readFileSync(new URL("../../../shared/fixtures/pagila.pg_dump.gz", import.meta.url)),
);

const statements = (input: string) =>
  splitAll(input).events.flatMap((e) => (e.kind === "statement" ? [e.sql] : []));

describe("DumpSplitter: statement boundaries", () => {
  const cases: Array<{ name: string; input: string; expected: string[] }> = [
    {
      name: "comments between statements are not part of them",
      input: "-- first\nSELECT 1;\n--\n-- second; with a semicolon\nSELECT 2;\n",
      expected: ["SELECT 1;", "SELECT 2;"],
    },
    {
      name: "a semicolon inside a string",
      input: "SELECT 'a;b';\nSELECT 2;",
      expected: ["SELECT 'a;b';", "SELECT 2;"],
    },
    {
      name: "doubled quotes inside a string",
      input: "SELECT 'it''s; fine', '';\n",
      expected: ["SELECT 'it''s; fine', '';"],
    },
    {
      name: "E'' strings take backslash escapes",
      input: "SELECT E'a\\';b', e'\\\\';\nSELECT 2;",
      expected: ["SELECT E'a\\';b', e'\\\\';", "SELECT 2;"],
    },
    {
      name: "an identifier ending in e is not an E string",
      input: "SELECT note'x;y';",
      expected: ["SELECT note'x;y';"],
    },
    {
      name: "quoted identifiers with semicolons and doubled quotes",
      input: 'CREATE TABLE public."a;""b" (x integer);\n',
      expected: ['CREATE TABLE public."a;""b" (x integer);'],
    },
    {
      name: "non-ASCII quoted identifiers",
      input: 'CREATE DOMAIN public."bıgınt" AS bigint;\n',
      expected: ['CREATE DOMAIN public."bıgınt" AS bigint;'],
    },
    {
      name: "dollar-quoted bodies with tags, and other tags inside them",
      input:
        "CREATE FUNCTION f() RETURNS text\n    AS $_$\nSELECT 'x;'; $$ inner; $$ $a$ $_x$;\n$_$ LANGUAGE sql;\nSELECT 2;",
      expected: [
        "CREATE FUNCTION f() RETURNS text\n    AS $_$\nSELECT 'x;'; $$ inner; $$ $a$ $_x$;\n$_$ LANGUAGE sql;",
        "SELECT 2;",
      ],
    },
    {
      name: "$1 parameters are not dollar quotes",
      input: "CREATE FUNCTION f(int) RETURNS int AS 'SELECT $1' LANGUAGE sql;\nSELECT $1;",
      expected: ["CREATE FUNCTION f(int) RETURNS int AS 'SELECT $1' LANGUAGE sql;", "SELECT $1;"],
    },
    {
      name: "identifiers containing $",
      input: "SELECT a$b$c;\nSELECT 2;",
      expected: ["SELECT a$b$c;", "SELECT 2;"],
    },
    {
      name: "nested block comments",
      input: "SELECT /* a; /* b; */ c; */ 1;",
      expected: ["SELECT /* a; /* b; */ c; */ 1;"],
    },
    {
      name: "a line comment inside a statement",
      input: "SELECT 1 -- not the end;\n  + 1;",
      expected: ["SELECT 1 -- not the end;\n  + 1;"],
    },
    {
      name: "semicolons inside parentheses (rules with several actions)",
      input:
        "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2));\nSELECT 2;",
      expected: [
        "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2));",
        "SELECT 2;",
      ],
    },
    {
      name: "SQL-standard function bodies (BEGIN ATOMIC … END) with CASE inside",
      input:
        "CREATE FUNCTION public.f(a integer) RETURNS integer\n    LANGUAGE sql\n    BEGIN ATOMIC\n SELECT 1;\n SELECT CASE WHEN (a > 0) THEN 1 ELSE 0 END AS c;\nEND;\nSELECT 2;",
      expected: [
        "CREATE FUNCTION public.f(a integer) RETURNS integer\n    LANGUAGE sql\n    BEGIN ATOMIC\n SELECT 1;\n SELECT CASE WHEN (a > 0) THEN 1 ELSE 0 END AS c;\nEND;",
        "SELECT 2;",
      ],
    },
    {
      name: "CREATE OR REPLACE PROCEDURE with BEGIN ATOMIC",
      input: "CREATE OR REPLACE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC SELECT 1; END;\nSELECT 2;",
      expected: [
        "CREATE OR REPLACE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC SELECT 1; END;",
        "SELECT 2;",
      ],
    },
    {
      name: "BEGIN/END outside a routine do not nest",
      input: "BEGIN;\nSELECT CASE WHEN true THEN 1 END;\nCOMMIT;",
      expected: ["BEGIN;", "SELECT CASE WHEN true THEN 1 END;", "COMMIT;"],
    },
    {
      name: "standard_conforming_strings = off makes backslashes escapes",
      input: "SET standard_conforming_strings = off;\nSELECT 'a\\';b';\nSELECT 2;",
      expected: ["SET standard_conforming_strings = off;", "SELECT 'a\\';b';", "SELECT 2;"],
    },
    {
      name: "an empty statement is dropped",
      input: "SELECT 1;;\n;\nSELECT 2;",
      expected: ["SELECT 1;", "SELECT 2;"],
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      expect(statements(c.input)).toEqual(c.expected);
    });
    it(`${c.name} — the same when fed byte by byte`, () => {
      expect(splitAll(c.input, 1).events).toEqual(splitAll(c.input).events);
    });
  }
});

describe("DumpSplitter: COPY data", () => {
  const copy =
    "COPY public.t (a, b) FROM stdin;\n1\t\\N\n\\N\tx\\\\.y\n\\\\.\tstarts with an escaped backslash\n\\.\nSELECT 2;\n";

  it("passes rows through untouched up to the \\. line, counting them", () => {
    const { events } = splitAll(copy);
    expect(events).toEqual([
      { kind: "copy-start", sql: "COPY public.t (a, b) FROM stdin;", line: 1 },
      {
        kind: "copy-data",
        data: "1\t\\N\n\\N\tx\\\\.y\n\\\\.\tstarts with an escaped backslash\n",
        rows: 3,
      },
      { kind: "copy-end", line: 5, rows: 3 },
      { kind: "statement", sql: "SELECT 2;", line: 6 },
    ]);
  });

  it("finds the end of the data wherever the chunks split it", () => {
    const whole = splitAll(copy).events;
    for (const size of [1, 2, 3, 4, 5, 7, 11]) expect(splitAll(copy, size).events).toEqual(whole);
  });

  it("accepts \\r\\n line ends on the \\. line", () => {
    const { events } = splitAll("COPY t FROM stdin;\nrow\r\n\\.\r\nSELECT 2;");
    expect(events.map((e) => e.kind)).toEqual(["copy-start", "copy-data", "copy-end", "statement"]);
  });

  it("handles an empty COPY block", () => {
    const { events } = splitAll("COPY t FROM stdin;\n\\.\nSELECT 2;");
    expect(events).toEqual([
      { kind: "copy-start", sql: "COPY t FROM stdin;", line: 1 },
      { kind: "copy-end", line: 2, rows: 0 },
      { kind: "statement", sql: "SELECT 2;", line: 3 },
    ]);
  });

  it("keeps data bytes exactly, non-UTF-8 included", () => {
    const bytes = Buffer.concat([
      Buffer.from("COPY t FROM stdin;\n"),
      Buffer.from([0xc3, 0xa9, 0x09, 0xff, 0x0a]),
      Buffer.from("\\.\n"),
    ]);
    const { events } = splitAll(bytes, 2);
    const data = events.find((e) => e.kind === "copy-data");
    expect(data?.kind === "copy-data" && data.rows).toBe(1);
  });
});

describe("DumpSplitter: pg_dump structure", () => {
  it("attaches pg_dump's table-of-contents entry to the statements under it", () => {
    const { events } = splitAll(
      "--\n-- Name: f(integer, text); Type: FUNCTION; Schema: public; Owner: postgres\n--\n\nCREATE FUNCTION public.f(integer, text) RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;\n\n--\n-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: postgres\n--\n\nCOPY public.t (a) FROM stdin;\n\\.\n",
    );
    expect(events[0]).toMatchObject({ object: "FUNCTION public.f(integer, text)" });
    expect(events[1]).toMatchObject({ kind: "copy-start", object: "TABLE DATA public.t" });
  });

  it("reports psql meta-commands with their argument and line", () => {
    const { events } = splitAll("--\n\\restrict abc123\n\nSELECT 1;\n\\connect other_db\n");
    expect(events).toEqual([
      { kind: "meta", command: "\\restrict", argument: "abc123", line: 2 },
      { kind: "statement", sql: "SELECT 1;", line: 4 },
      { kind: "meta", command: "\\connect", argument: "other_db", line: 5 },
    ]);
  });

  it("knows the dump is complete only after pg_dump's closing line, with no statement after it", () => {
    expect(
      splitAll("SELECT 1;\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict k\n")
        .complete,
    ).toBe(true);
    expect(splitAll("SELECT 1;\n").complete).toBe(false);
    expect(splitAll("-- PostgreSQL database dump complete\nSELECT 1;\n").complete).toBe(false);
  });

  it("splits the pagila dump into its 261 statements and 21 COPY blocks, whatever the chunk size", () => {
    const whole = splitAll(PAGILA);
    const count = (kind: string) => whole.events.filter((e) => e.kind === kind).length;
    expect(count("statement")).toBe(261);
    expect(count("copy-start")).toBe(21);
    expect(count("copy-end")).toBe(21);
    expect(whole.complete).toBe(true);
    const rows = whole.events.reduce((n, e) => n + (e.kind === "copy-end" ? e.rows : 0), 0);
    expect(rows).toBe(49_636);
    for (const size of [997, 4096, 65_536])
      expect(splitAll(PAGILA, size).events).toEqual(whole.events);
  });

  it("finds the statement the vendor's awk breaks: a function with arguments", () => {
    const sql = statements(PAGILA.toString("utf8"));
    expect(sql).toContain("ALTER FUNCTION public._group_concat(text, text) OWNER TO postgres;");
  });
});

describe("DumpSplitter: truncated or malformed input", () => {
  const failures: Array<{ name: string; input: string; message: RegExp }> = [
    {
      name: "an unterminated statement",
      input: "SELECT 1;\nSELECT 2",
      message: /middle of a statement that starts at line 2/,
    },
    { name: "an unterminated string", input: "SELECT 'abc;\n", message: /middle of a statement/ },
    {
      name: "an unterminated dollar quote",
      input: "SELECT $x$ abc;\n",
      message: /middle of a statement/,
    },
    {
      name: "COPY data without its end line",
      input: "COPY t FROM stdin;\n1\n2\n",
      message: /inside the COPY data.*truncated/,
    },
    {
      name: "text after COPY … FROM stdin;",
      input: "COPY t FROM stdin; SELECT 1;\n\\.\n",
      message: /unexpected text after a COPY/,
    },
    {
      name: "a backslash command inside a statement",
      input: "SELECT 1 \\gexec\n;",
      message: /backslash command inside the statement/,
    },
    {
      name: "a statement starting with an operator",
      input: "- 1;",
      message: /cannot start with "-"/,
    },
  ];
  for (const f of failures) {
    it(`refuses ${f.name}`, () => {
      let caught: unknown;
      try {
        splitAll(f.input);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(CodedError);
      expect((caught as CodedError).code).toBe("dump_invalid");
      expect((caught as CodedError).message).toMatch(f.message);
    });
  }

  it("refuses a statement over the size limit, naming the limit in the shared units", () => {
    const open = Buffer.concat([
      Buffer.from("SELECT 1;\nSELECT 'never closed\n"),
      Buffer.alloc(17 << 20, "x"),
    ]);
    expect(() => splitAll(open)).toThrow(
      /statement that starts at line 2 is longer than 16\.0 MiB; that is not something pg_dump writes/,
    );
  });

  it("refuses statements that are not valid UTF-8", () => {
    expect(() => splitAll(Buffer.from([0x53, 0x45, 0x4c, 0xff, 0x3b]))).toThrow(
      /not valid UTF-8.*line 1/,
    );
  });
});
