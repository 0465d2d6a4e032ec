import { describe, expect, it } from "vitest";
import { assertPlainDumpHeader, DumpPolicy } from "../../src/catalog-restore/statement-policy.js";
import { CodedError } from "../../src/errors.js";

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(CodedError);
    expect((err as CodedError).code).toBe("dump_invalid");
    return (err as CodedError).message;
  }
  throw new Error("expected a refusal");
}

describe("DumpPolicy.statement: session settings become transaction-local", () => {
  const rewrites: Array<[string, string]> = [
    ["SET statement_timeout = 0;", "SET LOCAL statement_timeout = 0;"],
    ["SET client_encoding = 'UTF8';", "SET LOCAL client_encoding = 'UTF8';"],
    ["set xmloption = content;", "SET LOCAL xmloption = content;"],
    [
      "SELECT pg_catalog.set_config('search_path', '', false);",
      "SELECT pg_catalog.set_config('search_path', '', true);",
    ],
    ["SET SESSION AUTHORIZATION 'postgres';", "SET LOCAL SESSION AUTHORIZATION 'postgres';"],
    ["SET SESSION search_path = x;", "SET LOCAL search_path = x;"],
    ["SET LOCAL work_mem = '1MB';", "SET LOCAL work_mem = '1MB';"],
    ["SET CONSTRAINTS ALL DEFERRED;", "SET CONSTRAINTS ALL DEFERRED;"],
    [
      "SELECT pg_catalog.setval('public.s', 5, true);",
      "SELECT pg_catalog.setval('public.s', 5, true);",
    ],
    ["CREATE TABLE public.t (a integer);", "CREATE TABLE public.t (a integer);"],
    ["GRANT SELECT ON TABLE public.t TO reader;", "GRANT SELECT ON TABLE public.t TO reader;"],
    ["CREATE USER MAPPING FOR reader SERVER s;", "CREATE USER MAPPING FOR reader SERVER s;"],
  ];
  for (const [input, output] of rewrites) {
    it(`${input} → ${output}`, () => {
      expect(new DumpPolicy().statement(input, 1, undefined)).toEqual({
        action: "execute",
        sql: output,
      });
    });
  }
});

describe("DumpPolicy.statement: refusals", () => {
  const refused: Array<[string, RegExp]> = [
    ["COMMIT;", /commit part of the restore/],
    ["ROLLBACK;", /transaction control/],
    ["START TRANSACTION;", /transaction control/],
    ["SAVEPOINT a;", /transaction control/],
    ["BEGIN ISOLATION LEVEL SERIALIZABLE;", /start a transaction/],
    ["CREATE ROLE app LOGIN;", /outside this database/],
    ["ALTER ROLE app SET search_path = x;", /outside this database/],
    ["CREATE DATABASE other;", /outside this database/],
    ["DROP DATABASE other;", /outside this database/],
    ["CREATE TABLESPACE fast LOCATION '/x';", /outside this database/],
    ["ALTER SYSTEM SET work_mem = '1GB';", /server's configuration/],
    ["GRANT app TO alice;", /role membership/],
    ["GRANT CONNECT ON DATABASE other TO alice;", /outside this database/],
    ["REASSIGN OWNED BY a TO b;", /everything a role owns/],
    ["DROP OWNED BY a;", /everything a role owns/],
    ["COMMENT ON DATABASE other IS 'x';", /labels a database/],
    ["COMMENT ON ROLE app IS 'x';", /labels a role/],
    ["COPY public.t FROM '/etc/passwd';", /files on the database server/],
    ["COPY public.t TO PROGRAM 'sh';", /files on the database server/],
    ["VACUUM;", /cannot run inside/],
    ["CREATE INDEX CONCURRENTLY i ON t (a);", /CONCURRENTLY/],
    ["CREATE SUBSCRIPTION s CONNECTION 'host=x' PUBLICATION p;", /subscription/],
    ["DROP SUBSCRIPTION s;", /subscription/],
    ["SET client_encoding = 'LATIN1';", /LATIN1 encoding/],
  ];
  for (const [input, message] of refused) {
    it(`refuses ${input}`, () => {
      const text = refusal(() => new DumpPolicy().statement(input, 42, undefined));
      expect(text).toMatch(message);
      expect(text).toContain("line 42");
    });
  }

  it("skips the DROPs pg_dump --clean puts before everything else, and only those", () => {
    const policy = new DumpPolicy();
    const run = (sql: string) => policy.statement(sql, 1, undefined).action;
    expect(run("SET statement_timeout = 0;")).toBe("execute");
    expect(run("SELECT pg_catalog.set_config('search_path', '', false);")).toBe("execute");
    expect(run("ALTER TABLE ONLY public.store DROP CONSTRAINT store_address_id_fkey;")).toBe(
      "skip",
    );
    expect(run("ALTER TABLE public.actor ALTER COLUMN actor_id DROP DEFAULT;")).toBe("skip");
    expect(run("DROP TRIGGER last_updated ON public.store;")).toBe("skip");
    expect(run("DROP TABLE IF EXISTS public.actor;")).toBe("skip");
    expect(run("CREATE TABLE public.actor (actor_id integer);")).toBe("execute");
    expect(run("DROP TABLE public.actor;")).toBe("execute");
  });

  it("absorbs the BEGIN/COMMIT pg_dump writes around large objects, once each", () => {
    const policy = new DumpPolicy();
    expect(policy.statement("BEGIN;", 1, undefined)).toEqual({ action: "skip" });
    expect(policy.statement("SELECT pg_catalog.lo_create('16400');", 2, undefined).action).toBe(
      "execute",
    );
    expect(() => policy.finish(true, 3)).toThrow(/never closed/);
    expect(policy.statement("COMMIT;", 3, undefined)).toEqual({ action: "skip" });
    expect(() => policy.statement("COMMIT;", 4, undefined)).toThrow(/commit part/);
  });
});

describe("DumpPolicy.meta", () => {
  it("skips matching \\restrict / \\unrestrict", () => {
    const policy = new DumpPolicy();
    policy.meta("\\restrict", "k1", 5);
    policy.meta("\\unrestrict", "k1", 90);
    expect(() => policy.finish(true, 91)).not.toThrow();
  });

  it("refuses a \\unrestrict that does not match", () => {
    const policy = new DumpPolicy();
    policy.meta("\\restrict", "k1", 5);
    expect(refusal(() => policy.meta("\\unrestrict", "k2", 90))).toMatch(/does not match/);
  });

  it("refuses a dump that never closes \\restrict", () => {
    const policy = new DumpPolicy();
    policy.meta("\\restrict", "k1", 5);
    expect(refusal(() => policy.finish(true, 90))).toMatch(/never closes it/);
  });

  it("refuses \\connect with an explanation of where such dumps come from", () => {
    expect(
      refusal(() => new DumpPolicy().meta("\\connect", "-reuse-previous=on \"dbname='x'\"", 12)),
    ).toMatch(/switches to another database.*pg_dumpall or pg_dump --create/);
  });

  it("refuses any other psql command", () => {
    expect(refusal(() => new DumpPolicy().meta("\\!", "rm -rf /", 3))).toMatch(/psql command \\!/);
    expect(refusal(() => new DumpPolicy().meta("\\i", "other.sql", 3))).toMatch(/psql command \\i/);
  });

  it("refuses a dump without pg_dump's closing line", () => {
    expect(refusal(() => new DumpPolicy().finish(false, 1234))).toMatch(
      /stops at line 1234.*truncated/,
    );
  });
});

describe("assertPlainDumpHeader", () => {
  it("accepts pg_dump's header", () => {
    expect(() =>
      assertPlainDumpHeader(Buffer.from("--\n-- PostgreSQL database dump\n--\n\n\\restrict x\n")),
    ).not.toThrow();
  });
  const rejected: Array<[string, Buffer, RegExp]> = [
    ["an empty file", Buffer.alloc(0), /empty/],
    ["a custom-format archive", Buffer.from("PGDMP\x01\x0e\x00"), /custom-format/],
    [
      "a pg_dumpall dump",
      Buffer.from("--\n-- PostgreSQL database cluster dump\n--\n"),
      /pg_dumpall/,
    ],
    ["any other text", Buffer.from("hello world\n"), /starts with "hello world/],
  ];
  for (const [name, head, message] of rejected) {
    it(`rejects ${name}`, () => {
      expect(refusal(() => assertPlainDumpHeader(head))).toMatch(message);
    });
  }
});
