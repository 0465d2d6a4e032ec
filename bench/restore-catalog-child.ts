/**
 * One timed restore for the benchmark, in its own process so its peak RSS is its own.
 * Modes: "cli" runs `restorebot restore-catalog` as an operator would (snapshot check, then
 * restore); "engine" runs restoreCatalog alone; "engine-text" the same with binary COPY off.
 * Prints one JSON line: { code, totalMs, restoreMs, maxRssKb, clientCpuMs, message }.
 * Usage: restore-catalog-child <cli|engine|engine-text> <dump.gz> <database-url>
 */
import { createReadStream, statSync } from "node:fs";
import { Writable } from "node:stream";
import { runRestoreCatalogCommand } from "../src/catalog-restore/cli.js";
import { restoreCatalog } from "../src/catalog-restore/restore-engine.js";

const [mode, file, url] = process.argv.slice(2);
if (
  (mode !== "cli" && mode !== "engine" && mode !== "engine-text") ||
  file === undefined ||
  url === undefined
) {
  throw new Error("usage: restore-catalog-child <cli|engine|engine-text> <dump.gz> <database-url>");
}

let stdout = "";
const sink = (keep: boolean) =>
  new Writable({
    write(chunk: Buffer, _enc, done) {
      if (keep) stdout += chunk.toString("utf8");
      done();
    },
  });

const started = performance.now();
let code = 0;
let restoreMs: number | undefined;
let message = "";
if (mode === "cli") {
  code = await runRestoreCatalogCommand(["--snapshot", file, "--dsn-env", "BENCH_CATALOG_DSN"], {
    env: { ...process.env, BENCH_CATALOG_DSN: url },
    stdout: sink(true),
    stderr: sink(false),
    signal: new AbortController().signal,
  });
  // "committed after 12.3 s" or "committed after 1:05"
  const after = /committed after (?:(\d+):(\d+)|([\d.]+) s)/.exec(stdout);
  if (after)
    restoreMs = after[3]
      ? Number(after[3]) * 1000
      : (Number(after[1]) * 60 + Number(after[2])) * 1000;
  message = stdout.trim().split("\n").at(-1) ?? "";
} else {
  try {
    const result = await restoreCatalog({
      source: createReadStream(file),
      compressedBytesTotal: statSync(file).size,
      connection: url,
      binaryCopy: mode === "engine",
    });
    restoreMs = result.durationMs;
  } catch (err) {
    code = 1;
    message = String(err);
  }
}
const totalMs = performance.now() - started;
process.stdout.write(
  `${JSON.stringify({ code, totalMs, restoreMs, maxRssKb: process.resourceUsage().maxRSS, clientCpuMs: Math.round((process.cpuUsage().user + process.cpuUsage().system) / 1000), message })}\n`,
);
