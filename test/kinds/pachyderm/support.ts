import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import pg from "pg";
import type { ObjectStore } from "../../../src/adapters/s3/object-store.js";
import { createS3Client, createS3ObjectStore } from "../../../src/adapters/s3/s3-object-store.js";
import {
  PACH_BACKUP_BUCKET,
  PACH_COMPONENTS,
  PACH_LIVE_BUCKET,
} from "../../../src/kinds/pachyderm/sandbox/scenario.js";
import {
  type KubernetesSimulator,
  startKubernetesSimulator,
} from "../../../stand-ins/kubernetes/index.js";
import type { ComponentConfig } from "../../../stand-ins/kubernetes/types.js";
import { type S3StandIn, startS3StandIn } from "../../../stand-ins/s3/server.js";
import { comparableDump } from "../../catalog-restore/support.js";
import { ADMIN_URL } from "../../support/postgres.js";

/** The main server (max_prepared_transactions = 0: the sequential path). */
export const SEQUENTIAL_ADMIN_URL = ADMIN_URL;

/** The cluster scripts/ensure-services.sh starts with max_prepared_transactions > 0. */
export const PREPARED_ADMIN_URL =
  process.env.PG_PREPARED_TEST_URL ??
  (() => {
    const url = new URL(ADMIN_URL);
    url.port = "5433";
    return url.toString();
  })();

export interface ScratchDatabase {
  name: string;
  url: string;
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string): Promise<R[]>;
  drop(): Promise<void>;
}

export async function scratchDatabase(adminUrl: string, label: string): Promise<ScratchDatabase> {
  const name = `rb_pach_${label}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(
      `PostgreSQL at ${new URL(adminUrl).host} is not reachable (${String(err)}): run scripts/ensure-services.sh`,
    );
  }
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const dbUrl = url.toString();
  return {
    name,
    url: dbUrl,
    async query<R extends pg.QueryResultRow>(sql: string): Promise<R[]> {
      const c = new pg.Client({ connectionString: dbUrl });
      await c.connect();
      try {
        return (await c.query<R>(sql)).rows;
      } finally {
        await c.end();
      }
    },
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** A small stand-in for Pachyderm's metadata schema. */
export const PACHYDERM_SCHEMA = `
  CREATE SCHEMA pfs;
  CREATE TABLE pfs.commits (id bigserial PRIMARY KEY, repo text NOT NULL, info jsonb, created timestamptz DEFAULT now());
  CREATE INDEX commits_repo ON pfs.commits (repo);
  INSERT INTO pfs.commits (repo, info) SELECT 'repo' || (i % 7), jsonb_build_object('n', i) FROM generate_series(1, 500) i;
`;

export const DEX_SCHEMA = `
  CREATE TABLE client (id text PRIMARY KEY, secret bytea NOT NULL);
  INSERT INTO client VALUES ('pachd', '\\x00ff'), ('console', '\\x0102');
`;

/** Pachyderm's two databases (its metadata and dex's) on `adminUrl`, each with its schema. */
export async function pachydermDatabases(
  adminUrl: string,
  label: string,
): Promise<{ pach: ScratchDatabase; dex: ScratchDatabase }> {
  const pach = await scratchDatabase(adminUrl, `${label}_p`);
  const dex = await scratchDatabase(adminUrl, `${label}_d`);
  await pach.query(PACHYDERM_SCHEMA);
  await dex.query(DEX_SCHEMA);
  return { pach, dex };
}

/** The bucket Pachyderm keeps its objects in, and the one its backups go to. */
export const LIVE_BUCKET = PACH_LIVE_BUCKET;
export const BACKUP_BUCKET = PACH_BACKUP_BUCKET;

/** The S3 stand-in with the live and the backup bucket, and an object store on it. */
export async function startPachydermBuckets(): Promise<{ s3: S3StandIn; store: ObjectStore }> {
  const s3 = await startS3StandIn({ buckets: [LIVE_BUCKET, BACKUP_BUCKET] });
  return { s3, store: storeFor(s3.endpoint) };
}

/** `count` objects `<prefix>chunks/0000`, `0001`… in the live bucket, object `i` holding `body(i)`. */
export function seedChunks(
  s3: S3StandIn,
  prefix: string,
  count: number,
  body: (i: number) => string,
): void {
  for (let i = 0; i < count; i++)
    s3.putObjectDirect(LIVE_BUCKET, `${prefix}chunks/${String(i).padStart(4, "0")}`, body(i));
}

/** The sandbox's workloads (pachd and two worker RCs), with pachd at two replicas. */
export const PACHYDERM_COMPONENTS: ComponentConfig[] = PACH_COMPONENTS.map((c) =>
  c.name === "pachd" ? { ...c, replicas: 2 } : c,
);

/**
 * The parts of a Pachyderm install: its workloads in the simulator (pachd and two worker
 * RCs), the live bucket with `objects` chunks and the backup bucket, its two databases.
 */
export interface PachydermInstall {
  sim: KubernetesSimulator;
  s3: S3StandIn;
  store: ObjectStore;
  pach: ScratchDatabase;
  dex: ScratchDatabase;
  /** The databases' DSN variables, as a worker reads them. */
  dsns: { PACH_DB_DSN: string; PACH_DEX_DSN: string };
  /** A `targets:` entry for this install, its backups under `prefix`; `extra` is appended. */
  targetYaml(name: string, prefix: string, extra?: string): string;
  close(): Promise<void>;
}

export async function startPachydermInstall(
  adminUrl: string,
  label: string,
  objects = 30,
): Promise<PachydermInstall> {
  const sim = await startKubernetesSimulator({
    components: PACHYDERM_COMPONENTS,
    timing: { startDelayMs: 10, readyDelayMs: 20, terminationDelayMs: 30 },
  });
  const { s3, store } = await startPachydermBuckets();
  const { pach, dex } = await pachydermDatabases(adminUrl, label);
  seedChunks(s3, "", objects, (i) => `chunk ${i} `.repeat(50));
  return {
    sim,
    s3,
    store,
    pach,
    dex,
    dsns: { PACH_DB_DSN: pach.url, PACH_DEX_DSN: dex.url },
    targetYaml: (name, prefix, extra = "") => `
  - name: ${name}
    kind: pachyderm
    namespace: ${sim.namespace}
    pachd: pachd
    workerSelector: suite=pachyderm,component=worker
    databases:
      pachyderm: { dsnEnv: PACH_DB_DSN }
      dex: { dsnEnv: PACH_DEX_DSN }
    objectStore: { bucket: ${LIVE_BUCKET}, prefix: "", endpoint: "${s3.endpoint}", region: us-east-1, forcePathStyle: true }
    backups: { bucket: ${BACKUP_BUCKET}, prefix: ${prefix} }
    timeouts: { podsGone: 1m, podsReady: 1m }${extra}`,
    async close() {
      await sim.close();
      await s3.close();
      await pach.drop();
      await dex.drop();
    },
  };
}

export function storeFor(endpoint: string): ObjectStore {
  const client = createS3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: { accessKeyId: "AKIDTEST", secretAccessKey: "secret" },
  });
  return createS3ObjectStore(client, { endpoint, region: "us-east-1" });
}

/** The database as the real pg_dump prints it, without what differs between two runs. */
export async function pgDumpOf(url: string): Promise<string> {
  const out = await new Promise<string>((resolve, reject) =>
    execFile(
      "pg_dump",
      ["--format=plain", `--dbname=${url}`],
      { maxBuffer: 64 << 20 },
      (err, so) => (err ? reject(err) : resolve(so)),
    ),
  );
  return comparableDump(out);
}
