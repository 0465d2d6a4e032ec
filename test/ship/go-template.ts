/**
 * A small renderer for the subset of Go templates (text/template plus the Sprig and Helm
 * functions) that the restorebot chart uses, so tests can render the chart without a helm
 * binary. It follows Helm's semantics where they matter for correctness: whitespace trimming,
 * variable scoping, truthiness, `required`/`fail`, a nil-pointer error when a field is read from
 * a missing value, and `toYaml` without the trailing newline. Anything outside the subset throws,
 * so a template that uses something new fails its test instead of rendering wrongly.
 */
import { createHash } from "node:crypto";
import { stringify as toYamlText } from "yaml";

/** Raised by `fail`, `required` and template errors; `message` is what helm would print. */
export class TemplateError extends Error {
  override name = "TemplateError";
}

type Value = unknown;
type Dict = Record<string, Value>;

// ---------- lexing ----------

type Segment = { kind: "text"; text: string } | { kind: "action"; source: string; file: string };

function splitSegments(source: string, file: string): Segment[] {
  const segments: Segment[] = [];
  let pos = 0;
  let trimNextText = false;
  while (pos < source.length) {
    const open = source.indexOf("{{", pos);
    let text = open === -1 ? source.slice(pos) : source.slice(pos, open);
    if (trimNextText) text = text.replace(/^\s+/, "");
    trimNextText = false;
    if (open === -1) {
      segments.push({ kind: "text", text });
      break;
    }
    let start = open + 2;
    if (/^-\s/.test(source.slice(start, start + 2))) {
      text = text.replace(/\s+$/, "");
      start += 1;
    }
    segments.push({ kind: "text", text });
    const isComment = /^\s*\/\*/.test(source.slice(start));
    const close = isComment ? source.indexOf("*/", start) : findActionEnd(source, start);
    const end = isComment ? source.indexOf("}}", close) : close;
    if (close === -1 || end === -1) throw new TemplateError(`${file}: unclosed action`);
    let inner = source.slice(start, end);
    if (/\s-$/.test(inner)) {
      inner = inner.slice(0, -1);
      trimNextText = true;
    }
    if (!isComment) segments.push({ kind: "action", source: inner.trim(), file });
    pos = end + 2;
  }
  return segments;
}

/** The index of the `}}` closing an action, skipping string literals. */
function findActionEnd(source: string, from: number): number {
  let i = from;
  while (i < source.length) {
    const c = source[i];
    if (c === '"') {
      i++;
      while (i < source.length && source[i] !== '"') i += source[i] === "\\" ? 2 : 1;
    } else if (c === "`") {
      i = source.indexOf("`", i + 1);
      if (i === -1) return -1;
    } else if (c === "}" && source[i + 1] === "}") {
      return i;
    }
    i++;
  }
  return -1;
}

type Token =
  | { t: "string"; v: string }
  | { t: "number"; v: number }
  | { t: "field"; chain: string[] } // .a.b (empty chain = ".")
  | { t: "var"; name: string; chain: string[] } // $x.a.b ("$" is the root)
  | { t: "ident"; v: string }
  | { t: "punct"; v: "(" | ")" | "|" | ":=" | "=" | "," };

function tokenize(source: string, where: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const chainAt = (): string[] => {
    const m = /^(\.[A-Za-z_][A-Za-z0-9_]*)*/.exec(source.slice(i));
    const text = m?.[0] ?? "";
    i += text.length;
    return text ? text.slice(1).split(".") : [];
  };
  while (i < source.length) {
    const c = source[i] ?? "";
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (j < source.length && source[j] !== '"') j += source[j] === "\\" ? 2 : 1;
      tokens.push({ t: "string", v: JSON.parse(source.slice(i, j + 1)) as string });
      i = j + 1;
    } else if (c === "`") {
      const j = source.indexOf("`", i + 1);
      tokens.push({ t: "string", v: source.slice(i + 1, j) });
      i = j + 1;
    } else if (c === "(" || c === ")" || c === "|" || c === ",") {
      tokens.push({ t: "punct", v: c });
      i++;
    } else if (source.startsWith(":=", i)) {
      tokens.push({ t: "punct", v: ":=" });
      i += 2;
    } else if (c === "=") {
      tokens.push({ t: "punct", v: "=" });
      i++;
    } else if (c === "$") {
      const m = /^\$[A-Za-z0-9_]*/.exec(source.slice(i));
      const name = m?.[0] ?? "$";
      i += name.length;
      tokens.push({ t: "var", name, chain: chainAt() });
    } else if (c === ".") {
      if (/^\.[A-Za-z_]/.test(source.slice(i))) tokens.push({ t: "field", chain: chainAt() });
      else {
        tokens.push({ t: "field", chain: [] });
        i++;
      }
    } else if (/[0-9-]/.test(c)) {
      const m = /^-?[0-9]+(\.[0-9]+)?/.exec(source.slice(i));
      if (!m) throw new TemplateError(`${where}: unexpected "${c}"`);
      tokens.push({ t: "number", v: Number(m[0]) });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i));
      const word = m?.[0] ?? "";
      tokens.push({ t: "ident", v: word });
      i += word.length;
    } else {
      throw new TemplateError(`${where}: unexpected "${c}" in {{ ${source} }}`);
    }
  }
  return tokens;
}

// ---------- parsing ----------

type Operand =
  | { k: "literal"; v: Value }
  | { k: "field"; chain: string[] }
  | { k: "var"; name: string; chain: string[] }
  | { k: "func"; name: string }
  | { k: "sub"; pipe: Pipeline };
type Command = Operand[];
interface Pipeline {
  decl: { names: string[]; op: ":=" | "=" } | undefined;
  commands: Command[];
  where: string;
}

type Node =
  | { n: "text"; text: string }
  | { n: "output"; pipe: Pipeline }
  | { n: "if"; pipe: Pipeline; body: Node[]; else: Node[] }
  | { n: "with"; pipe: Pipeline; body: Node[]; else: Node[] }
  | { n: "range"; pipe: Pipeline; body: Node[]; else: Node[] }
  | { n: "template"; name: string; pipe: Pipeline | undefined };

const KEYWORDS = new Set(["if", "else", "end", "range", "with", "define", "template", "block"]);

function parsePipeline(tokens: Token[], where: string): Pipeline {
  let rest = tokens;
  let decl: Pipeline["decl"];
  const declMatch = (): boolean => {
    const names: string[] = [];
    let i = 0;
    while (rest[i]?.t === "var") {
      const v = rest[i] as Extract<Token, { t: "var" }>;
      if (v.chain.length) return false;
      names.push(v.name);
      i++;
      if (rest[i]?.t === "punct" && (rest[i] as { v: string }).v === ",") i++;
      else break;
    }
    const op = rest[i];
    if (names.length && op?.t === "punct" && (op.v === ":=" || op.v === "=")) {
      decl = { names, op: op.v };
      rest = rest.slice(i + 1);
      return true;
    }
    return false;
  };
  declMatch();
  const { commands, used } = parseCommands(rest, where, false);
  if (used !== rest.length) throw new TemplateError(`${where}: unexpected tokens`);
  return { decl, commands, where };
}

function parseCommands(
  tokens: Token[],
  where: string,
  inParens: boolean,
): { commands: Command[]; used: number } {
  const commands: Command[] = [];
  let current: Command = [];
  let i = 0;
  for (; i < tokens.length; i++) {
    const tok = tokens[i] as Token;
    if (tok.t === "punct" && tok.v === ")") {
      if (!inParens) throw new TemplateError(`${where}: unbalanced )`);
      break;
    }
    if (tok.t === "punct" && tok.v === "|") {
      if (!current.length) throw new TemplateError(`${where}: empty command before |`);
      commands.push(current);
      current = [];
    } else if (tok.t === "punct" && tok.v === "(") {
      const inner = parseCommands(tokens.slice(i + 1), where, true);
      current.push({ k: "sub", pipe: { decl: undefined, commands: inner.commands, where } });
      i += inner.used + 1;
    } else if (tok.t === "string" || tok.t === "number") {
      current.push({ k: "literal", v: tok.v });
    } else if (tok.t === "field") {
      current.push({ k: "field", chain: tok.chain });
    } else if (tok.t === "var") {
      current.push({ k: "var", name: tok.name, chain: tok.chain });
    } else if (tok.t === "ident") {
      if (tok.v === "true" || tok.v === "false")
        current.push({ k: "literal", v: tok.v === "true" });
      else if (tok.v === "nil") current.push({ k: "literal", v: null });
      else current.push({ k: "func", name: tok.v });
    } else {
      throw new TemplateError(`${where}: unexpected ${tok.v}`);
    }
  }
  if (inParens && tokens[i]?.t !== "punct") throw new TemplateError(`${where}: unclosed (`);
  if (current.length) commands.push(current);
  if (!commands.length) throw new TemplateError(`${where}: empty pipeline`);
  return { commands, used: i };
}

interface Parsed {
  nodes: Node[];
  defines: Map<string, Node[]>;
}

function parseTemplate(source: string, file: string): Parsed {
  const segments = splitSegments(source, file);
  const defines = new Map<string, Node[]>();
  let index = 0;
  const where = (s: Segment) => (s.kind === "action" ? `${file}: {{ ${s.source} }}` : file);

  // Parses nodes until an `end` or `else` at this level; returns which one stopped it.
  const parseList = (
    topLevel: boolean,
  ): { nodes: Node[]; stop: "end" | "else" | "eof"; elseTokens: Token[] } => {
    const nodes: Node[] = [];
    while (index < segments.length) {
      const seg = segments[index++] as Segment;
      if (seg.kind === "text") {
        if (seg.text) nodes.push({ n: "text", text: seg.text });
        continue;
      }
      const at = where(seg);
      const tokens = tokenize(seg.source, at);
      const head = tokens[0];
      const keyword = head?.t === "ident" && KEYWORDS.has(head.v) ? head.v : undefined;
      if (keyword === "end") return { nodes, stop: "end", elseTokens: [] };
      if (keyword === "else") return { nodes, stop: "else", elseTokens: tokens.slice(1) };
      if (keyword === "if" || keyword === "with") {
        nodes.push(parseConditional(keyword, parsePipeline(tokens.slice(1), at)));
      } else if (keyword === "range") {
        const pipe = parsePipeline(tokens.slice(1), at);
        const body = parseList(false);
        let elseNodes: Node[] = [];
        if (body.stop === "else") {
          const tail = parseList(false);
          if (tail.stop !== "end") throw new TemplateError(`${at}: range without end`);
          elseNodes = tail.nodes;
        } else if (body.stop !== "end") throw new TemplateError(`${at}: range without end`);
        nodes.push({ n: "range", pipe, body: body.nodes, else: elseNodes });
      } else if (keyword === "define") {
        if (!topLevel) throw new TemplateError(`${at}: define inside an action`);
        const name = tokens[1];
        if (name?.t !== "string") throw new TemplateError(`${at}: define needs a name`);
        const body = parseList(false);
        if (body.stop !== "end") throw new TemplateError(`${at}: define without end`);
        defines.set(name.v, body.nodes);
      } else if (keyword === "template") {
        const name = tokens[1];
        if (name?.t !== "string") throw new TemplateError(`${at}: template needs a name`);
        nodes.push({
          n: "template",
          name: name.v,
          pipe: tokens.length > 2 ? parsePipeline(tokens.slice(2), at) : undefined,
        });
      } else if (keyword === "block") {
        throw new TemplateError(`${at}: block is not supported by this renderer`);
      } else {
        nodes.push({ n: "output", pipe: parsePipeline(tokens, at) });
      }
    }
    if (!topLevel) throw new TemplateError(`${file}: missing {{ end }}`);
    return { nodes, stop: "eof", elseTokens: [] };
  };

  const parseConditional = (kind: "if" | "with", pipe: Pipeline): Node => {
    const body = parseList(false);
    let elseNodes: Node[] = [];
    if (body.stop === "else") {
      const [first, ...more] = body.elseTokens;
      if (first?.t === "ident" && (first.v === "if" || first.v === "with")) {
        // `else if …` is an if nested in the else branch that shares this block's `end`.
        elseNodes = [parseConditional(first.v, parsePipeline(more, pipe.where))];
      } else {
        const tail = parseList(false);
        if (tail.stop !== "end") throw new TemplateError(`${pipe.where}: ${kind} without end`);
        elseNodes = tail.nodes;
      }
    } else if (body.stop !== "end") throw new TemplateError(`${pipe.where}: ${kind} without end`);
    return { n: kind, pipe, body: body.nodes, else: elseNodes };
  };

  const result = parseList(true);
  if (result.stop !== "eof") throw new TemplateError(`${file}: unexpected {{ ${result.stop} }}`);
  return { nodes: result.nodes, defines };
}

// ---------- evaluation ----------

class Scope {
  private readonly vars = new Map<string, Value>();
  constructor(private readonly parent: Scope | undefined) {}
  declare(name: string, value: Value): void {
    this.vars.set(name, value);
  }
  assign(name: string, value: Value, where: string): void {
    for (let s: Scope | undefined = this; s; s = s.parent) {
      if (s.vars.has(name)) {
        s.vars.set(name, value);
        return;
      }
    }
    throw new TemplateError(`${where}: undefined variable ${name}`);
  }
  get(name: string, where: string): Value {
    for (let s: Scope | undefined = this; s; s = s.parent)
      if (s.vars.has(name)) return s.vars.get(name);
    throw new TemplateError(`${where}: undefined variable ${name}`);
  }
}

function isDict(v: Value): v is Dict {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Go's truthiness: false, 0, nil, "" and empty collections are false. */
export function isTrue(v: Value): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isDict(v)) return Object.keys(v).length > 0;
  return true;
}

function field(value: Value, chain: string[], where: string, strict: boolean): Value {
  let v = value;
  for (const name of chain) {
    if (v === null || v === undefined)
      throw new TemplateError(`${where}: nil pointer evaluating interface {}.${name}`);
    if (!isDict(v))
      throw new TemplateError(
        `${where}: can't evaluate field ${name} in type ${Array.isArray(v) ? "[]interface {}" : typeof v}`,
      );
    if (strict && !Object.hasOwn(v, name))
      throw new TemplateError(`${where}: map has no entry for key "${name}"`);
    v = Object.hasOwn(v, name) ? v[name] : undefined;
  }
  return v;
}

function goString(v: Value): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  throw new TemplateError(
    `refusing to print a ${Array.isArray(v) ? "list" : "map"} directly; use toYaml`,
  );
}

function indentText(spaces: number, text: string): string {
  const pad = " ".repeat(spaces);
  return pad + text.replaceAll("\n", `\n${pad}`);
}

function goPrintf(format: string, args: Value[]): string {
  let i = 0;
  return format.replace(/%([sdqv%])/g, (_m, verb: string) => {
    if (verb === "%") return "%";
    const arg = args[i++];
    if (verb === "q") return JSON.stringify(goString(arg));
    if (verb === "d") {
      if (typeof arg !== "number" || !Number.isInteger(arg))
        return `%!d(${typeof arg}=${String(arg)})`;
      return String(arg);
    }
    return goString(arg);
  });
}

function deepEqual(a: Value, b: Value): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Helm's toYaml: sorted keys, sequences not indented under their key, no trailing newline. */
function helmToYaml(v: Value): string {
  if (v === undefined || v === null) return "null";
  return toYamlText(v, { sortMapEntries: true, indentSeq: false, lineWidth: 0 }).replace(/\n$/, "");
}

export interface Chart {
  /** Every file under templates/: name relative to the chart (templates/x.yaml) → source. */
  templates: Record<string, string>;
}

export interface RenderContext {
  Values: Dict;
  Release: {
    Name: string;
    Namespace: string;
    Service: string;
    IsInstall: boolean;
    IsUpgrade: boolean;
  };
  Chart: { Name: string; Version: string; AppVersion: string };
}

export class ChartRenderer {
  private readonly files = new Map<string, Node[]>();
  private readonly defines = new Map<string, Node[]>();

  /**
   * strict mirrors `helm lint --strict` / `helm template --strict` (missingkey=error): reading a
   * key a map does not have is an error instead of nil.
   */
  private readonly strict: boolean;

  constructor(chart: Chart, options: { strict?: boolean } = {}) {
    this.strict = options.strict ?? false;
    for (const [file, source] of Object.entries(chart.templates)) {
      const parsed = parseTemplate(source, file);
      this.files.set(file, parsed.nodes);
      for (const [name, body] of parsed.defines) this.defines.set(name, body);
    }
  }

  /** Renders every manifest template (not partials starting with _), as helm template would. */
  renderAll(ctx: RenderContext): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [file, nodes] of this.files) {
      if (/(^|\/)_[^/]*$/.test(file)) continue;
      out[file] = this.execute(nodes, ctx as unknown as Dict);
    }
    return out;
  }

  private execute(nodes: Node[], data: Value): string {
    const scope = new Scope(undefined);
    scope.declare("$", data);
    return this.run(nodes, data, scope);
  }

  private run(nodes: Node[], dot: Value, scope: Scope): string {
    let out = "";
    for (const node of nodes) {
      switch (node.n) {
        case "text":
          out += node.text;
          break;
        case "output": {
          const value = this.pipeline(node.pipe, dot, scope);
          if (!node.pipe.decl) out += goString(value);
          break;
        }
        case "if":
        case "with": {
          const inner = new Scope(scope);
          const value = this.pipeline(node.pipe, dot, inner);
          if (isTrue(value)) out += this.run(node.body, node.n === "with" ? value : dot, inner);
          else out += this.run(node.else, dot, new Scope(scope));
          break;
        }
        case "range": {
          const decl = node.pipe.decl;
          const value = this.pipeline({ ...node.pipe, decl: undefined }, dot, scope);
          const entries: [Value, Value][] = Array.isArray(value)
            ? value.map((v, i) => [i, v])
            : isDict(value)
              ? Object.keys(value)
                  .sort()
                  .map((k) => [k, value[k]])
              : value === null || value === undefined
                ? []
                : (() => {
                    throw new TemplateError(
                      `${node.pipe.where}: range can't iterate over ${String(value)}`,
                    );
                  })();
          if (!entries.length) {
            out += this.run(node.else, dot, new Scope(scope));
            break;
          }
          for (const [key, element] of entries) {
            const inner = new Scope(scope);
            if (decl?.names.length === 1) inner.declare(decl.names[0] as string, element);
            if (decl?.names.length === 2) {
              inner.declare(decl.names[0] as string, key);
              inner.declare(decl.names[1] as string, element);
            }
            out += this.run(node.body, element, inner);
          }
          break;
        }
        case "template": {
          const arg = node.pipe ? this.pipeline(node.pipe, dot, scope) : null;
          out += this.include(node.name, arg);
          break;
        }
      }
    }
    return out;
  }

  private include(name: string, data: Value): string {
    const body = this.defines.get(name);
    if (!body) throw new TemplateError(`no template "${name}" defined`);
    return this.execute(body, data);
  }

  private pipeline(pipe: Pipeline, dot: Value, scope: Scope): Value {
    let value: Value;
    let first = true;
    for (const command of pipe.commands) {
      value = this.command(command, dot, scope, pipe.where, first ? [] : [value]);
      first = false;
    }
    if (pipe.decl) {
      const [name] = pipe.decl.names;
      if (pipe.decl.names.length !== 1 || !name)
        throw new TemplateError(`${pipe.where}: too many variables`);
      if (pipe.decl.op === ":=") scope.declare(name, value);
      else scope.assign(name, value, pipe.where);
    }
    return value;
  }

  private operand(op: Operand, dot: Value, scope: Scope, where: string): Value {
    switch (op.k) {
      case "literal":
        return op.v;
      case "field":
        return field(dot, op.chain, where, this.strict);
      case "var":
        return field(scope.get(op.name, where), op.chain, where, this.strict);
      case "sub":
        return this.pipeline(op.pipe, dot, scope);
      case "func":
        return this.call(op.name, [], where);
    }
  }

  private command(
    command: Command,
    dot: Value,
    scope: Scope,
    where: string,
    piped: Value[],
  ): Value {
    const [head, ...rest] = command;
    if (!head) throw new TemplateError(`${where}: empty command`);
    if (head.k !== "func") {
      if (rest.length || piped.length)
        throw new TemplateError(`${where}: can't give arguments to a non-function`);
      return this.operand(head, dot, scope, where);
    }
    if (head.name === "and" || head.name === "or") {
      // Go evaluates and/or lazily and returns the deciding argument itself.
      const args = [
        ...rest.map((op) => () => this.operand(op, dot, scope, where)),
        ...piped.map((v) => () => v),
      ];
      let last: Value;
      for (const arg of args) {
        last = arg();
        if (head.name === "and" ? !isTrue(last) : isTrue(last)) return last;
      }
      return last;
    }
    const args = [...rest.map((op) => this.operand(op, dot, scope, where)), ...piped];
    return this.call(head.name, args, where);
  }

  private call(name: string, args: Value[], where: string): Value {
    const str = (i: number): string => goString(args[i]);
    const num = (i: number): number => {
      const v = args[i];
      if (typeof v !== "number") throw new TemplateError(`${where}: ${name} expects a number`);
      return v;
    };
    const list = (i: number): Value[] => {
      const v = args[i];
      if (v === null || v === undefined) return [];
      if (!Array.isArray(v)) throw new TemplateError(`${where}: ${name} expects a list`);
      return v;
    };
    switch (name) {
      case "include":
        return this.include(str(0), args[1]);
      case "required":
        if (args[1] === null || args[1] === undefined || args[1] === "")
          throw new TemplateError(str(0));
        return args[1];
      case "fail":
        throw new TemplateError(str(0));
      case "default":
        return isTrue(args[1]) ? args[1] : args[0];
      case "empty":
        return !isTrue(args[0]);
      case "not":
        return !isTrue(args[0]);
      case "eq":
        return args.slice(1).some((v) => deepEqual(args[0], v));
      case "ne":
        return !deepEqual(args[0], args[1]);
      case "quote":
        return args
          .filter((v) => v !== null && v !== undefined)
          .map((v) => JSON.stringify(goString(v)))
          .join(" ");
      case "squote":
        return args
          .filter((v) => v !== null && v !== undefined)
          .map((v) => `'${goString(v)}'`)
          .join(" ");
      case "toString":
        return goString(args[0]);
      case "toYaml":
        return helmToYaml(args[0]);
      case "toJson":
        return JSON.stringify(args[0] ?? null);
      case "indent":
        return indentText(num(0), str(1));
      case "nindent":
        return `\n${indentText(num(0), str(1))}`;
      case "trunc": {
        const n = num(0);
        const s = str(1);
        return n >= 0 ? s.slice(0, n) : s.slice(Math.max(0, s.length + n));
      }
      case "trimSuffix":
        return str(1).endsWith(str(0)) ? str(1).slice(0, str(1).length - str(0).length) : str(1);
      case "replace":
        return str(2).replaceAll(str(0), str(1));
      case "contains":
        return str(1).includes(str(0));
      case "upper":
        return str(0).toUpperCase();
      case "lower":
        return str(0).toLowerCase();
      case "printf":
        return goPrintf(str(0), args.slice(1));
      case "print":
        return args.map(goString).join("");
      case "sha256sum":
        return createHash("sha256").update(str(0)).digest("hex");
      case "list":
        return [...args];
      case "dict": {
        const d: Dict = {};
        for (let i = 0; i + 1 < args.length; i += 2) d[str(i)] = args[i + 1];
        return d;
      }
      case "append":
        return [...list(0), args[1]];
      case "uniq": {
        const out: Value[] = [];
        for (const v of list(0)) if (!out.some((o) => deepEqual(o, v))) out.push(v);
        return out;
      }
      case "has":
        return list(1).some((v) => deepEqual(v, args[0]));
      case "get": {
        const d = args[0];
        if (!isDict(d)) throw new TemplateError(`${where}: get expects a map`);
        return Object.hasOwn(d, str(1)) ? d[str(1)] : "";
      }
      case "hasKey": {
        const d = args[0];
        return isDict(d) && Object.hasOwn(d, str(1));
      }
      case "index": {
        let v = args[0];
        for (const key of args.slice(1)) {
          if (Array.isArray(v) && typeof key === "number") v = v[key];
          else if (isDict(v)) v = Object.hasOwn(v, goString(key)) ? v[goString(key)] : undefined;
          else throw new TemplateError(`${where}: index of ${String(v)}`);
        }
        return v;
      }
      case "join":
        return list(1).map(goString).join(str(0));
      case "len": {
        const v = args[0];
        if (typeof v === "string" || Array.isArray(v)) return v.length;
        if (isDict(v)) return Object.keys(v).length;
        throw new TemplateError(`${where}: len of ${String(v)}`);
      }
      default:
        throw new TemplateError(
          `${where}: function "${name}" not defined (not supported by this renderer)`,
        );
    }
  }
}
