import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Writes a small, real-looking InfluxDB 1.x data directory: `meta/meta.db`, one shard per
 * database under `data/<db>/autogen/<n>/` (a TSM file and its index) and its WAL segment under
 * `wal/<db>/autogen/<n>/`. `marker` goes into the contents, so two seeds differ byte for byte.
 */
export function seedInfluxDataDirectory(
  dir: string,
  databases: readonly string[],
  marker: string,
): void {
  mkdirSync(join(dir, "meta"), { recursive: true });
  writeFileSync(join(dir, "meta", "meta.db"), `meta ${databases.join(",")} ${marker}\n`);
  for (const [i, db] of databases.entries()) {
    const shard = join(dir, "data", db, "autogen", String(i + 1));
    mkdirSync(shard, { recursive: true });
    writeFileSync(join(shard, "000000001-000000001.tsm"), Buffer.alloc(4096 + i, 7));
    writeFileSync(join(shard, "fields.idx"), `${db} ${marker}`);
    const wal = join(dir, "wal", db, "autogen", String(i + 1));
    mkdirSync(wal, { recursive: true });
    writeFileSync(join(wal, "_00001.wal"), `${db} newest points ${marker}`);
  }
}
