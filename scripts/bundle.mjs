// Builds the image's entry point: the CLI and what it imports, bundled into
// dist/bundle/restorebot.mjs and the chunks it loads on demand, with the SQL migrations and the
// demo console's static files beside them (the code finds both next to itself).
//
// Why a bundle: Node.js keeps a module record, its source and its compiled code for each of
// the thousands of files in @kubernetes/client-node and the AWS SDK. Bundled, an idle worker
// takes 136–137 MB instead of 184–205 MB, with half the live heap, which every major garbage
// collection has to mark while an archive streams (docs/influxdb-1x.md, "Memory").
//
// Left out, and loaded from node_modules as usual: BullMQ (it reads its Lua scripts from its
// own directory) and the optional native or platform-specific packages that libraries try to
// load and do without.
import { cpSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

export const EXTERNAL = ["bullmq", "bufferutil", "utf-8-validate", "pg-native", "supports-color"];

/**
 * The node flags the image starts restorebot with (the Dockerfile's ENTRYPOINT, checked by
 * test/ship/dockerfile.test.ts). --max-semi-space-size=2 (MiB): V8's young generation otherwise
 * grows to 3 × 16 MiB, every page of which an archive streaming through the worker touches.
 */
export const IMAGE_NODE_FLAGS = ["--max-semi-space-size=2"];

/**
 * esbuild's options for one entry point bundled for Node.js 24 into `<outdir>/<name>.mjs` (also
 * used by the benchmarks). What the entry imports with `import()` goes into chunks beside it,
 * loaded when first needed: `restore-catalog` loads only what it uses, as the CLI is written to.
 */
export function bundleOptions(entry, outdir, name) {
  return {
    entryPoints: { [name]: entry },
    outdir,
    outExtension: { ".js": ".mjs" },
    splitting: true,
    // Beside the entry, not in a folder: code that finds files next to itself (migrations,
    // the console's static files, package.json) resolves them from whichever file it lands in.
    chunkNames: "[name]-[hash]",
    absWorkingDir: ROOT,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node24",
    external: EXTERNAL,
    // Names stay readable in stack traces and logs; a linked source map maps them back.
    sourcemap: "linked",
    legalComments: "linked",
    // CommonJS dependencies call require(); an ES module has none of its own.
    banner: {
      js: "import { createRequire as __restorebotCreateRequire } from 'node:module'; const require = __restorebotCreateRequire(import.meta.url);",
    },
    logLevel: "warning",
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  rmSync(`${ROOT}dist/bundle`, { recursive: true, force: true });
  await build(bundleOptions("src/cli/main.ts", "dist/bundle", "restorebot"));
  cpSync(`${ROOT}src/db/migrations`, `${ROOT}dist/bundle/migrations`, { recursive: true });
  cpSync(`${ROOT}src/demo/console/static`, `${ROOT}dist/bundle/static`, { recursive: true });
}
