import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { restoreCatalog } from "../../src/catalog-restore/restore-engine.js";
import { pgDump } from "../../src/kinds/influxdb-clustered/sandbox/catalog-builder.js";
import { createTestDatabase, type TestDatabase } from "../support/postgres.js";
import { bufferSource, comparableDump, gzip, loadWithPsql, queryRows, sql } from "./support.js";

const PAGILA_GZ = readFileSync(
  new URL("../../../shared/fixtures/pagila.pg_dump.gz", import.meta.url),
);
const PAGILA = comparableDump(gunzipSync(PAGILA_GZ).toString("utf8"));

// What a live catalog looks like some time after its snapshot: rows added, removed and
// changed, sequences moved on, objects added and dropped, the public schema altered.
const DRIFT = `
DELETE FROM public.payment_p2022_07 WHERE payment_id % 3 = 0;
UPDATE public.film SET rental_rate = rental_rate + 1 WHERE film_id < 100;
INSERT INTO public.actor (first_name, last_name) VALUES ('EXTRA', 'ACTOR');
SELECT setval('public.actor_actor_id_seq', 9000);
CREATE TABLE public.audit_log (id bigserial PRIMARY KEY, at timestamptz DEFAULT now());
INSERT INTO public.audit_log DEFAULT VALUES;
CREATE FUNCTION public.extra_fn(a integer, b text DEFAULT 'x') RETURNS integer LANGUAGE sql AS 'SELECT 1';
CREATE TYPE public.extra_kind AS ENUM ('a', 'b');
DROP VIEW public.sales_by_store;
DROP INDEX public.idx_actor_last_name;
DROP FUNCTION public.last_day(timestamp with time zone);
ALTER TABLE public.customer ALTER COLUMN activebool SET DEFAULT false;
CREATE SCHEMA scratch;
CREATE TABLE scratch.t AS SELECT generate_series(1, 10) AS n;
COMMENT ON SCHEMA public IS 'someone edited this';
GRANT CREATE ON SCHEMA public TO pg_monitor;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX film_title_trgm ON public.film USING gin (title gin_trgm_ops);
SELECT lo_from_bytea(0, 'left over'::bytea);
`;

describe("restoreCatalog with the pagila dump", () => {
  const dbs: TestDatabase[] = [];
  afterAll(async () => {
    for (const db of dbs) await db.drop();
  });

  it("restores into an empty database exactly", async () => {
    const db = await createTestDatabase("pagila_empty");
    dbs.push(db);
    const result = await restoreCatalog({ source: bufferSource(PAGILA_GZ), connection: db.url });
    expect(result).toMatchObject({ copyBlocks: 21, rowsCopied: 49_636, statementsExecuted: 282 });
    expect(comparableDump(await pgDump(db.url))).toBe(PAGILA);
  });

  it("restores over the same schema with different rows and moved sequences", async () => {
    const db = await createTestDatabase("pagila_rows");
    dbs.push(db);
    await loadWithPsql(db.url, PAGILA_GZ);
    await sql(
      db.url,
      `DELETE FROM public.payment_p2022_02 WHERE payment_id % 2 = 0;
       UPDATE public.customer SET email = lower(email), activebool = NOT activebool WHERE customer_id < 50;
       INSERT INTO public.category (name) VALUES ('Extra');
       SELECT setval('public.rental_rental_id_seq', 99999);`,
    );
    expect(comparableDump(await pgDump(db.url))).not.toBe(PAGILA);
    await restoreCatalog({ source: bufferSource(PAGILA_GZ), connection: db.url });
    expect(comparableDump(await pgDump(db.url))).toBe(PAGILA);
  });

  it("restores a pg_dump --clean dump the same (its leading DROPs are skipped)", async () => {
    const db = await createTestDatabase("pagila_clean");
    dbs.push(db);
    await loadWithPsql(db.url, PAGILA_GZ);
    const clean = gzip(await pgDump(db.url, ["--clean"]));
    await sql(db.url, "DELETE FROM public.payment_p2022_03; CREATE TABLE public.extra (a int);");
    await restoreCatalog({ source: bufferSource(clean), connection: db.url });
    expect(comparableDump(await pgDump(db.url))).toBe(PAGILA);
  });

  it("restores over a drifted copy exactly: rows, sequences, extra and missing objects, public schema", async () => {
    const db = await createTestDatabase("pagila_drift");
    dbs.push(db);
    await loadWithPsql(db.url, PAGILA_GZ);
    await sql(db.url, DRIFT);
    expect(comparableDump(await pgDump(db.url))).not.toBe(PAGILA);

    const result = await restoreCatalog({ source: bufferSource(PAGILA_GZ), connection: db.url });

    expect(result.cleared).toMatchObject({ schemas: 2, extensions: 1, largeObjects: 1 });
    expect(comparableDump(await pgDump(db.url))).toBe(PAGILA);
    const [extensions] = await queryRows<{ n: string }>(
      db.url,
      "SELECT count(*) AS n FROM pg_extension WHERE extname = 'pg_trgm'",
    );
    expect(extensions?.n).toBe("0");
  });
});
