import type { RbacRuleLike, RequestInfo, RequestMatch, Verb } from "./types.js";

/**
 * Resolves a request to API group, resource, verb, namespace and name, the way the API
 * server's RequestInfo resolver does before authorisation. Undefined for non-resource paths
 * (`/version`, `/healthz`).
 */
export function resolveRequestInfo(
  method: string,
  path: string,
  query: URLSearchParams,
): RequestInfo | undefined {
  const segments = path.split("/").filter((s) => s !== "");
  let apiGroup: string;
  let rest: string[];
  if (segments[0] === "api" && segments.length >= 2) {
    apiGroup = "";
    rest = segments.slice(2);
  } else if (segments[0] === "apis" && segments.length >= 3) {
    apiGroup = segments[1] ?? "";
    rest = segments.slice(3);
  } else {
    return undefined;
  }
  if (rest.length === 0) return undefined;
  let namespace: string | undefined;
  // `namespaces/{ns}/{resource}…` is namespaced; `namespaces` and `namespaces/{ns}` are the Namespace resource.
  if (rest[0] === "namespaces" && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [resource = "", name, subresource] = rest;
  const watch = query.get("watch") === "true" || query.get("watch") === "1";
  let verb: Verb;
  switch (method) {
    case "GET":
    case "HEAD":
      verb = watch ? "watch" : name === undefined ? "list" : "get";
      break;
    case "POST":
      verb = "create";
      break;
    case "PUT":
      verb = "update";
      break;
    case "PATCH":
      verb = "patch";
      break;
    case "DELETE":
      verb = name === undefined ? "deletecollection" : "delete";
      break;
    default:
      verb = "get";
  }
  return {
    apiGroup,
    resource: subresource ? `${resource}/${subresource}` : resource,
    verb,
    ...(namespace === undefined ? {} : { namespace }),
    ...(name === undefined ? {} : { name }),
  };
}

export function isAllowedBy(rules: readonly RbacRuleLike[], info: RequestInfo): boolean {
  return rules.some(
    (rule) =>
      (rule.apiGroups.includes(info.apiGroup) || rule.apiGroups.includes("*")) &&
      (rule.resources.includes(info.resource) || rule.resources.includes("*")) &&
      (rule.verbs.includes(info.verb) || rule.verbs.includes("*")),
  );
}

export function matchesRequest(
  match: RequestMatch,
  request: { method: string; url: string; info: RequestInfo | undefined },
): boolean {
  if (match.method !== undefined && match.method.toUpperCase() !== request.method) return false;
  if (
    match.pathIncludes !== undefined &&
    !request.url.includes(match.pathIncludes) &&
    !decodeUrl(request.url).includes(match.pathIncludes)
  ) {
    return false;
  }
  if (match.verb !== undefined && match.verb !== request.info?.verb) return false;
  if (match.resource !== undefined && match.resource !== request.info?.resource) return false;
  if (match.name !== undefined && match.name !== request.info?.name) return false;
  return true;
}

// Lets a match be written as the selector reads (`app in (a,b)`), not as it is encoded.
function decodeUrl(url: string): string {
  try {
    return decodeURIComponent(url.replace(/\+/g, " "));
  } catch {
    return url;
  }
}
