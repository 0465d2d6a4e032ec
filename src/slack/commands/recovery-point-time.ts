/**
 * A recovery point is named by its snapshot time. Accepted forms (DESIGN.md): the time as
 * listed (`2024-08-12T14:00:00+00:00`), the short form `2024-08-12T14:00Z`, and `latest`.
 */
export type PointRef =
  | { kind: "latest" }
  | { kind: "time"; time: Date }
  /** A point in its kind's own naming (e.g. StackState's `stackgraph:<file>`), as typed. */
  | { kind: "named"; text: string };

export const POINT_FORMS =
  "`latest`, `2024-08-12T14:00:00+00:00` (as listed) or `2024-08-12T14:00Z`";

const FULL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

export function parsePointRef(text: string): PointRef | undefined {
  const value = text.trim();
  if (value.toLowerCase() === "latest") return { kind: "latest" };
  const match = FULL.exec(value);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s, zone] = match;
  const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, s ?? "0"].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  // Date.UTC rolls 2024-02-31 over into March: refuse days the month does not have.
  const calendar = new Date(Date.UTC(year, month - 1, day));
  if (
    month < 1 ||
    month > 12 ||
    calendar.getUTCMonth() !== month - 1 ||
    calendar.getUTCDate() !== day
  )
    return undefined;
  let offsetMinutes = 0;
  if (zone && zone.toUpperCase() !== "Z") {
    const sign = zone.startsWith("-") ? -1 : 1;
    const [oh, om] = zone.slice(1).split(":").map(Number) as [number, number];
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = sign * (oh * 60 + om);
  }
  const time = new Date(
    Date.UTC(year, month - 1, day, hour, minute, second) - offsetMinutes * 60_000,
  );
  return { kind: "time", time };
}

/** The snapshot folder name for a time: RFC 3339 in UTC with an explicit +00:00 offset. */
export function formatPointTime(time: Date): string {
  return `${time.toISOString().slice(0, 19)}+00:00`;
}
