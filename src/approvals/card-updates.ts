import type { WebClient } from "@slack/web-api";
import type { Queryable } from "../audit/audit-log.js";
import type { KindRegistry } from "../kinds/registry.js";
import type { Logger } from "../logging/logger.js";
import { buildRequestCard } from "./card.js";
import { getRequest, listApprovals, type RequestState } from "./request-store.js";

/**
 * The states whose card the bot renders. From `running` on the runner owns the card (it adds
 * live phases and its buttons), so the bot never overwrites it then.
 */
const BOT_RENDERED: readonly RequestState[] = [
  "pending",
  "approved",
  "rejected",
  "expired",
  "cancelled",
];

/** Redraws of one refresh while other replicas keep changing the request. */
const MAX_REDRAWS = 5;

/**
 * Re-renders approval cards from the database. Updates of one request are serialised and each
 * renders the latest committed state, so when two clicks land together the card ends in the
 * final state rather than whichever update reached Slack last; across processes (several bot
 * replicas) each update is followed by a re-read, and a stale one is drawn again.
 */
export class CardPublisher {
  private readonly chains = new Map<string, Promise<void>>();

  constructor(
    private readonly db: Queryable,
    private readonly logger: Logger,
    private readonly clock: () => Date,
    private readonly kinds: KindRegistry,
  ) {}

  /** Resolves once the card shows the request's state as of (at least) this call. */
  refresh(client: Pick<WebClient, "chat">, requestId: string): Promise<void> {
    const previous = this.chains.get(requestId) ?? Promise.resolve();
    const next = previous.then(() => this.render(client, requestId));
    this.chains.set(requestId, next);
    void next.finally(() => {
      if (this.chains.get(requestId) === next) this.chains.delete(requestId);
    });
    return next;
  }

  private async render(client: Pick<WebClient, "chat">, requestId: string): Promise<void> {
    try {
      for (let attempt = 0; attempt < MAX_REDRAWS; attempt++) {
        const request = await getRequest(this.db, requestId);
        if (!request?.cardTs || !BOT_RENDERED.includes(request.state)) return;
        const approvals = await listApprovals(this.db, requestId);
        const card = buildRequestCard({ kinds: this.kinds, request, approvals, now: this.clock() });
        await client.chat.update({
          channel: request.channelId,
          ts: request.cardTs,
          text: card.text,
          blocks: card.blocks,
        });
        // Another bot replica may have drawn a newer state while this update was on the
        // wire, and Slack keeps whichever update arrived last: if the row moved on since it
        // was read, draw again, so the last update to land always shows the current state.
        const after = await getRequest(this.db, requestId);
        if (after?.version === request.version) return;
      }
    } catch (err) {
      // The decision stands in PostgreSQL; the next change (or /restore status) shows it.
      this.logger.warn(
        { requestId, err: err instanceof Error ? err.message : String(err) },
        "could not update the approval card",
      );
    }
  }
}
