import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { PassThrough, type Readable, Writable } from "node:stream";
import { type WebSocket, WebSocketServer } from "ws";
import { MissingExecutableError } from "./local-runner.js";
import type { JsonObject } from "./patch.js";

/**
 * Pod exec and pod logs for the Kubernetes API simulator, as `@kubernetes/client-node`'s `Exec`
 * and `Log` classes speak them.
 *
 * Exec is a WebSocket upgrade of `GET …/pods/{name}/exec?command=…&container=…&stdin=…`, with
 * the channel protocol the client offers in Sec-WebSocket-Protocol (client-node offers v5, v4,
 * v3, v2 and the bare `channel.k8s.io`, in that order). Every binary message starts with its
 * channel: 0 stdin (client to server), 1 stdout, 2 stderr, 3 the final Status (JSON), 4 terminal
 * resize; v5 adds 255, "close this channel", which the client sends as [255, 0] when its stdin
 * ends. Under v4 (Kubernetes before 1.30) there is no way to close stdin alone: the client
 * closes the whole socket, and whatever the command writes after that is lost.
 */

export const EXEC_PROTOCOL_V5 = "v5.channel.k8s.io";
export const EXEC_PROTOCOL_V4 = "v4.channel.k8s.io";
export type ExecProtocol = typeof EXEC_PROTOCOL_V5 | typeof EXEC_PROTOCOL_V4;

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const STATUS = 3;
const CLOSE = 255;
const RECORDED_STDIN_BYTES = 1024 * 1024;

/** What a registered command sees: its streams, and a signal for a connection that went away. */
export interface ExecSession {
  pod: string;
  container: string;
  command: readonly string[];
  /** The negotiated channel protocol. */
  protocol: ExecProtocol;
  /**
   * The client's stdin. Ends when the client closes it (v5), when the socket closes (v4, or a
   * client gone), or at once when the request asked for no stdin.
   */
  stdin: Readable;
  /** Sent to the client on channel 1 (dropped when it did not ask for stdout). */
  stdout: Writable;
  /** Sent to the client on channel 2 (dropped when it did not ask for stderr). */
  stderr: Writable;
  /** Aborted when the connection closes before the command has finished. */
  signal: AbortSignal;
}

/** Runs a command; resolves with its exit status (undefined is 0). A throw is a failed exec. */
export type ExecHandler = (
  session: ExecSession,
) => number | undefined | Promise<number | undefined>;

export interface ExecMatch {
  /** Pod name, or a pattern; any pod when not given. */
  pod?: string | RegExp;
  /** Container name; any container when not given. */
  container?: string;
  /** The whole command line (argv), or a predicate on it. */
  command: readonly string[] | ((command: readonly string[]) => boolean);
}

/** One exec, as it happened. */
export interface ExecRecord {
  pod: string;
  container: string;
  command: readonly string[];
  protocol: ExecProtocol;
  /** The client's stdin, as received (its first MiB; `stdinBytes` counts all of it). */
  stdin: Buffer;
  /** How many bytes of stdin arrived. */
  stdinBytes: number;
  /** Exit status the command returned; undefined when it failed to start, threw or is running. */
  exitCode: number | undefined;
  /** What the Status on channel 3 said (`Success`, or the failure's message). */
  outcome: string | undefined;
  /** True when the client closed the socket before the command finished. */
  closedByClient: boolean;
  /** True once the command has returned (or failed). */
  finished: boolean;
}

interface Registration {
  match: ExecMatch;
  handler: ExecHandler;
}

/** A pod as the API serves it, reduced to what exec and logs check. */
export interface PodView {
  name: string;
  containers: string[];
  phase: string;
  /** Its containers have stopped (Succeeded or Failed): a followed log ends after what is there. */
  ended?: boolean;
}

/** A rejected request: HTTP status and message, answered as a Kubernetes `Status`. */
export class PodIoError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason: string,
  ) {
    super(message);
  }
}

/** Resolves `container` against the pod's containers the way the API server does. */
export function resolveContainer(pod: PodView, container: string | null): string {
  if (!container) {
    if (pod.containers.length === 1) return pod.containers[0] as string;
    throw new PodIoError(
      400,
      `a container name must be specified for pod ${pod.name}, choose one of: [${pod.containers.join(" ")}]`,
      "BadRequest",
    );
  }
  if (!pod.containers.includes(container)) {
    throw new PodIoError(
      400,
      `container ${container} is not valid for pod ${pod.name}`,
      "BadRequest",
    );
  }
  return container;
}

export class PodExec {
  private readonly registrations: Registration[] = [];
  private readonly records: ExecRecord[] = [];
  private readonly sockets = new Set<WebSocket>();
  private readonly wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (_offered, req) => (req as UpgradeRequest).chosenProtocol ?? false,
  });

  constructor(
    /** The protocols the server accepts, in its order of preference. */
    private readonly protocols: readonly ExecProtocol[],
    private readonly onChange: () => void,
    /** Runs a command no registration matches (the simulator's local runner), if set. */
    private readonly fallback?: ExecHandler,
  ) {}

  register(match: ExecMatch, handler: ExecHandler): () => void {
    const registration = { match, handler };
    this.registrations.push(registration);
    return () => {
      const i = this.registrations.indexOf(registration);
      if (i >= 0) this.registrations.splice(i, 1);
    };
  }

  execs(): readonly ExecRecord[] {
    return this.records;
  }

  /**
   * Negotiates the protocol and upgrades; the caller has checked authentication, authorisation
   * and the pod. Throws PodIoError (answered before any upgrade) when the request is unusable.
   */
  upgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    pod: PodView,
    query: URLSearchParams,
  ): void {
    const container = resolveContainer(pod, query.get("container"));
    if (pod.phase !== "Running") {
      throw new PodIoError(
        400,
        `unable to upgrade connection: container not found ("${container}")`,
        "BadRequest",
      );
    }
    const command = query.getAll("command");
    if (command.length === 0) {
      throw new PodIoError(400, "you must specify at least 1 command", "BadRequest");
    }
    const offered = (req.headers["sec-websocket-protocol"] ?? "")
      .split(",")
      .map((p) => p.trim())
      .filter(Boolean);
    const protocol = this.protocols.find((p) => offered.includes(p));
    if (!protocol) {
      throw new PodIoError(
        400,
        `requested protocol(s) are not supported: [${offered.join(" ")}]; supports [${this.protocols.join(" ")}]`,
        "BadRequest",
      );
    }
    (req as UpgradeRequest).chosenProtocol = protocol;
    const flag = (name: string) => query.get(name) === "true" || query.get(name) === "1";
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.run(ws, {
        pod: pod.name,
        container,
        command,
        protocol,
        stdin: flag("stdin"),
        stdout: flag("stdout"),
        stderr: flag("stderr"),
      });
    });
  }

  /** Closes every open exec connection (the simulator is stopping). */
  closeAll(): void {
    for (const ws of this.sockets) ws.terminate();
    this.wss.close();
  }

  private run(
    ws: WebSocket,
    request: {
      pod: string;
      container: string;
      command: string[];
      protocol: ExecProtocol;
      stdin: boolean;
      stdout: boolean;
      stderr: boolean;
    },
  ): void {
    this.sockets.add(ws);
    const record: ExecRecord = {
      pod: request.pod,
      container: request.container,
      command: request.command,
      protocol: request.protocol,
      stdin: Buffer.alloc(0),
      stdinBytes: 0,
      exitCode: undefined,
      outcome: undefined,
      closedByClient: false,
      finished: false,
    };
    this.records.push(record);
    const aborter = new AbortController();
    const stdin = new PassThrough();
    const received: Buffer[] = [];
    if (!request.stdin) stdin.end();

    ws.on("message", (data, isBinary) => {
      const frame = toBuffer(data, isBinary);
      if (frame.length === 0) return;
      const channel = frame[0];
      if (channel === STDIN && request.stdin && !stdin.writableEnded) {
        const chunk = frame.subarray(1);
        record.stdinBytes += chunk.length;
        if (record.stdin.length < RECORDED_STDIN_BYTES) {
          received.push(chunk.subarray(0, RECORDED_STDIN_BYTES - record.stdin.length));
          record.stdin = Buffer.concat(received);
        }
        // Backpressure, as a container's pipe gives: stop reading the socket until the command
        // has taken what it was sent.
        if (!stdin.write(chunk)) {
          ws.pause();
          stdin.once("drain", () => ws.resume());
        }
      } else if (channel === CLOSE && frame[1] === STDIN && request.protocol === EXEC_PROTOCOL_V5) {
        if (!stdin.writableEnded) stdin.end();
      }
      // Resize (4) and anything else: nothing to do for a command without a terminal.
    });
    ws.on("close", () => {
      this.sockets.delete(ws);
      if (!record.finished) {
        record.closedByClient = true;
        aborter.abort(new Error("the exec connection closed"));
      }
      if (!stdin.writableEnded) stdin.end();
      this.onChange();
    });
    ws.on("error", () => undefined);

    const channelWriter = (channel: number, wanted: boolean) =>
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          if (!wanted || ws.readyState !== ws.OPEN || chunk.length === 0) return callback();
          ws.send(Buffer.concat([Buffer.from([channel]), chunk]), { binary: true }, () =>
            callback(),
          );
        },
      });
    const stdout = channelWriter(STDOUT, request.stdout);
    const stderr = channelWriter(STDERR, request.stderr);

    const registration =
      this.registrations.find((r) => matches(r.match, request)) ??
      (this.fallback ? { match: { command: () => true }, handler: this.fallback } : undefined);
    const finish = async (status: JsonObject, exitCode: number | undefined) => {
      await Promise.all([endWritable(stdout), endWritable(stderr)]);
      record.finished = true;
      record.exitCode = exitCode;
      record.outcome =
        status.status === "Success" ? "Success" : String(status.message ?? status.status);
      if (ws.readyState === ws.OPEN) {
        ws.send(Buffer.concat([Buffer.from([STATUS]), Buffer.from(JSON.stringify(status))]), {
          binary: true,
        });
        ws.close(1000);
      }
      this.onChange();
    };

    if (!registration) {
      const message = `OCI runtime exec failed: exec failed: unable to start container process: exec: "${request.command[0]}": executable file not found in $PATH: unknown`;
      void finish(failureStatus(message, "InternalError", [{ message }], 500), undefined);
      return;
    }
    const session: ExecSession = {
      pod: request.pod,
      container: request.container,
      command: request.command,
      protocol: request.protocol,
      stdin,
      stdout,
      stderr,
      signal: aborter.signal,
    };
    this.onChange();
    Promise.resolve()
      .then(() => registration.handler(session))
      .then(
        (code) => {
          const exitCode = code ?? 0;
          return finish(
            exitCode === 0
              ? { metadata: {}, status: "Success" }
              : failureStatus(
                  `command terminated with non-zero exit code: error executing command [${request.command.join(" ")}], exit code ${exitCode}`,
                  "NonZeroExitCode",
                  [{ reason: "ExitCode", message: String(exitCode) }],
                ),
            exitCode,
          );
        },
        (err: unknown) => {
          if (err instanceof MissingExecutableError) {
            const message = `OCI runtime exec failed: exec failed: unable to start container process: ${err.message}: unknown`;
            return finish(failureStatus(message, "InternalError", [{ message }], 500), undefined);
          }
          const message = `error executing command [${request.command.join(" ")}]: ${err instanceof Error ? err.message : String(err)}`;
          return finish(failureStatus(message, "InternalError", [{ message }], 500), undefined);
        },
      )
      .catch(() => undefined);
  }
}

interface UpgradeRequest extends IncomingMessage {
  chosenProtocol?: ExecProtocol;
}

function matches(
  match: ExecMatch,
  request: { pod: string; container: string; command: readonly string[] },
): boolean {
  if (typeof match.pod === "string" && match.pod !== request.pod) return false;
  if (match.pod instanceof RegExp && !match.pod.test(request.pod)) return false;
  if (match.container !== undefined && match.container !== request.container) return false;
  if (typeof match.command === "function") return match.command(request.command);
  return (
    match.command.length === request.command.length &&
    match.command.every((arg, i) => arg === request.command[i])
  );
}

function failureStatus(
  message: string,
  reason: string,
  causes: JsonObject[],
  code?: number,
): JsonObject {
  return {
    metadata: {},
    status: "Failure",
    message,
    reason,
    details: { causes },
    ...(code === undefined ? {} : { code }),
  };
}

function toBuffer(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): Buffer {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  // Text frames carry the channel as their first character, as client-node reads them too.
  return isBinary ? data : Buffer.from(data.toString("utf8"), "utf8");
}

function endWritable(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    if (stream.writableFinished) return resolve();
    stream.once("finish", () => resolve());
    stream.once("error", () => resolve());
    if (!stream.writableEnded) stream.end();
  });
}

/** Answers a rejected upgrade on the raw socket, as the API server does before switching. */
export function rejectUpgrade(socket: Duplex, status: number, body: JsonObject): void {
  const text = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? "Error"}\r\n` +
      "Content-Type: application/json\r\n" +
      `Content-Length: ${Buffer.byteLength(text)}\r\n` +
      "Connection: close\r\n\r\n" +
      text,
  );
}

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
};

// ---- logs -----------------------------------------------------------------------------------

interface Follower {
  pod: string;
  container: string;
  res: ServerResponse;
}

/**
 * Container logs: what tests (or the demo) write for a pod's container, served by
 * `GET …/pods/{name}/log` with `container`, `tailLines` and `follow`. A followed log streams
 * what is written later and ends when the pod is deleted (its containers stop), as kubectl
 * logs -f does. A pod's logs go with it: a replacement with the same name starts empty.
 */
export class PodLogs {
  private readonly logs = new Map<string, Map<string, string>>();
  private readonly followers = new Set<Follower>();

  write(pod: string, container: string, text: string): void {
    let byContainer = this.logs.get(pod);
    if (!byContainer) {
      byContainer = new Map();
      this.logs.set(pod, byContainer);
    }
    byContainer.set(container, (byContainer.get(container) ?? "") + text);
    for (const f of this.followers) {
      if (f.pod === pod && f.container === container) f.res.write(text);
    }
  }

  /** Serves one log request for a pod that exists. Returns the HTTP status. */
  serve(pod: PodView, query: URLSearchParams, res: ServerResponse): number {
    const container = resolveContainer(pod, query.get("container"));
    if (pod.phase === "Pending") {
      throw new PodIoError(
        400,
        `container "${container}" in pod "${pod.name}" is waiting to start: ContainerCreating`,
        "BadRequest",
      );
    }
    const tailParam = query.get("tailLines");
    const tail = tailParam === null ? undefined : Number(tailParam);
    if (tail !== undefined && (!Number.isInteger(tail) || tail < 0)) {
      throw new PodIoError(
        400,
        `tailLines must be a non-negative integer (got "${tailParam}")`,
        "BadRequest",
      );
    }
    const all = this.logs.get(pod.name)?.get(container) ?? "";
    res.writeHead(200, { "Content-Type": "text/plain", "Transfer-Encoding": "chunked" });
    // Headers go now, as the API server sends them: a client following an empty log is waiting.
    res.flushHeaders();
    const existing = tail === undefined ? all : lastLines(all, tail);
    if (existing) res.write(existing);
    if (query.get("follow") !== "true" || pod.ended) {
      res.end();
      return 200;
    }
    const follower: Follower = { pod: pod.name, container, res };
    this.followers.add(follower);
    res.once("close", () => this.followers.delete(follower));
    return 200;
  }

  /** The pod is gone: followed logs end, and its logs are dropped. */
  podDeleted(pod: string): void {
    this.logs.delete(pod);
    for (const f of [...this.followers]) {
      if (f.pod !== pod) continue;
      this.followers.delete(f);
      f.res.end();
    }
  }

  /** The pod's containers stopped: followed logs end (the logs stay readable). */
  containersEnded(pod: string): void {
    for (const f of [...this.followers]) {
      if (f.pod !== pod) continue;
      this.followers.delete(f);
      f.res.end();
    }
  }

  followerCount(): number {
    return this.followers.size;
  }

  closeAll(): void {
    for (const f of this.followers) f.res.end();
    this.followers.clear();
  }
}

function lastLines(text: string, count: number): string {
  if (count === 0) return "";
  const lines = text.split("\n");
  // A final newline ends the last line; it does not start another.
  const trailing = lines.at(-1) === "";
  if (trailing) lines.pop();
  const kept = lines.slice(-count).join("\n");
  return trailing ? `${kept}\n` : kept;
}
