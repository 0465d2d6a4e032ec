import type { ObjectStore } from "../../adapters/s3/object-store.js";
import { CodedError } from "../../errors.js";
import { mapWithConcurrency } from "../../recovery-points/concurrency.js";
import { asFolder, listAllPages } from "./list-all.js";
import { type ClickHousePoint, newestFirst } from "./points.js";

/**
 * clickhouse-backup's remote layout (Altinity/clickhouse-backup, pkg/storage and
 * pkg/metadata): one folder per backup under the configured path, `<name>/metadata.json`
 * describing it. The tool itself lists backups the same way (a delimited listing of the root,
 * then each `metadata.json`); a folder without one is what it calls "broken". An incremental
 * names its base in `required_backup`, and restoring it reads the whole chain.
 */
export interface ClickHouseBackupMetadata {
  backup_name: string;
  creation_date?: string;
  required_backup?: string;
  data_format?: string;
  tags?: string;
  version?: string;
  data_size?: number;
  metadata_size?: number;
  compressed_size?: number;
  tables?: Array<{ database: string; table: string }>;
}

export interface ClickHouseConfig {
  bucket: string;
  prefix?: string;
}

/** Parsed `metadata.json` by `<bucket>/<prefix><name>`: a backup never changes once written. */
export type ClickHouseMetadataCache = Map<string, ClickHouseBackupMetadata>;

async function readText(store: ObjectStore, bucket: string, key: string): Promise<string> {
  const { body } = await store.getStream(bucket, key);
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export function parseClickHouseMetadata(text: string, where: string): ClickHouseBackupMetadata {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CodedError("dump_invalid", `${where} is not JSON (${(err as Error).message}).`);
  }
  if (
    typeof parsed !== "object" ||
    parsed === null ||
    typeof (parsed as { backup_name?: unknown }).backup_name !== "string"
  ) {
    throw new CodedError(
      "dump_invalid",
      `${where} has no backup_name: it is not clickhouse-backup metadata.`,
    );
  }
  return parsed as ClickHouseBackupMetadata;
}

type Entry =
  | { name: string; metadata: ClickHouseBackupMetadata }
  | { name: string; metadata: undefined; problem: string };

export async function listClickHouseBackups(
  store: ObjectStore,
  config: ClickHouseConfig,
  opts: { cache?: ClickHouseMetadataCache; concurrency?: number } = {},
): Promise<{ points: ClickHousePoint[]; skipped: string[]; requests: number }> {
  const root = asFolder(config.prefix);
  const listed = await listAllPages(store, config.bucket, root);
  let requests = listed.requests;
  const names = listed.prefixes.map((p) => p.slice(root.length).replace(/\/$/, ""));
  const entries = await mapWithConcurrency(
    names,
    opts.concurrency ?? 8,
    async (name): Promise<Entry> => {
      const key = `${root}${name}/metadata.json`;
      const cacheKey = `${config.bucket}/${key}`;
      const cached = opts.cache?.get(cacheKey);
      if (cached !== undefined) return { name, metadata: cached };
      requests++;
      try {
        const metadata = parseClickHouseMetadata(
          await readText(store, config.bucket, key),
          `s3://${config.bucket}/${key}`,
        );
        opts.cache?.set(cacheKey, metadata);
        return { name, metadata };
      } catch (err) {
        if (err instanceof CodedError && err.code === "not_found") {
          return {
            name,
            metadata: undefined,
            problem: "it has no metadata.json: its upload is still running or was interrupted",
          };
        }
        if (err instanceof CodedError && err.code === "dump_invalid") {
          return { name, metadata: undefined, problem: err.message };
        }
        throw err;
      }
    },
  );
  return {
    points: clickHousePointsFrom(entries),
    skipped: listed.objects.map((o) => o.key.slice(root.length)),
    requests,
  };
}

/** Points from what the bucket holds, with each incremental's chain resolved. Pure. */
export function clickHousePointsFrom(entries: readonly Entry[]): ClickHousePoint[] {
  const byName = new Map(entries.map((e) => [e.name, e]));
  const points = entries.map((entry): ClickHousePoint => {
    const metadata = entry.metadata;
    const created =
      metadata?.creation_date === undefined ? undefined : new Date(metadata.creation_date);
    const time = created !== undefined && !Number.isNaN(created.getTime()) ? created : undefined;
    const required = metadata?.required_backup === "" ? undefined : metadata?.required_backup;
    const base: ClickHousePoint = {
      store: "clickhouse",
      name: entry.name,
      time,
      complete: metadata !== undefined,
      notRestorable: metadata === undefined ? (entry as { problem: string }).problem : undefined,
      kind: required === undefined ? "full" : "incremental",
      requiredBackup: required,
      chain: [entry.name],
      sizeBytes:
        metadata === undefined
          ? undefined
          : (metadata.compressed_size ?? metadata.data_size ?? 0) + (metadata.metadata_size ?? 0),
    };
    if (metadata === undefined) return base;
    // Walk to the full backup; every link must be present and complete.
    const chain = [entry.name];
    let link = required;
    let from = entry.name;
    while (link !== undefined) {
      if (chain.includes(link)) {
        base.notRestorable = `its chain loops back to ${link}`;
        break;
      }
      const next = byName.get(link);
      if (next === undefined) {
        base.notRestorable = `its base ${link} (required by ${from}) is gone from the bucket, so the chain cannot be restored`;
        break;
      }
      chain.unshift(link);
      if (next.metadata === undefined) {
        base.notRestorable = `its base ${link} is incomplete (${next.problem})`;
        break;
      }
      from = link;
      link = next.metadata.required_backup === "" ? undefined : next.metadata.required_backup;
    }
    base.chain = chain;
    return base;
  });
  return points.sort(newestFirst);
}
