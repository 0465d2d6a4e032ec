import type { IncomingMessage } from "node:http";
import type { KubeConfig } from "@kubernetes/client-node";
import WebSocket, { type ClientOptions } from "ws";
import { CodedError, redactSecrets } from "../../errors.js";
import type { Logger } from "../../logging/logger.js";
import { noteStreamedBytes } from "../../runtime/young-garbage.js";
import { formatDuration } from "../../text/format.js";
import type { ExecInPodOptions, ExecResult, PodWorkPort } from "./pod-work-port.js";

/**
 * Pod exec over the API server's WebSocket channel protocol, as client-node's `Exec` speaks it
 * (same URL, same authentication from the kubeconfig, same channels: 0 stdin, 1 stdout,
 * 2 stderr, 3 the final Status, 255 close), but with what `Exec` lacks for large streams and
 * old clusters:
 *
 * - **Backpressure both ways.** stdin is sent one frame at a time, each after the previous has
 *   gone to the socket, so a 50 GB archive never sits in memory; a slow `onStdout` pauses
 *   reading the socket.
 * - **Never trusting a v4 result with stdin.** On `v4.channel.k8s.io` (Kubernetes before 1.30)
 *   the end of stdin cannot be signalled: client-node closes the whole connection, and the
 *   command's remaining output and exit status are lost. So an exec with stdin offers only v5.
 *   When the cluster refuses v5 (its upgrade answer says the protocol is not supported — no
 *   command has started), it fails with a clear error, unless `stdinBytes` is given: then it
 *   runs the command behind `head -c <stdinBytes>` over v4, so the command sees the end of its
 *   input after exactly that many bytes while the connection stays up for its output and exit
 *   status. Without stdin both protocols are safe and both are offered.
 * - **No result is invented.** A connection that closes before channel 3 has said how the
 *   command ended is an error ("its outcome is unknown"), never an exit code 0.
 */

const V5 = "v5.channel.k8s.io";
const V4 = "v4.channel.k8s.io";
const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const STATUS = 3;
const CLOSE = 255;
/** Largest stdin frame sent. */
const FRAME_BYTES = 256 * 1024;
/** stdin bytes allowed in the socket's send buffer before waiting for it to drain. */
const IN_FLIGHT_BYTES = 1024 * 1024;

interface ExecDeps {
  kc: KubeConfig;
  namespace: string;
  logger: Logger;
}

class ProtocolRefused extends Error {}

/**
 * An open exec connection. Frames can arrive in the same packet as the upgrade answer, before
 * anyone listens: they are queued here from the start, as is a close.
 */
interface Connection {
  ws: WebSocket;
  early: Buffer[];
  closed: boolean;
  stopQueueing(): void;
}

export function createExecOps(deps: ExecDeps): Pick<PodWorkPort, "execInPod"> {
  const { kc, namespace } = deps;

  const connect = async (
    options: ExecInPodOptions,
    command: readonly string[],
    protocols: string[],
  ): Promise<Connection> => {
    const cluster = kc.getCurrentCluster();
    if (!cluster)
      throw new CodedError("config_invalid", "The Kubernetes configuration names no cluster.");
    const query = new URLSearchParams({
      stdout: "true",
      stderr: "true",
      stdin: options.stdin ? "true" : "false",
      tty: "false",
      container: options.container,
    });
    for (const arg of command) query.append("command", arg);
    const server = cluster.server.replace(/^http/, "ws").replace(/\/$/, "");
    const url = `${server}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(options.pod)}/exec?${query}`;
    const opts: ClientOptions = {};
    await kc.applyToHTTPSOptions(opts as Parameters<KubeConfig["applyToHTTPSOptions"]>[0]);
    return new Promise<Connection>((resolve, reject) => {
      const ws = new WebSocket(url, protocols, opts);
      const connection: Connection = {
        ws,
        early: [],
        closed: false,
        stopQueueing: () => {
          ws.off("message", queue);
          ws.off("close", closed);
        },
      };
      const queue = (data: Buffer) => connection.early.push(data);
      const closed = () => {
        connection.closed = true;
      };
      ws.on("message", queue);
      ws.on("close", closed);
      ws.on("unexpected-response", (_req, res: IncomingMessage) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          if (body.length < 4096) body += d;
        });
        res.on("end", () => {
          const message = statusMessage(body);
          const accepted = res.headers["x-accepted-stream-protocol-versions"];
          if (accepted !== undefined || /protocol.*not supported/i.test(message)) {
            reject(new ProtocolRefused(message));
          } else {
            reject(
              new CodedError(
                res.statusCode === 403
                  ? "forbidden"
                  : res.statusCode === 404
                    ? "not_found"
                    : "kubernetes_error",
                redactSecrets(
                  `Kubernetes: could not exec ${command[0] ?? ""} in pod ${options.pod} (container ${options.container}) in namespace ${namespace}: the API server answered ${res.statusCode}: ${message}.${res.statusCode === 403 ? " The account restorebot runs as needs create and get on pods/exec." : ""}`,
                ),
                { details: { status: res.statusCode, pod: options.pod } },
              ),
            );
          }
          ws.terminate();
        });
      });
      ws.once("open", () => resolve(connection));
      ws.on("error", (err) => {
        reject(
          new CodedError(
            "kubernetes_error",
            `Kubernetes: could not connect to exec in pod ${options.pod} in namespace ${namespace}: ${err.message}.`,
            { cause: err },
          ),
        );
      });
    });
  };

  const run = (connection: Connection, options: ExecInPodOptions, stdinLimit: number | undefined) =>
    new Promise<ExecResult>((resolve, reject) => {
      const { ws } = connection;
      connection.stopQueueing();
      const protocol = ws.protocol;
      let settled = false;
      let statusSeen = false;
      let outputs = Promise.resolve();
      /** Handler promises not yet settled; the socket is read again only once none is left. */
      let holding = 0;
      const what = `${options.command.join(" ")} in pod ${options.pod}`;
      const finish = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", onAbort);
        outcome();
        if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close();
      };
      const fail = (err: unknown) => finish(() => reject(err));

      const onMessage = (data: Buffer) => {
        if (settled || data.length === 0) return;
        const channel = data[0];
        const payload = data.subarray(1);
        if (channel === STDOUT || channel === STDERR) {
          const handler = channel === STDOUT ? options.onStdout : options.onStderr;
          if (!handler || payload.length === 0) return;
          noteStreamedBytes(payload.length);
          // The payload is handed on as it is, not copied: ws gives every message its own
          // memory (a view of the socket's read, never reused), and a copy of every byte of a
          // 50 GB archive would cost CPU and garbage for nothing.
          const result = handler(payload);
          if (result && typeof result.then === "function") {
            holding += 1;
            ws.pause();
            outputs = outputs
              .then(() => result)
              .finally(() => {
                holding -= 1;
                if (holding === 0 && !settled) ws.resume();
              });
            outputs.catch(fail);
          }
        } else if (channel === STATUS) {
          statusSeen = true;
          const status = parseStatus(payload.toString("utf8"));
          const exit = exitCodeOf(status);
          // Everything before the status has been delivered once the handlers are done.
          outputs.then(() => {
            if (exit !== undefined) finish(() => resolve({ exitCode: exit, protocol }));
            else
              fail(
                new CodedError(
                  "kubernetes_error",
                  redactSecrets(
                    `Kubernetes: ${what} could not run: ${status.message ?? JSON.stringify(status)}.`,
                  ),
                  { details: { pod: options.pod, reason: status.reason } },
                ),
              );
          }, fail);
        }
      };
      const onClose = () => {
        if (statusSeen) return; // settled once the output before it is delivered
        fail(
          new CodedError(
            "kubernetes_error",
            `Kubernetes: the exec connection for ${what} closed before the command reported its exit status; its outcome is unknown.`,
          ),
        );
      };
      for (const data of connection.early.splice(0)) onMessage(data);
      if (connection.closed) onClose();
      ws.on("message", onMessage);
      ws.on("close", onClose);

      const onAbort = () => fail(new CodedError("cancelled", `Cancelled while running ${what}.`));
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener("abort", onAbort, { once: true });
      const timer =
        options.timeoutMs === undefined
          ? undefined
          : setTimeout(
              () =>
                fail(
                  new CodedError(
                    "timeout",
                    `${what} did not finish within ${formatDuration(options.timeoutMs ?? 0)}.`,
                  ),
                ),
              options.timeoutMs,
            );

      if (options.stdin) {
        void pumpStdin(ws, options, stdinLimit, () => settled).catch(fail);
      }
    });

  return {
    async execInPod(options: ExecInPodOptions): Promise<ExecResult> {
      if (!options.stdin)
        return run(await connect(options, options.command, [V5, V4]), options, undefined);
      try {
        return await run(await connect(options, options.command, [V5]), options, undefined);
      } catch (err) {
        if (!(err instanceof ProtocolRefused)) throw err;
        if (options.stdinBytes === undefined) {
          throw new CodedError(
            "precondition_failed",
            `Kubernetes: pod ${options.pod} is on a cluster that does not speak ${V5} (Kubernetes before 1.30). Over ${V4} the end of a streamed stdin cannot be signalled without closing the connection, which loses the command's exit status, so restorebot will not stream into ${options.command.join(" ")} that way. Give the input's size (stdinBytes) so it can be sent behind head -c, or upgrade the cluster to 1.30 or later.`,
            { details: { pod: options.pod, refused: err.message } },
          );
        }
        deps.logger.info(
          { pod: options.pod },
          "cluster speaks v4 only: bounding stdin with head -c",
        );
        const wrapped = [
          "sh",
          "-c",
          'head -c "$0" | "$@"',
          String(options.stdinBytes),
          ...options.command,
        ];
        return run(await connect(options, wrapped, [V4]), options, options.stdinBytes);
      }
    },
  };
}

/** Sends stdin in frames, each after the previous left; ends it with a v5 close, or not at all on v4. */
async function pumpStdin(
  ws: WebSocket,
  options: ExecInPodOptions,
  limit: number | undefined,
  stopped: () => boolean,
): Promise<void> {
  const send = (frame: Buffer) =>
    new Promise<void>((resolve, reject) => {
      ws.send(frame, { binary: true }, (err) => (err ? reject(err) : resolve()));
    });
  let sent = 0;
  const stdin = options.stdin;
  if (!stdin) return;
  for await (const chunk of stdin) {
    if (stopped()) {
      stdin.destroy();
      return;
    }
    const data: Buffer = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
    for (let offset = 0; offset < data.length; offset += FRAME_BYTES) {
      const piece = data.subarray(offset, offset + FRAME_BYTES);
      sent += piece.length;
      if (limit !== undefined && sent > limit) {
        throw new CodedError(
          "internal",
          `stdin for ${options.command.join(" ")} is longer than the ${limit} bytes announced; stopped.`,
        );
      }
      noteStreamedBytes(piece.length);
      const frame = Buffer.allocUnsafe(piece.length + 1);
      frame[0] = STDIN;
      piece.copy(frame, 1);
      const sending = send(frame);
      // Up to IN_FLIGHT_BYTES may sit in the socket's buffers; beyond that, wait for this frame.
      if (ws.bufferedAmount > IN_FLIGHT_BYTES) await sending;
      else sending.catch(() => undefined);
    }
  }
  if (stopped()) return;
  if (limit !== undefined) {
    if (sent !== limit) {
      throw new CodedError(
        "internal",
        `stdin for ${options.command.join(" ")} ended after ${sent} bytes, not the ${limit} announced; the command would wait for the rest.`,
      );
    }
    return; // v4: head -c ends the command's input; the connection stays up for the status.
  }
  await send(Buffer.from([CLOSE, STDIN]));
}

interface ExecStatus {
  status?: string;
  message?: string;
  reason?: string;
  details?: { causes?: Array<{ reason?: string; message?: string }> };
}

function parseStatus(text: string): ExecStatus {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === "object" && parsed !== null ? (parsed as ExecStatus) : {};
  } catch {
    return { message: text.slice(0, 300) };
  }
}

/** 0 for Success, the ExitCode cause of a NonZeroExitCode failure; undefined when it did not run. */
function exitCodeOf(status: ExecStatus): number | undefined {
  if (status.status === "Success") return 0;
  if (status.reason !== "NonZeroExitCode") return undefined;
  const cause = status.details?.causes?.find((c) => c.reason === "ExitCode");
  const code = Number(cause?.message);
  return Number.isInteger(code) ? code : undefined;
}

function statusMessage(body: string): string {
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed === "object" && parsed !== null && "message" in parsed)
      return String(parsed.message);
  } catch {
    // not JSON
  }
  return body.trim().slice(0, 300);
}
