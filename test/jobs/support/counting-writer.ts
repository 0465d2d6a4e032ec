import type { SlackWriter } from "../../../src/narration/slack-outbox.js";

/**
 * Wraps the worker's real Slack writer, counting the calls that failed: the Slack stand-in
 * cannot record a call that never reached it (429s, 500s, an unreachable server).
 */
export function countingFailures(inner: SlackWriter): SlackWriter & { failures: number } {
  const counted = {
    failures: 0,
    async postMessage(args: Parameters<SlackWriter["postMessage"]>[0]) {
      try {
        return await inner.postMessage(args);
      } catch (err) {
        counted.failures++;
        throw err;
      }
    },
    async update(args: Parameters<SlackWriter["update"]>[0]) {
      try {
        await inner.update(args);
      } catch (err) {
        counted.failures++;
        throw err;
      }
    },
  };
  return counted;
}
