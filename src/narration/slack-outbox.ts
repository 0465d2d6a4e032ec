import type { ChatPostMessageArguments, ChatUpdateArguments, WebClient } from "@slack/web-api";
import type { Logger } from "../logging/logger.js";

/**
 * Outgoing Slack messages of the worker, paced per channel. Slack allows about one message per
 * second per channel (chat.postMessage's special limit) and answers 429 with Retry-After beyond
 * that; a restore must never wait for Slack, so callers only enqueue (synchronously, never
 * throwing) and each channel's lane sends in the background:
 * - at most one call per `minIntervalMs` per channel;
 * - on 429, the lane sleeps for Retry-After and sends the same item again;
 * - transient failures (network, 5xx, Slack unreachable) are retried with backoff: an edit of
 *   the card is never given up (it is the one place people look, so its latest state must get
 *   out whenever Slack is back), and a thread message is given up only after failing for
 *   `postRetryWindowMs`;
 * - an edit of the card goes before queued thread messages (which keep their order);
 * - a queued update of the same message (the status card, a progress line) is replaced by a
 *   newer one instead of queueing both, and consecutive plain thread posts are merged into one
 *   message, so a burst of phase messages costs one call.
 */

export interface SlackContent {
  text: string;
  blocks?: unknown[];
}

/** Computes an edit when it is sent; undefined when there is nothing (any more) to draw. */
export type CardRender = () => SlackContent | undefined | Promise<SlackContent | undefined>;

/** The two Web API methods narration uses. */
export interface SlackWriter {
  postMessage(args: {
    channel: string;
    thread_ts?: string;
    text: string;
    blocks?: unknown[];
  }): Promise<{ ts?: string }>;
  update(args: { channel: string; ts: string; text: string; blocks?: unknown[] }): Promise<void>;
}

/** A failure from the writer, classified; the WebClient adapter produces these. */
export class SlackSendError extends Error {
  constructor(
    message: string,
    readonly kind: "rate_limited" | "transient" | "permanent",
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = "SlackSendError";
  }
}

type Item =
  | {
      kind: "post";
      threadTs: string | undefined;
      content: SlackContent;
      /** Plain posts to the same thread may be merged with the next ones while queued. */
      mergeable: boolean;
      attempts: number;
      firstFailureAt?: number;
      /** Called with the message's ts once Slack took it. */
      onPosted?: (ts: string) => void;
    }
  | {
      /** Posted once, then edited in place (a progress line). */
      kind: "upsert";
      key: string;
      threadTs: string | undefined;
      content: SlackContent;
      attempts: number;
      firstFailureAt?: number;
    }
  | {
      /** An edit of a known message whose content is computed when it is sent (the card). */
      kind: "update";
      key: string;
      ts: string;
      render: CardRender;
      attempts: number;
      firstFailureAt?: number;
      /** Called after Slack accepted the edit (to check it did not race a newer state). */
      onSent?: () => void;
    };

interface Lane {
  channel: string;
  items: Item[];
  inFlight: Item | undefined;
  nextAt: number;
  draining: boolean;
  wake: (() => void) | undefined;
}

export interface SlackOutboxOptions {
  writer: SlackWriter;
  logger: Logger;
  /** Spacing of calls in one channel; a little over 1 s keeps clear of Slack's limit. */
  minIntervalMs?: number;
  /** Merged thread posts stay below this many characters (Slack truncates near 40 000). */
  maxMergedChars?: number;
  /** A lane holding more items than this drops its oldest plain posts (Slack down for long). */
  maxQueuedItems?: number;
  /** How long an idle lane waits for the rest of a burst before sending; default 100 ms. */
  gatherMs?: number;
  /** Longest wait between two attempts while Slack fails; default 3 s (so recovery is quick). */
  maxBackoffMs?: number;
  /** A thread message failing for longer than this is dropped; default 15 min. Never a card edit. */
  postRetryWindowMs?: number;
}

export class SlackOutbox {
  private readonly lanes = new Map<string, Lane>();
  /** ts of messages posted by `upsert`, by key. */
  private readonly upserted = new Map<string, string>();
  private readonly idleWaiters = new Set<() => void>();
  private closed = false;
  private readonly minIntervalMs: number;
  private readonly maxMergedChars: number;
  private readonly maxQueuedItems: number;
  private readonly gatherMs: number;
  private readonly maxBackoffMs: number;
  private readonly postRetryWindowMs: number;

  constructor(private readonly options: SlackOutboxOptions) {
    this.minIntervalMs = options.minIntervalMs ?? 1_050;
    this.maxMergedChars = options.maxMergedChars ?? 3_500;
    this.maxQueuedItems = options.maxQueuedItems ?? 200;
    this.gatherMs = options.gatherMs ?? 100;
    this.maxBackoffMs = options.maxBackoffMs ?? 3_000;
    this.postRetryWindowMs = options.postRetryWindowMs ?? 15 * 60_000;
  }

  /** A message in the channel (or in a thread); `mergeable` posts may be joined while queued. */
  post(
    channel: string,
    content: SlackContent,
    options: { threadTs?: string; mergeable?: boolean; onPosted?: (ts: string) => void } = {},
  ): void {
    const lane = this.lane(channel);
    const mergeable = (options.mergeable ?? true) && !content.blocks && !options.onPosted;
    // Merge into the last queued post even past queued card edits (they render the latest
    // state whenever they go), but never past a progress line, which must stay in its place.
    let last: Item | undefined;
    for (let i = lane.items.length - 1; i >= 0; i--) {
      const item = lane.items[i] as Item;
      if (item.kind === "update") continue;
      last = item;
      break;
    }
    if (
      mergeable &&
      last?.kind === "post" &&
      last.mergeable &&
      last.threadTs === options.threadTs &&
      last.content.text.length + content.text.length + 1 <= this.maxMergedChars
    ) {
      last.content = { text: `${last.content.text}\n${content.text}` };
    } else {
      this.enqueue(lane, {
        kind: "post",
        threadTs: options.threadTs,
        content,
        mergeable,
        attempts: 0,
        ...(options.onPosted ? { onPosted: options.onPosted } : {}),
      });
    }
  }

  /** Posts a message under `key` the first time, then edits that same message. */
  upsert(channel: string, key: string, content: SlackContent, options: { threadTs?: string } = {}) {
    const lane = this.lane(channel);
    const queued = lane.items.find((i) => i.kind === "upsert" && i.key === key);
    if (queued && queued.kind === "upsert") {
      queued.content = content;
      return;
    }
    this.enqueue(lane, { kind: "upsert", key, threadTs: options.threadTs, content, attempts: 0 });
  }

  /** Drops a queued post-or-edit under `key` (a progress line whose phase has just ended). */
  discard(channel: string, key: string): void {
    const lane = this.lanes.get(channel);
    if (!lane) return;
    const i = lane.items.findIndex((item) => item.kind === "upsert" && item.key === key);
    if (i >= 0) lane.items.splice(i, 1);
  }

  /**
   * Edits message `ts`; a queued edit under the same key is replaced (only the latest matters).
   * The edit is retried until Slack takes it or the outbox is closed.
   */
  update(
    channel: string,
    key: string,
    ts: string,
    render: CardRender,
    options: { onSent?: () => void } = {},
  ): void {
    const lane = this.lane(channel);
    const queued = lane.items.find((i) => i.kind === "update" && i.key === key);
    if (queued && queued.kind === "update") {
      queued.render = render;
      queued.ts = ts;
      queued.onSent = options.onSent;
      return;
    }
    this.enqueue(lane, {
      kind: "update",
      key,
      ts,
      render,
      attempts: 0,
      ...(options.onSent ? { onSent: options.onSent } : {}),
    });
  }

  /** Items waiting or being sent, over all channels. */
  pending(): number {
    let n = 0;
    for (const lane of this.lanes.values()) n += lane.items.length + (lane.inFlight ? 1 : 0);
    return n;
  }

  /** Resolves true when everything queued has been sent (or dropped), false after `timeoutMs`. */
  flush(timeoutMs: number): Promise<boolean> {
    if (this.pending() === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (value: boolean) => {
        clearTimeout(timer);
        this.idleWaiters.delete(onIdle);
        resolve(value);
      };
      const onIdle = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      timer.unref();
      this.idleWaiters.add(onIdle);
    });
  }

  /** Stops sending; whatever is still queued is dropped. */
  close(): void {
    this.closed = true;
    for (const lane of this.lanes.values()) {
      lane.items.length = 0;
      lane.wake?.();
    }
    this.notifyIdle();
  }

  private lane(channel: string): Lane {
    let lane = this.lanes.get(channel);
    if (!lane) {
      lane = {
        channel,
        items: [],
        inFlight: undefined,
        nextAt: 0,
        draining: false,
        wake: undefined,
      };
      this.lanes.set(channel, lane);
    }
    return lane;
  }

  private enqueue(lane: Lane, item: Item): void {
    if (this.closed) return;
    lane.items.push(item);
    if (lane.items.length > this.maxQueuedItems) {
      // Never a card edit: those are one per message, and the card must always catch up.
      let oldest = lane.items.findIndex((i) => i.kind === "post" && i.mergeable);
      if (oldest < 0) oldest = lane.items.findIndex((i) => i.kind !== "update");
      if (oldest < 0) return;
      const [dropped] = lane.items.splice(oldest, 1);
      this.options.logger.warn(
        { channel: lane.channel, kind: dropped?.kind },
        "Slack narration backlog too long; dropped the oldest message",
      );
    }
    if (!lane.draining) void this.drain(lane);
  }

  private async drain(lane: Lane): Promise<void> {
    lane.draining = true;
    try {
      // A run's events come in bursts (a phase ends, the next starts): wait a moment so the
      // burst leaves as one message instead of one now and the rest a second later.
      if (this.gatherMs > 0 && lane.nextAt <= Date.now()) await this.sleep(lane, this.gatherMs);
      while (!this.closed && lane.items.length > 0) {
        const wait = lane.nextAt - Date.now();
        if (wait > 0) await this.sleep(lane, wait);
        if (this.closed) break;
        const item = this.next(lane);
        if (!item) break;
        lane.inFlight = item;
        try {
          await this.send(lane.channel, item);
          lane.nextAt = Date.now() + this.minIntervalMs;
        } catch (err) {
          this.handleFailure(lane, item, err);
        } finally {
          lane.inFlight = undefined;
        }
      }
    } finally {
      lane.draining = false;
      if (this.pending() === 0) this.notifyIdle();
    }
  }

  private handleFailure(lane: Lane, item: Item, err: unknown): void {
    const failure =
      err instanceof SlackSendError
        ? err
        : new SlackSendError(err instanceof Error ? err.message : String(err), "transient");
    if (failure.kind === "rate_limited") {
      // Slack said when to come back; the item keeps its place at the head of the lane.
      lane.items.unshift(item);
      lane.nextAt = Date.now() + Math.max(failure.retryAfterMs ?? 1_000, this.minIntervalMs);
      this.options.logger.info(
        { channel: lane.channel, retryAfterMs: failure.retryAfterMs },
        "Slack rate limit: narration paused for Retry-After",
      );
      return;
    }
    item.attempts += 1;
    const now = Date.now();
    item.firstFailureAt ??= now;
    if (failure.kind === "transient") {
      if (item.kind === "update") {
        // A newer edit of the same message queued meanwhile supersedes this one.
        const newer = lane.items.some((i) => i.kind === "update" && i.key === item.key);
        if (!newer) lane.items.unshift(item);
        lane.nextAt = now + this.backoffMs(item.attempts);
        if (item.attempts === 1 || item.attempts % 10 === 0)
          this.options.logger.warn(
            { channel: lane.channel, attempts: item.attempts, err: failure.message },
            "Slack did not take the card update; retrying until it does",
          );
        return;
      }
      if (now - item.firstFailureAt < this.postRetryWindowMs) {
        lane.items.unshift(item);
        lane.nextAt = now + this.backoffMs(item.attempts);
        return;
      }
    }
    lane.nextAt = now + this.minIntervalMs;
    this.options.logger.warn(
      { channel: lane.channel, kind: item.kind, err: failure.message },
      "a narration message could not be sent to Slack; dropped",
    );
  }

  /**
   * The card first: it is the one place people look, and after an outage the thread's backlog
   * (sent one call per interval) must not keep it stale. Thread messages keep their order.
   */
  private next(lane: Lane): Item | undefined {
    const card = lane.items.findIndex((i) => i.kind === "update");
    return card > 0 ? lane.items.splice(card, 1)[0] : lane.items.shift();
  }

  /** 1 s, 2 s, 4 s … up to `maxBackoffMs`: quick to notice Slack is back, gentle while it is not. */
  private backoffMs(attempts: number): number {
    return Math.max(this.minIntervalMs, Math.min(this.maxBackoffMs, 1_000 * 2 ** (attempts - 1)));
  }

  private async send(channel: string, item: Item): Promise<void> {
    const { writer } = this.options;
    switch (item.kind) {
      case "post": {
        const posted = await writer.postMessage({
          channel,
          text: item.content.text,
          ...(item.content.blocks ? { blocks: item.content.blocks } : {}),
          ...(item.threadTs ? { thread_ts: item.threadTs } : {}),
        });
        if (posted.ts && item.onPosted)
          this.afterSent(channel, () => item.onPosted?.(posted.ts as string));
        return;
      }
      case "upsert": {
        const ts = this.upserted.get(item.key);
        if (ts) {
          await writer.update({ channel, ts, ...item.content });
          return;
        }
        const posted = await writer.postMessage({
          channel,
          text: item.content.text,
          ...(item.content.blocks ? { blocks: item.content.blocks } : {}),
          ...(item.threadTs ? { thread_ts: item.threadTs } : {}),
        });
        if (posted.ts) this.upserted.set(item.key, posted.ts);
        return;
      }
      case "update": {
        const content = await item.render();
        if (!content) return;
        await writer.update({ channel, ts: item.ts, ...content });
        if (item.onSent) this.afterSent(channel, item.onSent);
        return;
      }
    }
  }

  /** A caller's hook after Slack took a message: its failure is logged, never a send failure. */
  private afterSent(channel: string, hook: () => void): void {
    try {
      hook();
    } catch (err) {
      this.options.logger.warn(
        { channel, err: err instanceof Error ? err.message : String(err) },
        "a hook after a Slack message failed",
      );
    }
  }

  private sleep(lane: Lane, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        lane.wake = undefined;
        resolve();
      }
      lane.wake = done;
    });
  }

  private notifyIdle(): void {
    for (const waiter of [...this.idleWaiters]) waiter();
  }
}

/** Slack API error codes that describe Slack's trouble, not the call (retried like a 5xx). */
const SLACK_SIDE_ERRORS = new Set([
  "internal_error",
  "fatal_error",
  "service_unavailable",
  "request_timeout",
]);

/**
 * Adapts a WebClient built with `rejectRateLimitedCalls: true` and no retries (the outbox does
 * both, so a 429 never blocks a call inside the client), classifying its errors.
 */
export function slackWriterFromWebClient(client: Pick<WebClient, "chat">): SlackWriter {
  const classify = (err: unknown): SlackSendError => {
    const e = err as {
      code?: string;
      retryAfter?: number;
      message?: string;
      data?: { error?: string };
    };
    const message = e.data?.error ?? e.message ?? String(err);
    switch (e.code) {
      case "slack_webapi_rate_limited_error":
        return new SlackSendError(message, "rate_limited", (e.retryAfter ?? 1) * 1_000);
      case "slack_webapi_request_error":
      case "slack_webapi_http_error":
        return new SlackSendError(message, "transient");
      case "slack_webapi_platform_error":
        if (e.data?.error === "ratelimited")
          return new SlackSendError(message, "rate_limited", 1_000);
        // Slack's own trouble, documented as "try again": never the message's fault.
        return new SlackSendError(
          message,
          SLACK_SIDE_ERRORS.has(e.data?.error ?? "") ? "transient" : "permanent",
        );
      default:
        return new SlackSendError(message, "transient");
    }
  };
  return {
    async postMessage(args) {
      try {
        const result = await client.chat.postMessage(args as ChatPostMessageArguments);
        return { ts: result.ts };
      } catch (err) {
        throw classify(err);
      }
    },
    async update(args) {
      try {
        await client.chat.update(args as ChatUpdateArguments);
      } catch (err) {
        throw classify(err);
      }
    },
  };
}
