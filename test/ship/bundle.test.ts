import { mkdtemp, rm } from "node:fs/promises";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build, type Metafile } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleOptions, EXTERNAL } from "../../scripts/bundle.mjs";
import { REPO_ROOT } from "./chart-fixture.js";

// The image runs dist/bundle/restorebot.mjs with only production node_modules beside it
// (the Dockerfile's runtime stage). test/cli/processes.test.ts runs the built bundle (bot,
// worker, serve, migrate, restore-catalog); this file checks what it is made of.

const packageJson = (await import(`${REPO_ROOT}package.json`, { with: { type: "json" } }))
  .default as { dependencies: Record<string, string>; devDependencies: Record<string, string> };

/** "@scope/name/sub" or "name/sub" → the package's name. */
function packageOf(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? specifier);
}

/** The package a bundled input file comes from, or undefined for the project's own files. */
function inputPackage(path: string): string | undefined {
  const at = path.lastIndexOf("node_modules/");
  return at < 0 ? undefined : packageOf(path.slice(at + "node_modules/".length));
}

let dir: string;
let metafile: Metafile;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "restorebot-bundle-"));
  const result = await build({
    ...bundleOptions("src/cli/main.ts", dir, "restorebot"),
    metafile: true,
    logLevel: "silent",
  });
  metafile = result.metafile;
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("the image's bundle", () => {
  it("leaves to node_modules only Node's own modules and the packages it names", () => {
    const builtins = new Set(builtinModules);
    const left = new Set<string>();
    for (const output of Object.values(metafile.outputs))
      for (const imported of output.imports)
        if (imported.external && !imported.path.startsWith("node:") && !builtins.has(imported.path))
          left.add(packageOf(imported.path));
    // Strings that merely look like imports (comments, messages) are not imports: only these.
    expect([...left].sort()).toEqual([...EXTERNAL].sort());
  });

  it("needs at run time only production dependencies; the rest it leaves out are optional", () => {
    // BullMQ is imported outright and bufferutil is what makes ws mask frames natively: both
    // must be in the image's node_modules. The others are tried and done without when absent.
    const needed = EXTERNAL.filter((p) => p === "bullmq" || p === "bufferutil");
    expect(needed.sort()).toEqual(["bufferutil", "bullmq"]);
    for (const name of needed) expect(packageJson.dependencies[name], name).toBeDefined();
  });

  it("holds no development dependency (test tools stay out of the image)", () => {
    const dev = new Set(Object.keys(packageJson.devDependencies));
    const bundled = new Set(
      Object.keys(metafile.inputs)
        .map(inputPackage)
        .filter((p): p is string => p !== undefined),
    );
    expect([...bundled].filter((p) => dev.has(p) && !(p in packageJson.dependencies))).toEqual([]);
    // And it does hold the libraries whose module graphs made a bundle worth having.
    expect(bundled.has("@kubernetes/client-node")).toBe(true);
    expect(bundled.has("@aws-sdk/client-s3")).toBe(true);
  });
});
