import { formatDuration } from "../config/duration.js";

/** "48,211": counts people read at a glance. */
export function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}

/** "2.8 MB", "512 B": decimal units, as S3 consoles show sizes. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

/** "42 min ago", "in 3 h"; "just now" under a minute. */
export function formatAge(time: Date, now: Date): string {
  const ms = now.getTime() - time.getTime();
  if (Math.abs(ms) < 60_000) return "just now";
  return ms >= 0 ? `${formatDuration(ms)} ago` : `in ${formatDuration(-ms)}`;
}

/** "2024-09-11 14:00 UTC": for expiry dates, where seconds and offsets are noise. */
export function formatUtc(time: Date): string {
  return `${time.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** Text for mrkdwn: Slack reads `<…>` as a link or mention, so `&`, `<`, `>` are escaped. */
export function mrkdwnText(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** `text` as inline code in mrkdwn; backticks inside would end it early. */
export function code(text: string): string {
  return `\`${mrkdwnText(text.replace(/`/g, "'"))}\``;
}

/** Cuts text to Slack's per-field limits, saying so. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** "840 ms", "4.2 s", "3 min 5 s": how long a check took. */
export function formatElapsed(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return formatDuration(ms);
}
