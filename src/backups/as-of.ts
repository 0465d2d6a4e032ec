/**
 * A point restorebot writes is named by its as-of time: RFC 3339 UTC to the second with `Z`
 * (`2026-12-02T11:00:05Z`), the moment the data was frozen. Names sort as times do.
 */
const AS_OF = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/;

export function formatAsOf(time: Date): string {
  return `${time.toISOString().slice(0, 19)}Z`;
}

/** The time an as-of name stands for; undefined for anything not exactly in that form. */
export function parseAsOf(name: string): Date | undefined {
  if (!AS_OF.test(name)) return undefined;
  const time = new Date(name);
  // Rejects 2026-02-30T… and 24:00:00, which Date would roll over.
  return Number.isNaN(time.getTime()) || formatAsOf(time) !== name ? undefined : time;
}
