/**
 * How restorebot writes numbers, sizes, durations and times for people: one convention, used by
 * the Slack cards and messages, the runbook narration, the plan, the reports, the logs and the
 * command-line progress lines.
 *
 * - Counts: whole numbers with comma grouping, `1,234,567` (what most Slack readers expect).
 * - Bytes: 1024-based units, labelled as such: `512 B`, `2.8 KiB`, `12.9 MiB`, `512 GiB`, up to
 *   PiB. Three significant figures: one decimal below 100, none from 100 up; a value that rounds
 *   up to 1024 of a unit is shown as 1.0 of the next (`1.0 MiB`, never `1024 KiB`).
 * - Durations: under a second in milliseconds (`850 ms`); under 10 s with one decimal (`4.2 s`);
 *   under a minute in whole seconds (`45 s`); from a minute up, the two most significant units
 *   of d, h, min, s, the second one written with two digits and left out when it is zero
 *   (`4 min 05 s`, `4 min`, `1 h 02 min`, `2 d 04 h`). The smaller unit shown is rounded, and
 *   carries when it fills the larger one: 59 min 59 s stays, 59 min 59.7 s reads `1 h`.
 * - Ages: a duration before or after now, `42 min 10 s ago`, `in 3 h`, and `just now` under a
 *   minute either way.
 * - Times: always UTC, said so: `2024-08-12 14:00 UTC`; `14:00 UTC` when the reader already
 *   knows the day; `14:32:05 UTC` where seconds matter (a narrated thread).
 *
 * Values that are not a finite number (NaN, Infinity, an invalid Date) are written as `?`, not
 * thrown: a formatting slip must never stop narration of a restore in flight. Negative counts,
 * sizes and durations keep their minus sign, so a wrong sign stays visible instead of being hidden.
 */

/** What a value that is not a finite number is shown as. */
export const UNKNOWN = "?";

/** `1,234,567`; rounded to a whole number. */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return UNKNOWN;
  const whole = Math.round(n);
  // Math.round(-0.4) is -0; a count of "-0" would read as a bug.
  const digits = String(Math.abs(whole)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return whole < 0 ? `-${digits}` : digits;
}

/** A minus sign, except on a value that rounds to zero ("-0 B" would read as a bug). */
function negative(shown: string): string {
  return /^0 /.test(shown) ? shown : `-${shown}`;
}

const BYTE_UNITS = ["KiB", "MiB", "GiB", "TiB", "PiB"] as const;

/** `512 B`, `2.8 KiB`, `12.9 MiB`, `512 GiB` (1024-based). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return UNKNOWN;
  if (bytes < 0) return negative(formatBytes(-bytes));
  const whole = Math.round(bytes);
  if (whole < 1024) return `${whole} B`;
  let value = bytes / 1024;
  let unit = 0;
  // Rounding is checked before the unit is kept, so 1023.97 KiB becomes 1.0 MiB.
  while (unit < BYTE_UNITS.length - 1 && roundForBytes(value) >= 1024) {
    value /= 1024;
    unit++;
  }
  const decimals = roundForBytes(value) < 100 ? 1 : 0;
  return `${value.toFixed(decimals)} ${BYTE_UNITS[unit]}`;
}

function roundForBytes(value: number): number {
  return value < 99.95 ? Math.round(value * 10) / 10 : Math.round(value);
}

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Largest first: the pair shown is the one whose larger unit fits in the duration. */
const UNIT_PAIRS = [
  { big: DAY, bigName: "d", small: HOUR, smallName: "h" },
  { big: HOUR, bigName: "h", small: MINUTE, smallName: "min" },
  { big: MINUTE, bigName: "min", small: SECOND, smallName: "s" },
] as const;

/** `850 ms`, `4.2 s`, `45 s`, `4 min 05 s`, `4 min`, `1 h 02 min`, `2 d 04 h`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return UNKNOWN;
  if (ms < 0) return negative(formatDuration(-ms));
  let larger: number | undefined;
  for (const { big, bigName, small, smallName } of UNIT_PAIRS) {
    if (ms >= big) {
      const smallUnits = Math.round(ms / small);
      // Rounding can fill the unit above (59 min 59.7 s): say it in that unit instead.
      if (larger !== undefined && smallUnits * small >= larger)
        return formatDuration(smallUnits * small);
      const perBig = big / small;
      const first = Math.floor(smallUnits / perBig);
      const second = smallUnits % perBig;
      return second === 0
        ? `${first} ${bigName}`
        : `${first} ${bigName} ${String(second).padStart(2, "0")} ${smallName}`;
    }
    larger = big;
  }
  if (ms < 999.5) return `${Math.round(ms)} ms`;
  if (ms < 9_950) return `${(ms / SECOND).toFixed(1)} s`;
  if (ms >= 59_500) return formatDuration(MINUTE);
  return `${Math.round(ms / SECOND)} s`;
}

/** `42 min 10 s ago`, `in 3 h`; `just now` within a minute of `now`. */
export function formatAge(time: Date, now: Date): string {
  const ms = now.getTime() - time.getTime();
  if (!Number.isFinite(ms)) return UNKNOWN;
  if (Math.abs(ms) < MINUTE) return "just now";
  return ms >= 0 ? `${formatDuration(ms)} ago` : `in ${formatDuration(-ms)}`;
}

/**
 * `2024-08-12 14:00 UTC`; `14:00 UTC` when `now` is given and falls on the same UTC day, where
 * the date would only repeat what the reader sees.
 */
export function formatUtc(time: Date, now?: Date): string {
  if (!Number.isFinite(time.getTime())) return UNKNOWN;
  const iso = time.toISOString();
  const sameDay =
    now !== undefined &&
    Number.isFinite(now.getTime()) &&
    iso.slice(0, 10) === now.toISOString().slice(0, 10);
  return sameDay ? `${iso.slice(11, 16)} UTC` : `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/** `14:32:05 UTC`: a time of day to the second, in a thread that already names the day. */
export function formatUtcClock(time: Date): string {
  if (!Number.isFinite(time.getTime())) return UNKNOWN;
  return `${time.toISOString().slice(11, 19)} UTC`;
}
