import { randomBytes } from "node:crypto";
import pg from "pg";
import type { KubernetesCluster } from "../../../src/adapters/kubernetes/kubernetes-cluster.js";
import type { ObjectStore } from "../../../src/adapters/s3/object-store.js";
import type { TargetBase } from "../../../src/config/schema-parts.js";
import { migrate } from "../../../src/db/migrate.js";
import type { JsonValue, RunbookDeps } from "../../../src/kinds/kind.js";
import { silentLogger } from "../../../src/logging/logger.js";
import { createTestDatabase, type TestDatabase } from "../../support/postgres.js";

/** restorebot's database for runner tests: a fresh PostgreSQL database, migrated. */
export interface RunnerDatabase {
  database: TestDatabase;
  pool: pg.Pool;
  close(): Promise<void>;
}

export async function createRunnerDatabase(label = "runner"): Promise<RunnerDatabase> {
  const database = await createTestDatabase(label);
  const pool = new pg.Pool({ connectionString: database.url, max: 8 });
  // Connections still closing when the database is dropped must not become uncaught errors.
  pool.on("error", () => undefined);
  await migrate(pool);
  return {
    database,
    pool,
    async close() {
      await pool.end();
      await database.drop();
    },
  };
}

export interface RequestRowInput {
  id?: string;
  target?: string;
  kind?: string;
  pointTime?: Date;
  pointPrefix?: string;
  dumpKey?: string;
  dumpEtag?: string | null;
  dumpSize?: number | null;
  /** The whole frozen point, for a kind of its own; replaces the four keys above. */
  point?: JsonValue;
  requester?: string;
  channelId?: string;
  cardTs?: string | null;
  state?: string;
  approvedAt?: Date | null;
  /** The kind's restore options (`--db telegraf`…); none unless given. */
  options?: unknown;
  /** A backup (as /backup makes it) has no point until it writes one; default a restore. */
  operation?: "restore" | "backup";
}

export function newRequestId(): string {
  return `rb-${randomBytes(6).toString("hex").slice(0, 8)}`;
}

/** An approved request, as the approval flow leaves it for the worker. */
export async function insertApprovedRequest(
  pool: pg.Pool,
  input: RequestRowInput = {},
): Promise<string> {
  const id = input.id ?? newRequestId();
  const pointTime = input.pointTime ?? new Date("2024-08-12T14:00:00Z");
  const prefix = input.pointPrefix ?? "catalog_backup_file_lists/2024-08-12T14:00:00+00:00/";
  // The frozen point as the kind records it: an InfluxDB Clustered snapshot unless given.
  const point = input.point ?? {
    prefix,
    dumpKey: input.dumpKey ?? `${prefix}pg_dump.gz`,
    dumpEtag: input.dumpEtag ?? null,
    dumpSize: input.dumpSize ?? null,
  };
  await pool.query(
    `INSERT INTO restore_requests (id, target, kind, point_time, point, requester, reason,
       channel_id, card_ts, state, required_approvals, expires_at, approved_at, options, operation)
     VALUES ($1, $2, $3, $4, $5, $6, 'catalog corrupted by a bad migration INC-1', $7,
       $8, $9, 1, now() + interval '30 minutes', $10, $11, $12)`,
    [
      id,
      input.target ?? "prod",
      input.kind ?? "influxdb-clustered",
      pointTime,
      input.operation === "backup" ? null : JSON.stringify(point),
      input.requester ?? "UREQUESTER",
      input.channelId ?? "C0RESTORE1",
      input.cardTs ?? null,
      input.state ?? "approved",
      input.approvedAt === undefined ? new Date() : input.approvedAt,
      input.options === undefined ? null : JSON.stringify(input.options),
      input.operation ?? "restore",
    ],
  );
  return id;
}

/** What a kind's runbook is built from in a test: no variables unless given, silent logs. */
export function runbookDeps<T extends TargetBase>(parts: {
  target: T;
  pool: pg.Pool;
  cluster: KubernetesCluster;
  store: ObjectStore;
  workDir: string;
  env?: NodeJS.ProcessEnv;
}): RunbookDeps<T> {
  return {
    target: parts.target,
    db: parts.pool,
    cluster: parts.cluster,
    objectStore: () => parts.store,
    env: parts.env ?? {},
    workDir: parts.workDir,
    logger: silentLogger,
  };
}

export async function requestRow(
  pool: pg.Pool,
  id: string,
): Promise<{
  state: string;
  halted_phase: string | null;
  halted_reason: string | null;
  run_mode: string;
  cancel_requested: boolean;
}> {
  const { rows } = await pool.query(
    "SELECT state, halted_phase, halted_reason, run_mode, cancel_requested FROM restore_requests WHERE id = $1",
    [id],
  );
  return rows[0];
}

export async function phaseRows(
  pool: pg.Pool,
  id: string,
): Promise<
  Array<{
    phase_index: number;
    phase: string;
    state: string;
    attempt: number;
    facts: Record<string, unknown>;
    error: string | null;
    finished_at: Date | null;
  }>
> {
  const { rows } = await pool.query(
    "SELECT phase_index, phase, state, attempt, facts, error, finished_at FROM phase_runs WHERE request_id = $1 ORDER BY phase_index",
    [id],
  );
  return rows;
}

/** What a person's Retry phase / Roll back press does to the row before the job is enqueued. */
export async function resumeHalted(
  pool: pg.Pool,
  id: string,
  mode: "forward" | "rollback",
): Promise<void> {
  const { rowCount } = await pool.query(
    "UPDATE restore_requests SET state = 'running', run_mode = $2, halted_phase = NULL, halted_reason = NULL WHERE id = $1 AND state = 'halted'",
    [id, mode],
  );
  if (rowCount !== 1) throw new Error(`request ${id} was not halted`);
}
