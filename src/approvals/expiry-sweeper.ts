import type { AppDeps } from "../app-deps.js";
import { asCodedError } from "../errors.js";
import { reconcileJobs } from "../requests/lifecycle.js";
import { expireDueRequests, type SlackClient } from "./request-service.js";

export interface ExpirySweeper {
  /** One pass now (also what the timer runs): expire what is due, enqueue what is missing. */
  runOnce(): Promise<{ expired: number; enqueued: number }>;
  /** Stops the timer and waits for a pass in progress. */
  stop(): Promise<void>;
}

/**
 * The background loop of the approval flow, run by the `bot` and `serve` processes:
 * - expires pending requests past `expires_at` (compare-and-set, so several bot processes and
 *   a click racing the sweep expire each request once), updating the card and DMing the
 *   requester;
 * - reconciles: an approved request whose job is missing (Redis was down when it was
 *   approved, or lost its data) is enqueued again; the job id keeps it to one job.
 * Clicks check expiry themselves too, so the interval only bounds how stale a card can look.
 */
export function startExpirySweeper(
  deps: AppDeps,
  client: SlackClient,
  options: { intervalMs?: number } = {},
): ExpirySweeper {
  const intervalMs = options.intervalMs ?? 15_000;
  const ctx = { deps, client };
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let stopped = false;

  async function pass(): Promise<{ expired: number; enqueued: number }> {
    let expired = 0;
    let enqueued = 0;
    try {
      expired = await expireDueRequests(ctx);
    } catch (err) {
      deps.logger.warn(
        { err: asCodedError(err).message },
        "expiry sweep failed; retrying next round",
      );
    }
    try {
      enqueued = await reconcileJobs(deps, ["approved"]);
    } catch (err) {
      deps.logger.warn(
        { err: asCodedError(err).message },
        "job reconciliation failed; retrying next round",
      );
    }
    return { expired, enqueued };
  }

  function runOnce(): Promise<{ expired: number; enqueued: number }> {
    // Passes never overlap: a slow one (Slack rate limits) delays the next.
    const next = (running ?? Promise.resolve()).then(pass, pass);
    running = next;
    return next;
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      void runOnce().finally(schedule);
    }, intervalMs);
    timer.unref();
  }
  schedule();

  return {
    runOnce,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
}
