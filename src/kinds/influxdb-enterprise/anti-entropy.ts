/**
 * Anti-entropy in a data node's influxdb.conf (TOML). The seed turns it off on each data node,
 * one at a time, before any restore ("Disable anti-entropy (AE) before restoring a backup"),
 * and on again afterwards. restorebot edits only `enabled` in the `[anti-entropy]` table and
 * keeps the original text, byte for byte, to put back.
 *
 * TOML-aware enough for a config file: table headers (`[x]`, `[[x]]`, quoted names, spaces),
 * comments (whole-line and trailing), bare or quoted keys, CRLF line endings.
 */

const TABLE_HEADER = /^\s*\[\[?\s*([^\]]*?)\s*\]\]?\s*(?:#.*)?$/;
const ENABLED_LINE = /^(\s*(?:enabled|"enabled"|'enabled')\s*=\s*)(true|false)(\s*(?:#.*)?)$/;

interface Section {
  /** Index of the `[anti-entropy]` header line, and of the first line after the table. */
  header: number;
  end: number;
}

function splitLines(text: string): { lines: string[]; eol: string } {
  const eol = text.includes("\r\n") ? "\r\n" : "\n";
  return { lines: text.split(eol), eol };
}

function tableName(raw: string): string {
  return raw.replace(/^["']|["']$/g, "");
}

function findSection(lines: string[]): Section | undefined {
  let header: number | undefined;
  for (let i = 0; i < lines.length; i++) {
    const m = TABLE_HEADER.exec(lines[i] ?? "");
    if (!m) continue;
    if (header !== undefined) return { header, end: i };
    if (tableName(m[1] ?? "") === "anti-entropy" && !(lines[i] ?? "").trim().startsWith("[["))
      header = i;
  }
  return header === undefined ? undefined : { header, end: lines.length };
}

function findEnabled(lines: string[], section: Section): number | undefined {
  for (let i = section.header + 1; i < section.end; i++)
    if (ENABLED_LINE.test(lines[i] ?? "")) return i;
  return undefined;
}

/**
 * Whether anti-entropy may be on with this config text. Without the table or the key the
 * answer is yes: before Enterprise 1.7.2 the service was on by default, and the cost of a
 * wrong "yes" is one rolling restart while a wrong "no" restores under a running AE.
 */
export function isAntiEntropyEnabled(text: string): boolean {
  const { lines } = splitLines(text);
  const section = findSection(lines);
  if (!section) return true;
  const at = findEnabled(lines, section);
  if (at === undefined) return true;
  return ENABLED_LINE.exec(lines[at] ?? "")?.[2] === "true";
}

/**
 * The same text with `enabled = false` in `[anti-entropy]`: the value replaced in place
 * (indentation and comment kept), or the key added under the header when missing, or the table
 * appended when there is none. Nothing else changes.
 */
export function withAntiEntropyDisabled(text: string): string {
  const { lines, eol } = splitLines(text);
  const section = findSection(lines);
  if (!section) {
    const trailing = text === "" || text.endsWith(eol) ? "" : eol;
    return `${text}${trailing}${text === "" ? "" : eol}[anti-entropy]${eol}  enabled = false${eol}`;
  }
  const at = findEnabled(lines, section);
  if (at === undefined) {
    const indent = keyIndent(lines, section);
    lines.splice(section.header + 1, 0, `${indent}enabled = false`);
    return lines.join(eol);
  }
  lines[at] = (lines[at] ?? "").replace(ENABLED_LINE, "$1false$3");
  return lines.join(eol);
}

/** The indentation of the table's other keys, so an added line looks like its neighbours. */
function keyIndent(lines: string[], section: Section): string {
  for (let i = section.header + 1; i < section.end; i++) {
    const line = lines[i] ?? "";
    if (/^\s*[A-Za-z0-9_"'-]+\s*=/.test(line)) return /^\s*/.exec(line)?.[0] ?? "";
  }
  return "  ";
}
