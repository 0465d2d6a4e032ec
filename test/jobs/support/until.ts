import type { ClusterSnapshot } from "../../../stand-ins/kubernetes/index.js";

/**
 * Polls until `probe` holds (returns something other than undefined or false) and returns it.
 * The deadline is only a backstop for a run that is stuck: it is far beyond what any awaited
 * step takes even on a busy machine, so it never decides a result.
 */
export async function until<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  what: string | (() => string),
  timeoutMs = 120_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${typeof what === "string" ? what : what()}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Each component's spec replica count, by name. */
export function replicasOf(snapshot: ClusterSnapshot): Record<string, number> {
  return Object.fromEntries(snapshot.components.map((c) => [c.name, c.specReplicas]));
}
