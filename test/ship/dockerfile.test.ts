import { readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { relative } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { IMAGE_NODE_FLAGS } from "../../scripts/bundle.mjs";
import { REPO_ROOT } from "./chart-fixture.js";

// No Docker engine here: these tests read the Dockerfile as data and check the properties the
// chart and the runtime rely on.

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Splits a Dockerfile into instructions (continuations joined, comments dropped) per stage. */
function parseDockerfile(text: string): { globalArgs: Instruction[]; stages: Stage[] } {
  const instructions: Instruction[] = [];
  let pending = "";
  let startLine = 0;
  text.split("\n").forEach((raw, index) => {
    const line = raw.trimEnd();
    if (!pending && (/^\s*#/.test(line) || !line.trim())) return;
    if (/^\s*#/.test(line)) return; // a comment inside a continued instruction
    if (!pending) startLine = index + 1;
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1)} `;
      return;
    }
    const full = (pending + line).trim();
    pending = "";
    const match = /^(\S+)\s+([\s\S]*)$/.exec(full);
    if (match)
      instructions.push({
        keyword: (match[1] ?? "").toUpperCase(),
        args: match[2] ?? "",
        line: startLine,
      });
  });
  const globalArgs: Instruction[] = [];
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === "FROM") {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      stages.push({ from: m?.[1] ?? ins.args, name: m?.[2], instructions: [] });
    } else if (stages.length === 0) {
      globalArgs.push(ins);
    } else {
      stages.at(-1)?.instructions.push(ins);
    }
  }
  return { globalArgs, stages };
}

const dockerfile = readFileSync(`${REPO_ROOT}Dockerfile`, "utf8");
const { globalArgs, stages } = parseDockerfile(dockerfile);
const packageJson = JSON.parse(readFileSync(`${REPO_ROOT}package.json`, "utf8")) as {
  bin: Record<string, string>;
  scripts: Record<string, string>;
};
let program: ts.Program | undefined;
/** The program `npm run build` compiles (tsconfig.build.json), with every file it imports. */
function buildProgram(): ts.Program {
  if (program) return program;
  const config = ts.getParsedCommandLineOfConfigFile(
    `${REPO_ROOT}tsconfig.build.json`,
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
      },
    },
  );
  if (!config) throw new Error("cannot read tsconfig.build.json");
  program = ts.createProgram({ rootNames: config.fileNames, options: config.options });
  return program;
}

/** Bare module specifiers the compiled code loads at run time (type-only imports are erased). */
function runtimeImports(file: ts.SourceFile): string[] {
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (
      ts.isImportDeclaration(node) &&
      !node.importClause?.isTypeOnly &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      found.push(node.moduleSpecifier.text);
    } else if (
      ts.isExportDeclaration(node) &&
      !node.isTypeOnly &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      found.push(node.moduleSpecifier.text);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      found.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found.filter((s) => !s.startsWith(".") && !s.startsWith("/"));
}

const runtime = stages.at(-1) as Stage;
const stage = (name: string): Stage => {
  const found = stages.find((s) => s.name === name);
  if (!found) throw new Error(`no stage named ${name}`);
  return found;
};
const of = (s: Stage, keyword: string) => s.instructions.filter((i) => i.keyword === keyword);

describe("Dockerfile", () => {
  it("builds in stages and ships a separate, final runtime stage", () => {
    expect(stages.map((s) => s.name)).toEqual(["build", "prod-deps", "runtime"]);
    // Every stage starts from the same pinned Node 24 image (an ARG, so CI can pin a digest).
    const nodeImage = globalArgs.find(
      (a) => a.keyword === "ARG" && a.args.startsWith("NODE_IMAGE="),
    );
    expect(nodeImage?.args).toMatch(/^NODE_IMAGE=node:24[-.\w]*-slim(@sha256:[a-f0-9]{64})?$/);
    expect(nodeImage?.args).not.toMatch(/:latest|:lts/);
    for (const s of stages) expect(s.from).toMatch(/^\$\{NODE_IMAGE\}$/);
  });

  it("compiles with dev dependencies in the build stage, exactly as npm run build does", () => {
    const runs = of(stage("build"), "RUN").map((r) => r.args);
    expect(runs.some((r) => /\bnpm ci\b/.test(r) && !r.includes("--omit=dev"))).toBe(true);
    expect(runs.some((r) => /\bnpm run build\b/.test(r))).toBe(true);
    // Whatever `npm run build` executes must be copied into the stage (and allowed by .dockerignore).
    const copied = of(stage("build"), "COPY").map((c) => c.args);
    const buildScript = packageJson.scripts.build ?? "";
    for (const file of buildScript.match(/[\w./-]+\.(?:mjs|js|json)\b/g) ?? []) {
      expect(
        copied.some((c) => c.split(/\s+/).includes(file) || c.includes(file.replace(/^.*\//, ""))),
        file,
      ).toBe(true);
    }
  });

  it("installs production dependencies only for the runtime image", () => {
    const runs = of(stage("prod-deps"), "RUN").map((r) => r.args);
    expect(runs.some((r) => /\bnpm ci\b.*--omit=dev/.test(r))).toBe(true);
  });

  it("copies only package.json, production node_modules and the bundle into the runtime stage", () => {
    const copies = of(runtime, "COPY").map((c) => c.args.replace(/\s+/g, " "));
    expect(copies.sort()).toEqual(
      [
        "--from=build /app/dist/bundle ./dist/bundle",
        "--from=prod-deps /app/node_modules ./node_modules",
        "package.json ./",
      ].sort(),
    );
    expect(of(runtime, "ADD")).toHaveLength(0);
    // No npm install in the runtime stage itself: its dependencies come from prod-deps.
    expect(of(runtime, "RUN").some((r) => /npm (ci|install)/.test(r.args))).toBe(false);
  });

  it("runs as a numeric non-root user, after every RUN", () => {
    const users = of(runtime, "USER");
    expect(users).toHaveLength(1);
    const user = users[0] as Instruction;
    expect(user.args).toMatch(/^[1-9][0-9]*(:[0-9]+)?$/);
    const lastRun = of(runtime, "RUN").at(-1);
    expect(lastRun === undefined || lastRun.line < user.line).toBe(true);
  });

  it("starts node directly (exec form) with the package's bin, defaulting to serve", () => {
    const entrypoint = of(runtime, "ENTRYPOINT");
    const cmd = of(runtime, "CMD");
    expect(entrypoint).toHaveLength(1);
    expect(JSON.parse(entrypoint[0]?.args ?? "null")).toEqual([
      "node",
      ...IMAGE_NODE_FLAGS,
      packageJson.bin.restorebot,
    ]);
    expect(JSON.parse(cmd[0]?.args ?? "null")).toEqual(["serve"]);
    expect(of(runtime, "STOPSIGNAL").map((s) => s.args)).toEqual(["SIGTERM"]);
  });

  it("sets NODE_ENV=production and carries OCI labels", () => {
    const env = of(runtime, "ENV")
      .map((e) => e.args)
      .join(" ");
    expect(env).toMatch(/\bNODE_ENV=production\b/);
    const labels = of(runtime, "LABEL")
      .map((l) => l.args)
      .join(" ");
    for (const key of ["title", "description", "licenses", "version", "revision"]) {
      expect(labels).toContain(`org.opencontainers.image.${key}=`);
    }
  });

  it("takes no secret as a build argument or image variable", () => {
    const names = [...globalArgs, ...stages.flatMap((s) => s.instructions)]
      .filter((i) => i.keyword === "ARG" || i.keyword === "ENV")
      .flatMap((i) =>
        [...i.args.matchAll(/(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)(?==|\s|$)/g)].map((m) => m[1] ?? ""),
      );
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) {
      expect(name, name).not.toMatch(
        /TOKEN|SECRET|PASSWORD|PASSWD|KEY|DSN|DATABASE_URL|REDIS_URL|NPM_/i,
      );
    }
    expect(dockerfile).not.toMatch(/xox[bpa]-|xapp-|postgres(ql)?:\/\/\S+@/);
  });

  it("ships every package the compiled code imports: production packages and Node built-ins only", () => {
    // What `npm ci --omit=dev` installs at the top of node_modules: lockfile packages not marked dev.
    const lock = JSON.parse(readFileSync(`${REPO_ROOT}package-lock.json`, "utf8")) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const inProdTree = (name: string) => {
      const entry = lock.packages[`node_modules/${name}`];
      return entry !== undefined && entry.dev !== true;
    };
    const missing: string[] = [];
    const seen = new Set<string>();
    for (const file of buildProgram().getSourceFiles()) {
      const path = relative(REPO_ROOT, file.fileName);
      if (path.startsWith("node_modules/") || path.startsWith("..") || file.isDeclarationFile)
        continue;
      for (const specifier of runtimeImports(file)) {
        seen.add(specifier);
        if (specifier.startsWith("node:") || builtinModules.includes(specifier)) continue;
        const name = specifier.startsWith("@")
          ? specifier.split("/").slice(0, 2).join("/")
          : (specifier.split("/")[0] ?? "");
        if (!inProdTree(name)) missing.push(`${path}: ${specifier}`);
      }
    }
    // A dev-only package here would load in tests and crash in the image.
    expect(missing).toEqual([]);
    expect(seen).toContain("zod"); // the scan does see real imports (src/config/env.ts)
  });

  it("has no HEALTHCHECK: Kubernetes probes replace it", () => {
    expect(stages.flatMap((s) => of(s, "HEALTHCHECK"))).toHaveLength(0);
  });
});

describe(".dockerignore", () => {
  const lines = readFileSync(`${REPO_ROOT}.dockerignore`, "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));

  it("is an allow-list that admits only the build inputs", () => {
    expect(lines[0]).toBe("*");
    const allowed = lines.slice(1).map((l) => l.replace(/^!/, "").replace(/\/$/, ""));
    expect(lines.slice(1).every((l) => l.startsWith("!"))).toBe(true);
    expect(allowed.sort()).toEqual(
      [
        "jobs",
        "package-lock.json",
        "package.json",
        "scripts/bundle.mjs",
        "scripts/copy-assets.mjs",
        "src",
        "stand-ins",
        "tsconfig.build.json",
        "tsconfig.json",
      ].sort(),
    );
  });

  it("admits every file the build compiles or copies, so the image builds from a clean context", () => {
    const allowed = lines.slice(1).map((l) => l.replace(/^!/, "").replace(/\/$/, ""));
    const inContext = (file: string) => allowed.some((a) => file === a || file.startsWith(`${a}/`));
    // tsc follows imports outside tsconfig.build.json's include (e.g. into test/): list them all.
    const compiled = buildProgram()
      .getSourceFiles()
      .map((f) => relative(REPO_ROOT, f.fileName))
      .filter((f) => !f.startsWith("node_modules/") && !f.startsWith(".."));
    expect(compiled.length).toBeGreaterThan(0);
    expect(compiled.filter((f) => !inContext(f))).toEqual([]);
    // The asset copy step reads from these directories.
    const copyAssets = readFileSync(`${REPO_ROOT}scripts/copy-assets.mjs`, "utf8");
    for (const m of copyAssets.matchAll(/cpSync\(\s*"([^"]+)"/g))
      expect(inContext(m[1] ?? ""), m[1]).toBe(true);
  });

  it("admits every path the build stage copies", () => {
    const allowed = lines.slice(1).map((l) => l.replace(/^!/, "").replace(/\/$/, ""));
    const sources = of(stage("build"), "COPY").flatMap((c) => c.args.split(/\s+/).slice(0, -1));
    for (const source of sources) expect(allowed, source).toContain(source.replace(/\/$/, ""));
  });
});
