/** Small text formatters shared by the card, the notices and the ephemeral answers. */

/** `14:00 UTC` when `time` is on the same UTC day as `now`, else `2024-08-12 14:00 UTC`. */
export function formatUtc(time: Date, now?: Date): string {
  const iso = time.toISOString();
  const sameDay = now !== undefined && iso.slice(0, 10) === now.toISOString().slice(0, 10);
  return sameDay ? `${iso.slice(11, 16)} UTC` : `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/** A duration for people: `45 s`, `12 min`, `3 h 12 min`, `2 d 4 h`. */
export function formatDuration(ms: number): string {
  const totalSeconds = Math.max(0, Math.round(ms / 1000));
  if (totalSeconds < 60) return `${totalSeconds} s`;
  const totalMinutes = Math.floor(totalSeconds / 60);
  if (totalMinutes < 60) return `${totalMinutes} min`;
  const hours = Math.floor(totalMinutes / 60);
  const minutes = totalMinutes % 60;
  if (hours < 24) return minutes ? `${hours} h ${minutes} min` : `${hours} h`;
  const days = Math.floor(hours / 24);
  const restHours = hours % 24;
  return restHours ? `${days} d ${restHours} h` : `${days} d`;
}

/**
 * Escapes text a person typed (a reason) for mrkdwn, so it cannot become a mention such as
 * `<!channel>` or a link: Slack asks for exactly these three characters to be escaped.
 */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Quotes a multi-line text as a mrkdwn block quote. */
export function quote(text: string): string {
  return escapeMrkdwn(text)
    .split("\n")
    .map((line) => `>${line}`)
    .join("\n");
}

/** Cuts text to `max` characters, marking the cut. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}
