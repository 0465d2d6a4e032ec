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
