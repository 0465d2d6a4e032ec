import { readdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

/**
 * The part of an InfluxDB 1.x node's HTTP API restorebot calls after a restore, answered from a
 * data directory on this machine: `GET /ping` (204, as influxd answers) and
 * `GET /query?q=SHOW DATABASES` (the databases are the directories under `data/`, as influxd
 * keeps one per database). Registered behind the Kubernetes simulator's service proxy.
 */
export interface InfluxNodeStandIn {
  port: number;
  close(): Promise<void>;
}

export async function startInfluxNodeStandIn(dataDir: string): Promise<InfluxNodeStandIn> {
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://influxdb");
    if (url.pathname === "/ping") {
      res.writeHead(204, { "X-Influxdb-Version": "1.8.10" }).end();
      return;
    }
    if (url.pathname === "/query" && url.searchParams.get("q") === "SHOW DATABASES") {
      let names: string[] = [];
      try {
        names = readdirSync(join(dataDir, "data")).sort();
      } catch {
        names = [];
      }
      res.writeHead(200, { "Content-Type": "application/json" }).end(
        JSON.stringify({
          results: [
            {
              statement_id: 0,
              series: [{ name: "databases", columns: ["name"], values: names.map((n) => [n]) }],
            },
          ],
        }),
      );
      return;
    }
    res.writeHead(404, { "Content-Type": "application/json" }).end('{"error":"not found"}');
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
