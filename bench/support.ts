/**
 * What the benches share: compiling a child's entry point so that restorebot runs compiled, as
 * in production, and the shape in which a child reports its process's memory.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

/** The repository's root, with a trailing slash. */
export const ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * Compiles `entry` (relative to the root) and what it imports into `outDir` with the project's
 * tsc, keeping the tree's layout (`<outDir>/bench/<name>.js`); tsc's messages go to this
 * terminal.
 */
export async function compileForBench(entry: string, outDir: string): Promise<void> {
  const tsc = `${ROOT}node_modules/typescript/bin/tsc`;
  const child = spawn(
    process.execPath,
    [
      tsc,
      "--outDir",
      outDir,
      "--rootDir",
      ROOT,
      "--module",
      "NodeNext",
      "--moduleResolution",
      "NodeNext",
      "--target",
      "ES2023",
      "--lib",
      "ES2023",
      "--types",
      "node",
      "--skipLibCheck",
      "--esModuleInterop",
      "--strict",
      "--verbatimModuleSyntax",
      `${ROOT}${entry}`,
    ],
    { stdio: "inherit" },
  );
  const [code] = (await once(child, "close")) as [number | null];
  if (code !== 0) throw new Error(`tsc failed to compile ${entry}`);
}

/** A process's memory in bytes, as a child reports it. */
export interface Memory {
  rss: number;
  heapTotal: number;
  arrayBuffers: number;
  external: number;
  heapUsed: number;
}

/** This process's memory now. */
export function memory(): Memory {
  const m = process.memoryUsage();
  return {
    rss: m.rss,
    heapTotal: m.heapTotal,
    arrayBuffers: m.arrayBuffers,
    external: m.external,
    heapUsed: m.heapUsed,
  };
}
