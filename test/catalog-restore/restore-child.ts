/**
 * Run by the atomicity test as a separate process: restores a dump whose source stops
 * half-way, prints PAUSED once the COPY of parquet_file is under way, and waits to be killed.
 * Usage: node --import tsx restore-child.ts <dump.gz> <database-url>
 */
import { readFileSync } from "node:fs";
import { restoreCatalog } from "../../src/catalog-restore/restore-engine.js";
import { pausingSource, until } from "./support.js";

const [file, url] = process.argv.slice(2);
if (file === undefined || url === undefined)
  throw new Error("usage: restore-child <dump.gz> <url>");
const data = readFileSync(file);
const { source, paused } = pausingSource(data, Math.floor(data.length * 0.6));
let current = "";
const restore = restoreCatalog({
  source,
  connection: url,
  progressIntervalMs: 0,
  onProgress: (p) => {
    current = p.currentObject ?? "";
  },
});
restore.catch((err: unknown) => {
  process.stdout.write(`FAILED ${String(err)}\n`);
  process.exit(1);
});
await paused;
await until(() => current === "TABLE DATA iox_catalog.parquet_file");
// Let the engine hand the rows it has to PostgreSQL before reporting.
await new Promise((resolve) => setTimeout(resolve, 200));
process.stdout.write(`PAUSED ${current}\n`);
