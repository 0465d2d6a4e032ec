/** Small mrkdwn helpers shared by the card, the notices and the ephemeral answers (numbers and times: src/text/format.ts). */

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
