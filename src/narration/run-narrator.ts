import type { KindRegistry } from "../kinds/registry.js";
import type { Narrate, PhaseStatus, RunEvent, RunRequest, RunStatus } from "../runbook/types.js";
import {
  finishedText,
  haltedMessage,
  phaseProgressText,
  phaseStartedText,
  phaseSucceededText,
  runStartedText,
  statusCard,
} from "./run-messages.js";
import type { SlackContent, SlackOutbox } from "./slack-outbox.js";

function progressKey(request: RunRequest, phase: PhaseStatus): string {
  return `progress:${request.id}:${phase.index}:${phase.startedAt?.getTime() ?? 0}`;
}

/** Renders the approval card as a live status (the approvals card builder, or `statusCard`). */
export type CardRenderer = (
  request: RunRequest,
  status: RunStatus,
  now: Date,
) => SlackContent | Promise<SlackContent>;

export interface RunNarratorOptions {
  outbox: SlackOutbox;
  /** The kinds, for what a halt leaves (which phase takes a target down). */
  kinds: KindRegistry;
  renderCard?: CardRenderer;
  clock?: () => Date;
  /** Told where a halt message with buttons landed (so its buttons can be cleared later). */
  onControlsPosted?: (
    request: RunRequest,
    message: { channel: string; ts: string } & SlackContent,
  ) => void;
}

/**
 * Turns the runner's events into Slack narration: phase messages in the card's thread, a
 * progress line per phase edited in place, the card itself kept as a live status, and the
 * halt account with its buttons. Everything goes through the outbox, so nothing here waits for
 * Slack or throws into the runner.
 */
export function createRunNarrator(options: RunNarratorOptions): Narrate {
  const { outbox } = options;
  const clock = options.clock ?? (() => new Date());
  const render = options.renderCard ?? statusCard;

  const updateCard = (request: RunRequest, status: RunStatus) => {
    if (!request.cardTs) return;
    outbox.update(request.channelId, `card:${request.id}`, request.cardTs, () =>
      render(request, status, clock()),
    );
  };
  const thread = (request: RunRequest) => ({ threadTs: request.cardTs ?? undefined });

  return (event: RunEvent) => {
    const { request } = event;
    switch (event.type) {
      case "run-started":
        outbox.post(
          request.channelId,
          { text: runStartedText(request, event.status, event.resumed) },
          thread(request),
        );
        updateCard(request, event.status);
        return;
      case "phase-started":
        outbox.post(
          request.channelId,
          { text: phaseStartedText(event.position, event.total, event.phase.title, event.attempt) },
          thread(request),
        );
        updateCard(request, event.status);
        return;
      case "phase-progress": {
        const position = event.status.phases.findIndex((p) => p.index === event.phase.index) + 1;
        const key = progressKey(request, event.phase);
        outbox.upsert(
          request.channelId,
          key,
          {
            text: phaseProgressText(
              position,
              event.status.phases.length,
              event.phase,
              event.text,
              clock(),
            ),
          },
          thread(request),
        );
        updateCard(request, event.status);
        return;
      }
      case "phase-note":
        outbox.post(request.channelId, { text: `• ${event.text}` }, thread(request));
        return;
      case "phase-succeeded":
        // Its end message says more than a progress line still waiting to be sent.
        outbox.discard(request.channelId, progressKey(request, event.phase));
        outbox.post(
          request.channelId,
          {
            text: phaseSucceededText(
              event.position,
              event.total,
              event.phase.title,
              event.durationMs,
              event.summary,
            ),
          },
          thread(request),
        );
        updateCard(request, event.status);
        return;
      case "run-halted": {
        const message = haltedMessage({
          kinds: options.kinds,
          request,
          status: event.status,
          phase: event.phase,
          reason: event.reason,
          account: event.account,
        });
        const onPosted = options.onControlsPosted;
        outbox.post(request.channelId, message, {
          ...thread(request),
          mergeable: false,
          ...(onPosted
            ? {
                onPosted: (ts: string) =>
                  onPosted(request, { channel: request.channelId, ts, ...message }),
              }
            : {}),
        });
        updateCard(request, event.status);
        return;
      }
      case "run-finished":
        outbox.post(
          request.channelId,
          { text: finishedText(event.status, event.lines) },
          { ...thread(request), mergeable: false },
        );
        updateCard(request, event.status);
        return;
      case "status-tick":
        updateCard(request, event.status);
        return;
    }
  };
}
