/**
 * The patch formats the API server accepts, applied to plain JSON objects. Strategic merge
 * patch behaves like a merge patch for the scalar fields the simulator serves, which is all a
 * client can change here.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export class PatchError extends Error {
  constructor(
    message: string,
    /** 422 for a patch that is well-formed but cannot apply, 400 for a malformed one. */
    readonly status: 400 | 409 | 422 = 422,
  ) {
    super(message);
  }
}

export const PATCH_CONTENT_TYPES = {
  json: "application/json-patch+json",
  merge: "application/merge-patch+json",
  strategic: "application/strategic-merge-patch+json",
  apply: "application/apply-patch+yaml",
} as const;

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** RFC 7386: objects merge recursively, `null` deletes, anything else replaces. */
export function applyMergePatch(target: Json, patch: Json): Json {
  if (!isJsonObject(patch)) return clone(patch);
  const result: JsonObject = isJsonObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key] ?? null, value);
  }
  return result;
}

interface JsonPatchOperation {
  op: string;
  path: string;
  value?: Json;
  from?: string;
}

/** RFC 6902 (add, remove, replace, test, copy, move). */
export function applyJsonPatch(target: Json, operations: Json): Json {
  if (!Array.isArray(operations))
    throw new PatchError("a JSON patch must be an array of operations", 400);
  let doc = clone(target);
  for (const raw of operations) {
    if (!isJsonObject(raw) || typeof raw.op !== "string" || typeof raw.path !== "string") {
      throw new PatchError("every JSON patch operation needs op and path", 400);
    }
    const op = raw as unknown as JsonPatchOperation;
    switch (op.op) {
      case "add":
        doc = setAt(doc, parsePointer(op.path), requireValue(op), "add");
        break;
      case "replace":
        getAt(doc, parsePointer(op.path));
        doc = setAt(doc, parsePointer(op.path), requireValue(op), "replace");
        break;
      case "remove":
        doc = removeAt(doc, parsePointer(op.path));
        break;
      case "test":
        if (
          JSON.stringify(getAt(doc, parsePointer(op.path))) !== JSON.stringify(requireValue(op))
        ) {
          throw new PatchError(`test operation failed at ${op.path}`, 422);
        }
        break;
      case "copy":
        doc = setAt(
          doc,
          parsePointer(op.path),
          clone(getAt(doc, parsePointer(requireFrom(op)))),
          "add",
        );
        break;
      case "move": {
        const value = getAt(doc, parsePointer(requireFrom(op)));
        doc = removeAt(doc, parsePointer(requireFrom(op)));
        doc = setAt(doc, parsePointer(op.path), value, "add");
        break;
      }
      default:
        throw new PatchError(`unknown JSON patch operation "${op.op}"`, 400);
    }
  }
  return doc;
}

function requireValue(op: JsonPatchOperation): Json {
  if (op.value === undefined)
    throw new PatchError(`operation ${op.op} at ${op.path} needs a value`, 400);
  return op.value;
}

function requireFrom(op: JsonPatchOperation): string {
  if (typeof op.from !== "string") throw new PatchError(`operation ${op.op} needs from`, 400);
  return op.from;
}

function parsePointer(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw new PatchError(`invalid JSON pointer "${pointer}"`, 400);
  return pointer
    .slice(1)
    .split("/")
    .map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function getAt(doc: Json, path: string[]): Json {
  let node: Json = doc;
  for (const token of path) {
    if (Array.isArray(node)) node = node[Number(token)] ?? missing(path);
    else if (isJsonObject(node) && Object.hasOwn(node, token)) node = node[token] ?? null;
    else missing(path);
  }
  return node;
}

function missing(path: string[]): never {
  throw new PatchError(`path /${path.join("/")} does not exist`, 422);
}

function setAt(doc: Json, path: string[], value: Json, mode: "add" | "replace"): Json {
  if (path.length === 0) return clone(value);
  const parent = getAt(doc, path.slice(0, -1));
  const last = path[path.length - 1] ?? "";
  if (Array.isArray(parent)) {
    const index = last === "-" ? parent.length : Number(last);
    if (!Number.isInteger(index) || index < 0 || index > parent.length) missing(path);
    if (mode === "add") parent.splice(index, 0, clone(value));
    else parent[index] = clone(value);
  } else if (isJsonObject(parent)) {
    parent[last] = clone(value);
  } else {
    missing(path);
  }
  return doc;
}

function removeAt(doc: Json, path: string[]): Json {
  if (path.length === 0) return null;
  const parent = getAt(doc, path.slice(0, -1));
  const last = path[path.length - 1] ?? "";
  if (Array.isArray(parent)) {
    const index = Number(last);
    if (!Number.isInteger(index) || index < 0 || index >= parent.length) missing(path);
    parent.splice(index, 1);
  } else if (isJsonObject(parent) && Object.hasOwn(parent, last)) {
    delete parent[last];
  } else {
    missing(path);
  }
  return doc;
}

export function clone<T extends Json>(value: T): T {
  return structuredClone(value);
}
