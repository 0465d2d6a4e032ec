import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  server.close();
  await once(server, "close");
  return port;
}

async function untilHealthy(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 20_000;
  let exited = false;
  child.once("exit", () => {
    exited = true;
  });
  for (;;) {
    if (exited) throw new Error("victoria-metrics exited before it answered /health");
    try {
      const res = await fetch(`${url}/health`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error("victoria-metrics did not answer /health within 20 s");
    await new Promise((resolve) => setImmediate(resolve));
  }
}

export interface VmBackupFixture {
  /** Root of the fs:// destination: `<instance>/<version>/…` below it, as vmbackup wrote it. */
  root: string;
  files(): Promise<Array<{ key: string; path: string; mtime: Date }>>;
  close(): Promise<void>;
}

/**
 * Real Victoria Metrics (Debian's `victoria-metrics`) with a few samples, backed up by the real
 * `vmbackup` into an `fs://` destination laid out as the chart lays out its bucket:
 * `<instance>/<instance>-<yyyymmddHHMMSS>/`. Each version is one vmbackup run.
 */
export async function makeVmBackupFixture(
  versions: Array<{ instance: string; version: string }>,
): Promise<VmBackupFixture> {
  const dir = await mkdtemp(join(tmpdir(), "vmbackup-fixture-"));
  const dataPath = join(dir, "data");
  const root = join(dir, "backups");
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const vm = spawn(
    "victoria-metrics",
    [`-storageDataPath=${dataPath}`, `-httpListenAddr=127.0.0.1:${port}`],
    {
      stdio: "ignore",
    },
  );
  try {
    await untilHealthy(url, vm);
    const now = Math.floor(Date.now() / 1000);
    const lines = Array.from(
      { length: 50 },
      (_, i) => `sts_fixture_metric{series="${i % 5}"} ${i} ${(now - 600 + i) * 1000}`,
    );
    const imported = await fetch(`${url}/api/v1/import/prometheus`, {
      method: "POST",
      body: lines.join("\n"),
    });
    if (!imported.ok) throw new Error(`import answered ${imported.status}`);
    await fetch(`${url}/internal/force_flush`);
    for (const v of versions) {
      await vmbackup([
        `-storageDataPath=${dataPath}`,
        `-snapshot.createURL=${url}/snapshot/create`,
        `-dst=fs://${join(root, v.instance, v.version)}`,
      ]);
    }
  } finally {
    vm.kill("SIGTERM");
    if (vm.exitCode === null) await once(vm, "exit");
  }
  /**
   * One vmbackup run. Debian's vmbackup can finish a backup this small before its own metrics
   * server has registered, and then panics on shutdown ("BUG: there is no http server at …")
   * after writing the backup; a run that ended so is run again (into the same destination,
   * which vmbackup brings up to date), at most twice.
   */
  async function vmbackup(args: string[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await run("vmbackup", [...args, `-httpListenAddr=127.0.0.1:${await freePort()}`]);
        return;
      } catch (err) {
        const output = `${(err as { stdout?: string }).stdout ?? ""}${(err as { stderr?: string }).stderr ?? ""}`;
        if (attempt >= 3 || !output.includes("BUG: there is no http server at")) throw err;
      }
    }
  }
  async function walk(path: string): Promise<string[]> {
    const out: string[] = [];
    for (const entry of await readdir(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) out.push(...(await walk(full)));
      else out.push(full);
    }
    return out;
  }
  return {
    root,
    async files() {
      const paths = await walk(root);
      return Promise.all(
        paths.map(async (path) => ({
          key: relative(root, path),
          path,
          mtime: (await stat(path)).mtime,
        })),
      );
    },
    close: () => rm(dir, { recursive: true, force: true }),
  };
}

export { readFile };
