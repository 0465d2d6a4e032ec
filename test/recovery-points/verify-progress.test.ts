import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AppDeps } from "../../src/app-deps.js";
import { createApprovalServices } from "../../src/approvals/services.js";
import { parseConfig } from "../../src/config/file.js";
import { migrate } from "../../src/db/migrate.js";
import { buildIoxCatalog } from "../../src/kinds/influxdb-clustered/sandbox/catalog-builder.js";
import {
  standInObjectStore,
  writeSnapshot,
} from "../../src/kinds/influxdb-clustered/sandbox/snapshot-writer.js";
import { DEFAULT_KINDS } from "../../src/kinds/registry.js";
import { silentLogger } from "../../src/logging/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import {
  handleRecoveryPointsCommand,
  type RecoveryPointsOptions,
} from "../../src/slack/listeners/commands/recovery-points.js";
import type { CommandArgs } from "../../src/slack/listeners/commands/restore.js";
import { type S3StandIn, startS3StandIn } from "../../stand-ins/s3/server.js";
import { createTestDatabase, type TestDatabase } from "../support/postgres.js";

const CONFIG = `
policy: { approvers: [UAPPROVER1] }
targets:
  - name: prod
    kind: influxdb-clustered
    namespace: influxdb
    appInstance: influxdb
    catalog: { dsnEnv: PROD_CATALOG_DSN }
    snapshots: { bucket: influxdb-prod }
`;

interface Said {
  via: "ack" | "respond";
  text: string;
  blocks?: unknown[];
}

describe("a long verify keeps the person informed", () => {
  let s3: S3StandIn;
  let catalogDb: TestDatabase;
  let stateDb: TestDatabase;
  let pool: pg.Pool;
  let deps: AppDeps;

  beforeAll(async () => {
    s3 = await startS3StandIn({ buckets: ["influxdb-prod"] });
    catalogDb = await createTestDatabase("rp_progress_catalog");
    stateDb = await createTestDatabase("rp_progress_state");
    pool = new pg.Pool({ connectionString: stateDb.url });
    await migrate(pool);
    await buildIoxCatalog(catalogDb.url, {
      namespaces: 1,
      tablesPerNamespace: 4,
      columnsPerTable: 10,
      partitionsPerTable: 2,
      filesPerPartition: 10,
    });
    await writeSnapshot(s3, {
      bucket: "influxdb-prod",
      asOf: new Date("2024-08-12T14:00:00Z"),
      catalogUrl: catalogDb.url,
    });
    const store = standInObjectStore(s3);
    deps = {
      config: parseConfig(CONFIG),
      kinds: DEFAULT_KINDS,
      db: pool,
      queue: undefined as never,
      logger: silentLogger,
      metrics: createMetrics(),
      clock: () => new Date("2024-08-12T15:00:00Z"),
      objectStoreFor: () => store,
      clusterFor: () => {
        throw new Error("verify never talks to Kubernetes");
      },
      approvals: createApprovalServices({
        db: pool,
        logger: silentLogger,
        clock: () => new Date("2024-08-12T15:00:00Z"),
        kinds: DEFAULT_KINDS,
        objectStoreFor: () => store,
      }),
    };
  });
  afterAll(async () => {
    await pool?.end();
    await s3?.close();
    await catalogDb?.drop();
    await stateDb?.drop();
  });

  it("posts progress while it runs, never more than allowed, and the result last", async () => {
    const said: Said[] = [];
    const args = {
      command: {
        channel_id: "CRESTORES",
        user_id: "UOPERATOR1",
        text: "verify prod 2024-08-12T14:00Z",
      },
      ack: async (body?: { text: string }) => {
        said.push({ via: "ack", text: body?.text ?? "" });
      },
      respond: async (body: { text: string; blocks?: unknown[] }) => {
        said.push({ via: "respond", text: body.text, blocks: body.blocks });
      },
    } as unknown as CommandArgs;
    const options: RecoveryPointsOptions = {
      progressAfterMs: 50,
      progressEveryMs: 150,
      maxProgressMessages: 2,
    };
    s3.setLatency(150);
    try {
      await handleRecoveryPointsCommand(args, deps, options);
    } finally {
      s3.setLatency(0);
    }
    expect(said[0]?.via).toBe("ack");
    expect(said[0]?.text).toContain("Verifying prod `2024-08-12T14:00:00+00:00`");
    const progress = said.slice(1, -1);
    expect(progress).toHaveLength(2);
    for (const p of progress) expect(p.text).toMatch(/^:hourglass_flowing_sand: Verifying prod/);
    const result = said.at(-1);
    expect(result?.text).toBe(
      "prod 2024-08-12T14:00:00+00:00 is restorable: 80 files, none missing.",
    );
    const stored = await pool.query("SELECT ok, summary FROM point_verifications");
    expect(stored.rows).toEqual([
      expect.objectContaining({
        ok: true,
        summary: expect.objectContaining({ referencedFiles: 80 }),
      }),
    ]);
  });
});
