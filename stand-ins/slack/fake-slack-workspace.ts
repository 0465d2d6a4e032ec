import { randomBytes } from "node:crypto";
import type { SlackBlock } from "./block-kit-limits.js";

/**
 * The in-memory Slack workspace behind the fake Web API: channels and their messages, threads,
 * ephemerals, DMs, modals, users and user groups. No HTTP here, so the state rules (ts order,
 * edit history, thread normalisation) read on their own.
 */

export interface FakeSlackTeam {
  id: string;
  name: string;
  /** Used in permalinks and in `auth.test`'s `url`. */
  domain: string;
}

/** The identity every accepted token belongs to (the bot user of the app). */
export interface FakeSlackBot {
  userId: string;
  botId: string;
  appId: string;
  name: string;
}

export interface FakeSlackUser {
  id: string;
  name?: string;
  realName?: string;
  email?: string;
  tz?: string;
  isBot?: boolean;
  deleted?: boolean;
}

export type MessageSource = "chat.postMessage" | "chat.update" | "response_url";

export interface MessageContent {
  text: string;
  blocks: SlackBlock[];
  attachments: unknown[];
  metadata?: unknown;
}

/** One version of a message; `revisions` keeps every one, oldest first. */
export interface MessageRevision extends MessageContent {
  at: number;
  via: MessageSource;
}

export interface StoredMessage extends MessageContent {
  channel: string;
  ts: string;
  /** Set on replies: the ts of the thread's parent. */
  threadTs?: string;
  user: string;
  botId: string;
  appId: string;
  /** A reply also shown in the channel (`reply_broadcast`). */
  replyBroadcast: boolean;
  /** Epoch milliseconds. */
  postedAt: number;
  editedAt?: number;
  deleted: boolean;
  deletedAt?: number;
  /** Replies in this message's thread (for a parent), not counting deleted ones. */
  replyCount: number;
  latestReply?: string;
  /** Every version, oldest first; the last one is the current content. */
  revisions: MessageRevision[];
}

export type EphemeralSource = "chat.postEphemeral" | "response_url";

/** An ephemeral message: seen by one user only and never stored in the channel history. */
export interface StoredEphemeral extends MessageContent {
  channel: string;
  user: string;
  messageTs: string;
  threadTs?: string;
  postedAt: number;
  via: EphemeralSource;
}

export type ViewSource = "views.open" | "views.push" | "views.update" | "views.publish";

export interface ViewRevision {
  view: Record<string, unknown>;
  at: number;
  via: ViewSource;
}

export interface StoredView {
  id: string;
  /** The view object as the Web API last returned it (with id, hash, state, …). */
  view: Record<string, unknown>;
  /** For home tabs: whose home it is. */
  userId?: string;
  openedAt: number;
  updatedAt?: number;
  revisions: ViewRevision[];
}

export interface IssuedTrigger {
  id: string;
  issuedAt: number;
  usedAt?: number;
  /** The modal the interaction came from, so `views.push` stacks onto it. */
  viewId?: string;
}

/** Slack's ID alphabet: upper-case letters and digits. */
export function slackId(prefix: string, length = 10): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  const bytes = randomBytes(length);
  let id = prefix;
  for (const byte of bytes) id += alphabet[byte % alphabet.length];
  return id;
}

export class FakeSlackWorkspace {
  private readonly messagesByChannel = new Map<string, StoredMessage[]>();
  private readonly ephemeralList: StoredEphemeral[] = [];
  private readonly dmByUser = new Map<string, string>();
  private readonly viewsById = new Map<string, StoredView>();
  private readonly triggers = new Map<string, IssuedTrigger>();
  private readonly usersById = new Map<string, FakeSlackUser>();
  private readonly groups = new Map<string, string[]>();
  private readonly knownChannels: Set<string> | undefined;
  private lastTsMicros = 0;

  constructor(
    readonly team: FakeSlackTeam,
    readonly bot: FakeSlackBot,
    options: {
      users?: readonly FakeSlackUser[];
      userGroups?: Readonly<Record<string, readonly string[]>>;
      channels?: readonly string[];
    } = {},
  ) {
    for (const user of options.users ?? []) this.usersById.set(user.id, { ...user });
    for (const [id, members] of Object.entries(options.userGroups ?? {})) {
      this.groups.set(id, [...members]);
    }
    this.knownChannels = options.channels ? new Set(options.channels) : undefined;
  }

  /**
   * A message ts: seconds and six digits of microseconds, unique and strictly increasing, as
   * Slack's are; code that sorts or compares them as strings keeps working.
   */
  nextTs(now = Date.now()): string {
    this.lastTsMicros = Math.max(now * 1000, this.lastTsMicros + 1);
    const seconds = Math.floor(this.lastTsMicros / 1_000_000);
    const micros = this.lastTsMicros % 1_000_000;
    return `${seconds}.${String(micros).padStart(6, "0")}`;
  }

  /**
   * Whether a conversation exists. With a configured channel list only those (and opened DMs)
   * do; otherwise any well-formed ID (C…, G…, D…) does, so tests need not declare channels.
   */
  channelExists(channel: string): boolean {
    if ([...this.dmByUser.values()].includes(channel)) return true;
    if (this.knownChannels) return this.knownChannels.has(channel);
    return /^[CGD][A-Z0-9_-]+$/i.test(channel);
  }

  isUserId(value: string): boolean {
    return /^[UW][A-Z0-9_-]+$/i.test(value);
  }

  openDm(userId: string): { id: string; alreadyOpen: boolean } {
    const existing = this.dmByUser.get(userId);
    if (existing) return { id: existing, alreadyOpen: true };
    const id = slackId("D");
    this.dmByUser.set(userId, id);
    return { id, alreadyOpen: false };
  }

  // ---- messages -------------------------------------------------------------------------------

  postMessage(
    channel: string,
    content: MessageContent,
    options: { threadTs?: string; replyBroadcast?: boolean; via?: MessageSource; now?: number },
  ): StoredMessage {
    const now = options.now ?? Date.now();
    let threadTs = options.threadTs;
    const parent = threadTs === undefined ? undefined : this.message(channel, threadTs);
    // A reply to a reply lands in the parent's thread, as in Slack.
    if (parent?.threadTs !== undefined) threadTs = parent.threadTs;
    const ts = this.nextTs(now);
    const message: StoredMessage = {
      ...content,
      channel,
      ts,
      ...(threadTs === undefined ? {} : { threadTs }),
      user: this.bot.userId,
      botId: this.bot.botId,
      appId: this.bot.appId,
      replyBroadcast: threadTs !== undefined && options.replyBroadcast === true,
      postedAt: now,
      deleted: false,
      replyCount: 0,
      revisions: [{ ...content, at: now, via: options.via ?? "chat.postMessage" }],
    };
    const list = this.messagesByChannel.get(channel) ?? [];
    list.push(message);
    this.messagesByChannel.set(channel, list);
    if (threadTs !== undefined) {
      const root = this.message(channel, threadTs);
      if (root) {
        root.replyCount += 1;
        root.latestReply = ts;
      }
    }
    return message;
  }

  /**
   * Applies an edit. Fields left undefined keep their value, as chat.update does for `blocks`
   * and `attachments` (an empty array clears them).
   */
  updateMessage(
    channel: string,
    ts: string,
    edit: Partial<MessageContent>,
    via: MessageSource,
    now = Date.now(),
  ): StoredMessage | undefined {
    const message = this.message(channel, ts);
    if (!message || message.deleted) return undefined;
    if (edit.text !== undefined) message.text = edit.text;
    if (edit.blocks !== undefined) message.blocks = edit.blocks;
    if (edit.attachments !== undefined) message.attachments = edit.attachments;
    if (edit.metadata !== undefined) message.metadata = edit.metadata;
    message.editedAt = now;
    message.revisions.push({
      text: message.text,
      blocks: message.blocks,
      attachments: message.attachments,
      ...(message.metadata === undefined ? {} : { metadata: message.metadata }),
      at: now,
      via,
    });
    return message;
  }

  deleteMessage(channel: string, ts: string, now = Date.now()): boolean {
    const message = this.message(channel, ts);
    if (!message || message.deleted) return false;
    message.deleted = true;
    message.deletedAt = now;
    if (message.threadTs !== undefined) {
      const root = this.message(channel, message.threadTs);
      if (root) root.replyCount = Math.max(0, root.replyCount - 1);
    }
    return true;
  }

  /** The live record (callers outside this module get copies from FakeSlackApi). */
  message(channel: string, ts: string): StoredMessage | undefined {
    return this.messagesByChannel.get(channel)?.find((m) => m.ts === ts);
  }

  messages(channel: string, includeDeleted = false): StoredMessage[] {
    const list = this.messagesByChannel.get(channel) ?? [];
    return list.filter((m) => includeDeleted || !m.deleted);
  }

  channelsWithMessages(): string[] {
    return [...this.messagesByChannel.keys()];
  }

  // ---- ephemerals -----------------------------------------------------------------------------

  postEphemeral(
    channel: string,
    user: string,
    content: MessageContent,
    options: { threadTs?: string; via: EphemeralSource; now?: number },
  ): StoredEphemeral {
    const now = options.now ?? Date.now();
    const ephemeral: StoredEphemeral = {
      ...content,
      channel,
      user,
      messageTs: this.nextTs(now),
      ...(options.threadTs === undefined ? {} : { threadTs: options.threadTs }),
      postedAt: now,
      via: options.via,
    };
    this.ephemeralList.push(ephemeral);
    return ephemeral;
  }

  ephemerals(channel?: string, user?: string): StoredEphemeral[] {
    return this.ephemeralList.filter(
      (e) =>
        (channel === undefined || e.channel === channel) && (user === undefined || e.user === user),
    );
  }

  // ---- views ----------------------------------------------------------------------------------

  storeView(stored: StoredView): void {
    this.viewsById.set(stored.id, stored);
  }

  view(id: string): StoredView | undefined {
    return this.viewsById.get(id);
  }

  viewByExternalId(externalId: string): StoredView | undefined {
    return [...this.viewsById.values()].find((v) => v.view.external_id === externalId);
  }

  views(): StoredView[] {
    return [...this.viewsById.values()];
  }

  // ---- trigger ids ----------------------------------------------------------------------------

  issueTrigger(viewId?: string, now = Date.now()): IssuedTrigger {
    // Slack's shape: `<digits>.<digits>.<32 hex>`.
    const id = `${now}.${Math.floor(Math.random() * 1e9)}.${randomBytes(16).toString("hex")}`;
    const trigger: IssuedTrigger = { id, issuedAt: now, ...(viewId ? { viewId } : {}) };
    this.triggers.set(id, trigger);
    return trigger;
  }

  trigger(id: string): IssuedTrigger | undefined {
    return this.triggers.get(id);
  }

  // ---- people ---------------------------------------------------------------------------------

  user(id: string): FakeSlackUser | undefined {
    return this.usersById.get(id);
  }

  setUser(user: FakeSlackUser): void {
    this.usersById.set(user.id, { ...user });
  }

  userGroup(id: string): string[] | undefined {
    return this.groups.get(id);
  }

  userGroupIds(): string[] {
    return [...this.groups.keys()];
  }

  setUserGroup(id: string, members: readonly string[]): void {
    this.groups.set(id, [...members]);
  }
}
