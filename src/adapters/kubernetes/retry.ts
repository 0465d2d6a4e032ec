import { CodedError } from "../../errors.js";
import type { Logger } from "../../logging/logger.js";
import { type ApiCall, describeFailure, failureToCodedError } from "./api-errors.js";

export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number;
  /** Delay before the second try; doubles after each failure. */
  initialDelayMs: number;
  /** Upper bound of any one delay, Retry-After included. */
  maxDelayMs: number;
}

/** About 15 s of trying in all: long enough for an API server rollout, short enough to report. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  attempts: 6,
  initialDelayMs: 250,
  maxDelayMs: 8_000,
};

export interface CallContext {
  policy: RetryPolicy;
  logger: Logger;
  /** Each try is abandoned after this long and counts as a transient failure. */
  requestTimeoutMs: number;
  /** Cancels the call (and any wait between tries) with a `cancelled` CodedError. */
  signal?: AbortSignal | undefined;
}

/**
 * Runs one API call, retrying transient failures (429, 5xx, 409 on patch, connection resets,
 * timeouts) with bounded exponential backoff; anything else becomes a `kubernetes_error`.
 */
export async function callWithRetries<T>(
  call: ApiCall,
  run: (signal: AbortSignal) => Promise<T>,
  ctx: CallContext,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    throwIfCancelled(call, ctx.signal);
    const timeout = AbortSignal.timeout(ctx.requestTimeoutMs);
    const signal = ctx.signal ? AbortSignal.any([ctx.signal, timeout]) : timeout;
    try {
      return await run(signal);
    } catch (err) {
      throwIfCancelled(call, ctx.signal);
      const failure = describeFailure(err, call.verb);
      if (!failure.transient || attempt >= ctx.policy.attempts) {
        throw failureToCodedError(call, failure, attempt, err);
      }
      const backoff = Math.min(
        ctx.policy.maxDelayMs,
        ctx.policy.initialDelayMs * 2 ** (attempt - 1),
      );
      // Half fixed, half random, so several workers retrying at once spread out.
      const jittered = backoff / 2 + Math.random() * (backoff / 2);
      const delayMs = Math.round(
        Math.min(ctx.policy.maxDelayMs, Math.max(jittered, failure.retryAfterMs ?? 0)),
      );
      ctx.logger.warn(
        {
          call: call.action,
          namespace: call.namespace,
          attempt,
          delayMs,
          status: failure.status,
          reason: failure.reason,
        },
        "Kubernetes call failed; retrying",
      );
      await sleep(delayMs, call, ctx.signal);
    }
  }
}

function throwIfCancelled(call: ApiCall, signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancelledError(call.action);
}

export function cancelledError(what: string): CodedError {
  return new CodedError("cancelled", `Cancelled while trying to ${what}.`);
}

function sleep(ms: number, call: ApiCall, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(cancelledError(call.action));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
