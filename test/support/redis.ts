import { randomBytes } from "node:crypto";

export const REDIS_TEST_URL = process.env.REDIS_TEST_URL ?? "redis://127.0.0.1:6379";

/** A queue prefix of its own for each test, so tests never see each other's jobs. */
export function uniqueQueuePrefix(label = "test"): string {
  return `rbtest-${label}-${randomBytes(4).toString("hex")}`;
}
