import type { IncomingMessage, ServerResponse } from "node:http";
import type { Registry } from "prom-client";

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
