import type { DumpSource } from "../catalog-restore/dump-source.js";
import { type RestoreCatalogOptions, restoreCatalog } from "../catalog-restore/restore-engine.js";
import { CodedError } from "../errors.js";
import type { Logger } from "../logging/logger.js";
import { checkpointKey, type StepContext } from "./types.js";

/**
 * Restores a PostgreSQL database exactly and atomically from a gzipped plain pg_dump, through the
 * catalog engine (src/catalog-restore): one transaction, so the database is either the dump or
 * as it was. `inFlightSince` is durable before the transaction opens and cleared once it has
 * ended in a rollback; still set on a new attempt, the previous one died inside it, perhaps
 * after COMMIT (the restore is exact, so running it again is safe, and the fact says so).
 */
export async function restorePostgres(
  ctx: StepContext,
  args: {
    id: string;
    source: () => DumpSource;
    compressedBytesTotal?: number;
    connection: RestoreCatalogOptions["connection"];
    logger?: Logger;
  },
): Promise<Awaited<ReturnType<typeof restoreCatalog>>> {
  const key = checkpointKey("restorePostgres", args.id);
  const earlier = ctx.facts[key] as { inFlightSince?: string | null } | undefined;
  if (earlier?.inFlightSince)
    ctx.note(
      `The previous attempt was interrupted inside the ${args.id} transaction; restoring again (exact, so safe).`,
    );
  await ctx.fact(key, { inFlightSince: ctx.now().toISOString() });
  try {
    const result = await restoreCatalog({
      source: args.source(),
      compressedBytesTotal: args.compressedBytesTotal,
      connection: args.connection,
      signal: ctx.signal,
      logger: args.logger,
      onWarning: (m) => ctx.note(m),
      onProgress: (p) => ctx.progress(`restoring ${args.id}: ${p.phase}, ${p.rowsCopied} rows`),
    });
    await ctx.fact(key, {
      inFlightSince: null,
      committedAt: ctx.now().toISOString(),
      rows: result.rowsCopied,
    });
    return result;
  } catch (err) {
    if (!(err instanceof CodedError && err.details?.outcome === "unknown"))
      await ctx.fact(key, { inFlightSince: null });
    throw err;
  }
}
