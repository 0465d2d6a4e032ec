/**
 * An IOx-like catalog for tests and benchmarks: the tables, keys, sequences, functions,
 * trigger, view, enum and domain a real InfluxDB Clustered catalog dump contains, with data
 * generated server-side so that millions of `parquet_file` rows take seconds.
 *
 * Everything is deterministic for a given `seed`: two builds with the same size and seed
 * give byte-identical `pg_dump` output (no `now()`, no `random()`), so tests can compare
 * dumps.
 *
 * Dump size (plain `pg_dump`, PostgreSQL 15, measured): the dump is almost all `parquet_file`
 * rows, about 255 bytes each with 10 columns per table plus ~9 bytes per further column (ids
 * in `column_set`); schema and the small tables add a few tens of KB.
 *   files = namespaces × tablesPerNamespace × partitionsPerTable × filesPerPartition
 *   dump bytes ≈ files × (255 + 9 × (columnsPerTable − 10))
 * Measured on 2 cores: { 2, 10, 10, 10, 300 } → 60 000 files, built in 1.5 s, 15.3 MB of SQL
 * (2.8 MB gzipped); { 4, 25, 12, 30, 200 } → 600 000 files, built in 10 s, dumped in 5.5 s,
 * 164 MB of SQL (29 MB gzipped) — the size the restore benchmark needs (≥ 150 MB).
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { createInterface } from "node:readline";
import { PassThrough, type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import pg from "pg";
import { to as copyTo } from "pg-copy-streams";

/** Schema the catalog lives in, as in IOx (its migrations create `iox_catalog`). */
export const IOX_SCHEMA = "iox_catalog";

export interface IoxCatalogSize {
  namespaces: number;
  tablesPerNamespace: number;
  columnsPerTable: number;
  partitionsPerTable: number;
  filesPerPartition: number;
}

export interface IoxCatalogOptions {
  seed?: number;
  variant?: "base" | "drifted";
  /** Inline `parquetPaths` in the table list only up to this many files in total. */
  inlinePathsUpTo?: number;
}

export interface IoxCatalogTable {
  namespaceId: number;
  namespaceName: string;
  tableId: number;
  tableName: string;
  /** Present when the catalog is small enough (see `inlinePathsUpTo`); else stream them. */
  parquetPaths?: string[];
}

export interface IoxCatalogCounts {
  namespaces: number;
  tables: number;
  columns: number;
  partitions: number;
  parquetFiles: number;
}

export interface IoxCatalog {
  schema: string;
  seed: number;
  variant: "base" | "drifted";
  counts: IoxCatalogCounts;
  tables: IoxCatalogTable[];
  buildMs: number;
}

export interface ParquetPathRow {
  namespaceId: number;
  namespaceName: string;
  tableId: number;
  tableName: string;
  path: string;
}

const MEASUREMENTS = [
  "cpu",
  "mem",
  "disk",
  "diskio",
  "net",
  "processes",
  "swap",
  "system",
  "kernel",
  "http_requests",
  "http_response_time",
  "queue_depth",
  "temperature",
  "humidity",
  "power",
];

const COLUMN_NAMES = [
  "time",
  "host",
  "region",
  "usage_user",
  "usage_system",
  "usage_idle",
  "usage_iowait",
  "bytes_in",
  "bytes_out",
  "status",
];

/**
 * One row per Parquet file, in a stable order: `<namespace-id>/<table-id>/<partition>/<uuid>.parquet`
 * where `<partition>` is the hex of the partition's hash id, as IOx names deterministic
 * partitions in object storage. Columns: namespace_id, namespace_name, table_id, table_name, path.
 */
export const PARQUET_PATHS_SQL = `
SELECT n.id AS namespace_id, n.name AS namespace_name, t.id AS table_id, t.name AS table_name,
       pf.namespace_id || '/' || pf.table_id || '/' || encode(pf.partition_hash_id, 'hex') || '/'
         || pf.object_store_id || '.parquet' AS path
FROM ${IOX_SCHEMA}.parquet_file pf
JOIN ${IOX_SCHEMA}.table_name t ON t.id = pf.table_id
JOIN ${IOX_SCHEMA}.namespace n ON n.id = t.namespace_id
ORDER BY t.id, pf.id`;

const SCHEMA_SQL = `
CREATE SCHEMA ${IOX_SCHEMA};
SET search_path = ${IOX_SCHEMA};

-- sqlx keeps its migration ledger next to the catalog tables.
CREATE TABLE _sqlx_migrations (
  version bigint PRIMARY KEY,
  description text NOT NULL,
  installed_on timestamptz NOT NULL DEFAULT now(),
  success boolean NOT NULL,
  checksum bytea NOT NULL,
  execution_time bigint NOT NULL
);

CREATE DOMAIN nonnegative_bigint AS bigint CHECK (VALUE >= 0);
CREATE TYPE skipped_compaction_reason AS ENUM ('over_memory_budget', 'too_many_files', 'unknown');

CREATE TABLE topic (
  id bigserial PRIMARY KEY,
  name varchar NOT NULL,
  CONSTRAINT topic_name_unique UNIQUE (name)
);

CREATE TABLE query_pool (
  id bigserial PRIMARY KEY,
  name varchar NOT NULL,
  CONSTRAINT query_pool_name_unique UNIQUE (name)
);

CREATE TABLE namespace (
  id bigserial PRIMARY KEY,
  name varchar NOT NULL,
  retention_period_ns bigint,
  topic_id bigint NOT NULL REFERENCES topic (id),
  query_pool_id bigint NOT NULL REFERENCES query_pool (id),
  max_tables integer NOT NULL DEFAULT 500,
  max_columns_per_table integer NOT NULL DEFAULT 200,
  deleted_at bigint,
  partition_template jsonb,
  router_version bigint NOT NULL DEFAULT 0,
  CONSTRAINT namespace_name_unique UNIQUE (name)
);

CREATE TABLE table_name (
  id bigserial PRIMARY KEY,
  namespace_id bigint NOT NULL REFERENCES namespace (id) ON DELETE CASCADE,
  name varchar NOT NULL,
  partition_template jsonb,
  CONSTRAINT table_name_unique UNIQUE (namespace_id, name)
);

CREATE TABLE column_name (
  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  table_id bigint NOT NULL REFERENCES table_name (id) ON DELETE CASCADE,
  name varchar NOT NULL,
  column_type smallint NOT NULL,
  CONSTRAINT column_name_unique UNIQUE (table_id, name)
);

CREATE TABLE partition (
  id bigserial PRIMARY KEY,
  table_id bigint NOT NULL REFERENCES table_name (id) ON DELETE CASCADE,
  partition_key varchar NOT NULL,
  hash_id bytea,
  sort_key text[] NOT NULL DEFAULT '{}',
  sort_key_ids bigint[],
  persisted_sequence_number bigint,
  new_file_at bigint,
  cold_compact_at bigint,
  CONSTRAINT partition_key_unique UNIQUE (table_id, partition_key)
);

CREATE TABLE parquet_file (
  id bigserial PRIMARY KEY,
  namespace_id bigint NOT NULL,
  table_id bigint NOT NULL,
  partition_id bigint NOT NULL,
  partition_hash_id bytea,
  object_store_id uuid NOT NULL,
  min_time bigint NOT NULL,
  max_time bigint NOT NULL,
  to_delete bigint,
  file_size_bytes nonnegative_bigint NOT NULL,
  row_count nonnegative_bigint NOT NULL,
  compaction_level smallint NOT NULL,
  created_at bigint,
  column_set bigint[] NOT NULL,
  max_l0_created_at bigint NOT NULL DEFAULT 0
);

CREATE TABLE skipped_compactions (
  partition_id bigint PRIMARY KEY REFERENCES partition (id) ON DELETE CASCADE,
  reason skipped_compaction_reason NOT NULL,
  skipped_at bigint NOT NULL,
  num_files bigint,
  limit_num_files bigint,
  estimated_bytes bigint,
  limit_bytes bigint
);
`;

// Secondary indexes, keys and the trigger come after the bulk load: building them once is
// much faster than maintaining them row by row, and pg_dump emits them after the data anyway.
const POST_LOAD_SQL = `
SET search_path = ${IOX_SCHEMA};
ALTER TABLE parquet_file ADD CONSTRAINT parquet_file_object_store_id_unique UNIQUE (object_store_id);
ALTER TABLE parquet_file ADD CONSTRAINT parquet_file_partition_id_fkey
  FOREIGN KEY (partition_id) REFERENCES partition (id);
ALTER TABLE parquet_file ADD CONSTRAINT parquet_file_table_id_fkey
  FOREIGN KEY (table_id) REFERENCES table_name (id);
CREATE INDEX parquet_file_partition_created_idx ON parquet_file (partition_id, created_at);
CREATE INDEX parquet_file_table_delete_idx ON parquet_file (table_id) WHERE to_delete IS NULL;
CREATE INDEX parquet_file_to_delete_idx ON parquet_file (to_delete);
CREATE UNIQUE INDEX partition_hash_id_unique ON partition (hash_id) WHERE hash_id IS NOT NULL;
CREATE INDEX partition_new_file_at_idx ON partition (new_file_at);
CREATE INDEX column_name_table_idx ON column_name (table_id);

-- IOx bumps partition.new_file_at on every new file so the compactor finds fresh work.
CREATE FUNCTION update_partition_on_new_file_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE partition SET new_file_at = NEW.created_at
  WHERE id = NEW.partition_id AND (new_file_at IS NULL OR new_file_at < NEW.created_at);
  RETURN NEW;
END;
$$;

CREATE TRIGGER update_partition
  AFTER INSERT ON parquet_file
  FOR EACH ROW EXECUTE FUNCTION update_partition_on_new_file_at();

CREATE FUNCTION partition_live_bytes(p_partition_id bigint, p_max_level smallint DEFAULT 2)
RETURNS bigint
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
  total bigint;
BEGIN
  SELECT coalesce(sum(file_size_bytes), 0) INTO total
  FROM parquet_file
  WHERE partition_id = p_partition_id AND to_delete IS NULL AND compaction_level <= p_max_level;
  RETURN total;
END;
$fn$;

CREATE VIEW live_parquet_file AS
  SELECT id, namespace_id, table_id, partition_id, object_store_id, file_size_bytes, row_count
  FROM parquet_file
  WHERE to_delete IS NULL;
`;

function sqlInt(value: number, name: string): string {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Error(`${name} must be a non-negative integer, got ${value}`);
  }
  return String(value);
}

// 2024-08-01T00:00:00Z in nanoseconds, moved by the seed so different seeds differ in time too.
function baseTimeNs(seed: number): bigint {
  return (1_722_470_400n + BigInt(seed % 1000) * 86_400n) * 1_000_000_000n;
}

async function loadData(client: pg.Client, size: IoxCatalogSize, seed: number): Promise<void> {
  const s = sqlInt(seed, "seed");
  const nNs = sqlInt(size.namespaces, "namespaces");
  const nTables = sqlInt(size.tablesPerNamespace, "tablesPerNamespace");
  const nCols = sqlInt(size.columnsPerTable, "columnsPerTable");
  const nParts = sqlInt(size.partitionsPerTable, "partitionsPerTable");
  const nFiles = sqlInt(size.filesPerPartition, "filesPerPartition");
  const t0 = baseTimeNs(seed).toString();
  const measurements = `ARRAY[${MEASUREMENTS.map((m) => `'${m}'`).join(",")}]`;
  const columnNames = `ARRAY[${COLUMN_NAMES.map((m) => `'${m}'`).join(",")}]`;

  await client.query(`
SET search_path = ${IOX_SCHEMA};
INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time)
SELECT 20210217134322 + v * 1000, 'migration ' || v, timestamptz '2024-01-01 00:00:00+00' + v * interval '1 day',
       true, decode(md5('migration' || v), 'hex'), 1000000 + v
FROM generate_series(1, 12) v;

INSERT INTO topic (name) VALUES ('iox-shared');
INSERT INTO query_pool (name) VALUES ('iox-shared');

-- Namespace names look like IOx's <org-id>_<bucket-id> (16 hex digits each).
INSERT INTO namespace (name, retention_period_ns, topic_id, query_pool_id, partition_template)
SELECT substr(md5('org' || ${s} || ':' || n), 1, 16) || '_' || substr(md5('bucket' || ${s} || ':' || n), 1, 16),
       CASE WHEN n % 3 = 0 THEN NULL ELSE 30 * 86400 * 1000000000::bigint END,
       1, 1,
       CASE WHEN n % 4 = 0 THEN '{"parts":[{"timeFormat":"%Y-%m-%d"}]}'::jsonb END
FROM generate_series(1, ${nNs}) n ORDER BY n;

INSERT INTO table_name (namespace_id, name)
SELECT ns.id,
       (${measurements})[1 + (t - 1) % ${MEASUREMENTS.length}]
         || CASE WHEN t > ${MEASUREMENTS.length} THEN '_' || ((t - 1) / ${MEASUREMENTS.length}) ELSE '' END
FROM namespace ns CROSS JOIN generate_series(1, ${nTables}) t
ORDER BY ns.id, t;

INSERT INTO column_name (table_id, name, column_type)
SELECT tb.id,
       CASE WHEN c <= ${COLUMN_NAMES.length} THEN (${columnNames})[c] ELSE 'field_' || c END,
       CASE WHEN c = 1 THEN 6 WHEN c <= 3 THEN 7 ELSE 1 + (c % 5) END
FROM table_name tb CROSS JOIN generate_series(1, ${nCols}) c
ORDER BY tb.id, c;

-- Daily partitions, as IOx's default template; hash_id is a SHA-256 of table id and key.
INSERT INTO partition (table_id, partition_key, hash_id, sort_key, sort_key_ids, new_file_at)
SELECT tb.id, k.key,
       sha256(convert_to(tb.id || ':' || k.key, 'UTF8')),
       ARRAY['host', 'region', 'time'],
       (SELECT array_agg(cn.id ORDER BY cn.id) FROM column_name cn WHERE cn.table_id = tb.id AND cn.name IN ('time', 'host', 'region')),
       ${t0} + p * 86400 * 1000000000::bigint
FROM table_name tb
CROSS JOIN generate_series(1, ${nParts}) p
CROSS JOIN LATERAL (SELECT to_char(timestamptz '2024-08-01 00:00:00+00' + (${s} % 1000 + p - 1) * interval '1 day', 'YYYY-MM-DD') AS key) k
ORDER BY tb.id, p;

CREATE TEMP TABLE table_columns ON COMMIT DROP AS
SELECT table_id, array_agg(id ORDER BY id) AS column_set FROM column_name GROUP BY table_id;

INSERT INTO parquet_file (namespace_id, table_id, partition_id, partition_hash_id, object_store_id,
  min_time, max_time, to_delete, file_size_bytes, row_count, compaction_level, created_at,
  column_set, max_l0_created_at)
SELECT tb.namespace_id, p.table_id, p.id, p.hash_id,
       md5(${s} || ':' || p.id || ':' || f)::uuid,
       ${t0} + (p.id * 86400 + f * 60) * 1000000000::bigint,
       ${t0} + (p.id * 86400 + f * 60 + 59) * 1000000000::bigint,
       CASE WHEN (p.id + f) % 50 = 0 THEN ${t0} + (p.id * 86400 + 7200) * 1000000000::bigint END,
       1024 + ((p.id * 7919 + f * 104729) % 50000000),
       100 + ((p.id * 31 + f * 17) % 1000000),
       (f % 3)::smallint,
       ${t0} + (p.id * 86400 + f * 60 + 120) * 1000000000::bigint,
       tc.column_set,
       ${t0} + (p.id * 86400 + f * 60 + 90) * 1000000000::bigint
FROM partition p
JOIN table_name tb ON tb.id = p.table_id
JOIN table_columns tc ON tc.table_id = p.table_id
CROSS JOIN generate_series(1, ${nFiles}) f
ORDER BY p.id, f;

INSERT INTO skipped_compactions (partition_id, reason, skipped_at, num_files, limit_num_files, estimated_bytes, limit_bytes)
SELECT id, (ARRAY['over_memory_budget', 'too_many_files']::skipped_compaction_reason[])[1 + id % 2],
       ${t0} + id * 1000000000::bigint, 200, 100, 2000000000, 1000000000
FROM partition WHERE id % 97 = 0 ORDER BY id;
`);
}

// A changed copy of the base catalog, the way a live catalog drifts after a snapshot:
// new rows, a new table, a dropped index, sequences moved on, an extra function.
const DRIFT_SQL = `
SET search_path = ${IOX_SCHEMA};
INSERT INTO namespace (name, topic_id, query_pool_id) VALUES ('drifted_namespace', 1, 1);
INSERT INTO table_name (namespace_id, name)
  SELECT id, 'late_arrival' FROM namespace WHERE name = 'drifted_namespace';
INSERT INTO column_name (table_id, name, column_type)
  SELECT id, c, 7 FROM table_name, unnest(ARRAY['time', 'host', 'value']) c WHERE name = 'late_arrival';
INSERT INTO partition (table_id, partition_key, hash_id)
  SELECT id, '2030-01-01', sha256(convert_to(id || ':2030-01-01', 'UTF8')) FROM table_name WHERE name = 'late_arrival';
INSERT INTO parquet_file (namespace_id, table_id, partition_id, partition_hash_id, object_store_id,
  min_time, max_time, file_size_bytes, row_count, compaction_level, created_at, column_set)
SELECT tb.namespace_id, tb.id, p.id, p.hash_id, md5('drift:' || g)::uuid, g, g + 1, 4096, 10, 0,
       1900000000000000000 + g, ARRAY[]::bigint[]
FROM table_name tb JOIN partition p ON p.table_id = tb.id
CROSS JOIN generate_series(1, 25) g WHERE tb.name = 'late_arrival';
UPDATE parquet_file SET to_delete = 1900000000000000000 WHERE id % 7 = 0 AND to_delete IS NULL;
CREATE TABLE parquet_file_annotation (
  parquet_file_id bigint PRIMARY KEY REFERENCES parquet_file (id),
  note text NOT NULL
);
INSERT INTO parquet_file_annotation SELECT id, 'added after the snapshot' FROM parquet_file WHERE id % 11 = 0 LIMIT 100;
DROP INDEX parquet_file_to_delete_idx;
SELECT setval('namespace_id_seq', nextval('namespace_id_seq') + 1000);
SELECT setval('parquet_file_id_seq', nextval('parquet_file_id_seq') + 100000);
SELECT setval(pg_get_serial_sequence('${IOX_SCHEMA}.column_name', 'id'), nextval(pg_get_serial_sequence('${IOX_SCHEMA}.column_name', 'id')) + 500);
CREATE FUNCTION namespace_file_count(p_namespace_id bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$ SELECT count(*) FROM parquet_file WHERE namespace_id = p_namespace_id $$;
`;

/**
 * Creates the IOx-like catalog in an existing, empty database and fills it. With
 * `variant: "drifted"` the same base catalog is built and then changed (see DRIFT_SQL).
 */
export async function buildIoxCatalog(
  databaseUrl: string,
  size: IoxCatalogSize,
  opts: IoxCatalogOptions = {},
): Promise<IoxCatalog> {
  const seed = opts.seed ?? 1;
  const variant = opts.variant ?? "base";
  const started = performance.now();
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    // The catalog is throwaway test data; skipping the WAL flush per commit saves seconds.
    await client.query("SET synchronous_commit = off");
    await client.query("BEGIN");
    await client.query(SCHEMA_SQL);
    await loadData(client, size, seed);
    await client.query(POST_LOAD_SQL);
    await client.query("COMMIT");
    if (variant === "drifted") await client.query(`BEGIN; ${DRIFT_SQL} COMMIT;`);
    await client.query(`ANALYZE`);

    const counts = await readCounts(client);
    const inlineLimit = opts.inlinePathsUpTo ?? 10_000;
    const tables = await readTables(client, counts.parquetFiles <= inlineLimit);
    return {
      schema: IOX_SCHEMA,
      seed,
      variant,
      counts,
      tables,
      buildMs: Math.round(performance.now() - started),
    };
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    await client.end();
  }
}

async function readCounts(client: pg.Client): Promise<IoxCatalogCounts> {
  const { rows } = await client.query<Record<keyof IoxCatalogCounts, string>>(`
SELECT (SELECT count(*) FROM ${IOX_SCHEMA}.namespace) AS namespaces,
       (SELECT count(*) FROM ${IOX_SCHEMA}.table_name) AS tables,
       (SELECT count(*) FROM ${IOX_SCHEMA}.column_name) AS columns,
       (SELECT count(*) FROM ${IOX_SCHEMA}.partition) AS partitions,
       (SELECT count(*) FROM ${IOX_SCHEMA}.parquet_file) AS "parquetFiles"`);
  const row = rows[0];
  if (row === undefined) throw new Error("catalog counts query returned no row");
  return {
    namespaces: Number(row.namespaces),
    tables: Number(row.tables),
    columns: Number(row.columns),
    partitions: Number(row.partitions),
    parquetFiles: Number(row.parquetFiles),
  };
}

async function readTables(client: pg.Client, withPaths: boolean): Promise<IoxCatalogTable[]> {
  const { rows } = await client.query<{
    namespace_id: string;
    namespace_name: string;
    table_id: string;
    table_name: string;
  }>(
    `SELECT n.id AS namespace_id, n.name AS namespace_name, t.id AS table_id, t.name AS table_name
     FROM ${IOX_SCHEMA}.table_name t JOIN ${IOX_SCHEMA}.namespace n ON n.id = t.namespace_id
     ORDER BY t.id`,
  );
  const tables: IoxCatalogTable[] = rows.map((r) => ({
    namespaceId: Number(r.namespace_id),
    namespaceName: r.namespace_name,
    tableId: Number(r.table_id),
    tableName: r.table_name,
  }));
  if (!withPaths) return tables;
  const byId = new Map(tables.map((t) => [t.tableId, t]));
  const paths = await client.query<{ table_id: string; path: string }>(PARQUET_PATHS_SQL);
  for (const row of paths.rows) {
    const table = byId.get(Number(row.table_id));
    if (table === undefined) continue;
    table.parquetPaths ??= [];
    table.parquetPaths.push(row.path);
  }
  for (const table of tables) table.parquetPaths ??= [];
  return tables;
}

/**
 * Streams every Parquet path of the catalog (ordered by table, then file id) without
 * holding them in memory: COPY … TO STDOUT, read line by line.
 */
export async function* streamParquetPaths(databaseUrl: string): AsyncGenerator<ParquetPathRow> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const stream = client.query(copyTo(`COPY (${PARQUET_PATHS_SQL}) TO STDOUT`));
    const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
    for await (const line of lines) {
      if (line === "") continue;
      const [namespaceId, namespaceName, tableId, tableName, path] = line.split("\t");
      if (path === undefined) throw new Error(`unexpected COPY line: ${line}`);
      yield {
        namespaceId: Number(namespaceId),
        namespaceName: namespaceName ?? "",
        tableId: Number(tableId),
        tableName: tableName ?? "",
        path,
      };
    }
  } finally {
    await client.end();
  }
}

/** Starts the real `pg_dump` (plain format) and returns its stdout; errors surface on the stream. */
export function pgDumpStream(databaseUrl: string, extraArgs: string[] = []): Readable {
  const child = spawn("pg_dump", ["--format=plain", ...extraArgs, "--dbname", databaseUrl], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out = new PassThrough();
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    stderr += chunk;
  });
  child.stdout.pipe(out, { end: false });
  const exited = once(child, "close");
  child.stdout.on("end", () => {
    exited.then(
      ([code]) => {
        if (code === 0) out.end();
        else out.destroy(new Error(`pg_dump exited with ${String(code)}: ${stderr.trim()}`));
      },
      (err: unknown) => out.destroy(err instanceof Error ? err : new Error(String(err))),
    );
  });
  child.on("error", (err) => out.destroy(err));
  return out;
}

/** The whole plain-text dump as a string (for small catalogs and comparisons). */
export async function pgDump(databaseUrl: string, extraArgs: string[] = []): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of pgDumpStream(databaseUrl, extraArgs)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** The dump gzipped in memory, as the snapshot writer uploads it (only the gzip is held). */
export async function pgDumpGzip(databaseUrl: string): Promise<{ gzip: Buffer; sqlBytes: number }> {
  let sqlBytes = 0;
  const chunks: Buffer[] = [];
  await pipeline(
    pgDumpStream(databaseUrl),
    new Transform({
      transform(chunk: Buffer, _enc, done) {
        sqlBytes += chunk.length;
        done(null, chunk);
      },
    }),
    createGzip({ level: 6 }),
    async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) chunks.push(chunk);
    },
  );
  return { gzip: Buffer.concat(chunks), sqlBytes };
}

/**
 * Streams `pg_dump | gzip` into a file without holding the dump in memory; returns the
 * uncompressed and compressed sizes.
 */
export async function pgDumpToGzipFile(
  databaseUrl: string,
  path: string,
): Promise<{ sqlBytes: number; gzipBytes: number }> {
  let sqlBytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      sqlBytes += chunk.length;
      done(null, chunk);
    },
  });
  const file = createWriteStream(path);
  await pipeline(pgDumpStream(databaseUrl), counter, createGzip({ level: 6 }), file);
  return { sqlBytes, gzipBytes: file.bytesWritten };
}
