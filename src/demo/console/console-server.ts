import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { ClusterSnapshot, SimEvent } from "../../../stand-ins/kubernetes/index.js";
import {
  FAKE_BOT,
  type FakeSlackApi,
  type FakeSlackEvent,
  type SlackBlock,
} from "../../../stand-ins/slack/fake-slack-api.js";
import type {
  SlackRequestSender,
  SlackSendResult,
  ViewStateValues,
} from "../../../stand-ins/slack/signer.js";
import type { Logger } from "../../logging/logger.js";
import type { DemoUser } from "../demo-settings.js";
import type { Rehearsal } from "../rehearsal.js";
import { buildSlackState, type LocalEphemeral, localTs } from "./console-state.js";

/**
 * The web console's server: the single-page app (static files, no build step) and a small
 * JSON + Server-Sent Events API. It stands in for Slack's client and servers only: a command
 * or a click becomes the signed request Slack would send to the bot (through the request
 * sender), and everything shown comes from what the bot did through the Web API (recorded by
 * the Slack stand-in) and from the simulated cluster.
 */

export interface ClusterView {
  snapshot(): ClusterSnapshot;
  events(): readonly SimEvent[];
  on(event: "change", listener: (event: SimEvent) => void): () => void;
}

export interface ConsoleServerOptions {
  fake: FakeSlackApi;
  sender: SlackRequestSender;
  cluster: ClusterView;
  /** The target's live data as its sandbox scenario summarises it (shown as it is). */
  catalog?: { read(): Promise<unknown> };
  users: readonly DemoUser[];
  channel: { id: string; name: string };
  target: { name: string; namespace: string };
  /** Replica counts at start, so the panel can say when the cluster is back to them. */
  originalReplicas: Readonly<Record<string, number>>;
  /** A failure the person can switch on and off (POST /api/rehearsal {"armed": true|false}). */
  rehearsal?: Rehearsal;
  /** Default 127.0.0.1: the console acts as anyone, so it must not be reachable from elsewhere. */
  host?: string;
  /** Default 0 (a free port). */
  port?: number;
  /** When `port` is taken, listen on a free port instead of failing. */
  fallbackToFreePort?: boolean;
  logger?: Logger;
}

export interface ConsoleServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

const STATIC_FILES: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/index.html": { file: "index.html", type: "text/html; charset=utf-8" },
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/block-kit.js": { file: "block-kit.js", type: "text/javascript; charset=utf-8" },
  "/mrkdwn.js": { file: "mrkdwn.js", type: "text/javascript; charset=utf-8" },
  "/styles.css": { file: "styles.css", type: "text/css; charset=utf-8" },
};

/** Next to this module, in the source tree and in dist/ alike (copied by the build). */
const STATIC_DIR = new URL("./static/", import.meta.url);

const SLASH_COMMANDS = ["/recovery-points", "/restore", "/backup"] as const;
const MAX_BODY_BYTES = 256 * 1024;
/** Bursts of pod events are coalesced into one refresh of the page. */
const NOTIFY_INTERVAL_MS = 120;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    // A JSON content type cannot be sent by a plain HTML form on another site.
    if (!(req.headers["content-type"] ?? "").toLowerCase().startsWith("application/json")) {
      reject(new HttpError(415, "send application/json"));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, "request body too large"));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      try {
        const value: unknown = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
        if (typeof value !== "object" || value === null || Array.isArray(value)) {
          reject(new HttpError(400, "expected a JSON object"));
          return;
        }
        resolve(value as Record<string, unknown>);
      } catch {
        reject(new HttpError(400, "invalid JSON"));
      }
    });
    req.on("error", reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
  });
  res.end(JSON.stringify(body));
}

function stringField(body: Record<string, unknown>, name: string, required = true): string {
  const value = body[name];
  if (typeof value === "string" && value !== "") return value;
  if (!required && (value === undefined || value === null || value === "")) return "";
  throw new HttpError(400, `"${name}" must be a non-empty string`);
}

/** The body Bolt answered with (an ack's message or a view response), when there is one. */
function ackBody(result: SlackSendResult): Record<string, unknown> | undefined {
  if (typeof result.json === "object" && result.json !== null && !Array.isArray(result.json)) {
    return result.json as Record<string, unknown>;
  }
  const text = result.body.trim();
  return text ? { text } : undefined;
}

/** Form values from the page, typed as Slack types them from the view's input elements. */
function viewStateValues(
  view: Record<string, unknown>,
  values: Record<string, unknown>,
): ViewStateValues {
  const state: ViewStateValues = {};
  const blocks = Array.isArray(view.blocks) ? (view.blocks as SlackBlock[]) : [];
  for (const block of blocks) {
    if (block.type !== "input" || typeof block.block_id !== "string") continue;
    const element = block.element as { type?: unknown; action_id?: unknown } | undefined;
    if (!element || typeof element.action_id !== "string") continue;
    const given = (values[block.block_id] as Record<string, unknown> | undefined)?.[
      element.action_id
    ];
    state[block.block_id] = {
      [element.action_id]: {
        type: typeof element.type === "string" ? element.type : "plain_text_input",
        value: typeof given === "string" && given !== "" ? given : null,
      },
    };
  }
  return state;
}

function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  try {
    return ["127.0.0.1", "localhost", "[::1]"].includes(new URL(`http://${host}`).hostname);
  } catch {
    return false;
  }
}

export async function startConsoleServer(options: ConsoleServerOptions): Promise<ConsoleServer> {
  const { fake, sender, cluster, users, channel } = options;
  const userById = new Map(users.map((u) => [u.id, u]));
  const local: LocalEphemeral[] = [];
  const triggerUsers = new Map<string, string>();
  const modalStacks = new Map<string, string[]>();
  const modalErrors = new Map<string, Record<string, string>>();
  const streams = new Set<ServerResponse>();
  let localSeq = 0;
  let version = 0;
  let notifyTimer: NodeJS.Timeout | undefined;

  const notify = (): void => {
    version += 1;
    if (notifyTimer) return;
    notifyTimer = setTimeout(() => {
      notifyTimer = undefined;
      const data = JSON.stringify({ version, cursor: fake.cursor() });
      for (const res of streams) res.write(`event: change\ndata: ${data}\n\n`);
    }, NOTIFY_INTERVAL_MS);
  };

  const addLocal = (entry: Omit<LocalEphemeral, "ts" | "postedAt">): void => {
    const now = Date.now();
    local.push({ ...entry, ts: localTs(now, localSeq++), postedAt: now });
    notify();
  };

  const onSlackEvent = (event: FakeSlackEvent): void => {
    if (event.kind === "call" && event.call.response?.ok) {
      const { method, args, response } = event.call;
      if (method === "views.open" || method === "views.push") {
        const user = triggerUsers.get(String(args.trigger_id ?? ""));
        const viewId = (response.view as { id?: unknown } | undefined)?.id;
        if (user && typeof viewId === "string") {
          const stack = method === "views.open" ? [] : (modalStacks.get(user) ?? []);
          modalStacks.set(user, [...stack, viewId]);
        }
      }
    }
    notify();
  };
  fake.on("event", onSlackEvent);
  const offCluster = cluster.on("change", () => notify());

  let catalogCache: { at: number; value: Promise<unknown> } | undefined;
  const catalogSummary = (): Promise<unknown> => {
    if (!options.catalog) return Promise.resolve(undefined);
    const now = Date.now();
    if (!catalogCache || now - catalogCache.at > 500) {
      catalogCache = { at: now, value: options.catalog.read().catch(() => undefined) };
    }
    return catalogCache.value;
  };

  const userOf = (body: Record<string, unknown>): DemoUser => {
    const user = userById.get(stringField(body, "user"));
    if (!user) throw new HttpError(400, "unknown user; pick one of the console's people");
    return user;
  };

  const issueTrigger = (user: string, viewId?: string): string => {
    const triggerId = fake.newTriggerId(viewId ? { viewId } : {});
    triggerUsers.set(triggerId, user);
    return triggerId;
  };

  async function state(userId: string): Promise<unknown> {
    const user = userById.get(userId) ?? users[0];
    if (!user) throw new HttpError(500, "no users configured");
    const slack = buildSlackState({
      fake,
      me: user.id,
      channel,
      local,
      modalStack: modalStacks.get(user.id) ?? [],
      modalErrors,
    });
    const clusterEvents = cluster
      .events()
      .filter((e) => e.type === "scale" || e.type === "pause")
      .slice(-12);
    return {
      version,
      slack,
      users,
      bot: { id: FAKE_BOT.userId, name: FAKE_BOT.name },
      names: Object.fromEntries([
        ...users.map((u) => [u.id, u.name]),
        [FAKE_BOT.userId, FAKE_BOT.name],
      ]),
      channels: { [channel.id]: channel.name },
      target: options.target,
      cluster: cluster.snapshot(),
      clusterEvents,
      originalReplicas: options.originalReplicas,
      catalog: await catalogSummary(),
      /** Whether the shown scenario has a catalog database (InfluxDB Clustered's) at all. */
      hasCatalog: options.catalog !== undefined,
      rehearsal: options.rehearsal
        ? {
            label: options.rehearsal.label,
            detail: options.rehearsal.detail,
            armed: options.rehearsal.armed,
          }
        : null,
    };
  }

  function setRehearsal(body: Record<string, unknown>): unknown {
    const { rehearsal } = options;
    if (!rehearsal) throw new HttpError(404, "this console has no failure to rehearse");
    if (typeof body.armed !== "boolean")
      throw new HttpError(
        400,
        '"armed" must be true (switch the failure on) or false (lift it), e.g. {"armed": true}',
      );
    if (body.armed) rehearsal.arm();
    else rehearsal.lift();
    options.logger?.info(
      { rehearsal: rehearsal.label, armed: rehearsal.armed },
      rehearsal.armed ? "rehearsal failure switched on" : "rehearsal failure lifted",
    );
    notify();
    return { ok: true, armed: rehearsal.armed };
  }

  async function runCommand(body: Record<string, unknown>): Promise<unknown> {
    const user = userOf(body);
    const line = stringField(body, "text").trim();
    const match = /^(\/\S+)\s*([\s\S]*)$/.exec(line);
    if (!match) {
      addLocal({
        user: user.id,
        channel: channel.id,
        text: "This console sends slash commands to restorebot. Try `/recovery-points`, `/restore help` or `/backup help`.",
        blocks: [],
        source: "notice",
      });
      return { ok: false, error: "not a slash command" };
    }
    const command = match[1] ?? "";
    const text = (match[2] ?? "").trim();
    addLocal({ user: user.id, channel: channel.id, text: line, blocks: [], source: "command" });
    if (!(SLASH_COMMANDS as readonly string[]).includes(command)) {
      addLocal({
        user: user.id,
        channel: channel.id,
        text: `\`${command}\` is not a valid command. restorebot answers \`/recovery-points\`, \`/restore\` and \`/backup\`.`,
        blocks: [],
        source: "notice",
      });
      return { ok: false, error: "unknown command" };
    }
    const result = await sender.slashCommand({
      command,
      text,
      userId: user.id,
      userName: user.handle,
      channelId: channel.id,
      channelName: channel.name,
      triggerId: issueTrigger(user.id),
    });
    if (result.status !== 200) {
      addLocal({
        user: user.id,
        channel: channel.id,
        text: `:warning: \`${command}\` failed: restorebot answered HTTP ${result.status}.`,
        blocks: [],
        source: "notice",
      });
      return { ok: false, status: result.status };
    }
    // Slack shows an ack's message at once, to the person who typed the command only.
    const answer = ackBody(result);
    if (answer && (typeof answer.text === "string" || Array.isArray(answer.blocks))) {
      addLocal({
        user: user.id,
        channel: channel.id,
        text: typeof answer.text === "string" ? answer.text : "",
        blocks: Array.isArray(answer.blocks) ? (answer.blocks as SlackBlock[]) : [],
        source: "ack",
      });
    }
    return { ok: true, status: result.status };
  }

  async function runAction(body: Record<string, unknown>): Promise<unknown> {
    const user = userOf(body);
    const messageTs = stringField(body, "messageTs");
    const actionId = stringField(body, "actionId");
    const blockId = stringField(body, "blockId", false);
    const value = stringField(body, "value", false);
    const ephemeral = body.ephemeral === true;
    // An ephemeral lives in the page only; Slack sends its blocks with the click all the same.
    const held = ephemeral
      ? buildSlackState({
          fake,
          me: user.id,
          channel,
          local,
          modalStack: [],
          modalErrors,
        })
          .timeline.flatMap((i) => (i.kind === "message" ? [i, ...i.replies] : [i]))
          .find((i) => i.ts === messageTs)
      : fake.message(channel.id, messageTs);
    if (!held) throw new HttpError(404, "that message is gone");
    const result = await sender.blockActions({
      userId: user.id,
      userName: user.handle,
      channelId: channel.id,
      message: {
        ts: messageTs,
        blocks: held.blocks,
        text: held.text,
        ...(held.threadTs ? { threadTs: held.threadTs } : {}),
      },
      actions: [
        {
          action_id: actionId,
          ...(blockId ? { block_id: blockId } : {}),
          ...(value ? { value } : {}),
        },
      ],
      triggerId: issueTrigger(user.id),
    });
    if (result.status !== 200) {
      addLocal({
        user: user.id,
        channel: channel.id,
        text: `:warning: restorebot did not handle that click (HTTP ${result.status}).`,
        blocks: [],
        source: "notice",
        ...(held.threadTs ? { threadTs: held.threadTs } : {}),
      });
      return { ok: false, status: result.status };
    }
    return { ok: true, status: result.status };
  }

  async function submitView(body: Record<string, unknown>): Promise<unknown> {
    const user = userOf(body);
    const viewId = stringField(body, "viewId");
    const stack = modalStacks.get(user.id) ?? [];
    if (stack.at(-1) !== viewId) throw new HttpError(409, "that form is no longer open");
    const stored = fake.view(viewId);
    if (!stored) throw new HttpError(404, "that form is gone");
    const values =
      typeof body.values === "object" && body.values !== null
        ? (body.values as Record<string, unknown>)
        : {};
    const result = await sender.viewSubmission({
      userId: user.id,
      userName: user.handle,
      view: {
        id: viewId,
        callback_id: String(stored.view.callback_id ?? ""),
        private_metadata: String(stored.view.private_metadata ?? ""),
        state: { values: viewStateValues(stored.view, values) },
      },
      triggerId: issueTrigger(user.id, viewId),
    });
    if (result.status !== 200) {
      modalErrors.set(viewId, {
        "": `restorebot did not accept the form (HTTP ${result.status}).`,
      });
      notify();
      return { ok: false, status: result.status };
    }
    const answer = ackBody(result);
    if (answer?.response_action === "errors" && typeof answer.errors === "object") {
      modalErrors.set(viewId, answer.errors as Record<string, string>);
      notify();
      return { ok: false, errors: answer.errors };
    }
    modalErrors.delete(viewId);
    // Without a response_action Slack closes the submitted view; "clear" closes them all.
    const current = modalStacks.get(user.id) ?? [];
    modalStacks.set(
      user.id,
      answer?.response_action === "clear" ? [] : current.filter((id) => id !== viewId),
    );
    notify();
    return { ok: true };
  }

  function closeView(body: Record<string, unknown>): unknown {
    const user = userOf(body);
    const viewId = stringField(body, "viewId");
    modalStacks.set(
      user.id,
      (modalStacks.get(user.id) ?? []).filter((id) => id !== viewId),
    );
    modalErrors.delete(viewId);
    notify();
    return { ok: true };
  }

  function openStream(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
    });
    res.write(`retry: 1000\nevent: change\ndata: ${JSON.stringify({ version })}\n\n`);
    streams.add(res);
    // A comment now and then keeps proxies and idle timers from closing the stream.
    const keepAlive = setInterval(() => res.write(": keep-alive\n\n"), 15_000);
    req.on("close", () => {
      clearInterval(keepAlive);
      streams.delete(res);
    });
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Only loopback names: a page elsewhere could otherwise reach this port through DNS
    // rebinding and act as any of the console's people. Any port, so an SSH tunnel works.
    if (!isLoopbackHost(req.headers.host)) throw new HttpError(421, "unexpected Host");
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const path = url.pathname;
    if (req.method === "GET") {
      const asset = STATIC_FILES[path];
      if (asset) {
        const body = await readFile(new URL(asset.file, STATIC_DIR));
        res.writeHead(200, { "content-type": asset.type, "cache-control": "no-store" });
        res.end(body);
        return;
      }
      if (path === "/api/state") {
        sendJson(res, 200, await state(url.searchParams.get("user") ?? ""));
        return;
      }
      if (path === "/api/events") {
        openStream(req, res);
        return;
      }
      throw new HttpError(404, "not found");
    }
    if (req.method === "POST") {
      const handlers: Record<string, (body: Record<string, unknown>) => unknown> = {
        "/api/command": runCommand,
        "/api/action": runAction,
        "/api/view/submit": submitView,
        "/api/view/close": closeView,
        "/api/rehearsal": setRehearsal,
      };
      const handler = handlers[path];
      if (!handler) throw new HttpError(404, "not found");
      sendJson(res, 200, await handler(await readJson(req)));
      return;
    }
    throw new HttpError(405, "method not allowed");
  }

  const server: Server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) options.logger?.error({ err: String(err) }, "console request failed");
      if (!res.headersSent) sendJson(res, status, { ok: false, error: (err as Error).message });
      else res.end();
    });
  });

  const host = options.host ?? "127.0.0.1";
  const listen = (p: number) =>
    new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      server.once("error", onError);
      server.listen(p, host, () => {
        server.off("error", onError);
        resolve();
      });
    });
  try {
    await listen(options.port ?? 0);
  } catch (err) {
    if (!options.fallbackToFreePort || (err as NodeJS.ErrnoException).code !== "EADDRINUSE") {
      throw err;
    }
    await listen(0);
  }
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    async close() {
      fake.off("event", onSlackEvent);
      offCluster();
      if (notifyTimer) clearTimeout(notifyTimer);
      for (const res of streams) res.end();
      streams.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
