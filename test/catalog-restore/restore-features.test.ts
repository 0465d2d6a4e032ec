import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { preflightDump } from "../../src/catalog-restore/preflight.js";
import { restoreCatalog } from "../../src/catalog-restore/restore-engine.js";
import { pgDump, pgDumpGzip } from "../../src/kinds/influxdb-clustered/sandbox/catalog-builder.js";
import { createTestDatabase, type TestDatabase } from "../support/postgres.js";
import { bufferSource, comparableDump, gzip, sql } from "./support.js";

// Everything else a plain pg_dump of one database can hold: extensions, a non-ASCII schema
// and a table name full of quotes and semicolons, enum/composite/range types, a domain,
// identity and generated columns, a partitioned table, materialized views with and without
// data, an SQL-standard function body, a procedure, triggers, an event trigger, a
// publication, row security, a NOT VALID check, an advanced sequence, a large object (which
// pg_dump wraps in BEGIN/COMMIT), grants, and a changed public schema.
const FEATURES = `
CREATE EXTENSION citext;
CREATE EXTENSION hstore WITH SCHEMA public;
CREATE SCHEMA "Ünïcode schema";
COMMENT ON SCHEMA public IS 'changed comment';
REVOKE USAGE ON SCHEMA public FROM PUBLIC;
CREATE TYPE "Ünïcode schema".mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE public.pair AS (a integer, b text);
CREATE TYPE public.floatrange AS RANGE (subtype = float8, subtype_diff = float8mi);
CREATE DOMAIN public.positive AS integer CHECK (VALUE > 0);
CREATE TABLE "Ünïcode schema"."Tâble; with ""quotes""" (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name citext NOT NULL,
  attrs hstore,
  m "Ünïcode schema".mood DEFAULT 'ok',
  note text DEFAULT E'tab\\there; semicolon',
  doubled integer GENERATED ALWAYS AS (id * 2) STORED
);
INSERT INTO "Ünïcode schema"."Tâble; with ""quotes""" (name, attrs, m, note) VALUES
  ('Alice', 'a=>1', 'happy', E'line1\\nline2\\\\.'), ('bob', NULL, 'sad', E'\\\\.'), ('Çé', 'x=>"y;z"', 'ok', '');
CREATE TABLE public.measure (id bigserial, at date NOT NULL, v public.positive, p public.pair, r public.floatrange) PARTITION BY RANGE (at);
CREATE TABLE public.measure_2024 PARTITION OF public.measure FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE public.measure_2025 PARTITION OF public.measure FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
ALTER TABLE public.measure ADD PRIMARY KEY (id, at);
INSERT INTO public.measure (at, v, p, r) SELECT date '2024-06-01' + g, g::public.positive, ROW(g, 'x' || g)::public.pair, floatrange(g, g + 1) FROM generate_series(1, 400) g;
CREATE MATERIALIZED VIEW public.measure_total AS SELECT count(*) AS n, sum(v) AS s FROM public.measure;
CREATE MATERIALIZED VIEW public.measure_empty AS SELECT 1 AS one WITH NO DATA;
CREATE FUNCTION public.add_atomic(a integer, b integer DEFAULT 1) RETURNS integer LANGUAGE sql IMMUTABLE
BEGIN ATOMIC
  SELECT CASE WHEN a IS NULL THEN b ELSE a + b END;
END;
CREATE PROCEDURE public.bump(n integer) LANGUAGE plpgsql AS $body$
BEGIN
  -- a comment; with a semicolon
  RAISE NOTICE 'bump %; $x$ not a tag', n;
END;
$body$;
CREATE FUNCTION public.stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.note := NEW.note || ''; RETURN NEW; END $$;
CREATE TRIGGER stamp BEFORE INSERT ON "Ünïcode schema"."Tâble; with ""quotes""" FOR EACH ROW EXECUTE FUNCTION public.stamp();
CREATE FUNCTION public.on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'ddl'; END $$;
CREATE EVENT TRIGGER log_ddl ON ddl_command_end EXECUTE FUNCTION public.on_ddl();
CREATE PUBLICATION pub_measure FOR TABLE public.measure;
ALTER TABLE public.measure_2024 ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_positive ON public.measure_2024 USING (v > 0);
ALTER TABLE public.measure_2025 ADD CONSTRAINT v_small CHECK (v < 1000000) NOT VALID;
CREATE SEQUENCE public.counter START 100 INCREMENT 5;
SELECT nextval('public.counter'), nextval('public.counter');
CREATE VIEW public.sad AS SELECT * FROM "Ünïcode schema"."Tâble; with ""quotes""" WHERE m = 'sad';
COMMENT ON TABLE public.measure IS 'measurements; with a semicolon and ''quotes''';
SELECT lo_from_bytea(0, '\\x00ff0a5c2e0a'::bytea);
GRANT SELECT ON public.measure TO pg_read_all_data;
`;

describe("restoreCatalog with everything pg_dump emits", () => {
  const dbs: TestDatabase[] = [];
  let snapshot: Buffer;
  let expected: string;

  beforeAll(async () => {
    const source = await createTestDatabase("feat_src");
    dbs.push(source);
    await sql(source.url, FEATURES);
    snapshot = (await pgDumpGzip(source.url)).gzip;
    expected = comparableDump(await pgDump(source.url));
  });

  afterAll(async () => {
    for (const db of dbs) await db.drop();
  });

  it("restores into an empty database, and again over the result, exactly", async () => {
    const db = await createTestDatabase("feat_dst");
    dbs.push(db);
    await restoreCatalog({ source: bufferSource(snapshot), connection: db.url });
    expect(comparableDump(await pgDump(db.url))).toBe(expected);
    // The second time the live database has the event trigger, extensions and large object.
    const again = await restoreCatalog({ source: bufferSource(snapshot), connection: db.url });
    expect(again.cleared).toMatchObject({
      eventTriggers: 1,
      publications: 1,
      extensions: 2,
      largeObjects: 1,
    });
    expect(comparableDump(await pgDump(db.url))).toBe(expected);
  });

  it("refuses before changing anything when the snapshot's owner role does not exist", async () => {
    const db = await createTestDatabase("feat_owner");
    dbs.push(db);
    const before = comparableDump(await pgDump(db.url));
    const foreign = gzip(
      (await pgDump(dbs[0]?.url ?? ""))
        .replaceAll("OWNER TO root;", "OWNER TO nobody_here;")
        .replaceAll("Owner: root", "Owner: nobody_here"),
    );
    const preflight = await preflightDump(bufferSource(foreign));
    expect(preflight.owners).toContain("nobody_here");
    await expect(
      restoreCatalog({
        source: bufferSource(foreign),
        connection: db.url,
        snapshotOwners: preflight.owners,
      }),
    ).rejects.toMatchObject({
      code: "forbidden",
      message: expect.stringMatching(/"nobody_here", which do not exist.*Nothing was changed/),
    });
    expect(comparableDump(await pgDump(db.url))).toBe(before);
  });
});
