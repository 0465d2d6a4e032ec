import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";

/**
 * A real InfluxDB 1.x `influxd` (Debian's package) on a scratch directory: 127.0.0.1 only,
 * free ports, no usage reporting, no `_internal` monitor database (so the data on disk is only
 * what a test writes).
 */
export interface Influxd {
  readonly dataDir: string;
  readonly url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  write(db: string, lines: string[]): Promise<void>;
  query(q: string, db?: string): Promise<QueryResult>;
  /** Column values of a one-series result, e.g. SHOW DATABASES → names. */
  column(q: string, db?: string): Promise<unknown[]>;
  /** Rows of a one-series result as `[time, …fields]`. */
  rows(q: string, db?: string): Promise<unknown[][]>;
}

interface QueryResult {
  results: Array<{
    error?: string;
    series?: Array<{ name: string; columns: string[]; values: unknown[][] }>;
  }>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  await once(server, "close");
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

export async function createInfluxd(scratch: string): Promise<Influxd> {
  const dataDir = join(scratch, "influxdb");
  await mkdir(dataDir, { recursive: true });
  const httpPort = await freePort();
  const rpcPort = await freePort();
  const configPath = join(scratch, "influxdb.conf");
  await writeFile(
    configPath,
    `reporting-enabled = false
bind-address = "127.0.0.1:${rpcPort}"
[meta]
  dir = ${JSON.stringify(join(dataDir, "meta"))}
[data]
  dir = ${JSON.stringify(join(dataDir, "data"))}
  wal-dir = ${JSON.stringify(join(dataDir, "wal"))}
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:${httpPort}"
  log-enabled = false
  pprof-enabled = false
[continuous_queries]
  enabled = false
[logging]
  level = "warn"
  suppress-logo = true
`,
  );
  const url = `http://127.0.0.1:${httpPort}`;
  let child: ChildProcess | undefined;
  let output = "";

  async function pingOnce(): Promise<boolean> {
    try {
      const res = await fetch(`${url}/ping`);
      return res.status === 204;
    } catch {
      return false;
    }
  }

  async function query(q: string, db?: string): Promise<QueryResult> {
    const body = new URLSearchParams({ q, ...(db ? { db } : {}) });
    const res = await fetch(`${url}/query`, { method: "POST", body });
    const json = (await res.json()) as QueryResult;
    const error = json.results?.find((r) => r.error)?.error;
    if (!res.ok || error) throw new Error(`influxd ${q}: ${res.status} ${error ?? ""}`);
    return json;
  }

  return {
    dataDir,
    url,
    async start() {
      if (child) throw new Error("influxd is already running");
      output = "";
      const proc = spawn("influxd", ["run", "-config", configPath], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      child = proc;
      proc.stdout?.on("data", (c: Buffer) => {
        output += c.toString();
      });
      proc.stderr?.on("data", (c: Buffer) => {
        output += c.toString();
      });
      let exited = false;
      proc.once("exit", () => {
        exited = true;
      });
      // /ping answers once the HTTP service is up; the deadline is a backstop only.
      const deadline = Date.now() + 60_000;
      while (!(await pingOnce())) {
        if (exited) throw new Error(`influxd exited while starting:\n${output}`);
        if (Date.now() > deadline) throw new Error(`influxd did not answer /ping:\n${output}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async stop() {
      const proc = child;
      if (!proc) return;
      child = undefined;
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, "exit");
      proc.kill("SIGTERM");
      await exited;
    },
    async write(db, lines) {
      const res = await fetch(`${url}/write?db=${encodeURIComponent(db)}&precision=s`, {
        method: "POST",
        body: lines.join("\n"),
      });
      if (res.status !== 204) throw new Error(`write ${db}: ${res.status} ${await res.text()}`);
    },
    query,
    async column(q, db) {
      const series = (await query(q, db)).results[0]?.series?.[0];
      return series?.values.map((v) => v[0]) ?? [];
    },
    async rows(q, db) {
      return (await query(q, db)).results[0]?.series?.[0]?.values ?? [];
    },
  };
}
