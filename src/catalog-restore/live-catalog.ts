import type pg from "pg";
import { CodedError } from "../errors.js";
import type { DumpObjectRef } from "./dump-splitter.js";

/**
 * The live catalog side of a restore: what it holds (named the way pg_dump names things, so
 * a dry run can compare it with a dump) and how to empty it inside the restore transaction.
 *
 * Emptying means: the database ends up as `CREATE DATABASE` would leave it, which is the
 * state a plain pg_dump expects to be replayed into. Every schema (including `public`) and
 * every database-level object a plain pg_dump can write is dropped; `public` is then
 * recreated exactly as PostgreSQL 15 creates it (owner pg_database_owner, its comment, USAGE
 * for PUBLIC), because pg_dump writes only the differences from that.
 */

/** Objects created by initdb have OIDs below this; pg_dump never dumps them, so we keep them. */
const FIRST_NORMAL_OBJECT_ID = 16384;

const USER_SCHEMAS = `
  SELECT oid, nspname FROM pg_catalog.pg_namespace
  WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
    AND nspname !~ '^pg_(toast_)?temp_'`;

const NOT_IN_EXTENSION = (classId: string, alias: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = '${classId}'::regclass AND d.objid = ${alias}.oid AND d.deptype = 'e')`;

/** Kinds a dry run compares; the names follow pg_dump's table of contents. */
export const COMPARED_KINDS = [
  "SCHEMA",
  "EXTENSION",
  "TYPE",
  "DOMAIN",
  "FUNCTION",
  "PROCEDURE",
  "AGGREGATE",
  "TABLE",
  "FOREIGN TABLE",
  "SEQUENCE",
  "VIEW",
  "MATERIALIZED VIEW",
  "INDEX",
  "CONSTRAINT",
  "FK CONSTRAINT",
  "TRIGGER",
  "EVENT TRIGGER",
  "PUBLICATION",
] as const;

const INVENTORY_SQL = `
WITH ns AS (${USER_SCHEMAS})
SELECT 'SCHEMA' AS type, '-' AS schema, nspname AS name FROM ns
UNION ALL
SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
         WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'i' THEN 'INDEX' WHEN 'I' THEN 'INDEX' ELSE 'TABLE' END,
       ns.nspname, c.relname
FROM pg_catalog.pg_class c JOIN ns ON ns.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'i', 'I') AND ${NOT_IN_EXTENSION("pg_class", "c")}
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conindid = c.oid AND k.contype IN ('p', 'u', 'x'))
UNION ALL
SELECT CASE p.prokind WHEN 'a' THEN 'AGGREGATE' WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
       ns.nspname, p.proname || '(' || pg_catalog.oidvectortypes(p.proargtypes) || ')'
FROM pg_catalog.pg_proc p JOIN ns ON ns.oid = p.pronamespace
WHERE ${NOT_IN_EXTENSION("pg_proc", "p")}
UNION ALL
SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, ns.nspname, t.typname
FROM pg_catalog.pg_type t JOIN ns ON ns.oid = t.typnamespace
WHERE t.typtype IN ('b', 'c', 'd', 'e', 'r') AND t.typcategory <> 'A'
  AND (t.typtype <> 'c' OR (SELECT r.relkind FROM pg_catalog.pg_class r WHERE r.oid = t.typrelid) = 'c')
  AND ${NOT_IN_EXTENSION("pg_type", "t")}
UNION ALL
SELECT CASE k.contype WHEN 'f' THEN 'FK CONSTRAINT' ELSE 'CONSTRAINT' END, ns.nspname, r.relname || ' ' || k.conname
FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class r ON r.oid = k.conrelid JOIN ns ON ns.oid = r.relnamespace
WHERE k.contype IN ('p', 'u', 'x', 'f') AND (k.contype <> 'f' OR k.conparentid = 0)
UNION ALL
SELECT 'TRIGGER', ns.nspname, r.relname || ' ' || g.tgname
FROM pg_catalog.pg_trigger g JOIN pg_catalog.pg_class r ON r.oid = g.tgrelid JOIN ns ON ns.oid = r.relnamespace
WHERE NOT g.tgisinternal AND g.tgparentid = 0
UNION ALL
SELECT 'EXTENSION', '-', e.extname FROM pg_catalog.pg_extension e WHERE e.oid >= ${FIRST_NORMAL_OBJECT_ID}
UNION ALL
SELECT 'EVENT TRIGGER', '-', evtname FROM pg_catalog.pg_event_trigger
UNION ALL
SELECT 'PUBLICATION', '-', pubname FROM pg_catalog.pg_publication`;

export interface LiveTableRows {
  schema: string;
  name: string;
  /** Exact for small tables, PostgreSQL's estimate for big ones (see `estimated`). */
  rows: number;
  estimated: boolean;
}

export interface LiveInventory {
  objects: DumpObjectRef[];
  tables: LiveTableRows[];
}

/** Tables above this many estimated rows are not counted exactly (a dry run stays quick). */
const EXACT_COUNT_LIMIT = 1_000_000;

export async function readLiveInventory(client: pg.ClientBase): Promise<LiveInventory> {
  const objects = await client.query<DumpObjectRef>(`${INVENTORY_SQL} ORDER BY 1, 2, 3`);
  const tables = await client.query<{ schema: string; name: string; estimate: string }>(`
    WITH ns AS (${USER_SCHEMAS})
    SELECT ns.nspname AS schema, c.relname AS name, c.reltuples::bigint::text AS estimate
    FROM pg_catalog.pg_class c JOIN ns ON ns.oid = c.relnamespace
    WHERE c.relkind = 'r' AND ${NOT_IN_EXTENSION("pg_class", "c")}
    ORDER BY 1, 2`);
  const rows: LiveTableRows[] = [];
  for (const t of tables.rows) {
    const estimate = Number(t.estimate);
    if (estimate > EXACT_COUNT_LIMIT) {
      rows.push({ schema: t.schema, name: t.name, rows: estimate, estimated: true });
      continue;
    }
    const counted = await client.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM ${quoteIdent(t.schema)}.${quoteIdent(t.name)}`,
    );
    rows.push({
      schema: t.schema,
      name: t.name,
      rows: Number(counted.rows[0]?.n ?? 0),
      estimated: false,
    });
  }
  return { objects: objects.rows, tables: rows };
}

export interface OtherSession {
  pid: number;
  user: string;
  application: string;
  client: string;
  state: string;
}

/** Other connections to the catalog database: a restore waits for their locks. */
export async function readOtherSessions(client: pg.ClientBase): Promise<OtherSession[]> {
  const { rows } = await client.query<{
    pid: number;
    usename: string | null;
    application_name: string | null;
    client_addr: string | null;
    state: string | null;
  }>(`SELECT pid, usename, application_name, client_addr::text, state
      FROM pg_catalog.pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
      ORDER BY pid`);
  return rows.map((r) => ({
    pid: r.pid,
    user: r.usename ?? "?",
    application: r.application_name ?? "",
    client: r.client_addr ?? "local",
    state: r.state ?? "?",
  }));
}

export function describeSessions(sessions: OtherSession[]): string {
  return sessions
    .slice(0, 5)
    .map(
      (s) =>
        `pid ${s.pid} (${s.user}${s.application ? `, ${s.application}` : ""}, from ${s.client}, ${s.state})`,
    )
    .concat(sessions.length > 5 ? [`and ${sessions.length - 5} more`] : [])
    .join("; ");
}

export interface ClearedCatalog {
  schemas: number;
  extensions: number;
  eventTriggers: number;
  publications: number;
  otherObjects: number;
  largeObjects: number;
}

/** The server versions whose `public` schema defaults this module reproduces. */
export const MIN_SERVER_VERSION_NUM = 150000;

/** Refuses servers older than PostgreSQL 15, whose `public` schema starts out differently. */
export async function assertSupportedServer(client: pg.ClientBase): Promise<void> {
  const { rows } = await client.query<{ v: string; version: string }>(
    "SELECT current_setting('server_version_num') AS v, current_setting('server_version') AS version",
  );
  const num = Number(rows[0]?.v ?? 0);
  if (num < MIN_SERVER_VERSION_NUM) {
    throw new CodedError(
      "precondition_failed",
      `The catalog runs PostgreSQL ${rows[0]?.version ?? "?"}; restorebot restores catalogs on PostgreSQL 15 or newer (older servers create the public schema differently, so the result could not be made exact). Nothing was changed. Restore with psql by hand instead.`,
    );
  }
}

/**
 * Drops everything a plain pg_dump could recreate, inside the caller's transaction. Must run
 * before the dump's first statement. Event triggers go first so none fires on what follows.
 */
export async function clearCatalog(client: pg.ClientBase): Promise<ClearedCatalog> {
  const names = async (sql: string): Promise<string[]> =>
    (await client.query<{ s: string }>(sql)).rows.map((r) => r.s);
  const run = async (statements: string[]) => {
    for (const statement of statements) await client.query(statement);
  };

  const subscriptions = await names(
    "SELECT subname AS s FROM pg_catalog.pg_subscription WHERE subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())",
  );
  if (subscriptions.length > 0) {
    throw new CodedError(
      "precondition_failed",
      `The catalog database has logical replication subscriptions (${subscriptions.join(", ")}), which cannot be dropped inside a transaction. Drop them by hand (ALTER SUBSCRIPTION … DISABLE; … SET (slot_name = NONE); DROP SUBSCRIPTION …), then restore again.`,
    );
  }

  const eventTriggers = await names(
    "SELECT format('DROP EVENT TRIGGER %I', evtname) AS s FROM pg_catalog.pg_event_trigger",
  );
  await run(eventTriggers);
  const publications = await names(
    "SELECT format('DROP PUBLICATION %I', pubname) AS s FROM pg_catalog.pg_publication",
  );
  await run(publications);
  const extensions = await names(
    `SELECT format('DROP EXTENSION IF EXISTS %I CASCADE', extname) AS s FROM pg_catalog.pg_extension WHERE oid >= ${FIRST_NORMAL_OBJECT_ID}`,
  );
  await run(extensions);
  const schemas = await names(
    `SELECT format('DROP SCHEMA %I CASCADE', nspname) AS s FROM (${USER_SCHEMAS}) ns ORDER BY nspname`,
  );
  await run(schemas);
  // What can outlive every schema: objects of the database itself.
  const others = await names(`
    SELECT format('DROP CAST IF EXISTS (%s AS %s) CASCADE', castsource::regtype, casttarget::regtype) AS s
      FROM pg_catalog.pg_cast WHERE oid >= ${FIRST_NORMAL_OBJECT_ID}
    UNION ALL
    SELECT format('DROP TRANSFORM IF EXISTS FOR %s LANGUAGE %I CASCADE', trftype::regtype, l.lanname)
      FROM pg_catalog.pg_transform t JOIN pg_catalog.pg_language l ON l.oid = t.trflang
      WHERE t.oid >= ${FIRST_NORMAL_OBJECT_ID}
    UNION ALL
    SELECT format('DROP LANGUAGE IF EXISTS %I CASCADE', lanname)
      FROM pg_catalog.pg_language WHERE oid >= ${FIRST_NORMAL_OBJECT_ID}
    UNION ALL
    SELECT format('DROP FOREIGN DATA WRAPPER IF EXISTS %I CASCADE', fdwname)
      FROM pg_catalog.pg_foreign_data_wrapper WHERE oid >= ${FIRST_NORMAL_OBJECT_ID}
    UNION ALL
    SELECT format('DROP ACCESS METHOD IF EXISTS %I CASCADE', amname)
      FROM pg_catalog.pg_am WHERE oid >= ${FIRST_NORMAL_OBJECT_ID}`);
  await run(others);
  const largeObjects = await client.query<{ n: string }>(
    "SELECT count(pg_catalog.lo_unlink(oid))::text AS n FROM pg_catalog.pg_largeobject_metadata",
  );
  // Database-wide default privileges (ALTER DEFAULT PRIVILEGES without IN SCHEMA) belong to
  // no schema: each is reset to PostgreSQL's built-in default, which removes its entry.
  const defaultAcls = await names(GLOBAL_DEFAULT_ACL_RESET_SQL);
  await run(defaultAcls);
  // Privileges changed on PostgreSQL's own objects (pg_dump writes them as differences from
  // the initial ones): back to what initdb set. Table-level revokes also revoke column
  // privileges, so columns are compared again afterwards.
  let systemAcls = 0;
  for (let pass = 0; pass < 3; pass++) {
    const drift = await readSystemAclDrift(client);
    if (drift.length === 0) break;
    for (const d of drift) {
      if (d.revokeFrom !== null)
        await client.query(
          `REVOKE ALL${d.column === null ? "" : ` (${d.column})`} ON ${d.target} FROM ${d.revokeFrom} CASCADE`,
        );
      await run(d.grants);
    }
    systemAcls += drift.length;
  }
  await assertNothingLeft(client);
  // The public schema as a new PostgreSQL 15 database has it; pg_dump writes only changes.
  await run([
    "CREATE SCHEMA public",
    "ALTER SCHEMA public OWNER TO pg_database_owner",
    "COMMENT ON SCHEMA public IS 'standard public schema'",
    "GRANT USAGE ON SCHEMA public TO PUBLIC",
  ]);
  return {
    schemas: schemas.length,
    extensions: extensions.length,
    eventTriggers: eventTriggers.length,
    publications: publications.length,
    otherObjects: others.length + defaultAcls.length + systemAcls,
    largeObjects: Number(largeObjects.rows[0]?.n ?? 0),
  };
}

/**
 * One statement per database-wide default ACL: revoke everything from everyone it names,
 * then grant back PostgreSQL's built-in default for that object type (owner: all; PUBLIC:
 * EXECUTE on functions, USAGE on types). PostgreSQL deletes an entry equal to the default.
 */
const GLOBAL_DEFAULT_ACL_RESET_SQL = `
  SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE %I REVOKE ALL ON %s FROM %s', r.rolname, k.kind,
           (SELECT string_agg(DISTINCT CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(g.rolname) END, ', ')
              FROM pg_catalog.aclexplode(d.defaclacl) e LEFT JOIN pg_catalog.pg_roles g ON g.oid = e.grantee))
         || format('; ALTER DEFAULT PRIVILEGES FOR ROLE %I GRANT ALL ON %s TO %I', r.rolname, k.kind, r.rolname)
         || CASE WHEN k.public_default THEN format('; ALTER DEFAULT PRIVILEGES FOR ROLE %I GRANT ALL ON %s TO PUBLIC', r.rolname, k.kind) ELSE '' END AS s
  FROM pg_catalog.pg_default_acl d
  JOIN pg_catalog.pg_roles r ON r.oid = d.defaclrole
  JOIN (VALUES ('r', 'TABLES', false), ('S', 'SEQUENCES', false), ('f', 'FUNCTIONS', true),
               ('T', 'TYPES', true), ('n', 'SCHEMAS', false)) k(objtype, kind, public_default)
    ON k.objtype = d.defaclobjtype::text
  WHERE d.defaclnamespace = 0
    AND pg_catalog.cardinality(d.defaclacl) > 0`;

const IN_EXTENSION = (catalog: string, alias: string) =>
  `EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.${catalog}'::regclass AND d.objid = ${alias}.oid AND d.deptype = 'e')`;

/**
 * Objects initdb created (OID below 16384) whose privileges pg_dump writes — those in
 * pg_catalog, pg_catalog itself, and members of initdb's extensions (plpgsql) — and that
 * differ from the initial ones recorded in pg_init_privs (or PostgreSQL's built-in default).
 * pg_dump writes such differences, so the cleared catalog must have none. (pg_dump ignores
 * information_schema and built-in languages; so does this.)
 */
const SYSTEM_ACL_DRIFT_SQL = `
WITH objs AS (
  SELECT 'pg_catalog.pg_class'::regclass AS classid, c.oid AS objid, 0 AS subid,
         CASE c.relkind WHEN 'S' THEN 'SEQUENCE ' ELSE 'TABLE ' END || format('%I.%I', n.nspname, c.relname) AS target,
         NULL::text AS col, c.relacl AS acl,
         pg_catalog.acldefault((CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END)::"char", c.relowner) AS dflt
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.oid < ${FIRST_NORMAL_OBJECT_ID} AND c.relkind IN ('r', 'v', 'm', 'S', 'f', 'p')
    AND (n.nspname = 'pg_catalog' OR ${IN_EXTENSION("pg_class", "c")})
  UNION ALL
  SELECT 'pg_catalog.pg_class'::regclass, c.oid, a.attnum, 'TABLE ' || format('%I.%I', n.nspname, c.relname),
         quote_ident(a.attname), a.attacl, NULL::aclitem[]
  FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.oid < ${FIRST_NORMAL_OBJECT_ID} AND c.relkind IN ('r', 'v', 'm', 'f', 'p') AND a.attnum > 0 AND NOT a.attisdropped
    AND (n.nspname = 'pg_catalog' OR ${IN_EXTENSION("pg_class", "c")})
  UNION ALL
  SELECT 'pg_catalog.pg_proc'::regclass, p.oid, 0,
         'ROUTINE ' || format('%I.%I(%s)', n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)),
         NULL, p.proacl, pg_catalog.acldefault('f', p.proowner)
  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  WHERE p.oid < ${FIRST_NORMAL_OBJECT_ID} AND (n.nspname = 'pg_catalog' OR ${IN_EXTENSION("pg_proc", "p")})
  UNION ALL
  SELECT 'pg_catalog.pg_type'::regclass, t.oid, 0, 'TYPE ' || t.oid::regtype::text, NULL, t.typacl,
         pg_catalog.acldefault('T', t.typowner)
  FROM pg_catalog.pg_type t WHERE t.oid < ${FIRST_NORMAL_OBJECT_ID} AND t.typacl IS NOT NULL
    AND (t.typnamespace = 'pg_catalog'::regnamespace OR ${IN_EXTENSION("pg_type", "t")})
  UNION ALL
  SELECT 'pg_catalog.pg_namespace'::regclass, n.oid, 0, 'SCHEMA ' || quote_ident(n.nspname), NULL, n.nspacl,
         pg_catalog.acldefault('n', n.nspowner)
  FROM pg_catalog.pg_namespace n WHERE n.nspname = 'pg_catalog'
  UNION ALL
  SELECT 'pg_catalog.pg_language'::regclass, l.oid, 0, 'LANGUAGE ' || quote_ident(l.lanname), NULL, l.lanacl,
         pg_catalog.acldefault('l', l.lanowner)
  FROM pg_catalog.pg_language l WHERE l.oid < ${FIRST_NORMAL_OBJECT_ID} AND ${IN_EXTENSION("pg_language", "l")}
), drift AS (
  SELECT o.target, o.col, coalesce(o.acl, o.dflt) AS now, coalesce(i.initprivs, o.dflt) AS initial
  FROM objs o LEFT JOIN pg_catalog.pg_init_privs i
    ON i.classoid = o.classid AND i.objoid = o.objid AND i.objsubid = o.subid
)
SELECT d.target, d.col AS "column",
       (SELECT string_agg(DISTINCT CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(g.rolname) END, ', ')
          FROM pg_catalog.aclexplode(d.now) e LEFT JOIN pg_catalog.pg_roles g ON g.oid = e.grantee) AS "revokeFrom",
       ARRAY(SELECT format('GRANT %s%s ON %s TO %s%s', e.privilege_type, coalesce(' (' || d.col || ')', ''), d.target,
                           CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(g.rolname) END,
                           CASE WHEN e.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
             FROM pg_catalog.aclexplode(d.initial) e LEFT JOIN pg_catalog.pg_roles g ON g.oid = e.grantee) AS grants
FROM drift d
WHERE ARRAY(SELECT x::text FROM unnest(d.now) x ORDER BY 1)
      IS DISTINCT FROM ARRAY(SELECT x::text FROM unnest(d.initial) x ORDER BY 1)
ORDER BY d.col IS NOT NULL, d.target, d.col`;

interface SystemAclDrift {
  target: string;
  column: string | null;
  revokeFrom: string | null;
  grants: string[];
}

/** Privilege changes on PostgreSQL's own objects, with the statements that undo them. */
export async function readSystemAclDrift(client: pg.ClientBase): Promise<SystemAclDrift[]> {
  return (await client.query<SystemAclDrift>(SYSTEM_ACL_DRIFT_SQL)).rows;
}

/**
 * What the cleared database must not hold any more: objects created after initdb in every
 * per-database catalog (other sessions' temporary objects aside), database-wide default
 * privileges, and privilege changes on PostgreSQL's own objects. Anything left is a kind of
 * object this module cannot remove, so the restore stops (and rolls back) instead of
 * claiming a result equal to the snapshot.
 */
async function assertNothingLeft(client: pg.ClientBase): Promise<void> {
  const notTemp = (alias: string, column: string) =>
    `(SELECT nspname FROM pg_catalog.pg_namespace WHERE oid = ${alias}.${column}) !~ '^pg_(toast_)?temp_'`;
  const namespaced: Array<[string, string]> = [
    ["pg_class", "relnamespace"],
    ["pg_type", "typnamespace"],
    ["pg_proc", "pronamespace"],
    ["pg_constraint", "connamespace"],
    ["pg_collation", "collnamespace"],
    ["pg_conversion", "connamespace"],
    ["pg_operator", "oprnamespace"],
    ["pg_opclass", "opcnamespace"],
    ["pg_opfamily", "opfnamespace"],
    ["pg_statistic_ext", "stxnamespace"],
    ["pg_ts_config", "cfgnamespace"],
    ["pg_ts_dict", "dictnamespace"],
    ["pg_ts_parser", "prsnamespace"],
    ["pg_ts_template", "tmplnamespace"],
  ];
  const global = [
    "pg_am",
    "pg_cast",
    "pg_default_acl",
    "pg_event_trigger",
    "pg_extension",
    "pg_foreign_data_wrapper",
    "pg_foreign_server",
    "pg_language",
    "pg_largeobject_metadata",
    "pg_publication",
    "pg_transform",
  ];
  const counts = [
    `SELECT 'pg_namespace' AS catalog, count(*) AS n FROM pg_catalog.pg_namespace x
       WHERE x.oid >= ${FIRST_NORMAL_OBJECT_ID} AND x.nspname !~ '^pg_(toast_)?temp_'`,
    ...namespaced.map(
      ([catalog, column]) =>
        `SELECT '${catalog}', count(*) FROM pg_catalog.${catalog} x WHERE x.oid >= ${FIRST_NORMAL_OBJECT_ID} AND ${notTemp("x", column)}`,
    ),
    ...global.map(
      (catalog) =>
        `SELECT '${catalog}', count(*) FROM pg_catalog.${catalog} x WHERE x.oid >= ${FIRST_NORMAL_OBJECT_ID}`,
    ),
  ];
  const left = await client.query<{ catalog: string; n: string }>(
    `SELECT catalog, n::text FROM (${counts.join("\nUNION ALL ")}) c WHERE n > 0 ORDER BY catalog`,
  );
  const drift = await readSystemAclDrift(client);
  const parts = left.rows.map((r) => `${r.n} in ${r.catalog}`);
  if (drift.length > 0)
    parts.push(
      `${drift.length} privilege change(s) on PostgreSQL's own objects (${drift
        .slice(0, 3)
        .map((d) => d.target + (d.column === null ? "" : ` (${d.column})`))
        .join(", ")}${drift.length > 3 ? ", …" : ""})`,
    );
  if (parts.length > 0) {
    throw new CodedError(
      "precondition_failed",
      `The catalog database holds objects restorebot cannot remove (${parts.join("; ")}), so the result could not be made equal to the snapshot. The catalog was left unchanged (the restore transaction was rolled back). Remove those objects by hand, or restore with psql into a new database.`,
    );
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * What stops the DSN's user from restoring, found without changing anything: it must own
 * (be a member of the owner of) everything it drops, be able to recreate `public` as
 * PostgreSQL creates it, and be a member of every role the dump makes an owner.
 */
export async function findPrivilegeProblems(
  client: pg.ClientBase,
  dumpOwners: string[] = [],
  dumpObjects: DumpObjectRef[] = [],
): Promise<string[]> {
  const problems: string[] = [];
  const { rows } = await client.query<{
    user: string;
    superuser: boolean;
    database_owner: boolean;
    can_create: boolean;
  }>(`SELECT current_user AS user,
             (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) AS superuser,
             pg_catalog.pg_has_role('pg_database_owner', 'MEMBER') AS database_owner,
             pg_catalog.has_database_privilege(current_database(), 'CREATE') AS can_create`);
  const me = rows[0];
  if (me === undefined) return ["cannot read the connecting role's privileges"];
  if (me.superuser) {
    const missing = await missingRoles(client, dumpOwners);
    if (missing.length > 0) problems.push(missingRolesProblem(missing));
    return problems;
  }
  if (!me.database_owner)
    problems.push(
      `role "${me.user}" does not own the catalog database (nor is it a superuser), so it cannot recreate the public schema as PostgreSQL creates it`,
    );
  if (!me.can_create)
    problems.push(`role "${me.user}" lacks the CREATE privilege on the catalog database`);
  const unowned = await client.query<{ s: string }>(`
    WITH ns AS (${USER_SCHEMAS})
    SELECT 'schema ' || quote_ident(n.nspname) AS s FROM ns n JOIN pg_catalog.pg_namespace p ON p.oid = n.oid
      WHERE NOT pg_catalog.pg_has_role(p.nspowner, 'MEMBER')
    UNION ALL SELECT 'extension ' || quote_ident(extname) FROM pg_catalog.pg_extension
      WHERE oid >= ${FIRST_NORMAL_OBJECT_ID} AND NOT pg_catalog.pg_has_role(extowner, 'MEMBER')
    UNION ALL SELECT 'event trigger ' || quote_ident(evtname) FROM pg_catalog.pg_event_trigger
      WHERE NOT pg_catalog.pg_has_role(evtowner, 'MEMBER')
    UNION ALL SELECT 'publication ' || quote_ident(pubname) FROM pg_catalog.pg_publication
      WHERE NOT pg_catalog.pg_has_role(pubowner, 'MEMBER')
    UNION ALL SELECT count(*) || ' large object(s)' FROM pg_catalog.pg_largeobject_metadata
      WHERE NOT pg_catalog.pg_has_role(lomowner, 'MEMBER') HAVING count(*) > 0
    UNION ALL SELECT DISTINCT 'the database-wide default privileges of role ' || quote_ident(r.rolname)
      FROM pg_catalog.pg_default_acl d JOIN pg_catalog.pg_roles r ON r.oid = d.defaclrole
      WHERE d.defaclnamespace = 0 AND NOT pg_catalog.pg_has_role(d.defaclrole, 'MEMBER')`);
  if (unowned.rows.length > 0)
    problems.push(
      `role "${me.user}" cannot drop what it does not own: ${unowned.rows
        .slice(0, 10)
        .map((r) => r.s)
        .join(", ")}${unowned.rows.length > 10 ? ", …" : ""}`,
    );
  const superuserOnly = superuserOnlyObjects(dumpObjects);
  if (superuserOnly.length > 0)
    problems.push(
      `the snapshot has ${superuserOnly.slice(0, 5).join(", ")}${superuserOnly.length > 5 ? ", …" : ""}, which only a superuser can create (PostgreSQL would reject them half-way through the restore): restore with a superuser's DSN`,
    );
  const drift = await readSystemAclDrift(client);
  if (drift.length > 0)
    problems.push(
      `the catalog has ${drift.length} privilege change(s) on PostgreSQL's own objects (${drift
        .slice(0, 3)
        .map((d) => d.target + (d.column === null ? "" : ` (${d.column})`))
        .join(
          ", ",
        )}${drift.length > 3 ? ", …" : ""}), which pg_dump records and only a superuser can reset: undo them as a superuser (REVOKE/GRANT back to the defaults), or restore with a superuser's DSN`,
    );
  const missing = await missingRoles(client, dumpOwners);
  if (missing.length > 0) problems.push(missingRolesProblem(missing));
  const notMember = await client.query<{ r: string }>(
    `SELECT r.rolname AS r FROM pg_catalog.pg_roles r
     WHERE r.rolname = ANY($1::text[]) AND NOT pg_catalog.pg_has_role(r.oid, 'MEMBER')`,
    [dumpOwners],
  );
  if (notMember.rows.length > 0)
    problems.push(
      `the snapshot makes ${notMember.rows.map((r) => `"${r.r}"`).join(", ")} the owner of its objects, and role "${me.user}" is not a member of ${notMember.rows.length > 1 ? "them" : "it"} (GRANT ${notMember.rows[0]?.r} TO ${me.user}, or use a superuser)`,
    );
  return problems;
}

async function missingRoles(client: pg.ClientBase, names: string[]): Promise<string[]> {
  if (names.length === 0) return [];
  const { rows } = await client.query<{ r: string }>(
    `SELECT n AS r FROM unnest($1::text[]) n
     WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = n) ORDER BY n`,
    [names],
  );
  return rows.map((r) => r.r);
}

function missingRolesProblem(missing: string[]): string {
  return `the snapshot's objects are owned by role(s) ${missing.map((m) => `"${m}"`).join(", ")}, which do not exist on this server (restorebot creates no roles; create them first)`;
}

/** pg_dump entry types only a superuser can create. */
const SUPERUSER_ONLY_TYPES = new Set([
  "EVENT TRIGGER",
  "FOREIGN DATA WRAPPER",
  "ACCESS METHOD",
  "PROCEDURAL LANGUAGE",
  "TEXT SEARCH PARSER",
  "TEXT SEARCH TEMPLATE",
]);

/**
 * The snapshot's entries that need a superuser: the types above, and privileges on objects
 * initdb created (in pg_catalog, pg_catalog itself, plpgsql), which their owner — the
 * bootstrap superuser — alone can change.
 */
export function superuserOnlyObjects(objects: DumpObjectRef[]): string[] {
  const found: string[] = [];
  for (const o of objects) {
    if (SUPERUSER_ONLY_TYPES.has(o.type)) found.push(`${o.type.toLowerCase()} ${o.name}`);
    else if (
      o.type === "ACL" &&
      (o.schema === "pg_catalog" ||
        o.name === "SCHEMA pg_catalog" ||
        o.name.startsWith("LANGUAGE "))
    )
      found.push(`privileges on ${o.schema === "-" ? "" : `${o.schema}.`}${o.name}`);
  }
  return found;
}
