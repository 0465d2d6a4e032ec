import type pg from "pg";
import type { KindRegistry } from "../kinds/registry.js";
import type { Logger } from "../logging/logger.js";
import { cardFromDatabase } from "./approval-card.js";
import type { SlackOutbox } from "./slack-outbox.js";

/**
 * Cards of recent runs, drawn again from the database when a worker starts. A worker that
 * stopped (or crashed) while Slack was unreachable may have lost the last edit of a card: its
 * run finished or halted, the thread may even say so, but the card still shows "Running".
 * Redrawing is idempotent, so every worker does it on start and Slack ends with the state the
 * database holds.
 *
 * A `running` run is left to the worker running it (its narrator redraws the card every few
 * seconds, and a resumed run redraws it at once).
 */

/** States whose card the worker last drew and nobody else redraws by themselves. */
const REDRAWN_STATES = ["halted", "succeeded", "rolled_back", "abandoned", "cancelled"];

/** Runs changed within this long before a worker starts get their card redrawn; default 24 h. */
export const DEFAULT_REDRAW_WITHIN_MS = 24 * 3_600_000;

export async function redrawRecentCards(options: {
  db: Pick<pg.Pool, "query">;
  kinds: KindRegistry;
  outbox: SlackOutbox;
  logger: Logger;
  withinMs?: number;
  clock?: () => Date;
}): Promise<number> {
  const { db, kinds, outbox, logger } = options;
  const clock = options.clock ?? (() => new Date());
  const withinMs = options.withinMs ?? DEFAULT_REDRAW_WITHIN_MS;
  const { rows } = await db.query<{ id: string; channel_id: string; card_ts: string }>(
    `SELECT id, channel_id, card_ts FROM restore_requests
     WHERE card_ts IS NOT NULL AND started_at IS NOT NULL AND state = ANY($1)
       AND updated_at > $2
     ORDER BY updated_at DESC LIMIT 200`,
    [REDRAWN_STATES, new Date(clock().getTime() - withinMs)],
  );
  for (const row of rows) redrawCard(db, kinds, outbox, logger, row, clock);
  if (rows.length)
    logger.info({ cards: rows.length }, "redrawing the cards of recent runs from the database");
  return rows.length;
}

/** Queues one redraw; if the request changed while it was on the wire, queues another. */
function redrawCard(
  db: Pick<pg.Pool, "query">,
  kinds: KindRegistry,
  outbox: SlackOutbox,
  logger: Logger,
  row: { id: string; channel_id: string; card_ts: string },
  clock: () => Date,
  round = 0,
): void {
  let drawnVersion: number | undefined;
  outbox.update(
    row.channel_id,
    `card:${row.id}`,
    row.card_ts,
    async () => {
      const version = await currentVersion(db, row.id);
      if (version === undefined || !REDRAWN_STATES.includes(version.state)) return undefined;
      drawnVersion = version.version;
      return cardFromDatabase(db, kinds, row.id, clock());
    },
    {
      onSent: () => {
        // A button pressed while this edit was on the wire is drawn by the bot; if its edit
        // landed first, this one would show the older state, so draw once more.
        void currentVersion(db, row.id)
          .then((now) => {
            if (now && now.version !== drawnVersion && round < 3)
              redrawCard(db, kinds, outbox, logger, row, clock, round + 1);
          })
          .catch((err: unknown) =>
            logger.warn(
              { requestId: row.id, err: err instanceof Error ? err.message : String(err) },
              "could not re-check a redrawn card",
            ),
          );
      },
    },
  );
}

async function currentVersion(
  db: Pick<pg.Pool, "query">,
  id: string,
): Promise<{ version: number; state: string } | undefined> {
  const { rows } = await db.query<{ version: number; state: string }>(
    "SELECT version, state FROM restore_requests WHERE id = $1",
    [id],
  );
  return rows[0];
}
