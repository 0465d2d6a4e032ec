import type { PodTiming } from "./types.js";

/** Fast enough for tests, slow enough that every intermediate pod state is observable. */
export const DEFAULT_TIMING: PodTiming = {
  startDelayMs: 20,
  readyDelayMs: 60,
  terminationDelayMs: 50,
};
