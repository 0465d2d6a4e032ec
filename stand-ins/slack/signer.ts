import { createHmac, randomBytes } from "node:crypto";
import type { SlackBlock } from "./block-kit-limits.js";
import type { FakeSlackApi } from "./fake-slack-api.js";
import { FAKE_BOT, FAKE_TEAM } from "./fake-slack-api.js";

/**
 * Sends requests to a Bolt HTTP endpoint (`/slack/events`) the way Slack does: form-encoded,
 * signed with the app's signing secret (docs.slack.dev/authentication/verifying-requests-from-slack),
 * with Slack's field names and payload shapes. Slash commands are plain form fields;
 * interactions are one `payload` form field holding JSON.
 */

export interface SlackSignatureHeaders {
  "X-Slack-Request-Timestamp": string;
  "X-Slack-Signature": string;
}

/** `v0=` + hex HMAC-SHA256 of `v0:<timestamp>:<raw body>`, keyed with the signing secret. */
export function signSlackRequest(
  signingSecret: string,
  body: string,
  timestampSeconds: number = Math.floor(Date.now() / 1000),
): SlackSignatureHeaders {
  const timestamp = String(Math.floor(timestampSeconds));
  const digest = createHmac("sha256", signingSecret)
    .update(`v0:${timestamp}:${body}`)
    .digest("hex");
  return { "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": `v0=${digest}` };
}

/**
 * Form-encodes fields in the given order, as Slack does for slash commands (spaces as `+`,
 * everything else percent-encoded), so the signed bytes are the bytes sent.
 */
export function encodeSlackForm(fields: ReadonlyArray<readonly [string, string]>): string {
  return new URLSearchParams(fields.map(([k, v]): [string, string] => [k, v])).toString();
}

/** The port of the fake this sender needs: issuing response URLs and trigger IDs, reading state. */
export type SenderFake = Pick<FakeSlackApi, "newResponseUrl" | "newTriggerId" | "message" | "view">;

export interface SlackRequestSenderOptions {
  /** Bolt's endpoint, e.g. `http://127.0.0.1:3000/slack/events`. */
  eventsUrl: string;
  signingSecret: string;
  /** When given, response URLs and trigger IDs come from it, so `respond()` and modals work. */
  fake?: SenderFake;
  teamId?: string;
  teamDomain?: string;
  apiAppId?: string;
  /** The legacy verification token Slack still sends as `token`; Bolt ignores it. */
  verificationToken?: string;
  /** Per request; default 10 s. */
  timeoutMs?: number;
}

/** How to deviate from a genuine Slack request, to test the receiver's defences. */
export interface SendOptions {
  /** Sign with a wrong secret. */
  forgeSignature?: boolean;
  /** Send no signature headers at all. */
  omitSignature?: boolean;
  /** Shift the signed timestamp; -600 makes a 10-minute-old request (Bolt allows 5 minutes). */
  timestampOffsetSeconds?: number;
}

export interface SlackSendResult {
  status: number;
  body: string;
  /** The body parsed, when it is JSON (e.g. a view_submission `response_action`). */
  json?: unknown;
  headers: Record<string, string>;
  /** Until the whole answer was read: Slack gives up after 3 s. */
  elapsedMs: number;
  /** The exact bytes sent. */
  requestBody: string;
  triggerId: string;
  responseUrl?: string;
  /** The id to pass to `fake.responses(id)`. */
  responseUrlId?: string;
}

export interface SlashCommandInput {
  /** With the slash: `/restore`. */
  command: string;
  text: string;
  userId: string;
  channelId: string;
  teamId?: string;
  userName?: string;
  channelName?: string;
  triggerId?: string;
  /** Overrides the response URL the fake would issue. */
  responseUrl?: string;
}

export interface BlockActionInput {
  action_id: string;
  block_id?: string;
  value?: string;
  /** Default "button". */
  type?: string;
  /** The button label. */
  text?: string;
  style?: "primary" | "danger";
  selected_option?: { text: { type: "plain_text"; text: string }; value: string };
}

export interface BlockActionsInput {
  userId: string;
  channelId: string;
  userName?: string;
  actions: BlockActionInput[];
  /** The message holding the buttons. Blocks are taken from the fake when omitted. */
  message?: { ts: string; blocks?: SlackBlock[]; text?: string; threadTs?: string };
  responseUrl?: string;
  triggerId?: string;
  state?: { values: ViewStateValues };
}

export type ViewStateValues = Record<
  string,
  Record<string, { type: string; value?: string | null; [key: string]: unknown }>
>;

export interface ViewSubmissionInput {
  userId: string;
  userName?: string;
  view: {
    /** When it names a view the fake holds, its blocks, title and hash are filled in. */
    id?: string;
    callback_id: string;
    private_metadata?: string;
    state: { values: ViewStateValues };
    title?: { type: "plain_text"; text: string };
    blocks?: SlackBlock[];
    hash?: string;
  };
  triggerId?: string;
}

export interface ClickButtonInput {
  userId: string;
  channelId: string;
  messageTs: string;
  actionId: string;
  userName?: string;
}

/** Where a response URL points when no fake is given: a closed local port, never the internet. */
const UNREACHABLE_RESPONSE_URL = "http://127.0.0.1:9/response/none";

function newTriggerIdWithoutFake(): string {
  return `${Date.now()}.${Math.floor(Math.random() * 1e9)}.${randomBytes(16).toString("hex")}`;
}

function actionTs(): string {
  const micros = Date.now() * 1000 + Math.floor(Math.random() * 1000);
  return `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, "0")}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Interactive elements of a message with the block each sits in. */
function interactiveElements(
  blocks: readonly SlackBlock[],
): Array<{ blockId: string; element: Record<string, unknown> }> {
  const found: Array<{ blockId: string; element: Record<string, unknown> }> = [];
  for (const block of blocks) {
    const blockId = block.block_id ?? "";
    const candidates: unknown[] = [
      ...(Array.isArray(block.elements) ? block.elements : []),
      block.accessory,
    ];
    for (const element of candidates) {
      if (isRecord(element) && typeof element.action_id === "string") {
        found.push({ blockId, element });
      }
    }
  }
  return found;
}

export class SlackRequestSender {
  private readonly options: SlackRequestSenderOptions;

  constructor(options: SlackRequestSenderOptions) {
    this.options = options;
  }

  private get teamId(): string {
    return this.options.teamId ?? FAKE_TEAM.id;
  }

  private get teamDomain(): string {
    return this.options.teamDomain ?? FAKE_TEAM.domain;
  }

  private get apiAppId(): string {
    return this.options.apiAppId ?? FAKE_BOT.appId;
  }

  private get verificationToken(): string {
    return this.options.verificationToken ?? "fakeVerificationToken000";
  }

  private user(userId: string, userName?: string) {
    const name = userName ?? `user-${userId.toLowerCase()}`;
    return { id: userId, username: name, name, team_id: this.teamId };
  }

  /** A slash command, field for field as Slack posts it. */
  async slashCommand(
    input: SlashCommandInput,
    options: SendOptions = {},
  ): Promise<SlackSendResult> {
    const teamId = input.teamId ?? this.teamId;
    const responseUrl =
      input.responseUrl ??
      this.options.fake?.newResponseUrl({
        channel: input.channelId,
        user: input.userId,
        source: "slash_command",
      }) ??
      UNREACHABLE_RESPONSE_URL;
    const triggerId = input.triggerId ?? this.issueTriggerId();
    const body = encodeSlackForm([
      ["token", this.verificationToken],
      ["team_id", teamId],
      ["team_domain", this.teamDomain],
      ["channel_id", input.channelId],
      ["channel_name", input.channelName ?? "restores"],
      ["user_id", input.userId],
      ["user_name", input.userName ?? `user-${input.userId.toLowerCase()}`],
      ["command", input.command],
      ["text", input.text],
      ["api_app_id", this.apiAppId],
      ["is_enterprise_install", "false"],
      ["response_url", responseUrl],
      ["trigger_id", triggerId],
    ]);
    return this.send(body, options, { triggerId, responseUrl });
  }

  /** A `block_actions` interaction (a button click or a menu choice on a message). */
  async blockActions(
    input: BlockActionsInput,
    options: SendOptions = {},
  ): Promise<SlackSendResult> {
    const stored = input.message
      ? this.options.fake?.message(input.channelId, input.message.ts)
      : undefined;
    const blocks = input.message?.blocks ?? stored?.blocks ?? [];
    const responseUrl =
      input.responseUrl ??
      this.options.fake?.newResponseUrl({
        channel: input.channelId,
        user: input.userId,
        ...(input.message ? { messageTs: input.message.ts } : {}),
        source: "block_actions",
      }) ??
      UNREACHABLE_RESPONSE_URL;
    const triggerId = input.triggerId ?? this.issueTriggerId();
    const ts = actionTs();
    const payload = {
      type: "block_actions",
      user: this.user(input.userId, input.userName),
      api_app_id: this.apiAppId,
      token: this.verificationToken,
      container: input.message
        ? {
            type: "message",
            message_ts: input.message.ts,
            channel_id: input.channelId,
            is_ephemeral: false,
          }
        : { type: "message", channel_id: input.channelId, is_ephemeral: false },
      trigger_id: triggerId,
      team: { id: this.teamId, domain: this.teamDomain },
      enterprise: null,
      is_enterprise_install: false,
      channel: { id: input.channelId, name: "restores" },
      ...(input.message
        ? {
            message: {
              type: "message",
              subtype: "bot_message",
              user: stored?.user ?? FAKE_BOT.userId,
              bot_id: stored?.botId ?? FAKE_BOT.botId,
              text: input.message.text ?? stored?.text ?? "",
              ts: input.message.ts,
              ...(input.message.threadTs ? { thread_ts: input.message.threadTs } : {}),
              blocks,
            },
          }
        : {}),
      state: input.state ?? { values: {} },
      response_url: responseUrl,
      actions: input.actions.map((action) => {
        // Fill what Slack would copy from the clicked element, when the message has it.
        const element = interactiveElements(blocks).find(
          (e) => e.element.action_id === action.action_id,
        );
        const type = action.type ?? (element?.element.type as string | undefined) ?? "button";
        const label =
          action.text ??
          (isRecord(element?.element.text) ? String(element.element.text.text) : action.action_id);
        const value = action.value ?? (element?.element.value as string | undefined);
        return {
          type,
          action_id: action.action_id,
          block_id: action.block_id ?? element?.blockId ?? "",
          ...(type === "button" ? { text: { type: "plain_text", text: label, emoji: true } } : {}),
          ...(value === undefined ? {} : { value }),
          ...(action.style ? { style: action.style } : {}),
          ...(action.selected_option ? { selected_option: action.selected_option } : {}),
          action_ts: ts,
        };
      }),
    };
    return this.sendPayload(payload, options, { triggerId, responseUrl });
  }

  /**
   * Clicks a button of a message the fake holds, as a person would: the button is found by its
   * action_id and its block_id, value and label are sent as Slack would.
   */
  async clickButton(input: ClickButtonInput, options: SendOptions = {}): Promise<SlackSendResult> {
    const fake = this.options.fake;
    if (!fake) throw new Error("clickButton needs the fake Slack API (options.fake)");
    const message = fake.message(input.channelId, input.messageTs);
    if (!message || message.deleted) {
      throw new Error(`no message ${input.messageTs} in ${input.channelId} to click on`);
    }
    const elements = interactiveElements(message.blocks);
    const target = elements.find((e) => e.element.action_id === input.actionId);
    if (!target) {
      const available = elements.map((e) => String(e.element.action_id)).join(", ") || "none";
      throw new Error(
        `message ${input.messageTs} has no element with action_id "${input.actionId}" (it has: ${available})`,
      );
    }
    return this.blockActions(
      {
        userId: input.userId,
        channelId: input.channelId,
        ...(input.userName ? { userName: input.userName } : {}),
        message: {
          ts: message.ts,
          blocks: message.blocks,
          text: message.text,
          ...(message.threadTs ? { threadTs: message.threadTs } : {}),
        },
        actions: [{ action_id: input.actionId, block_id: target.blockId }],
      },
      options,
    );
  }

  /** A `view_submission`: the user pressed the modal's submit button. */
  async viewSubmission(
    input: ViewSubmissionInput,
    options: SendOptions = {},
  ): Promise<SlackSendResult> {
    const stored = input.view.id ? this.options.fake?.view(input.view.id)?.view : undefined;
    const triggerId =
      input.triggerId ?? this.issueTriggerId(input.view.id ? { viewId: input.view.id } : {});
    const viewId = input.view.id ?? `V${randomBytes(5).toString("hex").toUpperCase()}`;
    const payload = {
      type: "view_submission",
      team: { id: this.teamId, domain: this.teamDomain },
      user: this.user(input.userId, input.userName),
      api_app_id: this.apiAppId,
      token: this.verificationToken,
      trigger_id: triggerId,
      view: {
        ...stored,
        id: viewId,
        team_id: this.teamId,
        type: "modal",
        blocks: input.view.blocks ?? stored?.blocks ?? [],
        private_metadata: input.view.private_metadata ?? stored?.private_metadata ?? "",
        callback_id: input.view.callback_id,
        state: input.view.state,
        hash: input.view.hash ?? stored?.hash ?? `${Math.floor(Date.now() / 1000)}.fakehash`,
        title: input.view.title ?? stored?.title ?? { type: "plain_text", text: "Modal" },
        root_view_id: stored?.root_view_id ?? viewId,
        app_id: this.apiAppId,
        bot_id: FAKE_BOT.botId,
      },
      response_urls: [],
      is_enterprise_install: false,
      enterprise: null,
    };
    return this.sendPayload(payload, options, { triggerId });
  }

  /** Any signed body, for payloads this class does not build. */
  async sendRaw(
    body: string,
    options: SendOptions = {},
    contentType = "application/x-www-form-urlencoded",
  ): Promise<SlackSendResult> {
    return this.send(body, options, { triggerId: "" }, contentType);
  }

  private issueTriggerId(context: { viewId?: string } = {}): string {
    return this.options.fake?.newTriggerId(context) ?? newTriggerIdWithoutFake();
  }

  private sendPayload(
    payload: unknown,
    options: SendOptions,
    extra: { triggerId: string; responseUrl?: string },
  ): Promise<SlackSendResult> {
    return this.send(encodeSlackForm([["payload", JSON.stringify(payload)]]), options, extra);
  }

  private async send(
    body: string,
    options: SendOptions,
    extra: { triggerId: string; responseUrl?: string },
    contentType = "application/x-www-form-urlencoded",
  ): Promise<SlackSendResult> {
    const timestamp = Math.floor(Date.now() / 1000) + (options.timestampOffsetSeconds ?? 0);
    const secret = options.forgeSignature
      ? `${this.options.signingSecret}-forged`
      : this.options.signingSecret;
    const headers: Record<string, string> = {
      "Content-Type": contentType,
      "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
      ...(options.omitSignature ? {} : signSlackRequest(secret, body, timestamp)),
    };
    const started = performance.now();
    const response = await fetch(this.options.eventsUrl, {
      method: "POST",
      headers,
      body,
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
    });
    const text = await response.text();
    const elapsedMs = performance.now() - started;
    let json: unknown;
    try {
      json = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    const responseUrl = extra.responseUrl;
    return {
      status: response.status,
      body: text,
      ...(json === undefined ? {} : { json }),
      headers: Object.fromEntries(response.headers.entries()),
      elapsedMs,
      requestBody: body,
      triggerId: extra.triggerId,
      ...(responseUrl
        ? { responseUrl, responseUrlId: responseUrl.split("/").pop() ?? responseUrl }
        : {}),
    };
  }
}
