import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { blockProblems, MESSAGE_MAX_BLOCKS, type SlackBlock } from "./block-kit-limits.js";
import {
  type MethodContext,
  type SlackArgs,
  type SlackResponseBody,
  WEB_API_METHODS,
} from "./fake-slack-methods.js";
import {
  type FakeSlackBot,
  type FakeSlackTeam,
  type FakeSlackUser,
  FakeSlackWorkspace,
  type MessageContent,
  type StoredEphemeral,
  type StoredMessage,
  type StoredView,
} from "./fake-slack-workspace.js";

export type { SlackBlock } from "./block-kit-limits.js";
export type { SlackArgs, SlackResponseBody } from "./fake-slack-methods.js";
export type {
  EphemeralSource,
  FakeSlackBot,
  FakeSlackTeam,
  FakeSlackUser,
  MessageContent,
  MessageRevision,
  MessageSource,
  StoredEphemeral,
  StoredMessage,
  StoredView,
  ViewRevision,
  ViewSource,
} from "./fake-slack-workspace.js";

/**
 * A local Slack Web API for tests, benchmarks and the demo console. Point `WebClient` (or Bolt's
 * `clientOptions`) at `fake.apiUrl`; every call is answered from an in-memory workspace and
 * recorded, and faults (429 with Retry-After, 5xx, error codes, dropped connections, latency)
 * can be injected per method. See README.md in this folder.
 */

export const FAKE_BOT_TOKEN = "xoxb-0000000000-fake-restorebot";
export const FAKE_TEAM: FakeSlackTeam = {
  id: "T0FAKE0001",
  name: "Fake Workspace",
  domain: "fake",
};
export const FAKE_BOT: FakeSlackBot = {
  userId: "U0FAKEBOT1",
  botId: "B0FAKEBOT1",
  appId: "A0FAKEAPP1",
  name: "restorebot",
};

export interface FakeSlackApiOptions {
  /** Interface to listen on; 127.0.0.1 so nothing outside the machine can reach it. */
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Tokens accepted as `Authorization: Bearer …` (or a `token` form field). */
  tokens?: readonly string[];
  team?: FakeSlackTeam;
  bot?: FakeSlackBot;
  /** People `users.info` knows; other well-formed IDs get a generated profile. */
  users?: readonly FakeSlackUser[];
  /** User groups (`S…` → member user IDs) for `usergroups.users.list`. */
  userGroups?: Readonly<Record<string, readonly string[]>>;
  /** When given, only these channels (and opened DMs) exist; otherwise any C…/G…/D… ID does. */
  channels?: readonly string[];
  /** Delay before answering, per method name, or "*" for all (and "response_url"). */
  latencyMs?: Readonly<Record<string, number>>;
  /** How long an issued trigger_id stays valid; Slack's is 3 s. */
  triggerIdTtlMs?: number;
}

/**
 * A fault to inject into the next call(s) of a method:
 * - `{ status: 429, retryAfterSeconds }` — rate limited, with a `Retry-After` header (default 1 s);
 * - `{ status: 500 }` (any non-200) — an HTTP error with no Slack body;
 * - `{ error: "channel_not_found" }` — HTTP 200 with `ok: false`, as Slack reports API errors;
 * - `{ disconnect: true }` — the connection is dropped without an answer.
 */
export type FakeSlackFault =
  | { status: number; retryAfterSeconds?: number }
  | { error: string; extra?: Record<string, unknown> }
  | { disconnect: true };

/** A fault plus how many consecutive calls it applies to (default 1). */
export type FakeSlackFaultSpec = FakeSlackFault & { times?: number };

export interface RecordedCall {
  /** Position in the event log, shared with responses; strictly increasing. */
  seq: number;
  method: string;
  /** Decoded arguments (blocks, view, … parsed from their JSON strings); the token is removed. */
  args: SlackArgs;
  /** How the arguments arrived. */
  encoding: "form" | "json" | "query" | "none";
  /** Epoch milliseconds when the request arrived. */
  time: number;
  durationMs: number;
  /** 0 when the connection was dropped by an injected fault. */
  httpStatus: number;
  /** The JSON answer; null when there was none (HTTP error or dropped connection). */
  response: SlackResponseBody | null;
  fault?: FakeSlackFault;
}

export type ResponseUrlSource = "slash_command" | "block_actions" | "view_submission" | "other";

/** Where a response URL points: what Slack would do with a POST to it. */
export interface ResponseUrlContext {
  channel?: string;
  user?: string;
  /** The message the interaction came from; makes `replace_original`/`delete_original` work. */
  messageTs?: string;
  source?: ResponseUrlSource;
}

/** What a response URL POST did to the workspace. */
export type ResponseEffect =
  | "posted_ephemeral"
  | "posted_in_channel"
  | "replaced_original"
  | "deleted_original"
  | "original_not_found"
  | "recorded_only"
  | "rejected";

export interface ResponseUrlBody {
  text?: string;
  blocks?: SlackBlock[];
  attachments?: unknown[];
  response_type?: "ephemeral" | "in_channel";
  replace_original?: boolean;
  delete_original?: boolean;
  thread_ts?: string;
  [key: string]: unknown;
}

export interface RecordedResponse {
  seq: number;
  responseUrlId: string;
  url: string;
  time: number;
  httpStatus: number;
  /** The JSON body as posted; `{}` when it was not JSON (then `effect` is "rejected"). */
  body: ResponseUrlBody;
  context: ResponseUrlContext;
  effect: ResponseEffect;
  /** The message posted or changed, when there is one. */
  messageTs?: string;
  /** Why the POST was refused, when it was. */
  error?: string;
  fault?: FakeSlackFault;
}

export type FakeSlackEvent =
  | { kind: "call"; seq: number; call: RecordedCall }
  | { kind: "response"; seq: number; response: RecordedResponse };

export interface FakeSlackEventMap {
  call: RecordedCall;
  response: RecordedResponse;
  /** Every call and response, in order. */
  event: FakeSlackEvent;
}

export interface WaitOptions {
  /** Default 5000 ms. */
  timeoutMs?: number;
  /** Only consider events after this cursor (see `cursor()`). */
  since?: number;
  /** Names what is awaited in the timeout error. */
  label?: string;
}

/** Everything the fake holds, as plain data (for a UI or a failure dump). */
export interface FakeSlackSnapshot {
  channels: Record<string, StoredMessage[]>;
  ephemerals: StoredEphemeral[];
  views: StoredView[];
  calls: RecordedCall[];
  responses: RecordedResponse[];
}

interface Waiter {
  check(): void;
  abort(error: Error): void;
}

interface DecodedArgs {
  args: SlackArgs;
  encoding: RecordedCall["encoding"];
  /** A Slack error when the body could not be decoded. */
  error?: SlackResponseBody;
}

/** Form fields Slack decodes as JSON; WebClient sends objects in these as JSON strings. */
const JSON_FORM_FIELDS = new Set(["blocks", "attachments", "view", "metadata"]);
const MAX_BODY_BYTES = 5 * 1024 * 1024;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error("request body too large"));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function decodeForm(params: URLSearchParams, encoding: "form" | "query"): DecodedArgs {
  const args: SlackArgs = {};
  for (const [key, value] of params) {
    if (!JSON_FORM_FIELDS.has(key)) {
      args[key] = value;
      continue;
    }
    try {
      args[key] = JSON.parse(value);
    } catch {
      args[key] = value;
      const error: SlackResponseBody =
        key === "blocks"
          ? { ok: false, error: "invalid_blocks_format" }
          : {
              ok: false,
              error: "invalid_arguments",
              response_metadata: { messages: [`[ERROR] invalid JSON [json-pointer:/${key}]`] },
            };
      return { args, encoding, error };
    }
  }
  return { args, encoding };
}

function decodeArgs(req: IncomingMessage, raw: string, url: URL): DecodedArgs {
  const type = (req.headers["content-type"] ?? "").toLowerCase();
  if (req.method === "GET") return decodeForm(url.searchParams, "query");
  if (raw.length === 0) return { args: {}, encoding: "none" };
  if (type.startsWith("application/json")) {
    try {
      const parsed: unknown = JSON.parse(raw);
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
        return { args: parsed as SlackArgs, encoding: "json" };
      }
    } catch {
      // fall through to Slack's answer for a body it cannot read
    }
    return { args: {}, encoding: "json", error: { ok: false, error: "invalid_json" } };
  }
  if (type.startsWith("multipart/form-data")) {
    return {
      args: {},
      encoding: "form",
      error: { ok: false, error: "not_implemented_in_fake", detail: "multipart uploads" },
    };
  }
  return decodeForm(new URLSearchParams(raw), "form");
}

function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  return match?.[1];
}

function describeEvent(event: FakeSlackEvent): string {
  if (event.kind === "call") {
    const { method, response, httpStatus } = event.call;
    const outcome = response ? (response.ok ? "ok" : String(response.error)) : `HTTP ${httpStatus}`;
    return `#${event.seq} ${method} → ${outcome}`;
  }
  return `#${event.seq} response_url ${event.response.responseUrlId} → ${event.response.effect}`;
}

function copy<T>(value: T): T {
  return structuredClone(value);
}

export class FakeSlackApi {
  private readonly options: FakeSlackApiOptions;
  private workspace: FakeSlackWorkspace;
  private readonly tokens: Set<string>;
  private socketModeUrl: (() => string) | undefined;
  private readonly emitter = new EventEmitter();
  private readonly waiters = new Set<Waiter>();
  private log: FakeSlackEvent[] = [];
  private seq = 0;
  private faults = new Map<string, Array<{ fault: FakeSlackFault; remaining: number }>>();
  private latency = new Map<string, number>();
  private responseUrls = new Map<string, ResponseUrlContext>();
  private server: Server | undefined;
  private baseUrl: string | undefined;

  constructor(options: FakeSlackApiOptions = {}) {
    this.options = options;
    this.tokens = new Set(options.tokens ?? [FAKE_BOT_TOKEN]);
    this.workspace = this.newWorkspace();
    this.latency = new Map(Object.entries(options.latencyMs ?? {}));
    // A UI may subscribe many listeners; the default limit of 10 would only warn.
    this.emitter.setMaxListeners(0);
  }

  private newWorkspace(): FakeSlackWorkspace {
    return new FakeSlackWorkspace(this.options.team ?? FAKE_TEAM, this.options.bot ?? FAKE_BOT, {
      ...(this.options.users ? { users: this.options.users } : {}),
      ...(this.options.userGroups ? { userGroups: this.options.userGroups } : {}),
      ...(this.options.channels ? { channels: this.options.channels } : {}),
    });
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  async start(): Promise<{ url: string; apiUrl: string }> {
    if (this.server) throw new Error("fake Slack API already started");
    const server = createServer((req, res) => {
      this.route(req, res).catch((error: unknown) => {
        // A bug in the fake itself: answer loudly so the test shows it, never hang the client.
        if (!res.headersSent && !res.destroyed) {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end(`fake Slack API failure: ${String(error)}`);
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      // Once started, the same port again (see `reachable()`).
      const port = this.options.port ?? (this.baseUrl ? Number(new URL(this.baseUrl).port) : 0);
      server.listen(port, this.options.host ?? "127.0.0.1", () => resolve());
    });
    const address = server.address() as AddressInfo;
    const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
    this.server = server;
    this.baseUrl = `http://${host}:${address.port}`;
    return { url: this.url, apiUrl: this.apiUrl };
  }

  async close(): Promise<void> {
    for (const waiter of [...this.waiters]) waiter.abort(new Error("fake Slack API closed"));
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    // Keep-alive sockets from WebClient would otherwise hold close() open.
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * Slack unreachable: stops accepting connections and drops open ones (clients get
   * ECONNREFUSED), keeping everything recorded. `reachable()` listens again on the same port.
   */
  async unreachable(): Promise<void> {
    const server = this.server;
    if (!server) throw new Error("fake Slack API not started; call start() first");
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Back after `unreachable()`, on the same address. */
  async reachable(): Promise<void> {
    if (this.server) return;
    // Same workspace, recordings and faults: only the listening socket is new.
    await this.start();
  }

  /** `http://127.0.0.1:<port>`. */
  get url(): string {
    if (!this.baseUrl) throw new Error("fake Slack API not started; call start() first");
    return this.baseUrl;
  }

  /** The value for WebClient's `slackApiUrl` (with the trailing slash WebClient expects). */
  get apiUrl(): string {
    return `${this.url}/api/`;
  }

  /** Forgets every message, view, recording and fault; configured users and groups come back. */
  reset(): void {
    for (const waiter of [...this.waiters]) waiter.abort(new Error("fake Slack API reset"));
    this.workspace = this.newWorkspace();
    this.log = [];
    this.faults = new Map();
    this.latency = new Map(Object.entries(this.options.latencyMs ?? {}));
    this.responseUrls = new Map();
  }

  // ---- configuration at run time ----------------------------------------------------------------

  /** Makes the next `times` (default 1) calls of `method` ("*" for any) fail with `fault`. */
  failNext(method: string, spec: FakeSlackFaultSpec): void {
    const { times = 1, ...fault } = spec;
    const queue = this.faults.get(method) ?? [];
    queue.push({ fault: fault as FakeSlackFault, remaining: times });
    this.faults.set(method, queue);
  }

  clearFaults(): void {
    this.faults = new Map();
  }

  /** Delays answers to `method` ("*" for every method, "response_url" for response URLs). */
  setLatency(method: string, ms: number): void {
    if (ms <= 0) this.latency.delete(method);
    else this.latency.set(method, ms);
  }

  setUser(user: FakeSlackUser): void {
    this.workspace.setUser(user);
  }

  setUserGroup(id: string, members: readonly string[]): void {
    this.workspace.setUserGroup(id, members);
  }

  /** A response URL on this server, as Slack puts in slash commands and interactions. */
  /**
   * Answers `apps.connections.open` with URLs from a Socket Mode server (see
   * `fake-socket-mode.ts`); `appToken` (xapp-…) becomes an accepted token.
   */
  attachSocketMode(appToken: string, newConnectionUrl: () => string): void {
    this.tokens.add(appToken);
    this.socketModeUrl = newConnectionUrl;
  }

  newResponseUrl(context: ResponseUrlContext = {}): string {
    const id = randomBytes(9).toString("base64url");
    this.responseUrls.set(id, { ...context });
    return `${this.url}/response/${id}`;
  }

  /** A trigger_id that `views.open` accepts once, within `triggerIdTtlMs` (3 s, as Slack). */
  newTriggerId(context: { viewId?: string } = {}): string {
    return this.workspace.issueTrigger(context.viewId).id;
  }

  // ---- queries --------------------------------------------------------------------------------

  /** Recorded Web API calls, oldest first, optionally of one method. */
  calls(method?: string): RecordedCall[] {
    return this.log
      .flatMap((e) => (e.kind === "call" ? [e.call] : []))
      .filter((c) => method === undefined || c.method === method);
  }

  /** Current messages of a channel (top level and replies) in ts order, with edit history. */
  messages(channel: string, options: { includeDeleted?: boolean } = {}): StoredMessage[] {
    return copy(this.workspace.messages(channel, options.includeDeleted === true));
  }

  message(channel: string, ts: string): StoredMessage | undefined {
    const message = this.workspace.message(channel, ts);
    return message ? copy(message) : undefined;
  }

  /** A thread: the parent first, then its replies in order. `ts` may be the parent or a reply. */
  thread(channel: string, ts: string): StoredMessage[] {
    const start = this.workspace.message(channel, ts);
    const parentTs = start?.threadTs ?? ts;
    return copy(
      this.workspace.messages(channel).filter((m) => m.ts === parentTs || m.threadTs === parentTs),
    );
  }

  /** Channels that have at least one message. */
  channels(): string[] {
    return this.workspace.channelsWithMessages();
  }

  ephemerals(channel?: string, user?: string): StoredEphemeral[] {
    return copy(this.workspace.ephemerals(channel, user));
  }

  views(): StoredView[] {
    return copy(this.workspace.views());
  }

  view(id: string): StoredView | undefined {
    const view = this.workspace.view(id);
    return view ? copy(view) : undefined;
  }

  /** POSTs to response URLs, oldest first, optionally for one URL (its id or the whole URL). */
  responses(responseUrlId?: string): RecordedResponse[] {
    const id = responseUrlId?.split("/").pop();
    return this.log
      .flatMap((e) => (e.kind === "response" ? [e.response] : []))
      .filter((r) => id === undefined || r.responseUrlId === id);
  }

  events(): FakeSlackEvent[] {
    return [...this.log];
  }

  /** The seq of the latest event; pass it as `since` to wait only for what happens next. */
  cursor(): number {
    return this.seq;
  }

  snapshot(): FakeSlackSnapshot {
    const channels: Record<string, StoredMessage[]> = {};
    for (const channel of this.channels()) channels[channel] = this.messages(channel);
    return {
      channels,
      ephemerals: this.ephemerals(),
      views: this.views(),
      calls: copy(this.calls()),
      responses: copy(this.responses()),
    };
  }

  // ---- streaming and waiting --------------------------------------------------------------------

  on<K extends keyof FakeSlackEventMap>(
    name: K,
    listener: (payload: FakeSlackEventMap[K]) => void,
  ): this {
    this.emitter.on(name, listener);
    return this;
  }

  off<K extends keyof FakeSlackEventMap>(
    name: K,
    listener: (payload: FakeSlackEventMap[K]) => void,
  ): this {
    this.emitter.off(name, listener);
    return this;
  }

  /**
   * Resolves with the first event (already recorded or still to come) that satisfies
   * `predicate`; rejects after `timeoutMs` naming what was awaited and the latest events.
   */
  waitFor<T extends FakeSlackEvent>(
    predicate: (event: FakeSlackEvent) => event is T,
    options?: WaitOptions,
  ): Promise<T>;
  waitFor(
    predicate: (event: FakeSlackEvent) => boolean,
    options?: WaitOptions,
  ): Promise<FakeSlackEvent>;
  waitFor(
    predicate: (event: FakeSlackEvent) => boolean,
    options: WaitOptions = {},
  ): Promise<FakeSlackEvent> {
    const since = options.since ?? 0;
    let scanned = 0;
    return this.waitUntil(
      () => {
        // Each event is offered to the predicate once.
        while (scanned < this.log.length) {
          const event = this.log[scanned++] as FakeSlackEvent;
          if (event.seq > since && predicate(event)) return event;
        }
        return undefined;
      },
      options.label ?? "an event matching the predicate",
      options.timeoutMs,
    );
  }

  /** The first call of `method` (optionally matching `predicate`). */
  async waitForCall(
    method: string,
    predicate: (call: RecordedCall) => boolean = () => true,
    options: WaitOptions = {},
  ): Promise<RecordedCall> {
    const event = await this.waitFor(
      (e): e is Extract<FakeSlackEvent, { kind: "call" }> =>
        e.kind === "call" && e.call.method === method && predicate(e.call),
      { label: `a ${method} call`, ...options },
    );
    return event.call;
  }

  /** The first POST to a response URL (optionally matching `predicate`). */
  async waitForResponse(
    predicate: (response: RecordedResponse) => boolean = () => true,
    options: WaitOptions = {},
  ): Promise<RecordedResponse> {
    const event = await this.waitFor(
      (e): e is Extract<FakeSlackEvent, { kind: "response" }> =>
        e.kind === "response" && predicate(e.response),
      { label: "a response URL POST", ...options },
    );
    return event.response;
  }

  /**
   * Resolves when a message of `channel`, in its current state, satisfies `predicate` — e.g. the
   * approval card once it shows "Approved". Re-checked after every event.
   */
  waitForMessage(
    channel: string,
    predicate: (message: StoredMessage) => boolean,
    options: Omit<WaitOptions, "since"> = {},
  ): Promise<StoredMessage> {
    return this.waitUntil(
      () => {
        const found = this.workspace.messages(channel).find((m) => predicate(copy(m)));
        return found ? copy(found) : undefined;
      },
      options.label ?? `a message in ${channel} matching the predicate`,
      options.timeoutMs,
    );
  }

  private waitUntil<T>(probe: () => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      const waiter: Waiter = {
        check: () => {
          try {
            const value = probe();
            if (value !== undefined) {
              finish();
              resolve(value);
            }
          } catch (error) {
            finish();
            reject(error);
          }
        },
        abort: (error) => {
          finish();
          reject(error);
        },
      };
      this.waiters.add(waiter);
      timer = setTimeout(() => {
        const recent = this.log.slice(-8).map(describeEvent).join("; ") || "none";
        waiter.abort(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}; latest events: ${recent}`,
          ),
        );
      }, timeoutMs);
      waiter.check();
    });
  }

  private record(event: FakeSlackEvent): void {
    this.log.push(event);
    for (const waiter of [...this.waiters]) waiter.check();
    if (event.kind === "call") this.emitter.emit("call", event.call);
    else this.emitter.emit("response", event.response);
    this.emitter.emit("event", event);
  }

  // ---- HTTP ---------------------------------------------------------------------------------------

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (url.pathname.startsWith("/api/") && (req.method === "POST" || req.method === "GET")) {
      await this.handleApiCall(
        req,
        res,
        decodeURIComponent(url.pathname.slice("/api/".length)),
        url,
      );
      return;
    }
    const responseMatch = /^\/response\/([^/]+)$/.exec(url.pathname);
    if (responseMatch?.[1] && req.method === "POST") {
      await this.handleResponseUrl(req, res, responseMatch[1]);
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found");
  }

  private takeFault(method: string): FakeSlackFault | undefined {
    for (const key of [method, "*"]) {
      const queue = this.faults.get(key);
      const head = queue?.[0];
      if (!queue || !head) continue;
      head.remaining -= 1;
      if (head.remaining <= 0) queue.shift();
      return head.fault;
    }
    return undefined;
  }

  private latencyFor(method: string): number {
    return this.latency.get(method) ?? this.latency.get("*") ?? 0;
  }

  private async handleApiCall(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    url: URL,
  ): Promise<void> {
    const time = Date.now();
    const raw = await readBody(req);
    const decoded = decodeArgs(req, raw, url);
    // Slack reads a token from the header, or from the form body (never from a JSON body).
    const formToken = decoded.encoding === "json" ? undefined : decoded.args.token;
    const token = bearerToken(req) ?? (typeof formToken === "string" ? formToken : undefined);
    delete decoded.args.token;

    const fault = this.takeFault(method);
    const delay = this.latencyFor(method);
    if (delay > 0) await sleep(delay);

    const base = { method, args: decoded.args, encoding: decoded.encoding, time };
    const finish = (httpStatus: number, response: SlackResponseBody | null): void => {
      const seq = ++this.seq;
      const call: RecordedCall = {
        seq,
        ...base,
        durationMs: Date.now() - time,
        httpStatus,
        response,
        ...(fault ? { fault } : {}),
      };
      this.record({ kind: "call", seq, call });
    };

    if (fault && "disconnect" in fault) {
      finish(0, null);
      req.socket.destroy();
      return;
    }
    if (fault && "status" in fault) {
      if (fault.status === 429) {
        const retryAfter = fault.retryAfterSeconds ?? 1;
        const body: SlackResponseBody = { ok: false, error: "ratelimited" };
        finish(429, body);
        this.sendJson(res, 429, body, { "retry-after": String(retryAfter) });
      } else {
        finish(fault.status, null);
        if (!res.destroyed) {
          res.writeHead(fault.status, { "content-type": "text/html" });
          res.end(`<html><body>HTTP ${fault.status}</body></html>`);
        }
      }
      return;
    }

    let body: SlackResponseBody;
    if (fault && "error" in fault) {
      body = { ok: false, error: fault.error, ...fault.extra };
    } else {
      body = this.dispatch(method, decoded, token);
    }
    finish(200, body);
    this.sendJson(res, 200, body);
  }

  private dispatch(
    method: string,
    decoded: DecodedArgs,
    token: string | undefined,
  ): SlackResponseBody {
    if (method === "apps.connections.open" && this.socketModeUrl) {
      // Socket Mode is opened with the app-level token (xapp-…), never the bot token.
      if (token === undefined) return { ok: false, error: "not_authed" };
      if (!token.startsWith("xapp-") || !this.tokens.has(token))
        return { ok: false, error: "invalid_auth" };
      return { ok: true, url: this.socketModeUrl() };
    }
    const handler = WEB_API_METHODS.get(method);
    if (!handler) return { ok: false, error: "unknown_method", req_method: method };
    if (token === undefined) return { ok: false, error: "not_authed" };
    if (!this.tokens.has(token)) return { ok: false, error: "invalid_auth" };
    if (decoded.error) return decoded.error;
    const ctx: MethodContext = {
      workspace: this.workspace,
      now: Date.now(),
      triggerTtlMs: this.options.triggerIdTtlMs ?? 3000,
    };
    return handler(decoded.args, ctx);
  }

  private sendJson(
    res: ServerResponse,
    status: number,
    body: SlackResponseBody,
    headers: Record<string, string> = {},
  ): void {
    if (res.destroyed) return;
    res.writeHead(status, {
      "content-type": "application/json; charset=utf-8",
      "x-slack-req-id": randomBytes(16).toString("hex"),
      ...headers,
    });
    res.end(JSON.stringify(body));
  }

  private async handleResponseUrl(
    req: IncomingMessage,
    res: ServerResponse,
    id: string,
  ): Promise<void> {
    const time = Date.now();
    const raw = await readBody(req);
    const context = this.responseUrls.get(id);
    if (!context) {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("no_such_response_url");
      return;
    }
    const fault = this.takeFault("response_url");
    const delay = this.latencyFor("response_url");
    if (delay > 0) await sleep(delay);

    const url = `${this.url}/response/${id}`;
    const finish = (
      httpStatus: number,
      body: ResponseUrlBody,
      outcome: Pick<RecordedResponse, "effect" | "messageTs" | "error">,
    ): void => {
      const seq = ++this.seq;
      const response: RecordedResponse = {
        seq,
        responseUrlId: id,
        url,
        time,
        httpStatus,
        body,
        context: { ...context },
        ...outcome,
        ...(fault ? { fault } : {}),
      };
      this.record({ kind: "response", seq, response });
    };
    const sendText = (status: number, text: string, headers: Record<string, string> = {}): void => {
      if (res.destroyed) return;
      res.writeHead(status, { "content-type": "text/plain", ...headers });
      res.end(text);
    };

    let body: ResponseUrlBody = {};
    try {
      const parsed: unknown = JSON.parse(raw);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error();
      body = parsed as ResponseUrlBody;
    } catch {
      finish(400, {}, { effect: "rejected", error: "invalid_payload" });
      sendText(400, "invalid_payload");
      return;
    }

    if (fault && "disconnect" in fault) {
      finish(0, body, { effect: "rejected", error: "disconnected" });
      req.socket.destroy();
      return;
    }
    if (fault && "status" in fault) {
      finish(fault.status, body, { effect: "rejected", error: `HTTP ${fault.status}` });
      const headers: Record<string, string> =
        fault.status === 429 ? { "retry-after": String(fault.retryAfterSeconds ?? 1) } : {};
      sendText(fault.status, fault.status === 429 ? "rate_limited" : "server_error", headers);
      return;
    }
    if (fault && "error" in fault) {
      finish(400, body, { effect: "rejected", error: fault.error });
      sendText(400, fault.error);
      return;
    }
    if (body.blocks !== undefined) {
      const problems = blockProblems(body.blocks, MESSAGE_MAX_BLOCKS);
      if (problems.length > 0) {
        finish(400, body, { effect: "rejected", error: "invalid_blocks" });
        sendText(400, "invalid_blocks");
        return;
      }
    }
    finish(200, body, this.applyResponse(body, context));
    sendText(200, "ok");
  }

  /** What Slack does with a response URL POST, applied to the workspace. */
  private applyResponse(
    body: ResponseUrlBody,
    context: ResponseUrlContext,
  ): Pick<RecordedResponse, "effect" | "messageTs"> {
    const { channel, user, messageTs } = context;
    const content: Partial<MessageContent> = {};
    if (typeof body.text === "string") content.text = body.text;
    if (Array.isArray(body.blocks)) content.blocks = body.blocks;
    if (Array.isArray(body.attachments)) content.attachments = body.attachments;

    if (body.delete_original === true || body.replace_original === true) {
      if (channel === undefined || messageTs === undefined) return { effect: "original_not_found" };
      if (body.delete_original === true) {
        return this.workspace.deleteMessage(channel, messageTs)
          ? { effect: "deleted_original", messageTs }
          : { effect: "original_not_found" };
      }
      // A replacement is the whole new message: omitted blocks are gone, unlike chat.update.
      const replaced = this.workspace.updateMessage(
        channel,
        messageTs,
        {
          text: content.text ?? "",
          blocks: content.blocks ?? [],
          attachments: content.attachments ?? [],
        },
        "response_url",
      );
      return replaced
        ? { effect: "replaced_original", messageTs }
        : { effect: "original_not_found" };
    }
    if (channel === undefined) return { effect: "recorded_only" };
    const full: MessageContent = {
      text: content.text ?? "",
      blocks: content.blocks ?? [],
      attachments: content.attachments ?? [],
    };
    const threadTs = typeof body.thread_ts === "string" ? body.thread_ts : undefined;
    if (body.response_type === "in_channel") {
      const posted = this.workspace.postMessage(channel, full, {
        ...(threadTs ? { threadTs } : {}),
        via: "response_url",
      });
      return { effect: "posted_in_channel", messageTs: posted.ts };
    }
    if (user === undefined) return { effect: "recorded_only" };
    const ephemeral = this.workspace.postEphemeral(channel, user, full, {
      ...(threadTs ? { threadTs } : {}),
      via: "response_url",
    });
    return { effect: "posted_ephemeral", messageTs: ephemeral.messageTs };
  }
}

/** Creates and starts a fake in one step. */
export async function startFakeSlackApi(options: FakeSlackApiOptions = {}): Promise<FakeSlackApi> {
  const fake = new FakeSlackApi(options);
  await fake.start();
  return fake;
}
