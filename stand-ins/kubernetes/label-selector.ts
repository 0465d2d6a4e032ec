/**
 * Kubernetes label selectors in their string form (`app=x`, `app!=x`, `app in (a,b)`,
 * `app notin (a,b)`, `app`, `!app`), joined by commas. Parsed the way the API server does so
 * that a selector the simulator accepts is one a real cluster accepts too.
 */
export type LabelRequirement =
  | { key: string; op: "=" | "!="; value: string }
  | { key: string; op: "in" | "notin"; values: string[] }
  | { key: string; op: "exists" | "!exists" };

export class LabelSelectorError extends Error {}

const KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?)?$/;

export function parseLabelSelector(text: string | undefined | null): LabelRequirement[] {
  if (text === undefined || text === null || text.trim() === "") return [];
  return splitTopLevel(text).map(parseRequirement);
}

export function matchesLabelSelector(
  requirements: readonly LabelRequirement[],
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  const have = labels ?? {};
  return requirements.every((req) =>
    matchesRequirement(req, Object.hasOwn(have, req.key) ? have[req.key] : undefined),
  );
}

function matchesRequirement(req: LabelRequirement, value: string | undefined): boolean {
  switch (req.op) {
    case "=":
      return value === req.value;
    case "!=":
      return value !== req.value;
    case "in":
      return value !== undefined && req.values.includes(value);
    case "notin":
      return value === undefined || !req.values.includes(value);
    case "exists":
      return value !== undefined;
    case "!exists":
      return value === undefined;
  }
}

// Commas separate requirements except inside the parentheses of a set expression.
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of text) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (depth < 0) throw new LabelSelectorError(`unbalanced parentheses in "${text}"`);
    if (ch === "," && depth === 0) {
      parts.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  if (depth !== 0) throw new LabelSelectorError(`unbalanced parentheses in "${text}"`);
  parts.push(current);
  return parts.map((p) => p.trim());
}

function parseRequirement(part: string): LabelRequirement {
  if (part === "") throw new LabelSelectorError("empty requirement");
  const set = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(part);
  if (set) {
    const [, key = "", op, list = ""] = set;
    const values = list.split(",").map((v) => v.trim());
    if (values.some((v) => !VALUE.test(v)))
      throw new LabelSelectorError(`invalid value in "${part}"`);
    return { key: checkKey(key), op: op === "in" ? "in" : "notin", values };
  }
  const eq = /^([^!=\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part);
  if (eq) {
    const [, key = "", op, value = ""] = eq;
    if (!VALUE.test(value)) throw new LabelSelectorError(`invalid value in "${part}"`);
    return { key: checkKey(key), op: op === "!=" ? "!=" : "=", value };
  }
  if (part.startsWith("!")) return { key: checkKey(part.slice(1).trim()), op: "!exists" };
  return { key: checkKey(part), op: "exists" };
}

function checkKey(key: string): string {
  if (!KEY.test(key)) throw new LabelSelectorError(`invalid label key "${key}"`);
  return key;
}
