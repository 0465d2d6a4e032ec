/**
 * Cadence and expiry of a point: hourly points are kept for `retention.hourly` and the
 * 00:00 UTC one (the daily) for `retention.daily`; a target's `retention` mirrors what its
 * system's own clean-up keeps (see the kind's documentation for the vendor settings).
 */

export type Cadence = "hourly" | "daily";

export interface Retention {
  hourly: number;
  daily: number;
}

/** A point is flagged when it will be deleted within this long. */
export const EXPIRY_WARNING_MS = 24 * 3_600_000;

/** The snapshot at 00:00 UTC is also the daily, and lives as long as the daily retention. */
export function cadenceOf(time: Date): Cadence {
  return time.getUTCHours() === 0 && time.getUTCMinutes() === 0 && time.getUTCSeconds() === 0
    ? "daily"
    : "hourly";
}

export function expiryOf(time: Date, retention: Retention): Date {
  const keep = cadenceOf(time) === "daily" ? retention.daily : retention.hourly;
  return new Date(time.getTime() + keep);
}

export type ExpiryState = "kept" | "expiring" | "overdue";

/**
 * "expiring": deleted within 24 h; "overdue": past its retention, so the garbage collector
 * may delete it (and the Parquet files only it references) at any moment.
 */
export function expiryState(expiresAt: Date, now: Date): ExpiryState {
  const left = expiresAt.getTime() - now.getTime();
  if (left <= 0) return "overdue";
  if (left <= EXPIRY_WARNING_MS) return "expiring";
  return "kept";
}
