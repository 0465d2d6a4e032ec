// Slack's mrkdwn, rendered to safe HTML: *bold*, _italic_, ~strike~, `code`, ```blocks```,
// > quotes, <url|links>, <@U…> and <#C…> mentions with names, and the emoji restorebot uses.
// Slack escapes &, < and > in message text; they are decoded once and every piece of text is
// escaped again on its way into HTML, so nothing in a message can inject markup.

const EMOJI = {
  alarm_clock: "⏰",
  arrow_forward: "▶️",
  arrows_counterclockwise: "🔄",
  fast_forward: "⏩",
  grey_question: "❔",
  heavy_check_mark: "✔️",
  heavy_multiplication_x: "✖️",
  hourglass: "⌛",
  hourglass_flowing_sand: "⏳",
  information_source: "ℹ️",
  large_green_circle: "🟢",
  leftwards_arrow_with_hook: "↩️",
  lock: "🔒",
  mag: "🔍",
  no_entry: "⛔",
  no_entry_sign: "🚫",
  octagonal_sign: "🛑",
  red_circle: "🔴",
  repeat: "🔁",
  rotating_light: "🚨",
  tada: "🎉",
  warning: "⚠️",
  white_check_mark: "✅",
  white_circle: "⚪",
  x: "❌",
};

export function decodeEntities(text) {
  return text.replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");
}

export function escapeHtml(text) {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

export function emojify(escaped) {
  return escaped.replace(/:([a-z0-9_+-]+):/g, (whole, name) => EMOJI[name] ?? whole);
}

function safeHref(url) {
  try {
    const parsed = new URL(url);
    return ["http:", "https:", "mailto:"].includes(parsed.protocol) ? parsed.href : undefined;
  } catch {
    return undefined;
  }
}

/** One `<…>` token: a link, a mention, a channel, a special mention or a date. */
function renderAngle(inner, ctx) {
  const [target, label] = splitLabel(inner);
  if (target.startsWith("@")) {
    const id = target.slice(1);
    const name = ctx.names?.[id] ?? label ?? id;
    return `<span class="mention" data-user="${escapeHtml(id)}">@${escapeHtml(name)}</span>`;
  }
  if (target.startsWith("#")) {
    const id = target.slice(1);
    const name = label ?? ctx.channels?.[id] ?? id;
    return `<span class="mention mention-channel">#${escapeHtml(name)}</span>`;
  }
  if (target.startsWith("!")) {
    const special = target.slice(1);
    if (special.startsWith("subteam^")) {
      return `<span class="mention">${escapeHtml(label ?? "@group")}</span>`;
    }
    if (special.startsWith("date^")) return escapeHtml(label ?? special);
    return `<span class="mention">@${escapeHtml(special)}</span>`;
  }
  const href = safeHref(target);
  const text = escapeHtml(label ?? target);
  return href
    ? `<a href="${escapeHtml(href)}" target="_blank" rel="noopener noreferrer">${text}</a>`
    : text;
}

function splitLabel(inner) {
  const bar = inner.indexOf("|");
  return bar < 0 ? [inner, undefined] : [inner.slice(0, bar), inner.slice(bar + 1)];
}

// Slack only formats when the markers sit at word boundaries (so snake_case stays as it is).
const BOUNDARY_BEFORE = "(^|[\\s(\\[{\"'“‘—–-])";
const BOUNDARY_AFTER = "(?=$|[\\s)\\]}.,;:!?\"'”’—–-])";
const STYLES = [
  ["\\*", "strong"],
  ["_", "em"],
  ["~", "s"],
];

function applyInlineStyles(escaped) {
  let out = escaped;
  for (const [marker, tag] of STYLES) {
    const pattern = new RegExp(
      `${BOUNDARY_BEFORE}${marker}(?!\\s)([^\\n]*?[^\\s])${marker}${BOUNDARY_AFTER}`,
      "g",
    );
    out = out.replace(pattern, (_whole, before, body) => `${before}<${tag}>${body}</${tag}>`);
  }
  return out;
}

/**
 * mrkdwn → HTML. `ctx.names` maps user IDs to display names, `ctx.channels` channel IDs to
 * names.
 */
export function renderMrkdwn(text, ctx = {}) {
  const tokens = [];
  const hold = (html) => {
    tokens.push(html);
    return `\uE000${tokens.length - 1}\uE001`;
  };
  // Held pieces are marked with private-use characters, which no message carries.
  let source = String(text ?? "").replace(/[\uE000\uE001]/g, "");
  // Code first: nothing inside code is formatted.
  source = source.replace(/```([\s\S]*?)```/g, (_w, body) =>
    hold(`<pre class="code-block">${escapeHtml(decodeEntities(body.replace(/^\n/, "")))}</pre>`),
  );
  source = source.replace(/`([^`\n]+)`/g, (_w, body) =>
    hold(`<code>${escapeHtml(decodeEntities(body))}</code>`),
  );
  source = source.replace(/<([^<>\n]+)>/g, (_w, inner) =>
    hold(renderAngle(decodeEntities(inner), ctx)),
  );

  const lines = escapeHtml(decodeEntities(source)).split("\n");
  const html = [];
  let quote = [];
  const flushQuote = () => {
    if (quote.length) html.push(`<blockquote>${quote.join("<br>")}</blockquote>`);
    quote = [];
  };
  for (const line of lines) {
    const styled = emojify(applyInlineStyles(line));
    const quoted = /^&gt;\s?(.*)$/.exec(styled);
    if (quoted) {
      quote.push(quoted[1]);
      continue;
    }
    flushQuote();
    html.push(styled);
  }
  flushQuote();
  return (
    html
      .join("<br>")
      // A quote is a block of its own: no line break around it.
      .replace(/<br>(<blockquote>)/g, "$1")
      .replace(/(<\/blockquote>)<br>/g, "$1")
      .replace(/\uE000(\d+)\uE001/g, (_w, i) => tokens[Number(i)] ?? "")
  );
}

/** plain_text: escaped, with emoji when `emoji` is not false (Slack's default). */
export function renderPlain(textObject) {
  const text = escapeHtml(String(textObject?.text ?? ""));
  return textObject?.emoji === false ? text : emojify(text);
}

/** A text object of either kind. */
export function renderText(textObject, ctx) {
  if (!textObject) return "";
  return textObject.type === "mrkdwn"
    ? renderMrkdwn(textObject.text, ctx)
    : renderPlain(textObject);
}
