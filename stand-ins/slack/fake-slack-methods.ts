import {
  blockProblems,
  MESSAGE_MAX_BLOCKS,
  MESSAGE_MAX_TEXT,
  type SlackBlock,
  viewProblems,
} from "./block-kit-limits.js";
import {
  type FakeSlackWorkspace,
  type MessageContent,
  type StoredMessage,
  type StoredView,
  slackId,
  type ViewSource,
} from "./fake-slack-workspace.js";

/**
 * The Web API methods the fake implements: arguments in, Slack's JSON answer out. Shapes and
 * error codes follow the method pages on docs.slack.dev/reference/methods; fields the bot never
 * reads are left out rather than invented.
 */

/** Arguments of a Web API call after form/JSON decoding (blocks, view, … already parsed). */
export type SlackArgs = Record<string, unknown>;

/** The JSON body of a Web API answer. */
export interface SlackResponseBody {
  ok: boolean;
  error?: string;
  [key: string]: unknown;
}

export interface MethodContext {
  workspace: FakeSlackWorkspace;
  now: number;
  /** Slack lets a trigger_id open a modal within 3 s of the interaction, once. */
  triggerTtlMs: number;
}

export type MethodHandler = (args: SlackArgs, ctx: MethodContext) => SlackResponseBody;

function failure(error: string, extra: Record<string, unknown> = {}): SlackResponseBody {
  return { ok: false, error, ...extra };
}

/** Slack's answer to a missing or malformed argument. */
function invalidArguments(problems: readonly string[]): SlackResponseBody {
  return failure("invalid_arguments", {
    response_metadata: { messages: problems.map((p) => `[ERROR] ${p}`) },
  });
}

function invalidBlocks(problems: readonly string[]): SlackResponseBody {
  return failure("invalid_blocks", {
    errors: [...problems],
    response_metadata: { messages: problems.map((p) => `[ERROR] ${p}`) },
  });
}

function str(args: SlackArgs, key: string): string | undefined {
  const value = args[key];
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  return undefined;
}

/** Form bodies carry booleans as strings. */
function flag(args: SlackArgs, key: string): boolean {
  const value = args[key];
  return value === true || value === "true" || value === "1" || value === 1;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The message fields of chat.postMessage / chat.update / chat.postEphemeral, validated. */
function readContent(
  args: SlackArgs,
  requireSomething: boolean,
): { content: Partial<MessageContent> } | { error: SlackResponseBody } {
  const text = str(args, "text");
  const blocks = args.blocks;
  const attachments = args.attachments;
  if (requireSomething && !text && blocks === undefined && attachments === undefined) {
    return { error: failure("no_text") };
  }
  if (text !== undefined && text.length > MESSAGE_MAX_TEXT)
    return { error: failure("msg_too_long") };
  if (blocks !== undefined) {
    const problems = blockProblems(blocks, MESSAGE_MAX_BLOCKS);
    if (problems.length > 0) return { error: invalidBlocks(problems) };
  }
  if (attachments !== undefined && !Array.isArray(attachments)) {
    return { error: failure("invalid_attachments") };
  }
  const content: Partial<MessageContent> = {};
  if (text !== undefined) content.text = text;
  if (blocks !== undefined) content.blocks = blocks as SlackBlock[];
  if (attachments !== undefined) content.attachments = attachments as unknown[];
  if (args.metadata !== undefined) content.metadata = args.metadata;
  return { content };
}

function fullContent(partial: Partial<MessageContent>): MessageContent {
  return {
    text: partial.text ?? "",
    blocks: partial.blocks ?? [],
    attachments: partial.attachments ?? [],
    ...(partial.metadata === undefined ? {} : { metadata: partial.metadata }),
  };
}

/** A message as the Web API returns it inside `message`. */
export function messageJson(message: StoredMessage, teamId: string): Record<string, unknown> {
  return {
    type: "message",
    subtype: "bot_message",
    text: message.text,
    user: message.user,
    bot_id: message.botId,
    app_id: message.appId,
    team: teamId,
    ts: message.ts,
    ...(message.threadTs === undefined ? {} : { thread_ts: message.threadTs }),
    ...(message.blocks.length > 0 ? { blocks: message.blocks } : {}),
    ...(message.attachments.length > 0 ? { attachments: message.attachments } : {}),
    ...(message.editedAt === undefined
      ? {}
      : { edited: { user: message.user, ts: (message.editedAt / 1000).toFixed(6) } }),
  };
}

/** Resolves `channel`, opening a DM when it is a user ID, as chat.postMessage does. */
function resolveChannel(args: SlackArgs, ctx: MethodContext): string | undefined {
  const channel = str(args, "channel");
  if (!channel) return undefined;
  if (ctx.workspace.isUserId(channel)) return ctx.workspace.openDm(channel).id;
  return ctx.workspace.channelExists(channel) ? channel : undefined;
}

function permalink(ctx: MethodContext, message: StoredMessage): string {
  const base = `https://${ctx.workspace.team.domain}.slack.com/archives/${message.channel}/p${message.ts.replace(".", "")}`;
  return message.threadTs === undefined
    ? base
    : `${base}?thread_ts=${message.threadTs}&cid=${message.channel}`;
}

// ---- chat.* ---------------------------------------------------------------------------------

const chatPostMessage: MethodHandler = (args, ctx) => {
  const channel = resolveChannel(args, ctx);
  if (!channel) return failure("channel_not_found");
  const read = readContent(args, true);
  if ("error" in read) return read.error;
  const threadTs = str(args, "thread_ts");
  const message = ctx.workspace.postMessage(channel, fullContent(read.content), {
    ...(threadTs ? { threadTs } : {}),
    replyBroadcast: flag(args, "reply_broadcast"),
    now: ctx.now,
  });
  return {
    ok: true,
    channel,
    ts: message.ts,
    message: messageJson(message, ctx.workspace.team.id),
  };
};

const chatUpdate: MethodHandler = (args, ctx) => {
  const channel = str(args, "channel");
  const ts = str(args, "ts");
  if (!channel || !ctx.workspace.channelExists(channel)) return failure("channel_not_found");
  if (!ts) return failure("message_not_found");
  const read = readContent(args, false);
  if ("error" in read) return read.error;
  const message = ctx.workspace.updateMessage(channel, ts, read.content, "chat.update", ctx.now);
  if (!message) return failure("message_not_found");
  return {
    ok: true,
    channel,
    ts,
    text: message.text,
    message: messageJson(message, ctx.workspace.team.id),
  };
};

const chatPostEphemeral: MethodHandler = (args, ctx) => {
  const channel = resolveChannel(args, ctx);
  if (!channel) return failure("channel_not_found");
  const user = str(args, "user");
  if (!user) return invalidArguments(["missing required field: user"]);
  if (!ctx.workspace.isUserId(user)) return failure("user_not_in_channel");
  const read = readContent(args, true);
  if ("error" in read) return read.error;
  const threadTs = str(args, "thread_ts");
  const ephemeral = ctx.workspace.postEphemeral(channel, user, fullContent(read.content), {
    ...(threadTs ? { threadTs } : {}),
    via: "chat.postEphemeral",
    now: ctx.now,
  });
  return { ok: true, message_ts: ephemeral.messageTs };
};

const chatDelete: MethodHandler = (args, ctx) => {
  const channel = str(args, "channel");
  const ts = str(args, "ts");
  if (!channel || !ctx.workspace.channelExists(channel)) return failure("channel_not_found");
  if (!ts || !ctx.workspace.deleteMessage(channel, ts, ctx.now)) {
    return failure("message_not_found");
  }
  return { ok: true, channel, ts };
};

const chatGetPermalink: MethodHandler = (args, ctx) => {
  const channel = str(args, "channel");
  const ts = str(args, "message_ts");
  if (!channel || !ctx.workspace.channelExists(channel)) return failure("channel_not_found");
  const message = ts === undefined ? undefined : ctx.workspace.message(channel, ts);
  if (!message || message.deleted) return failure("message_not_found");
  return { ok: true, channel, permalink: permalink(ctx, message) };
};

// ---- conversations.open ------------------------------------------------------------------------

const conversationsOpen: MethodHandler = (args, ctx) => {
  const channel = str(args, "channel");
  if (channel) {
    return ctx.workspace.channelExists(channel)
      ? { ok: true, channel: { id: channel } }
      : failure("channel_not_found");
  }
  const users = (str(args, "users") ?? "")
    .split(",")
    .map((u) => u.trim())
    .filter((u) => u.length > 0);
  if (users.length === 0) return failure("users_list_not_supplied");
  if (users.some((u) => !ctx.workspace.isUserId(u))) return failure("user_not_found");
  if (users.length > 1) {
    // Group DMs are not needed by the bot; say so instead of faking them badly.
    return failure("not_implemented_in_fake", { detail: "multi-person DMs" });
  }
  const dm = ctx.workspace.openDm(users[0] as string);
  return {
    ok: true,
    ...(dm.alreadyOpen ? { no_op: true, already_open: true } : {}),
    channel: { id: dm.id },
  };
};

// ---- views.* --------------------------------------------------------------------------------

function viewHash(now: number): string {
  return `${Math.floor(now / 1000)}.${slackId("", 8)}`;
}

/** Checks a trigger_id the way Slack does: known ones expire after 3 s and work once. */
function consumeTrigger(
  args: SlackArgs,
  ctx: MethodContext,
): { viewId?: string } | { error: SlackResponseBody } {
  const triggerId = str(args, "trigger_id") ?? str(args, "interactivity_pointer");
  if (!triggerId) return { error: invalidArguments(["missing required field: trigger_id"]) };
  const trigger = ctx.workspace.trigger(triggerId);
  // Trigger IDs the fake did not issue (built by hand in a test) are accepted as they are.
  if (!trigger) return {};
  if (trigger.usedAt !== undefined) return { error: failure("exchanged_trigger_id") };
  if (ctx.now - trigger.issuedAt > ctx.triggerTtlMs)
    return { error: failure("expired_trigger_id") };
  trigger.usedAt = ctx.now;
  return trigger.viewId === undefined ? {} : { viewId: trigger.viewId };
}

function buildView(
  input: Record<string, unknown>,
  ctx: MethodContext,
  ids: { id: string; rootViewId: string; previousViewId?: string },
): Record<string, unknown> {
  return {
    ...input,
    id: ids.id,
    team_id: ctx.workspace.team.id,
    type: input.type,
    blocks: input.blocks ?? [],
    private_metadata: input.private_metadata ?? "",
    callback_id: input.callback_id ?? "",
    external_id: input.external_id ?? "",
    state: { values: {} },
    hash: viewHash(ctx.now),
    clear_on_close: input.clear_on_close ?? false,
    notify_on_close: input.notify_on_close ?? false,
    root_view_id: ids.rootViewId,
    previous_view_id: ids.previousViewId ?? null,
    app_id: ctx.workspace.bot.appId,
    app_installed_team_id: ctx.workspace.team.id,
    bot_id: ctx.workspace.bot.botId,
  };
}

function readView(
  args: SlackArgs,
): { view: Record<string, unknown> } | { error: SlackResponseBody } {
  const view = args.view;
  const problems = viewProblems(view);
  if (problems.length > 0 || !isRecord(view)) return { error: invalidArguments(problems) };
  return { view };
}

function openView(via: "views.open" | "views.push"): MethodHandler {
  return (args, ctx) => {
    const read = readView(args);
    if ("error" in read) return read.error;
    const trigger = consumeTrigger(args, ctx);
    if ("error" in trigger) return trigger.error;
    const externalId = typeof read.view.external_id === "string" ? read.view.external_id : "";
    if (externalId && ctx.workspace.viewByExternalId(externalId)) {
      return failure("duplicate_external_id");
    }
    const id = slackId("V");
    const parent =
      via === "views.push" && trigger.viewId ? ctx.workspace.view(trigger.viewId) : undefined;
    const rootViewId = parent ? String(parent.view.root_view_id ?? parent.id) : id;
    const view = buildView(read.view, ctx, {
      id,
      rootViewId,
      ...(parent ? { previousViewId: parent.id } : {}),
    });
    ctx.workspace.storeView({
      id,
      view,
      openedAt: ctx.now,
      revisions: [{ view, at: ctx.now, via }],
    });
    return { ok: true, view };
  };
}

function replaceView(
  stored: StoredView,
  input: Record<string, unknown>,
  ctx: MethodContext,
  via: ViewSource,
) {
  const view = buildView(input, ctx, {
    id: stored.id,
    rootViewId: String(stored.view.root_view_id ?? stored.id),
    ...(typeof stored.view.previous_view_id === "string"
      ? { previousViewId: stored.view.previous_view_id }
      : {}),
  });
  stored.view = view;
  stored.updatedAt = ctx.now;
  stored.revisions.push({ view, at: ctx.now, via });
  return view;
}

const viewsUpdate: MethodHandler = (args, ctx) => {
  const read = readView(args);
  if ("error" in read) return read.error;
  const viewId = str(args, "view_id");
  const externalId = str(args, "external_id");
  if (!viewId && !externalId) {
    return invalidArguments(["either view_id or external_id is required"]);
  }
  const stored = viewId
    ? ctx.workspace.view(viewId)
    : ctx.workspace.viewByExternalId(externalId ?? "");
  if (!stored) return failure("not_found");
  const hash = str(args, "hash");
  // The hash guards against overwriting a newer version of the view (race between updates).
  if (hash !== undefined && hash !== stored.view.hash) return failure("hash_conflict");
  return { ok: true, view: replaceView(stored, read.view, ctx, "views.update") };
};

const viewsPublish: MethodHandler = (args, ctx) => {
  const userId = str(args, "user_id");
  if (!userId) return invalidArguments(["missing required field: user_id"]);
  const read = readView(args);
  if ("error" in read) return read.error;
  if (read.view.type !== "home")
    return invalidArguments(["must be home [json-pointer:/view/type]"]);
  const existing = ctx.workspace.views().find((v) => v.userId === userId);
  if (existing) {
    const hash = str(args, "hash");
    if (hash !== undefined && hash !== existing.view.hash) return failure("hash_conflict");
    return { ok: true, view: replaceView(existing, read.view, ctx, "views.publish") };
  }
  const id = slackId("V");
  const view = buildView(read.view, ctx, { id, rootViewId: id });
  ctx.workspace.storeView({
    id,
    view,
    userId,
    openedAt: ctx.now,
    revisions: [{ view, at: ctx.now, via: "views.publish" }],
  });
  return { ok: true, view };
};

// ---- auth, users, user groups ---------------------------------------------------------------------

const authTest: MethodHandler = (_args, ctx) => {
  const { team, bot } = ctx.workspace;
  return {
    ok: true,
    url: `https://${team.domain}.slack.com/`,
    team: team.name,
    user: bot.name,
    team_id: team.id,
    user_id: bot.userId,
    bot_id: bot.botId,
    is_enterprise_install: false,
  };
};

const usersInfo: MethodHandler = (args, ctx) => {
  const id = str(args, "user");
  if (!id || !ctx.workspace.isUserId(id)) return failure("user_not_found");
  const { team, bot } = ctx.workspace;
  const configured = ctx.workspace.user(id);
  const isBot = id === bot.userId || configured?.isBot === true;
  // Unknown but well-formed IDs get a stable generated person, so tests need not list everyone.
  const name = configured?.name ?? (id === bot.userId ? bot.name : `user-${id.toLowerCase()}`);
  const realName = configured?.realName ?? `User ${id}`;
  const tz = configured?.tz ?? "Etc/UTC";
  return {
    ok: true,
    user: {
      id,
      team_id: team.id,
      name,
      deleted: configured?.deleted ?? false,
      real_name: realName,
      tz,
      tz_label: tz,
      tz_offset: 0,
      is_admin: false,
      is_owner: false,
      is_bot: isBot,
      is_app_user: false,
      updated: Math.floor(ctx.now / 1000),
      profile: {
        real_name: realName,
        real_name_normalized: realName,
        display_name: name,
        display_name_normalized: name,
        ...(configured?.email ? { email: configured.email } : {}),
        team: team.id,
      },
    },
  };
};

const usergroupsUsersList: MethodHandler = (args, ctx) => {
  const id = str(args, "usergroup");
  if (!id) return invalidArguments(["missing required field: usergroup"]);
  const members = ctx.workspace.userGroup(id);
  if (!members) return failure("no_such_subteam");
  return { ok: true, users: [...members] };
};

const usergroupsList: MethodHandler = (args, ctx) => {
  const includeUsers = flag(args, "include_users");
  return {
    ok: true,
    usergroups: ctx.workspace.userGroupIds().map((id) => {
      const members = ctx.workspace.userGroup(id) ?? [];
      return {
        id,
        team_id: ctx.workspace.team.id,
        handle: id.toLowerCase(),
        name: id,
        user_count: members.length,
        ...(includeUsers ? { users: [...members] } : {}),
      };
    }),
  };
};

/** Every implemented method; anything else answers `unknown_method`. */
export const WEB_API_METHODS: ReadonlyMap<string, MethodHandler> = new Map<string, MethodHandler>([
  ["auth.test", authTest],
  ["chat.postMessage", chatPostMessage],
  ["chat.update", chatUpdate],
  ["chat.postEphemeral", chatPostEphemeral],
  ["chat.delete", chatDelete],
  ["chat.getPermalink", chatGetPermalink],
  ["conversations.open", conversationsOpen],
  ["views.open", openView("views.open")],
  ["views.push", openView("views.push")],
  ["views.update", viewsUpdate],
  ["views.publish", viewsPublish],
  ["users.info", usersInfo],
  ["usergroups.list", usergroupsList],
  ["usergroups.users.list", usergroupsUsersList],
]);
