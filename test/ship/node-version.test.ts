import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "./chart-fixture.js";

// Node 24 everywhere: the `node` package pins the version every npm script runs on, the tests
// check they run on it, and the image and `engines` name the same major.

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8"));
const pinned: string = pkg.devDependencies.node;
const major = pinned.split(".")[0];

function checkNode(root: string) {
  return spawnSync(process.execPath, [join(root, "scripts/check-node.mjs"), "the test"], {
    encoding: "utf8",
  });
}

describe("the project's Node.js", () => {
  it("is pinned exactly, as a development dependency only (the image has its own Node)", () => {
    expect(pinned).toMatch(/^24\.\d+\.\d+$/);
    const lock = JSON.parse(readFileSync(join(REPO_ROOT, "package-lock.json"), "utf8"));
    expect(lock.packages["node_modules/node"]).toMatchObject({ version: pinned, dev: true });
    expect(pkg.dependencies.node).toBeUndefined();
  });

  it("is what these tests run on", () => {
    expect(process.versions.node).toBe(pinned);
  });

  it("names one major in engines, the Dockerfile and the pin", () => {
    expect(pkg.engines.node).toBe(`^${major}.11.0`);
    const dockerfile = readFileSync(join(REPO_ROOT, "Dockerfile"), "utf8");
    expect(dockerfile).toMatch(new RegExp(`^ARG NODE_IMAGE=node:${major}-`, "m"));
  });

  it("is checked at the start: the check prints the version and passes on it", () => {
    const result = checkNode(REPO_ROOT);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`the test runs on Node.js v${process.versions.node}`);
  });

  it("is checked at the start: any other version fails, saying what to run instead", () => {
    // A copy of the check beside a package.json that pins another version.
    const root = mkdtempSync(join(tmpdir(), "rb-node-check-"));
    mkdirSync(join(root, "scripts"));
    copyFileSync(join(REPO_ROOT, "scripts/check-node.mjs"), join(root, "scripts/check-node.mjs"));
    writeFileSync(
      join(root, "package.json"),
      JSON.stringify({ type: "module", devDependencies: { node: "20.19.0" } }),
    );
    const result = checkNode(root);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`the test runs on Node.js v${process.versions.node}`);
    expect(result.stderr).toContain("the project runs on v20.19.0");
    expect(result.stderr).toContain("npm test");
  });
});
