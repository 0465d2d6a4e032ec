import { type RunNotice, runNoticeText } from "../approvals/notices.js";
import { listApprovals } from "../approvals/request-store.js";
import type { DatabasePool } from "../db/database.js";
import type { KindRegistry } from "../kinds/registry.js";
import type { Logger } from "../logging/logger.js";
import type { Narrate, RunEvent } from "../runbook/types.js";
import { staysDown } from "./run-messages.js";
import type { SlackOutbox } from "./slack-outbox.js";

/**
 * Direct messages to the requester and to the people who approved, when a run halts (it waits
 * for one of them) and when it ends. Sent through the outbox (a DM is a post to the user's ID),
 * so they are paced, retried through outages, and never hold up the run.
 */
export function createRunNotifier(options: {
  kinds: KindRegistry;
  db: Pick<DatabasePool, "query">;
  outbox: SlackOutbox;
  logger: Logger;
}): Narrate {
  const { db, outbox, logger } = options;
  const send = async (event: RunEvent, notice: RunNotice) => {
    const { request } = event;
    const approvals = await listApprovals(db, request.id);
    const people = new Set([
      request.requester,
      ...approvals.filter((a) => a.decision === "approve").map((a) => a.approver),
    ]);
    // A scheduled backup has no person behind it: its card in the channel is the notice.
    people.delete("schedule");
    const text = runNoticeText(request, notice);
    for (const person of people) outbox.post(person, { text }, { mergeable: false });
  };
  return (event) => {
    let notice: RunNotice | undefined;
    if (event.type === "run-halted") {
      const position = event.phase
        ? event.status.phases.findIndex((p) => p.index === event.phase?.index) + 1
        : 0;
      notice = {
        kind: "halted",
        where: event.phase
          ? `${event.status.mode === "rollback" ? "roll back step" : "phase"} ${position}/${event.status.phases.length} (${event.phase.title})`
          : undefined,
        reason: event.reason,
        staysDown: staysDown(options.kinds, event.request, event.status) !== undefined,
      };
    } else if (event.type === "run-finished") {
      const state = event.status.state;
      notice =
        state === "cancelled"
          ? { kind: "cancelled", by: event.request.cancelRequestedBy ?? undefined }
          : state === "rolled_back"
            ? { kind: "rolled_back", summary: event.lines.join(" ") }
            : { kind: "succeeded", summary: event.lines.join(" ") };
    }
    if (!notice) return;
    const chosen = notice;
    void send(event, chosen).catch((err: unknown) =>
      logger.warn(
        {
          requestId: event.request.id,
          notice: chosen.kind,
          err: err instanceof Error ? err.message : String(err),
        },
        "could not send the run's direct messages",
      ),
    );
  };
}
