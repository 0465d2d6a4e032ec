/** mrkdwn helpers for recovery-point answers (numbers and times: src/text/format.ts). */

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
