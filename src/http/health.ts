import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Registry } from "prom-client";
import { listenOn } from "./listen.js";

export interface HealthChecks {
  /** Each check resolves when its dependency answers, or rejects with a short reason. */
  [dependency: string]: () => Promise<void>;
}

const CHECK_TIMEOUT_MS = 2_000;

async function runCheck(check: () => Promise<void>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)),
          CHECK_TIMEOUT_MS,
        );
      }),
    ]);
    return "ok";
  } catch (err) {
    return `unavailable: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`;
  } finally {
    clearTimeout(timer);
  }
}

export interface HealthRoute {
  path: string;
  method: string[];
  handler: (req: IncomingMessage, res: ServerResponse) => void;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

/**
 * `/healthz` (the process is alive), `/readyz` (PostgreSQL and Redis answer) and `/metrics`
 * (Prometheus text). Used as Bolt custom routes in HTTP mode and by a small server otherwise.
 */
export function healthRoutes(checks: HealthChecks, registry: Registry): HealthRoute[] {
  return [
    {
      path: "/healthz",
      method: ["GET"],
      handler: (_req, res) => sendJson(res, 200, { status: "ok" }),
    },
    {
      path: "/readyz",
      method: ["GET"],
      handler: (_req, res) => {
        void (async () => {
          const names = Object.keys(checks);
          const results = await Promise.all(
            names.map((n) => runCheck(checks[n] as () => Promise<void>)),
          );
          const report = Object.fromEntries(names.map((n, i) => [n, results[i]]));
          const ready = results.every((r) => r === "ok");
          sendJson(res, ready ? 200 : 503, {
            status: ready ? "ready" : "not ready",
            checks: report,
          });
        })();
      },
    },
    {
      path: "/metrics",
      method: ["GET"],
      handler: (_req, res) => {
        registry
          .metrics()
          .then((text) => {
            res.writeHead(200, { "content-type": registry.contentType });
            res.end(text);
          })
          .catch((err: unknown) => {
            res.writeHead(500, { "content-type": "text/plain" });
            res.end(`metrics unavailable: ${err instanceof Error ? err.message : String(err)}`);
          });
      },
    },
  ];
}

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Serves the health routes on a server of their own (the worker; the bot in Socket Mode).
 * `setting` names the environment variable that chose the port, for the bind-failure line;
 * `host` limits it to one interface (the sandbox binds loopback only).
 */
export async function startHealthServer(
  routes: HealthRoute[],
  port: number,
  setting: string,
  host?: string,
): Promise<HealthServer> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    const route = routes.find((r) => r.path === path && r.method.includes(req.method ?? "GET"));
    if (route) route.handler(req, res);
    else res.writeHead(404).end();
  });
  const bound = await listenOn(server, port, setting, host);
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Probes use keep-alive; idle sockets must not hold the shutdown.
        server.closeIdleConnections();
      }),
  };
}
