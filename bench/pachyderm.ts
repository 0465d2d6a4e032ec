/**
 * `npm run bench:pachyderm`: what restorebot's order of work buys for a Pachyderm backup and
 * restore, against the S3 stand-in (real SDK) and a real PostgreSQL with the real pg_dump.
 *
 * 1. Pause window: restorebot copies the live objects into the pool before pausing, then only
 *    the delta (1% of the small objects, 2 of the large ones, changed meanwhile) after it; the seed's order pauses first and
 *    copies everything. Both then dump both databases and write the manifest and
 *    complete.json. Runs alternate in the same process, on two data shapes.
 * 2. Restore copy: every object of a point copied back into an empty live bucket, bounded
 *    parallel (16) versus one at a time, with heap use sampled during each.
 *
 * The stand-in answers copies from memory, so each CopyObject is given a 10 ms round trip and
 * a 100 MB/s copy rate: the costs that decide these figures on a real store.
 * Scaling pachd down and up is the same in both orders and is left out of the windows.
 */
import { randomBytes } from "node:crypto";
import { type BackupLocation, formatAsOf } from "../src/backups/index.js";
import {
  copyIntoPool,
  type LiveLocation,
  listLiveObjects,
  readPoolIndex,
  restoreObjectsFromPool,
  writePachydermPoint,
} from "../src/kinds/pachyderm/index.js";
import { formatBytes, formatDuration } from "../src/text/format.js";
import { type S3StandIn, startS3StandIn } from "../stand-ins/s3/server.js";
import {
  DEX_SCHEMA,
  PACHYDERM_SCHEMA,
  scratchDatabase,
  storeFor,
} from "../test/kinds/pachyderm/support.js";
import { ADMIN_URL } from "../test/support/postgres.js";

const ROUNDS = 2;
const CONCURRENCY = 16;

interface Shape {
  name: string;
  objects: number;
  size: number;
  /** Objects Pachyderm rewrites between the pre-copy and the pause. */
  changed: number;
}

// The shape is 20,000 small objects with 200 changed; BENCH_SMALL_OBJECTS scales it
// down (1% changed) where the SDK's per-request CPU cost makes a full run take many minutes.
const SMALL = Number(process.env.BENCH_SMALL_OBJECTS ?? 20_000);

const SHAPES: Shape[] = [
  {
    name: "many small",
    objects: SMALL,
    size: 50 * 1024,
    changed: Math.max(1, Math.round(SMALL / 100)),
  },
  { name: "few large", objects: 20, size: 50 * 1024 * 1024, changed: 2 },
];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** Distinct contents without distinct memory: windows into one random buffer. */
function seedLive(s3: S3StandIn, live: LiveLocation, shape: Shape, source: Buffer): void {
  for (let i = 0; i < shape.objects; i++) {
    const offset = (i * 7919) % (source.length - shape.size);
    s3.putObjectDirect(
      live.bucket,
      `${live.prefix}chunks/${String(i).padStart(6, "0")}`,
      source.subarray(offset, offset + shape.size),
    );
  }
}

async function main(): Promise<void> {
  const s3 = await startS3StandIn({ buckets: ["pachyderm-data", "pachyderm-backups"] });
  const store = storeFor(s3.endpoint);
  const pach = await scratchDatabase(ADMIN_URL, "bench_pachyderm");
  const dex = await scratchDatabase(ADMIN_URL, "bench_dex");
  await pach.query(PACHYDERM_SCHEMA);
  await pach.query(
    "INSERT INTO pfs.commits (repo, info) SELECT 'bench', jsonb_build_object('n', i) FROM generate_series(1, 50000) i",
  );
  await dex.query(DEX_SCHEMA);
  const databases = [
    { name: "pachyderm", dsn: pach.url },
    { name: "dex", dsn: dex.url },
  ];
  const source = randomBytes(64 * 1024 * 1024);
  let run = 0;
  const lines: string[] = [];
  try {
    s3.setLatency(10, "CopyObject");
    s3.setCopyRate(100 * 1024 * 1024);
    for (const shape of SHAPES) {
      const ours: number[] = [];
      const naive: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        for (const order of ["restorebot", "naive"] as const) {
          run++;
          const live = { bucket: "pachyderm-data", prefix: `run${run}/` };
          const backups: BackupLocation = {
            bucket: "pachyderm-backups",
            prefix: `run${run}/restorebot/`,
          };
          seedLive(s3, live, shape, source);
          const pool = await readPoolIndex(store, backups);
          if (order === "restorebot") {
            await copyIntoPool({
              store,
              live,
              backups,
              objects: await listLiveObjects(store, live),
              pool,
              mode: "pre-copy",
              concurrency: CONCURRENCY,
            });
          }
          // Pachyderm keeps writing until the pause.
          const changed = shape.changed;
          for (let i = 0; i < changed; i++) {
            const key = `${live.prefix}chunks/${String(Math.floor((i * shape.objects) / changed)).padStart(6, "0")}`;
            const offset = (i * 104_729 + 13) % (source.length - shape.size);
            s3.putObjectDirect(live.bucket, key, source.subarray(offset, offset + shape.size));
          }
          const paused = performance.now();
          await writePachydermPoint({
            store,
            live,
            backups,
            pool,
            asOf: formatAsOf(new Date()),
            target: "bench",
            databases,
            restorebotVersion: "bench",
            concurrency: CONCURRENCY,
          });
          const window = performance.now() - paused;
          (order === "restorebot" ? ours : naive).push(window);
          console.log(
            `  ${shape.name} round ${round + 1} ${order}: pause window ${formatDuration(window)}`,
          );
          for (const key of s3.listKeys("pachyderm-data", live.prefix))
            s3.deleteObjectDirect("pachyderm-data", key);
          for (const key of s3.listKeys("pachyderm-backups", `run${run}/`))
            s3.deleteObjectDirect("pachyderm-backups", key);
        }
      }
      const ratio = median(ours) / median(naive);
      const line = `${shape.name} (${shape.objects.toLocaleString("en-US")} × ${formatBytes(shape.size)}, ${shape.changed} changed): pause window restorebot ${formatDuration(median(ours))} vs pause-then-copy ${formatDuration(median(naive))}, ratio ${ratio.toFixed(3)}`;
      lines.push(line);
      console.log(line);
    }

    // ---- restore copy: parallel vs sequential --------------------------------------------
    const shape: Shape = { name: "restore", objects: 2_000, size: 50 * 1024, changed: 0 };
    const live = { bucket: "pachyderm-data", prefix: "restore-src/" };
    const backups: BackupLocation = { bucket: "pachyderm-backups", prefix: "restore/restorebot/" };
    seedLive(s3, live, shape, source);
    const objects = await listLiveObjects(store, live);
    await copyIntoPool({
      store,
      live,
      backups,
      objects,
      pool: new Map(),
      mode: "delta",
      concurrency: CONCURRENCY,
    });
    const timings: Record<string, { ms: number; heapPeak: number }> = {};
    for (const [label, concurrency] of [
      ["parallel (16)", CONCURRENCY],
      ["sequential", 1],
      ["parallel (16) again", CONCURRENCY],
    ] as const) {
      const target = {
        bucket: "pachyderm-data",
        prefix: `restore-${concurrency}-${Math.random().toString(36).slice(2)}/`,
      };
      const base = process.memoryUsage().heapUsed;
      let peak = 0;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().heapUsed - base);
      }, 20);
      const started = performance.now();
      const result = await restoreObjectsFromPool({
        store,
        live: target,
        backups,
        manifest: objects,
        concurrency,
      });
      const ms = performance.now() - started;
      clearInterval(sampler);
      timings[label] = { ms, heapPeak: peak };
      console.log(
        `  restore copy ${label}: ${result.copied} objects in ${formatDuration(ms)}, heap peak +${formatBytes(Math.max(0, peak))}`,
      );
    }
    const par = median([
      timings["parallel (16)"]?.ms ?? 0,
      timings["parallel (16) again"]?.ms ?? 0,
    ]);
    const seq = timings.sequential?.ms ?? 0;
    const line = `restore copy of 2,000 × 50 KiB: parallel (16) ${formatDuration(par)} vs sequential ${formatDuration(seq)}, ${(seq / par).toFixed(1)}× faster`;
    lines.push(line);
    console.log(line);
    console.log(`\n${lines.join("\n")}`);
  } finally {
    await s3.close();
    await pach.drop();
    await dex.drop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
