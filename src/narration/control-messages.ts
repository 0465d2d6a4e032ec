import type { WebClient } from "@slack/web-api";
import type pg from "pg";
import type { Logger } from "../logging/logger.js";
import type { RunControl } from "../runbook/types.js";
import { formatUtcClock } from "../text/format.js";
import { withoutMentions } from "./run-messages.js";
import type { SlackContent, SlackOutbox } from "./slack-outbox.js";

/**
 * The thread messages of a halted run that carry its buttons. Once someone chooses (or the run
 * is no longer halted), their buttons are replaced by who chose what, so nobody presses a
 * stale Retry / Roll back / Abandon further up the thread. restorebot cannot read Slack's
 * history, so each such message is kept in the database until its buttons are cleared.
 */

type Db = Pick<pg.Pool, "query">;

const CHOICE_WORDS: Record<RunControl, string> = {
  retry: "Retry phase",
  rollback: "Roll back",
  abandon: "Abandon",
};

const CHOICE_EVENTS: Record<string, RunControl> = {
  retry_requested: "retry",
  rollback_requested: "rollback",
  abandoned: "abandon",
};

export interface ControlMessage {
  channel: string;
  ts: string;
  text: string;
  blocks: unknown[];
}

export interface Choice {
  userId: string;
  control: RunControl;
  at: Date;
}

/** The halt message with its buttons (and the line about who may press them) replaced. */
export function withoutButtons(message: ControlMessage, choice: Choice | undefined): SlackContent {
  const note = choice
    ? `:ballot_box_with_check: <@${choice.userId}> chose *${CHOICE_WORDS[choice.control]}* at ${formatUtcClock(choice.at)}; these buttons are gone.`
    : ":ballot_box_with_check: This stop has been dealt with; these buttons are gone.";
  const blocks = message.blocks.filter((block) => {
    const b = block as { type?: string; block_id?: string; elements?: Array<{ text?: string }> };
    if (b.type === "actions") return false;
    // The line saying who may press the buttons goes with them.
    return !(b.type === "context" && /can press these/.test(b.elements?.[0]?.text ?? ""));
  });
  blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: note }] });
  // A halt message stored before its text left people out is cleaned here too.
  return { text: withoutMentions(message.text), blocks };
}

export async function recordControlMessage(
  db: Db,
  requestId: string,
  message: ControlMessage,
): Promise<void> {
  await db.query(
    `INSERT INTO run_control_messages (request_id, channel_id, ts, text, blocks)
     VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT DO NOTHING`,
    [requestId, message.channel, message.ts, message.text, JSON.stringify(message.blocks)],
  );
}

async function controlMessages(db: Db, requestId: string): Promise<ControlMessage[]> {
  const { rows } = await db.query<{
    channel_id: string;
    ts: string;
    text: string;
    blocks: unknown[];
  }>(
    "SELECT channel_id, ts, text, blocks FROM run_control_messages WHERE request_id = $1 ORDER BY posted_at",
    [requestId],
  );
  return rows.map((r) => ({ channel: r.channel_id, ts: r.ts, text: r.text, blocks: r.blocks }));
}

async function forget(db: Db, requestId: string, ts: string): Promise<void> {
  await db.query("DELETE FROM run_control_messages WHERE request_id = $1 AND ts = $2", [
    requestId,
    ts,
  ]);
}

/** The latest choice made on a halted run, from the audit log. */
export async function latestChoice(db: Db, requestId: string): Promise<Choice | undefined> {
  const { rows } = await db.query<{ actor: string; event: string; at: Date }>(
    `SELECT actor, event, at FROM audit_events
     WHERE request_id = $1 AND event = ANY($2) ORDER BY at DESC, id DESC LIMIT 1`,
    [requestId, Object.keys(CHOICE_EVENTS)],
  );
  const row = rows[0];
  const control = row ? CHOICE_EVENTS[row.event] : undefined;
  return row && control ? { userId: row.actor, control, at: row.at } : undefined;
}

/** The bot, after a press: clears the buttons of every halt message of the run. */
export async function clearControlMessages(
  db: Db,
  client: Pick<WebClient, "chat">,
  logger: Logger,
  requestId: string,
  choice: Choice,
): Promise<void> {
  for (const message of await controlMessages(db, requestId)) {
    try {
      const content = withoutButtons(message, choice);
      await client.chat.update({
        channel: message.channel,
        ts: message.ts,
        text: content.text,
        blocks: content.blocks as never,
      });
      await forget(db, requestId, message.ts);
    } catch (err) {
      logger.warn(
        { requestId, err: err instanceof Error ? err.message : String(err) },
        "could not clear the buttons of a halt message",
      );
    }
  }
}

/**
 * The worker, once a halt message landed: records it, and if someone already chose meanwhile
 * (Slack was slow, the press was quick), clears its buttons at once.
 */
export function controlsPostedHandler(db: Db, outbox: SlackOutbox, logger: Logger) {
  return (requestId: string, message: ControlMessage): void => {
    void (async () => {
      await recordControlMessage(db, requestId, message);
      const { rows } = await db.query<{ state: string }>(
        "SELECT state FROM restore_requests WHERE id = $1",
        [requestId],
      );
      if (rows[0]?.state === "halted") return;
      const choice = await latestChoice(db, requestId);
      outbox.update(message.channel, `controls:${message.ts}`, message.ts, async () => {
        await forget(db, requestId, message.ts);
        return withoutButtons(message, choice);
      });
    })().catch((err: unknown) =>
      logger.warn(
        { requestId, err: err instanceof Error ? err.message : String(err) },
        "could not record a halt message's buttons",
      ),
    );
  };
}
