import type {
  FakeSlackApi,
  RecordedResponse,
  SlackBlock,
  StoredEphemeral,
  StoredMessage,
} from "../../../stand-ins/slack/fake-slack-api.js";
import type { DemoUser } from "../demo-settings.js";

/**
 * What one person sees in the console, derived from the Slack stand-in's workspace: the
 * channel with its threads and edits, the ephemerals only they can see, their direct messages
 * with the bot and the modal they have open. The console adds only what Slack itself would
 * show without a Web API call: a command's immediate (ack) answer, the echo of a command, and
 * "the app did not respond".
 */

/** An ephemeral that never went through the Web API (an ack body, an echo, a failure notice). */
export interface LocalEphemeral {
  user: string;
  channel: string;
  ts: string;
  postedAt: number;
  text: string;
  blocks: SlackBlock[];
  source: "ack" | "command" | "notice";
  threadTs?: string;
}

export interface ConsoleMessage {
  kind: "message";
  ts: string;
  postedAt: number;
  user: string;
  text: string;
  blocks: SlackBlock[];
  edited: boolean;
  /** How many versions the message had (1 = never edited). */
  versions: number;
  threadTs?: string;
  replyCount: number;
  replies: ConsoleTimelineItem[];
}

export interface ConsoleEphemeral {
  kind: "ephemeral";
  ts: string;
  postedAt: number;
  text: string;
  blocks: SlackBlock[];
  source: "ack" | "command" | "notice" | "response_url" | "chat.postEphemeral";
  threadTs?: string;
}

export type ConsoleTimelineItem = ConsoleMessage | ConsoleEphemeral;

export interface ConsoleModal {
  viewId: string;
  view: Record<string, unknown>;
  /** Errors from the last submission (`response_action: "errors"`), by block_id. */
  errors: Record<string, string>;
}

export interface ConsoleSlackState {
  /** Grows with every change of the workspace; lets the page skip identical redraws. */
  cursor: number;
  me: string;
  channel: { id: string; name: string };
  timeline: ConsoleTimelineItem[];
  /** The bot's direct messages to `me`, oldest first. */
  directMessages: ConsoleMessage[];
  modal: ConsoleModal | undefined;
}

/** Slack ts strings ("1700000000.000123") compared exactly (a double loses the last digits). */
export function compareTs(a: string, b: string): number {
  const [as = "0", af = ""] = a.split(".");
  const [bs = "0", bf = ""] = b.split(".");
  const seconds = Number(as) - Number(bs);
  if (seconds !== 0) return seconds;
  return af.padEnd(6, "0").localeCompare(bf.padEnd(6, "0"));
}

/** A ts for something the console shows, from the same clock as the stand-in's. */
export function localTs(now = Date.now(), sequence = 0): string {
  const micros = now * 1000 + (sequence % 1000);
  return `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, "0")}`;
}

/** Which DM channel the bot opened with which person, from the recorded Web API calls. */
export function directMessageChannels(fake: Pick<FakeSlackApi, "calls">): Map<string, string> {
  const byUser = new Map<string, string>();
  for (const call of fake.calls()) {
    if (!call.response?.ok) continue;
    if (call.method === "chat.postMessage") {
      const target = call.args.channel;
      const channel = call.response.channel;
      if (typeof target === "string" && /^[UW]/.test(target) && typeof channel === "string") {
        byUser.set(target, channel);
      }
    } else if (call.method === "conversations.open") {
      const users = call.args.users;
      const channel = (call.response.channel as { id?: unknown } | undefined)?.id;
      if (typeof users === "string" && !users.includes(",") && typeof channel === "string") {
        byUser.set(users, channel);
      }
    }
  }
  return byUser;
}

function toMessage(message: StoredMessage): ConsoleMessage {
  return {
    kind: "message",
    ts: message.ts,
    postedAt: message.postedAt,
    user: message.user,
    text: message.text,
    blocks: message.blocks,
    edited: message.editedAt !== undefined,
    versions: message.revisions.length,
    ...(message.threadTs === undefined ? {} : { threadTs: message.threadTs }),
    replyCount: message.replyCount,
    replies: [],
  };
}

/**
 * Applies what Slack does to an ephemeral when a response URL from one of its buttons says
 * `replace_original` or `delete_original`: the stand-in only knows channel messages, so it
 * records "original_not_found" and the console finishes the job.
 */
function applyEphemeralResponses(
  ephemerals: StoredEphemeral[],
  responses: readonly RecordedResponse[],
): ConsoleEphemeral[] {
  const byTs = new Map<string, ConsoleEphemeral | null>();
  for (const e of ephemerals) {
    byTs.set(e.messageTs, {
      kind: "ephemeral",
      ts: e.messageTs,
      postedAt: e.postedAt,
      text: e.text,
      blocks: e.blocks,
      source: e.via,
      ...(e.threadTs === undefined ? {} : { threadTs: e.threadTs }),
    });
  }
  for (const r of responses) {
    const ts = r.context.messageTs;
    if (r.effect !== "original_not_found" || ts === undefined) continue;
    const current = byTs.get(ts);
    if (!current) continue;
    if (r.body.delete_original === true) byTs.set(ts, null);
    else if (r.body.replace_original === true) {
      byTs.set(ts, {
        ...current,
        text: typeof r.body.text === "string" ? r.body.text : "",
        blocks: Array.isArray(r.body.blocks) ? r.body.blocks : [],
      });
    }
  }
  return [...byTs.values()].filter((e): e is ConsoleEphemeral => e !== null);
}

export function buildSlackState(input: {
  fake: Pick<FakeSlackApi, "messages" | "ephemerals" | "responses" | "calls" | "cursor" | "view">;
  me: DemoUser["id"];
  channel: { id: string; name: string };
  local: readonly LocalEphemeral[];
  /** The person's open modals, bottom first. */
  modalStack: readonly string[];
  modalErrors: ReadonlyMap<string, Record<string, string>>;
}): ConsoleSlackState {
  const { fake, me, channel } = input;
  const messages = fake.messages(channel.id).map(toMessage);
  const ephemerals: ConsoleEphemeral[] = [
    ...applyEphemeralResponses(
      fake.ephemerals(channel.id, me),
      fake.responses().filter((r) => r.context.user === me),
    ),
    ...input.local
      .filter((l) => l.user === me && l.channel === channel.id)
      .map(
        (l): ConsoleEphemeral => ({
          kind: "ephemeral",
          ts: l.ts,
          postedAt: l.postedAt,
          text: l.text,
          blocks: l.blocks,
          source: l.source,
          ...(l.threadTs === undefined ? {} : { threadTs: l.threadTs }),
        }),
      ),
  ];

  const parents = new Map<string, ConsoleMessage>();
  const timeline: ConsoleTimelineItem[] = [];
  for (const m of messages) {
    if (m.threadTs === undefined) {
      parents.set(m.ts, m);
      timeline.push(m);
    }
  }
  const orphans: ConsoleTimelineItem[] = [];
  for (const item of [...messages.filter((m) => m.threadTs !== undefined), ...ephemerals]) {
    if (item.threadTs === undefined) {
      timeline.push(item);
      continue;
    }
    const parent = parents.get(item.threadTs);
    if (parent) parent.replies.push(item);
    else orphans.push(item);
  }
  // A reply whose parent was deleted still shows, as Slack keeps such threads visible.
  timeline.push(...orphans);
  timeline.sort((a, b) => compareTs(a.ts, b.ts));
  for (const parent of parents.values()) parent.replies.sort((a, b) => compareTs(a.ts, b.ts));

  const dmChannel = directMessageChannels(fake).get(me);
  const directMessages = dmChannel ? fake.messages(dmChannel).map(toMessage) : [];

  const topView = input.modalStack.at(-1);
  const stored = topView ? fake.view(topView) : undefined;
  return {
    cursor: fake.cursor(),
    me,
    channel,
    timeline,
    directMessages,
    modal:
      stored && topView
        ? { viewId: topView, view: stored.view, errors: input.modalErrors.get(topView) ?? {} }
        : undefined,
  };
}
