// Types for scripts/bundle.mjs, which plain node runs in the image's build stage.
import type { BuildOptions } from "esbuild";

/** Packages the bundle leaves to node_modules. */
export declare const EXTERNAL: string[];
/** The node flags the image starts restorebot with. */
export declare const IMAGE_NODE_FLAGS: string[];
/** esbuild's options for one entry point bundled for Node.js 24 into `<outdir>/<name>.mjs`. */
export declare function bundleOptions(entry: string, outdir: string, name: string): BuildOptions;
