import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { CodedError } from "../errors.js";

/**
 * The one line a person reads when a process cannot bind its port: which setting chose the
 * port, why the bind failed, and what to set instead (DESIGN.md: a bad setting stops the
 * process with one clear line naming it).
 */
export function describeListenError(err: unknown, port: number, setting: string): CodedError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const why =
    code === "EADDRINUSE"
      ? `port ${port} is already in use by another process`
      : code === "EACCES"
        ? `permission denied for port ${port} (ports below 1024 need privileges)`
        : code === "EADDRNOTAVAIL"
          ? `port ${port} is not available on this machine`
          : `cannot listen on port ${port} (${err instanceof Error ? err.message.split("\n")[0] : String(err)})`;
  return new CodedError(
    "env_invalid",
    `${setting}: ${why}; set ${setting} to a free port (bot and worker on one machine need different ports: PORT for the bot, WORKER_PORT for the worker)`,
    { cause: err },
  );
}

/**
 * Listens on `port` and resolves with the bound port (useful with 0); a bind failure rejects
 * with the one-line error above instead of surfacing as an unhandled 'error' event.
 */
export function listenOn(
  server: Server,
  port: number,
  setting: string,
  host?: string,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      server.off("listening", onListening);
      reject(describeListenError(err, port, setting));
    };
    const onListening = () => {
      server.off("error", onError);
      resolve((server.address() as AddressInfo).port);
    };
    server.once("error", onError);
    server.once("listening", onListening);
    if (host === undefined) server.listen(port);
    else server.listen(port, host);
  });
}
