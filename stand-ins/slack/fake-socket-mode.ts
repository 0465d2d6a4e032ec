import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { type WebSocket, WebSocketServer } from "ws";

/**
 * Slack's Socket Mode, seen from the app: `apps.connections.open` (answered by the fake Web
 * API, see `FakeSlackApi.attachSocketMode`) hands out a WebSocket URL; Slack then sends
 * `hello` and delivers interactions as envelopes, which the app acknowledges by sending back
 * `{ envelope_id, payload? }` within 3 s.
 */
export interface SocketModeAck {
  envelope_id: string;
  payload?: Record<string, unknown>;
}

export class FakeSocketModeServer {
  private server: WebSocketServer | undefined;
  private readonly sockets = new Set<WebSocket>();
  private readonly pendingAcks = new Map<string, (ack: SocketModeAck) => void>();
  private connectionWaiters: Array<() => void> = [];
  private port = 0;

  async start(): Promise<void> {
    this.server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise<void>((resolve) => this.server?.once("listening", () => resolve()));
    this.port = (this.server.address() as AddressInfo).port;
    this.server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      socket.on("message", (data) => this.onMessage(String(data)));
      socket.send(
        JSON.stringify({
          type: "hello",
          num_connections: this.sockets.size,
          debug_info: { host: "fake-socket-mode", approximate_connection_time: 18060 },
          connection_info: { app_id: "A0FAKEAPP1" },
        }),
      );
      const waiters = this.connectionWaiters;
      this.connectionWaiters = [];
      for (const wake of waiters) wake();
    });
  }

  /** A fresh connection URL, as `apps.connections.open` returns one per call. */
  newConnectionUrl(): string {
    return `ws://127.0.0.1:${this.port}/link/?ticket=${randomBytes(8).toString("hex")}`;
  }

  get connections(): number {
    return this.sockets.size;
  }

  async waitForConnection(timeoutMs = 10_000): Promise<void> {
    if (this.sockets.size > 0) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no Socket Mode connection within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.connectionWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Delivers a slash command as Slack does over Socket Mode and resolves with the app's ack. */
  async sendSlashCommand(
    input: {
      command: string;
      text: string;
      userId: string;
      channelId: string;
      responseUrl?: string;
    },
    timeoutMs = 3_000,
  ): Promise<SocketModeAck> {
    const socket = [...this.sockets][0];
    if (!socket) throw new Error("no Socket Mode connection to deliver to");
    const envelopeId = randomBytes(16).toString("hex");
    const acked = new Promise<SocketModeAck>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pendingAcks.delete(envelopeId);
        reject(new Error(`no ack for envelope ${envelopeId} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pendingAcks.set(envelopeId, (ack) => {
        clearTimeout(timer);
        resolve(ack);
      });
    });
    socket.send(
      JSON.stringify({
        envelope_id: envelopeId,
        type: "slash_commands",
        accepts_response_payload: true,
        payload: {
          token: "fakeVerificationToken000",
          team_id: "T0FAKETEAM",
          team_domain: "fake",
          channel_id: input.channelId,
          channel_name: "restores",
          user_id: input.userId,
          user_name: `user-${input.userId.toLowerCase()}`,
          command: input.command,
          text: input.text,
          api_app_id: "A0FAKEAPP1",
          is_enterprise_install: "false",
          response_url: input.responseUrl ?? "http://127.0.0.1:9/unreachable",
          trigger_id: `${Date.now()}.fake.${randomBytes(4).toString("hex")}`,
        },
      }),
    );
    return acked;
  }

  private onMessage(text: string): void {
    let message: SocketModeAck;
    try {
      message = JSON.parse(text) as SocketModeAck;
    } catch {
      return;
    }
    const resolve = this.pendingAcks.get(message.envelope_id);
    if (resolve) {
      this.pendingAcks.delete(message.envelope_id);
      resolve(message);
    }
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.terminate();
    await new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
  }
}
