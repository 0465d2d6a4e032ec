import type { ObjectStore } from "../adapters/s3/object-store.js";
import { abortStaleUploads, describeAbortedUploads } from "../adapters/s3/stale-uploads.js";
import type { Queryable } from "../db/database.js";
import { CodedError } from "../errors.js";
import type { PhaseContext } from "../runbook/types.js";
import { formatAsOf, parseAsOf } from "./as-of.js";
import { type BackupLocation, pointPrefix, pointsPrefix } from "./layout.js";

/** How many later seconds a backup tries before giving up on finding a free folder. */
const MAX_SECONDS_AHEAD = 60;

export interface PointFolderClaim {
  asOf: string;
  /** `<prefix>[points/]<as-of>/`: the only folder this backup writes its point files into. */
  folder: string;
  /** True when this request had already claimed it (a resumed run). */
  resumed: boolean;
  /** Earlier as-of names passed over because another backup holds or held their folder. */
  passedOver: string[];
}

/**
 * The folder, and so the as-of, of a backup's point. Points are named by their as-of to the
 * second, so two backups frozen within one second would otherwise write into one folder. The
 * first free second from `at` on is taken:
 * - a request that already claimed a folder under this location gets it again, whatever `at`
 *   says now (a resumed run keeps writing where it started);
 * - a second whose folder holds any object (another backup, complete or not, or one written
 *   without a claim) is passed over;
 * - the claim is a row in restorebot's database, inserted once per folder: two backups
 *   claiming at once never both win it, and the folder stays held after its point is pruned.
 *
 * When the as-of had to move past `at`, this waits until the clock reaches it, so the as-of
 * is never a moment still to come: the caller claims while its data is frozen (a paused system)
 * or just before it takes the backup.
 */
export async function claimPointFolder(opts: {
  db: Queryable;
  store: Pick<ObjectStore, "listPrefixes">;
  location: BackupLocation;
  requestId: string;
  /** The moment the data was frozen. */
  at: Date;
  now?: () => Date;
  signal?: AbortSignal;
}): Promise<PointFolderClaim> {
  const { db, store, location, requestId } = opts;
  const under = pointsPrefix(location.prefix, location.pointsFolder);
  const mine = await db.query<{ as_of: string; folder: string }>(
    `SELECT as_of, folder FROM backup_point_folders
      WHERE request_id = $1 AND bucket = $2 AND points_prefix = $3
      ORDER BY claimed_at LIMIT 1`,
    [requestId, location.bucket, under],
  );
  const found = mine.rows[0];
  if (found) return { asOf: found.as_of, folder: found.folder, resumed: true, passedOver: [] };

  const passedOver: string[] = [];
  const first = Math.floor(opts.at.getTime() / 1000) * 1000;
  for (let i = 0; i < MAX_SECONDS_AHEAD; i++) {
    const asOf = formatAsOf(new Date(first + i * 1000));
    const folder = pointPrefix(location.prefix, asOf, location.pointsFolder);
    // Objects first: a folder with files in it (from before claims were recorded, or from
    // another installation) is held even though no row says so.
    const page = await store.listPrefixes(location.bucket, folder, "", { maxKeys: 1 });
    if (page.objects.length > 0 || page.prefixes.length > 0) {
      passedOver.push(asOf);
      continue;
    }
    const claimed = await db.query(
      `INSERT INTO backup_point_folders (bucket, folder, points_prefix, as_of, request_id)
       VALUES ($1, $2, $3, $4, $5) ON CONFLICT (bucket, folder) DO NOTHING`,
      [location.bucket, folder, under, asOf, requestId],
    );
    if (claimed.rowCount !== 1) {
      passedOver.push(asOf);
      continue;
    }
    if (i > 0) await untilClockReaches(asOf, opts.now ?? (() => new Date()), opts.signal);
    return { asOf, folder, resumed: false, passedOver };
  }
  throw new CodedError(
    "precondition_failed",
    `every point folder under s3://${location.bucket}/${under} from ${formatAsOf(opts.at)} on for ${MAX_SECONDS_AHEAD} seconds is held by another backup; check that no other target or installation writes its backups under this prefix, then Retry`,
  );
}

/** Waits (at most MAX_SECONDS_AHEAD seconds) until `now()` is at or past the as-of. */
async function untilClockReaches(
  asOf: string,
  now: () => Date,
  signal: AbortSignal | undefined,
): Promise<void> {
  const time = parseAsOf(asOf)?.getTime() ?? 0;
  const ms = Math.min(time - now().getTime(), MAX_SECONDS_AHEAD * 1000);
  if (ms <= 0) return;
  await new Promise<void>((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", aborted);
    };
    const aborted = () => {
      done();
      reject(new CodedError("cancelled", `cancelled while waiting for the as-of ${asOf}`));
    };
    const timer = setTimeout(() => {
      done();
      resolve();
    }, ms);
    if (signal?.aborted) aborted();
    else signal?.addEventListener("abort", aborted, { once: true });
  });
}

/** The as-of a backup phase recorded, under this fact name. */
export const AS_OF_FACT = "asOf";

/**
 * `claimPointFolder` for a backup phase: the as-of this phase already recorded (a resumed
 * run, also one recorded before folders were claimed), or a new claim from `at`, recorded as
 * the phase's `asOf` fact before anything is written into the folder. Says in the thread when
 * the as-of had to move past seconds another backup holds.
 */
export async function claimAsOf(
  ctx: Pick<PhaseContext, "request" | "facts" | "fact" | "note" | "now" | "signal">,
  opts: {
    db: Queryable;
    store: Pick<ObjectStore, "listPrefixes">;
    location: BackupLocation;
    at: Date;
  },
): Promise<string> {
  const recorded = ctx.facts[AS_OF_FACT];
  if (typeof recorded === "string") return recorded;
  const claim = await claimPointFolder({
    ...opts,
    requestId: ctx.request.id,
    now: () => ctx.now(),
    signal: ctx.signal,
  });
  await ctx.fact(AS_OF_FACT, claim.asOf);
  if (claim.passedOver.length > 0)
    ctx.note(
      `The point is named ${claim.asOf}: the folder of ${claim.passedOver.join(", ")} already holds another backup.`,
    );
  return claim.asOf;
}

/**
 * Before a backup uploads into its point's folder: aborts the multipart uploads an earlier,
 * killed run of it left there (their parts are stored, and billed, until aborted), says so in
 * the thread and counts them in the phase's `abortedUploads` fact. Only this folder is touched,
 * and only this backup writes into it (`claimPointFolder`).
 */
export async function abortLeftoverUploads(
  ctx: Pick<PhaseContext, "facts" | "fact" | "note">,
  store: Pick<ObjectStore, "listMultipartUploads" | "abortMultipartUpload">,
  bucket: string,
  folder: string,
): Promise<void> {
  const aborted = await abortStaleUploads(store, bucket, folder);
  if (aborted.length === 0) return;
  ctx.note(describeAbortedUploads(aborted, bucket, folder));
  await ctx.fact("abortedUploads", Number(ctx.facts.abortedUploads ?? 0) + aborted.length);
}
