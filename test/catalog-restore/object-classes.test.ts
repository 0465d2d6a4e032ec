import { randomBytes } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { preflightDump } from "../../src/catalog-restore/preflight.js";
import { restoreCatalog } from "../../src/catalog-restore/restore-engine.js";
import { pgDump, pgDumpGzip } from "../../src/kinds/influxdb-clustered/sandbox/catalog-builder.js";
import { ADMIN_URL, createTestDatabase, type TestDatabase } from "../support/postgres.js";
import { bufferSource, comparableDump, gzip, sql } from "./support.js";

/**
 * The engine's claim — afterwards pg_dump of the catalog equals the snapshot's — checked per
 * object class a plain pg_dump can emit: each class present only on the live side (it must be
 * removed) and only on the snapshot side (it must be created). A common base (a schema with a
 * table, a function, a sequence and a type, and a table in `public`) is on both sides, so
 * classes that change what later objects get (default privileges) show up in the dump.
 */
const BASE = `
CREATE SCHEMA app;
CREATE TABLE app.t (a integer PRIMARY KEY, b integer, c text);
INSERT INTO app.t SELECT g, g % 7, 'row ' || g FROM generate_series(1, 50) g;
CREATE FUNCTION app.f(x integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT x + 1';
CREATE SEQUENCE app.q;
CREATE TYPE app.color AS ENUM ('red', 'green');
CREATE TABLE public.p (x integer, label text);
INSERT INTO public.p VALUES (1, 'one'), (2, 'two');
`;

interface ObjectClass {
  name: string;
  sql: string;
}

const CLASSES: ObjectClass[] = [
  // Default privileges: database-wide (no schema), for the current role and for another one,
  // granting and revoking, and per schema.
  {
    name: "global default ACL granting SELECT to PUBLIC",
    sql: "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC;",
  },
  {
    name: "global default ACLs of every object type",
    sql: `ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
      ALTER DEFAULT PRIVILEGES REVOKE USAGE ON TYPES FROM PUBLIC;
      ALTER DEFAULT PRIVILEGES GRANT USAGE, SELECT ON SEQUENCES TO pg_read_all_data WITH GRANT OPTION;
      ALTER DEFAULT PRIVILEGES GRANT CREATE ON SCHEMAS TO pg_read_all_data;
      ALTER DEFAULT PRIVILEGES REVOKE DELETE ON TABLES FROM CURRENT_USER;`,
  },
  {
    name: "global default ACL for another role",
    sql: "ALTER DEFAULT PRIVILEGES FOR ROLE pg_read_all_data GRANT SELECT ON TABLES TO pg_monitor;",
  },
  {
    name: "schema default ACL",
    sql: "ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO pg_read_all_data;",
  },
  {
    name: "event trigger with a comment",
    sql: `CREATE FUNCTION app.on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;
      CREATE EVENT TRIGGER et ON ddl_command_end EXECUTE FUNCTION app.on_ddl();
      COMMENT ON EVENT TRIGGER et IS 'ddl log';`,
  },
  {
    name: "publications (for a table, for a schema, for all tables) with a comment",
    sql: `CREATE PUBLICATION pub_t FOR TABLE app.t WITH (publish = 'insert');
      CREATE PUBLICATION pub_s FOR TABLES IN SCHEMA app;
      CREATE PUBLICATION pub_all FOR ALL TABLES;
      COMMENT ON PUBLICATION pub_t IS 'one table';`,
  },
  {
    name: "foreign-data wrapper, server, user mapping, grants and comments",
    sql: `CREATE FOREIGN DATA WRAPPER w;
      CREATE SERVER srv FOREIGN DATA WRAPPER w OPTIONS (host 'nowhere');
      CREATE USER MAPPING FOR PUBLIC SERVER srv OPTIONS (user 'x');
      GRANT USAGE ON FOREIGN DATA WRAPPER w TO pg_read_all_data;
      GRANT USAGE ON FOREIGN SERVER srv TO pg_read_all_data;
      COMMENT ON FOREIGN DATA WRAPPER w IS 'wrapper';
      COMMENT ON SERVER srv IS 'server';`,
  },
  {
    name: "postgres_fdw extension with a server and a foreign table",
    sql: `CREATE EXTENSION postgres_fdw;
      CREATE SERVER remote FOREIGN DATA WRAPPER postgres_fdw OPTIONS (dbname 'nowhere');
      CREATE FOREIGN TABLE app.remote_t (a integer) SERVER remote OPTIONS (table_name 't');`,
  },
  {
    name: "access methods (table and index) with a comment",
    sql: `CREATE ACCESS METHOD heap2 TYPE TABLE HANDLER heap_tableam_handler;
      CREATE TABLE app.h (a integer) USING heap2;
      CREATE ACCESS METHOD myhash TYPE INDEX HANDLER hashhandler;
      COMMENT ON ACCESS METHOD heap2 IS 'a second heap';`,
  },
  {
    name: "extensions (in public, in their own schema, one providing an access method)",
    sql: `CREATE EXTENSION citext;
      CREATE SCHEMA ext;
      CREATE EXTENSION pg_trgm WITH SCHEMA ext;
      CREATE EXTENSION bloom;
      CREATE INDEX t_bloom ON app.t USING bloom (a, b);
      COMMENT ON EXTENSION citext IS 'changed comment';`,
  },
  {
    name: "large objects with a comment and a grant",
    sql: `SELECT lo_from_bytea(424242, '\\x00ff0a'::bytea);
      SELECT lo_from_bytea(0, 'second'::bytea);
      COMMENT ON LARGE OBJECT 424242 IS 'blob';
      GRANT SELECT ON LARGE OBJECT 424242 TO pg_read_all_data;`,
  },
  {
    name: "row security and policies",
    sql: `ALTER TABLE app.t ENABLE ROW LEVEL SECURITY;
      ALTER TABLE app.t FORCE ROW LEVEL SECURITY;
      CREATE POLICY small ON app.t FOR SELECT TO pg_read_all_data USING (a < 10);
      ALTER TABLE public.p ENABLE ROW LEVEL SECURITY;
      CREATE POLICY mine ON public.p USING (x > 0) WITH CHECK (x > 0);`,
  },
  {
    name: "collations",
    sql: `CREATE COLLATION app.c_copy FROM "C";
      CREATE COLLATION public.posix2 (locale = 'POSIX');
      ALTER TABLE app.t ALTER COLUMN c TYPE text COLLATE app.c_copy;`,
  },
  {
    name: "text search parser, template, dictionary and configuration",
    sql: `CREATE TEXT SEARCH PARSER app.prs (START = prsd_start, GETTOKEN = prsd_nexttoken, END = prsd_end, LEXTYPES = prsd_lextype, HEADLINE = prsd_headline);
      CREATE TEXT SEARCH TEMPLATE app.tmpl (INIT = dsimple_init, LEXIZE = dsimple_lexize);
      CREATE TEXT SEARCH DICTIONARY app.dict (TEMPLATE = app.tmpl, STOPWORDS = english);
      CREATE TEXT SEARCH CONFIGURATION public.cfg (PARSER = app.prs);
      ALTER TEXT SEARCH CONFIGURATION public.cfg ADD MAPPING FOR word WITH app.dict;`,
  },
  {
    name: "extended statistics",
    sql: `CREATE STATISTICS app.st (dependencies, ndistinct) ON a, b FROM app.t;
      ALTER STATISTICS app.st SET STATISTICS 500;`,
  },
  {
    name: "casts (database-level and on a schema's type)",
    sql: `CREATE CAST (bytea AS bigint) WITH INOUT;
      CREATE FUNCTION app.color_int(app.color) RETURNS integer LANGUAGE sql AS 'SELECT 1';
      CREATE CAST (app.color AS integer) WITH FUNCTION app.color_int(app.color) AS ASSIGNMENT;`,
  },
  {
    name: "procedural language",
    sql: `CREATE FUNCTION app.pl_handler() RETURNS language_handler AS '$libdir/plpgsql', 'plpgsql_call_handler' LANGUAGE c;
      CREATE LANGUAGE pl2 HANDLER app.pl_handler;
      COMMENT ON LANGUAGE pl2 IS 'a second plpgsql';`,
  },
  {
    name: "operators, operator class and family, conversion, aggregate",
    sql: `CREATE FUNCTION app.int_eq(integer, integer) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1 = $2';
      CREATE OPERATOR app.=== (LEFTARG = integer, RIGHTARG = integer, FUNCTION = app.int_eq);
      CREATE OPERATOR FAMILY app.fam USING btree;
      CREATE OPERATOR CLASS app.cls FOR TYPE integer USING hash AS OPERATOR 1 =, FUNCTION 1 hashint4(integer);
      CREATE CONVERSION app.conv FOR 'LATIN1' TO 'UTF8' FROM iso8859_1_to_utf8;
      CREATE AGGREGATE app.total(integer) (SFUNC = int4pl, STYPE = integer, INITCOND = '0');`,
  },
  {
    name: "comments on every kind of object",
    sql: `COMMENT ON SCHEMA app IS 'the app';
      COMMENT ON TABLE app.t IS 'table';
      COMMENT ON COLUMN app.t.b IS 'column';
      COMMENT ON FUNCTION app.f(integer) IS 'function';
      COMMENT ON SEQUENCE app.q IS 'sequence';
      COMMENT ON TYPE app.color IS 'type';
      COMMENT ON CONSTRAINT t_pkey ON app.t IS 'constraint';
      COMMENT ON INDEX app.t_pkey IS 'index';
      COMMENT ON SCHEMA public IS 'not the standard comment';`,
  },
  {
    name: "grants on every kind of object",
    sql: `GRANT SELECT, UPDATE (b) ON app.t TO pg_read_all_data;
      GRANT INSERT (c) ON app.t TO pg_monitor WITH GRANT OPTION;
      REVOKE ALL ON public.p FROM CURRENT_USER;
      GRANT USAGE ON SEQUENCE app.q TO pg_read_all_data;
      REVOKE EXECUTE ON FUNCTION app.f(integer) FROM PUBLIC;
      GRANT EXECUTE ON FUNCTION app.f(integer) TO pg_monitor;
      REVOKE USAGE ON TYPE app.color FROM PUBLIC;
      GRANT USAGE, CREATE ON SCHEMA app TO pg_read_all_data;
      REVOKE USAGE ON SCHEMA public FROM PUBLIC;
      GRANT CREATE ON SCHEMA public TO pg_monitor;
      GRANT USAGE ON LANGUAGE plpgsql TO pg_monitor;
      REVOKE USAGE ON LANGUAGE sql FROM PUBLIC;`,
  },
  {
    name: "grants on system objects (pg_catalog and information_schema)",
    sql: `REVOKE EXECUTE ON FUNCTION pg_catalog.pg_sleep(double precision) FROM PUBLIC;
      GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text) TO pg_monitor;
      GRANT SELECT (rolname) ON pg_catalog.pg_authid TO pg_read_all_data;
      REVOKE SELECT ON pg_catalog.pg_class FROM PUBLIC;
      GRANT CREATE ON SCHEMA pg_catalog TO pg_monitor;
      REVOKE SELECT ON information_schema.tables FROM PUBLIC;
      GRANT UPDATE ON information_schema.sql_features TO pg_monitor;`,
  },
  {
    name: "objects owned by another role, and public's owner",
    sql: `ALTER TABLE app.t OWNER TO pg_read_all_data;
      ALTER SEQUENCE app.q OWNER TO pg_monitor;
      ALTER SCHEMA public OWNER TO pg_monitor;`,
  },
  {
    name: "rules, triggers, views, materialized views, a partitioned table",
    sql: `CREATE FUNCTION app.trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
      CREATE TRIGGER t_trg BEFORE INSERT ON app.t FOR EACH ROW EXECUTE FUNCTION app.trg();
      CREATE VIEW app.v AS SELECT a, b FROM app.t;
      CREATE RULE v_ins AS ON INSERT TO app.v DO INSTEAD INSERT INTO app.t (a, b) VALUES (NEW.a, NEW.b);
      CREATE MATERIALIZED VIEW app.mv AS SELECT count(*) AS n FROM app.t;
      CREATE TABLE app.part (k integer, v text) PARTITION BY LIST (k);
      CREATE TABLE app.part_1 PARTITION OF app.part FOR VALUES IN (1);
      INSERT INTO app.part VALUES (1, 'x');`,
  },
  {
    name: "table options and replica identity",
    sql: `ALTER TABLE app.t SET (fillfactor = 70);
      ALTER TABLE app.t REPLICA IDENTITY FULL;
      ALTER TABLE app.t ALTER COLUMN c SET STORAGE EXTERNAL;
      ALTER TABLE app.t ALTER COLUMN b SET STATISTICS 300;
      CREATE INDEX t_b ON app.t (b);
      CREATE INDEX t_c ON app.t (c) WHERE b > 3;
      ALTER TABLE app.t CLUSTER ON t_b;`,
  },
  {
    name: "a sequence's position and an identity column",
    sql: `SELECT setval('app.q', 4242, false);
      ALTER TABLE public.p ADD COLUMN id bigint GENERATED BY DEFAULT AS IDENTITY;`,
  },
];

describe("every object class pg_dump emits, only on one side", () => {
  const dbs: TestDatabase[] = [];
  let baseSnapshot: Buffer;
  let baseDump: string;

  beforeAll(async () => {
    const base = await createTestDatabase("cls_base");
    dbs.push(base);
    await sql(base.url, BASE);
    baseSnapshot = (await pgDumpGzip(base.url)).gzip;
    baseDump = comparableDump(await pgDump(base.url));
  });

  afterAll(async () => {
    for (const db of dbs) await db.drop();
  });

  it.each(CLASSES)("$name", async ({ sql: objects }) => {
    // The snapshot holds the class; so does the live catalog before the second restore.
    const source = await createTestDatabase("cls_src");
    const live = await createTestDatabase("cls_live");
    try {
      await sql(source.url, BASE + objects);
      const withClass = comparableDump(await pgDump(source.url));
      expect(withClass).not.toBe(baseDump); // the class shows in pg_dump
      const snapshot = (await pgDumpGzip(source.url)).gzip;

      // Only on the live side: made by hand on top of the base, removed by the restore.
      await sql(live.url, BASE + objects);
      await restoreCatalog({ source: bufferSource(baseSnapshot), connection: live.url });
      expect(comparableDump(await pgDump(live.url))).toBe(baseDump);

      // Only on the snapshot side: the live catalog is the base, the restore creates the class.
      await restoreCatalog({ source: bufferSource(snapshot), connection: live.url });
      expect(comparableDump(await pgDump(live.url))).toBe(withClass);
    } finally {
      await live.drop();
      await source.drop();
    }
  });
});

describe("what cannot be made equal to the snapshot is refused before any change", () => {
  const dbs: TestDatabase[] = [];
  let baseSnapshot: Buffer;
  const role = `rb_cls_${randomBytes(4).toString("hex")}`;
  const role2 = `rb_cls_${randomBytes(4).toString("hex")}`;

  beforeAll(async () => {
    const base = await createTestDatabase("cls_ref_base");
    dbs.push(base);
    await sql(base.url, BASE);
    baseSnapshot = (await pgDumpGzip(base.url)).gzip;
  });

  afterAll(async () => {
    for (const db of dbs) await db.drop();
    await sql(ADMIN_URL, `DROP ROLE IF EXISTS ${role}; DROP ROLE IF EXISTS ${role2}`);
  });

  it("a subscription on the live side (it cannot be dropped inside a transaction)", async () => {
    const live = await createTestDatabase("cls_ref_sub");
    dbs.push(live);
    await sql(live.url, BASE);
    await sql(
      live.url,
      "CREATE SUBSCRIPTION sub CONNECTION 'host=127.0.0.1 dbname=nowhere' PUBLICATION p WITH (connect = false)",
    );
    try {
      const before = await pgDump(live.url);
      expect(before).toContain("CREATE SUBSCRIPTION sub");
      await expect(
        restoreCatalog({ source: bufferSource(baseSnapshot), connection: live.url }),
      ).rejects.toMatchObject({
        code: "precondition_failed",
        message: expect.stringMatching(/subscriptions \(sub\).*Drop them by hand/),
      });
      expect(comparableDump(await pgDump(live.url))).toBe(comparableDump(before));
    } finally {
      await dropSubscription(live.url, "sub");
    }
  });

  it("a subscription in the snapshot", async () => {
    const source = await createTestDatabase("cls_ref_subsrc");
    const live = await createTestDatabase("cls_ref_sublive");
    dbs.push(source, live);
    await sql(source.url, BASE);
    await sql(
      source.url,
      "CREATE SUBSCRIPTION sub2 CONNECTION 'host=127.0.0.1 dbname=nowhere' PUBLICATION p WITH (connect = false)",
    );
    const snapshot = (await pgDumpGzip(source.url)).gzip;
    await dropSubscription(source.url, "sub2");
    await sql(live.url, `${BASE} CREATE TABLE app.extra (x integer);`);
    const before = comparableDump(await pgDump(live.url));
    await expect(
      restoreCatalog({ source: bufferSource(snapshot), connection: live.url }),
    ).rejects.toMatchObject({
      message: expect.stringMatching(/subscription.*restore it by hand.*Nothing was changed/),
    });
    expect(comparableDump(await pgDump(live.url))).toBe(before);
  });

  it("objects only a superuser can create in a preflighted snapshot, for a DSN user that is not one", async () => {
    const source = await createTestDatabase("cls_ref_susrc");
    const live = await createTestDatabase("cls_ref_sulive");
    dbs.push(source, live);
    await sql(
      ADMIN_URL,
      `CREATE ROLE ${role2} LOGIN; ALTER DATABASE ${live.name} OWNER TO ${role2}`,
    );
    const asRole = new URL(live.url);
    asRole.username = role2;
    await sql(asRole.toString(), BASE);
    await sql(
      source.url,
      `${BASE}
      CREATE FUNCTION app.on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;
      CREATE EVENT TRIGGER et ON ddl_command_end EXECUTE FUNCTION app.on_ddl();
      GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text) TO pg_monitor;`,
    );
    const snapshot = gzip(
      (await pgDump(source.url)).replaceAll(/(OWNER TO |Owner: )\w+/g, `$1${role2}`),
    );
    const before = comparableDump(await pgDump(live.url));
    const preflight = await preflightDump(bufferSource(snapshot));
    await expect(
      restoreCatalog({
        source: bufferSource(snapshot),
        connection: asRole.toString(),
        snapshotOwners: preflight.owners,
        snapshotObjects: preflight.objects,
      }),
    ).rejects.toMatchObject({
      code: "forbidden",
      message: expect.stringMatching(
        /^(?=.*event trigger et)(?=.*privileges on pg_catalog\.FUNCTION pg_ls_dir\(text\)).*which only a superuser can create.*Nothing was changed/,
      ),
    });
    expect(comparableDump(await pgDump(live.url))).toBe(before);
  });

  it("privilege changes on PostgreSQL's own objects when the DSN's user is not a superuser", async () => {
    const live = await createTestDatabase("cls_ref_nosu");
    dbs.push(live);
    await sql(ADMIN_URL, `CREATE ROLE ${role} LOGIN; ALTER DATABASE ${live.name} OWNER TO ${role}`);
    const asRole = new URL(live.url);
    asRole.username = role;
    await sql(asRole.toString(), BASE);
    await sql(
      live.url,
      "REVOKE EXECUTE ON FUNCTION pg_catalog.pg_sleep(double precision) FROM PUBLIC; ALTER DEFAULT PRIVILEGES FOR ROLE pg_monitor GRANT SELECT ON TABLES TO PUBLIC;",
    );
    const before = comparableDump(await pgDump(live.url));
    const snapshot = gzip(
      (await pgDump(dbs[0]?.url ?? "")).replaceAll(/(OWNER TO |Owner: )\w+/g, `$1${role}`),
    );
    const failure = restoreCatalog({
      source: bufferSource(snapshot),
      connection: asRole.toString(),
    });
    await expect(failure).rejects.toMatchObject({
      code: "forbidden",
      message: expect.stringMatching(
        /default privileges of role pg_monitor.*ROUTINE pg_catalog\.pg_sleep\(double precision\).*only a superuser can reset.*Nothing was changed/,
      ),
    });
    expect(comparableDump(await pgDump(live.url))).toBe(before);
    // The same snapshot restores once the changes are undone by a superuser.
    await sql(
      live.url,
      "GRANT EXECUTE ON FUNCTION pg_catalog.pg_sleep(double precision) TO PUBLIC; ALTER DEFAULT PRIVILEGES FOR ROLE pg_monitor REVOKE SELECT ON TABLES FROM PUBLIC;",
    );
    await restoreCatalog({ source: bufferSource(snapshot), connection: asRole.toString() });
    expect(comparableDump(await pgDump(live.url))).toBe(
      comparableDump(gunzipSync(snapshot).toString("utf8")),
    );
  });
});

/** A database with a subscription cannot be dropped; one created without connecting has no slot. */
async function dropSubscription(url: string, name: string): Promise<void> {
  await sql(url, `ALTER SUBSCRIPTION ${name} SET (slot_name = NONE)`);
  await sql(url, `DROP SUBSCRIPTION ${name}`);
}
