/** Durations in the config file are `<integer><s|m|h|d>`, e.g. `3s`, `15m`, `30d` (DESIGN.md). */
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export const DURATION_FORMAT = "<integer><s|m|h|d>, e.g. 30s, 15m, 2h, 30d";

/** Parses a duration into milliseconds, or returns undefined when it is not of the contract's form. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d{1,9})([smhd])$/.exec(text.trim());
  if (!match) return undefined;
  const [, amount, unit] = match;
  return Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
}

/** "3 h 12 min", "45 s", "2 d 4 h": for people, two units at most. */
export function formatDuration(ms: number): string {
  const negative = ms < 0;
  let s = Math.round(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86_400);
  s -= d * 86_400;
  const h = Math.floor(s / 3_600);
  s -= h * 3_600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const parts: string[] = [];
  if (d) parts.push(`${d} d`);
  if (h) parts.push(`${h} h`);
  if (m && parts.length < 2) parts.push(`${m} min`);
  if (s && parts.length === 0) parts.push(`${s} s`);
  if (parts.length === 0) parts.push("0 s");
  return (negative ? "-" : "") + parts.slice(0, 2).join(" ");
}
