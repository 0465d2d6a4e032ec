import type { ClusterPort } from "../../adapters/kubernetes/cluster-port.js";
import type { ObjectStore } from "../../adapters/s3/object-store.js";
import { newDatabaseClient } from "../../db/database.js";
import { redactSecrets } from "../../errors.js";
import { formatBytes, formatUtc } from "../../text/format.js";
import type { FrozenPoint, PlanText } from "../kind.js";
import { settleWithin } from "../plan-reads.js";
import { configuredDatabases, type PachydermTarget } from "./config.js";
import { OBJECT_MANIFEST, readObjectManifest } from "./object-manifest.js";
import { backupLocation, pachydermPointOf } from "./points.js";
import { commitModeSentence, readCommitMode } from "./restore-databases.js";
import { planObjectRestore } from "./restore-objects.js";
import { stepCluster } from "./runbook-common.js";

const READ_TIMEOUT_MS = 15_000;
const settle = <T>(work: Promise<T>) => settleWithin(work, READ_TIMEOUT_MS);

function failed(v: unknown): v is { error: string } {
  return typeof v === "object" && v !== null && "error" in v && Object.keys(v).length === 1;
}

async function databaseSize(dsn: string): Promise<number> {
  const client = newDatabaseClient({ connectionString: dsn, application_name: "restorebot plan" });
  client.on("error", () => undefined);
  await client.connect();
  try {
    const row = (
      await client.query<{ s: string }>("SELECT pg_database_size(current_database())::text AS s")
    ).rows[0];
    return Number(row?.s ?? 0);
  } catch (err) {
    throw new Error(redactSecrets(err instanceof Error ? err.message : String(err)));
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function liveCounts(
  cluster: ClusterPort,
  target: PachydermTarget,
): Promise<Array<{ kind: string; name: string; replicas: number | { error: string } }>> {
  const workers = await stepCluster(cluster).listWorkloads(
    "ReplicationController",
    target.workerSelector,
  );
  const refs = [
    { kind: "Deployment" as const, name: target.pachd },
    ...workers.map((name) => ({ kind: "ReplicationController" as const, name })),
  ];
  return Promise.all(
    refs.map(async (r) => ({ ...r, replicas: await settle(cluster.getReplicas(r.kind, r.name)) })),
  );
}

/** `/restore plan` for Pachyderm: reads the cluster, the databases and the buckets; changes nothing. */
export async function describePachydermPlan(input: {
  target: PachydermTarget;
  point: FrozenPoint;
  cluster: () => ClusterPort;
  objectStore?: (() => ObjectStore) | undefined;
  variables?: Readonly<Record<string, string>> | undefined;
  now: Date;
  activeRequest?: { id: string; state: string } | undefined;
}): Promise<PlanText> {
  const { target } = input;
  const point = pachydermPointOf(input.point.point);
  const warnings: string[] = [];
  const dbs = configuredDatabases(target).map((d) => ({
    ...d,
    dsn: input.variables?.[d.dsnEnv],
  }));
  const manifestFile = point.files.find((f) => f.name === OBJECT_MANIFEST);
  const backups = backupLocation(target);
  const live = { bucket: target.objectStore.bucket, prefix: target.objectStore.prefix };
  const [counts, sizes, mode, objects] = await Promise.all([
    settle(liveCounts(input.cluster(), target)),
    Promise.all(
      dbs.map(async (d) =>
        d.dsn === undefined
          ? { error: `${d.dsnEnv} is not set in this process` }
          : settle(databaseSize(d.dsn)),
      ),
    ),
    dbs.every((d) => d.dsn !== undefined)
      ? settle(readCommitMode(dbs.map((d) => ({ name: d.name, dsn: d.dsn as string }))))
      : Promise.resolve({ error: "the database DSNs are not set in this process" }),
    input.objectStore && manifestFile
      ? settle(
          (async () => {
            const store = (input.objectStore as () => ObjectStore)();
            return planObjectRestore(
              store,
              live,
              backups,
              readObjectManifest(store, backups, point.asOf, manifestFile),
            );
          })(),
        )
      : Promise.resolve({ error: "the object store was not available to the plan" }),
  ]);

  const scaled = failed(counts)
    ? `could not read the workloads (${counts.error})`
    : counts
        .map(
          (c) =>
            `${c.kind} \`${c.name}\` (${failed(c.replicas) ? `replicas unknown: ${c.replicas.error}` : `${c.replicas} now`})`,
        )
        .join(", ");
  if (failed(counts)) warnings.push(`The workloads could not be read: ${counts.error}.`);
  const dbLines = dbs.map((d, i) => {
    const now = sizes[i];
    const dump = point.files.find((f) => f.name === `${d.name}.sql.gz`);
    return `"${d.name}": ${now === undefined || failed(now) ? `size now unknown (${now?.error ?? "not read"})` : `${formatBytes(now)} now`}; in the point ${dump ? `${d.name}.sql.gz ${formatBytes(dump.size)} (gzipped dump)` : "no dump"}`;
  });
  const objectLine = failed(objects)
    ? `objects to copy unknown (${objects.error})`
    : `${objects.toCopy.length.toLocaleString("en-US")} of ${objects.total.toLocaleString("en-US")} objects (${formatBytes(objects.toCopyBytes)}) would be copied into \`s3://${live.bucket}/${live.prefix}\`; ${objects.present.toLocaleString("en-US")} are already in place; nothing is deleted`;
  if (failed(objects) && !objects.error.includes("not available"))
    warnings.push(`The point's objects could not be checked: ${objects.error}.`);
  if (!failed(mode)) {
    if (dbs.length > 1) warnings.push(commitModeSentence(mode));
  }
  if (input.activeRequest)
    warnings.push(
      `Request ${input.activeRequest.id} is ${input.activeRequest.state} on ${target.name}: a restore waits until it ends.`,
    );
  const phases = [
    `1. Check point \`${point.asOf}\` (${formatUtc(new Date(point.asOf), input.now)}): complete.json unchanged, every file its size, every object in the pool.`,
    `2. Record replicas, then scale to 0 (${target.pachd} first, then the workers) and wait until their pods are gone: ${scaled}.`,
    `3. Restore the databases exactly${dbs.length > 1 ? ", together" : ""}: ${dbLines.join("; ")}.`,
    `4. Copy objects: ${objectLine}.`,
    `5. Scale ${target.pachd} back to its recorded count (pachd recreates its workers).`,
    `6. Wait until ${target.pachd} is ready.`,
  ];
  return {
    phases,
    warnings,
    summary: `Point \`${point.asOf}\`: ${point.objectCount.toLocaleString("en-US")} objects (${formatBytes(point.objectBytes)}), databases ${point.databases.map((d) => `"${d}"`).join(" and ")}.`,
  };
}
