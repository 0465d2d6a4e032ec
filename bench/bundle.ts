/**
 * Bundling a bench child's entry point as the image's restorebot.mjs is bundled (esbuild, the
 * options of scripts/bundle.mjs), so that a bench measures what the image runs. Kept apart from
 * support.ts, which the children themselves import.
 */
import { build } from "esbuild";
import { bundleOptions, IMAGE_NODE_FLAGS } from "../scripts/bundle.mjs";

export { IMAGE_NODE_FLAGS };

/** Bundles `entry` (relative to the root) into `<outDir>/bundle/<name>.mjs`; returns that path. */
export async function bundleForBench(entry: string, outDir: string): Promise<string> {
  const name = entry.replace(/^.*\//, "").replace(/\.ts$/, "");
  await build(bundleOptions(entry, `${outDir}/bundle`, name));
  return `${outDir}/bundle/${name}.mjs`;
}
