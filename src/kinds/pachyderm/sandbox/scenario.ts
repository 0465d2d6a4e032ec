import pg from "pg";
import type { ComponentConfig } from "../../../../stand-ins/kubernetes/index.js";
import type { S3StandIn } from "../../../../stand-ins/s3/server.js";
import { createS3Client, createS3ObjectStore } from "../../../adapters/s3/s3-object-store.js";
import { formatAsOf, pointFileKey } from "../../../backups/index.js";
import type { SandboxSetup } from "../../../demo/scenario.js";
import { writePachydermPoint } from "../backup-point.js";
import { readPoolIndex } from "../object-pool.js";

/**
 * The sandbox's Pachyderm install: pachd and two pipeline workers' ReplicationControllers (in a
 * simulator of their own, namespace and kubeconfig context `pachyderm`), the `pachyderm` and `dex` databases, the live
 * bucket and the backup bucket in the S3 stand-in, and a history of backups written by the same
 * writer the backup runbook uses (pool copies, real pg_dump, manifest, complete.json last).
 */

export const PACH_TARGET = "pach";
export const PACH_NAMESPACE = "pachyderm";
export const PACH_LIVE_BUCKET = "pachyderm-data";
export const PACH_BACKUP_BUCKET = "pachyderm-backups";
export const PACH_DB_DSN_ENV = "PACH_DB_DSN";
export const PACH_DEX_DSN_ENV = "PACH_DEX_DSN";
/** The kubeconfig context of the Pachyderm simulator. */
export const PACH_CONTEXT = "pachyderm";

export const PACH_COMPONENTS: ComponentConfig[] = [
  { name: "pachd", kind: "Deployment", replicas: 1 },
  {
    name: "pipeline-edges-v1",
    kind: "ReplicationController",
    replicas: 1,
    labels: { suite: "pachyderm", component: "worker" },
  },
  {
    name: "pipeline-montage-v1",
    kind: "ReplicationController",
    replicas: 2,
    labels: { suite: "pachyderm", component: "worker" },
  },
];

export function pachydermConfigYaml(s3Endpoint: string): string {
  return `  - name: ${PACH_TARGET}
    kind: pachyderm
    namespace: ${PACH_NAMESPACE}
    kubeContext: ${PACH_CONTEXT}
    pachd: pachd
    workerSelector: suite=pachyderm,component=worker
    databases:
      pachyderm: { dsnEnv: ${PACH_DB_DSN_ENV} }
      dex: { dsnEnv: ${PACH_DEX_DSN_ENV} }
    objectStore: { bucket: ${PACH_LIVE_BUCKET}, prefix: "", endpoint: ${s3Endpoint}, region: us-east-1, forcePathStyle: true }
    backups: { bucket: ${PACH_BACKUP_BUCKET}, prefix: restorebot/ }
    backup: { schedule: "0 3 * * *", retention: 14d }
    timeouts: { podsGone: 5m, podsReady: 5m }
`;
}

async function exec(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Writes a generation of the live bucket and of both databases (each later one drifts). */
async function liveGeneration(
  s3: S3StandIn,
  urls: { pachyderm: string; dex: string },
  generation: number,
): Promise<void> {
  for (let i = 0; i < 40; i++) {
    // Most chunks never change; a few are rewritten and added each generation.
    if (generation === 0 || i % 10 === generation)
      s3.putObjectDirect(
        PACH_LIVE_BUCKET,
        `chunks/${String(i).padStart(4, "0")}`,
        `chunk ${i} v${generation} `.repeat(40),
      );
  }
  s3.putObjectDirect(
    PACH_LIVE_BUCKET,
    `chunks/gen-${generation}`,
    `added in generation ${generation}`,
  );
  await exec(
    urls.pachyderm,
    `INSERT INTO pfs.commits (repo, info) SELECT 'images', jsonb_build_object('generation', ${generation}, 'n', i) FROM generate_series(1, 50) i`,
  );
  await exec(
    urls.dex,
    `INSERT INTO client VALUES ('app-${generation}', '\\x0${generation % 10}') ON CONFLICT DO NOTHING`,
  );
}

/**
 * Fills the two databases and the buckets, then writes three complete backups (3, 2 and 1 days
 * ago, the data drifting in between) and one incomplete point (a backup that failed before its
 * complete.json), leaving the live state one generation past the newest backup.
 */
export async function seedPachydermSandbox(options: {
  s3: S3StandIn;
  urls: { pachyderm: string; dex: string };
  now: Date;
}): Promise<{ points: string[]; incomplete: string }> {
  const { s3, urls, now } = options;
  s3.createBucket(PACH_LIVE_BUCKET);
  s3.createBucket(PACH_BACKUP_BUCKET);
  await exec(
    urls.pachyderm,
    "CREATE SCHEMA pfs; CREATE TABLE pfs.commits (id bigserial PRIMARY KEY, repo text NOT NULL, info jsonb, created timestamptz DEFAULT now()); CREATE INDEX commits_repo ON pfs.commits (repo)",
  );
  await exec(urls.dex, "CREATE TABLE client (id text PRIMARY KEY, secret bytea NOT NULL)");
  const store = createS3ObjectStore(
    createS3Client({
      endpoint: s3.endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "AKIDRESTOREBOTDEMO", secretAccessKey: "restorebot-demo" },
    }),
    { endpoint: s3.endpoint, region: "us-east-1" },
  );
  const backups = { bucket: PACH_BACKUP_BUCKET, prefix: "restorebot/" };
  const live = { bucket: PACH_LIVE_BUCKET, prefix: "" };
  const points: string[] = [];
  for (const daysAgo of [3, 2, 1]) {
    await liveGeneration(s3, urls, 4 - daysAgo - 1);
    const asOf = formatAsOf(new Date(now.getTime() - daysAgo * 86_400_000));
    await writePachydermPoint({
      store,
      live,
      backups,
      pool: await readPoolIndex(store, backups),
      asOf,
      target: PACH_TARGET,
      databases: [
        { name: "pachyderm", dsn: urls.pachyderm },
        { name: "dex", dsn: urls.dex },
      ],
      restorebotVersion: "sandbox",
    });
    points.push(asOf);
  }
  await liveGeneration(s3, urls, 3);
  // A backup that failed after its first dump: no complete.json, so never restorable.
  const incomplete = formatAsOf(new Date(now.getTime() - 6 * 3_600_000));
  s3.putObjectDirect(
    PACH_BACKUP_BUCKET,
    pointFileKey(backups.prefix, incomplete, "pachyderm.sql.gz"),
    "not a finished dump",
  );
  return { points, incomplete };
}

/** The Pachyderm scenario of `npm start`. */
export const pachydermSandbox: SandboxSetup = {
  targetName: PACH_TARGET,
  cluster: {
    namespace: PACH_NAMESPACE,
    simulator: { namespace: PACH_NAMESPACE, components: PACH_COMPONENTS },
  },
  buckets: [PACH_LIVE_BUCKET, PACH_BACKUP_BUCKET],
  databases: ["pachyderm", "dex"],
  async seed({ s3, databaseUrls, now }) {
    const urls = { pachyderm: databaseUrls.pachyderm as string, dex: databaseUrls.dex as string };
    const seeded = await seedPachydermSandbox({ s3, urls, now });
    return {
      targetYaml: ({ s3Endpoint }) => pachydermConfigYaml(s3Endpoint),
      env: { [PACH_DB_DSN_ENV]: urls.pachyderm, [PACH_DEX_DSN_ENV]: urls.dex },
      ready: [
        `Pachyderm: \`/recovery-points ${PACH_TARGET}\` lists three backups and one incomplete point; \`/backup ${PACH_TARGET} <reason>\` takes one; \`/restore plan ${PACH_TARGET} latest\` says what a restore would do.`,
      ],
      details: seeded,
    };
  },
};
