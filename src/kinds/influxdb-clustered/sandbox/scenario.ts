import type { SandboxSetup } from "../../../demo/scenario.js";
import { buildIoxCatalog } from "./catalog-builder.js";
import { catalogSummaryReader } from "./catalog-summary.js";
import { influxdbClusteredSimulator } from "./simulated-cluster.js";
import { seedDemoHistory } from "./snapshot-history.js";

/** The sandbox's InfluxDB Clustered target. */
export const DEMO_TARGET = "prod";
export const DEMO_BUCKET = "influxdb-prod";
/** The variable the generated config names for the catalog DSN (never the DSN itself). */
export const DEMO_CATALOG_DSN_ENV = "PROD_CATALOG_DSN";

/** A small IOx catalog (≈ 900 Parquet files): built and dumped in about a second. */
export const DEMO_CATALOG_SIZE = {
  namespaces: 3,
  tablesPerNamespace: 6,
  columnsPerTable: 10,
  partitionsPerTable: 6,
  filesPerPartition: 8,
} as const;

/**
 * An InfluxDB Clustered install in the simulator (its six workloads, ingesters three times
 * slower to stop as they flush their WAL, and the AppInstance), a catalog database with a
 * history of hourly snapshots in the S3 stand-in, and a live catalog that has drifted since,
 * so a restore visibly changes it back.
 */
export const influxdbClusteredSandbox: SandboxSetup = {
  targetName: DEMO_TARGET,
  cluster: {
    namespace: "influxdb",
    simulator: influxdbClusteredSimulator({ namespace: "influxdb", appInstance: "influxdb" }),
  },
  buckets: [DEMO_BUCKET],
  databases: ["catalog"],
  async seed({ s3, databaseUrls, recreateDatabase, now }) {
    let catalogUrl = databaseUrls.catalog as string;
    await buildIoxCatalog(catalogUrl, DEMO_CATALOG_SIZE, { seed: 7 });
    const history = await seedDemoHistory({ s3, bucket: DEMO_BUCKET, catalogUrl, now });
    // The live catalog moves on after the snapshots (new namespace, rows, a dropped index…).
    catalogUrl = await recreateDatabase("catalog");
    await buildIoxCatalog(catalogUrl, DEMO_CATALOG_SIZE, { seed: 7, variant: "drifted" });
    return {
      // Retention is short (3 days hourly, 14 days daily) so that the seeded history has
      // points about to expire.
      targetYaml: ({ s3Endpoint, kubeContext }) => `  - name: ${DEMO_TARGET}
    kind: influxdb-clustered
    namespace: influxdb
    kubeContext: ${kubeContext}
    appInstance: influxdb
    catalog:
      dsnEnv: ${DEMO_CATALOG_DSN_ENV}
    snapshots:
      bucket: ${DEMO_BUCKET}
      prefix: catalog_backup_file_lists/
      endpoint: ${s3Endpoint}
      region: us-east-1
      forcePathStyle: true
    retention: { hourly: 3d, daily: 14d }
    timeouts: { podsGone: 5m, podsReady: 5m }
`,
      env: { [DEMO_CATALOG_DSN_ENV]: catalogUrl },
      ready: [
        `/recovery-points ${DEMO_TARGET} — ${history.totalPoints} points over 14 days: ${history.incompletePoints.length} incomplete, the oldest expiring`,
        `"Restore to this point" on ${history.newestComplete} (or /restore ${DEMO_TARGET} latest INC-101 bad migration)`,
      ],
      summary: catalogSummaryReader(catalogUrl),
      details: history,
    };
  },
};
