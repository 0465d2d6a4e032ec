import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "./chart-fixture.js";

// The build and the image take src/, jobs/ and stand-ins/ (the sandbox runs the stand-ins);
// test/ stays out of both, so no file there may import from it.
const SHIPPED = ["src", "jobs", "stand-ins"];

function tsFilesUnder(dir: string): string[] {
  return readdirSync(join(REPO_ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts"))
    .map((e) => relative(REPO_ROOT, join(e.parentPath, e.name)));
}

/** Every module specifier a file names: static and dynamic imports, re-exports, `import x = require`. */
function specifiers(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(join(REPO_ROOT, file), "utf8"), true, true);
  return info.importedFiles.map((f) => f.fileName);
}

function reachesIntoTest(file: string, specifier: string): boolean {
  if (!specifier.startsWith(".") && !specifier.startsWith("/")) return false; // a package
  const target = relative(REPO_ROOT, resolve(REPO_ROOT, dirname(file), specifier));
  return target === "test" || target.startsWith(`test/`);
}

describe("shipped code", () => {
  it("never imports from test/", () => {
    const files = SHIPPED.flatMap(tsFilesUnder);
    const offending = files.flatMap((file) =>
      specifiers(file)
        .filter((s) => reachesIntoTest(file, s))
        .map((s) => `${file}: ${s}`),
    );
    expect(offending).toEqual([]);
    // The scan does read every folder, and does see relative imports.
    for (const dir of SHIPPED)
      expect(
        files.some((f) => f.startsWith(`${dir}/`)),
        dir,
      ).toBe(true);
    expect(specifiers("src/demo/sandbox.ts").some((s) => s.startsWith("../"))).toBe(true);
  });

  it("tells an import into test/ from one that only looks like it", () => {
    expect(reachesIntoTest("src/demo/sandbox.ts", "../../test/stand-ins/iox-catalog.js")).toBe(
      true,
    );
    expect(reachesIntoTest("src/demo/console/x.ts", "../../../test/support/postgres.js")).toBe(
      true,
    );
    expect(
      reachesIntoTest(
        "src/demo/sandbox.ts",
        "../../src/kinds/influxdb-clustered/sandbox/catalog-builder.js",
      ),
    ).toBe(false);
    expect(reachesIntoTest("src/a.ts", "./test-results.js")).toBe(false);
    expect(reachesIntoTest("src/a.ts", "test")).toBe(false);
  });
});
