import { CodedError, redactSecrets } from "../../errors.js";

export interface ElasticsearchRequest {
  method: "GET" | "POST" | "PUT" | "DELETE";
  /** Relative to the cluster's root, without a leading slash: `_snapshot/sts-backup/_all`. */
  path: string;
  query?: Record<string, string>;
  body?: unknown;
}

export interface ElasticsearchResponse {
  status: number;
  /** Parsed JSON (Elasticsearch answers JSON, errors included). */
  body: unknown;
}

/**
 * How restorebot reaches Elasticsearch. In production the caller builds it over the
 * Kubernetes API server's service proxy
 * (`/api/v1/namespaces/<ns>/services/<service>:<port>/proxy/<path>`), so no port-forward and
 * no network path to the cluster's pods is needed; tests pass `fetchElasticsearchHttp`.
 */
export type ElasticsearchHttp = (request: ElasticsearchRequest) => Promise<ElasticsearchResponse>;

/** Plain HTTP to a base URL (the stand-in, or a reachable Elasticsearch). */
export function fetchElasticsearchHttp(baseUrl: string): ElasticsearchHttp {
  const base = baseUrl.replace(/\/$/, "");
  return async (request) => {
    const qs = new URLSearchParams(request.query ?? {}).toString();
    const res = await fetch(`${base}/${request.path}${qs === "" ? "" : `?${qs}`}`, {
      method: request.method,
      headers: request.body === undefined ? {} : { "content-type": "application/json" },
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text === "" ? undefined : JSON.parse(text);
    } catch {
      // Not JSON (a proxy's error page): keep the text for the message.
    }
    return { status: res.status, body };
  };
}

/** Elasticsearch's `{ error: { type, reason }, status }` as one line. */
export function describeElasticsearchError(body: unknown): string {
  if (typeof body === "object" && body !== null && "error" in body) {
    const error = (body as { error: unknown }).error;
    if (typeof error === "object" && error !== null) {
      const { type, reason } = error as { type?: unknown; reason?: unknown };
      return `${String(type ?? "error")}: ${String(reason ?? "")}`.trim();
    }
    return String(error);
  }
  return typeof body === "string"
    ? body.slice(0, 300)
    : (JSON.stringify(body)?.slice(0, 300) ?? "");
}

/**
 * One call that must succeed: a non-2xx answer or an unreachable Elasticsearch becomes a
 * `CodedError` naming the request and what Elasticsearch said.
 */
export async function callElasticsearch(
  http: ElasticsearchHttp,
  request: ElasticsearchRequest,
  what: string,
): Promise<unknown> {
  let response: ElasticsearchResponse;
  try {
    response = await http(request);
  } catch (err) {
    throw new CodedError(
      "kubernetes_error",
      `Could not reach Elasticsearch to ${what} (${redactSecrets(err instanceof Error ? err.message : String(err))}). Check that the Elasticsearch service is up and that restorebot may use services/proxy in the namespace.`,
      { cause: err },
    );
  }
  if (response.status >= 200 && response.status < 300) return response.body;
  const said = redactSecrets(describeElasticsearchError(response.body));
  throw new CodedError(
    response.status === 404 ? "not_found" : "restore_failed",
    `Elasticsearch refused to ${what}: ${request.method} /${request.path} answered ${response.status} (${said}).`,
    { details: { status: response.status, path: request.path } },
  );
}

/** What `serviceProxyElasticsearchHttp` needs of the Kubernetes adapter. */
export interface ServiceProxyCaller {
  callServiceProxy(request: {
    service: string;
    port: number | string;
    path: string;
    method?: "GET" | "POST" | "PUT" | "DELETE";
    query?: Record<string, string>;
    body?: string;
    contentType?: string;
    signal?: AbortSignal;
  }): Promise<{ status: number; contentType: string | undefined; body: string }>;
}

/**
 * Elasticsearch through the Kubernetes API server's service proxy: what restorebot uses in
 * production (no port-forward, no network path to the pods; needs `services/proxy` in the Role).
 */
export function serviceProxyElasticsearchHttp(
  cluster: ServiceProxyCaller,
  service: { name: string; port: number | string },
  signal?: AbortSignal,
): ElasticsearchHttp {
  return async (request) => {
    const answer = await cluster.callServiceProxy({
      service: service.name,
      port: service.port,
      path: request.path,
      method: request.method,
      ...(request.query === undefined ? {} : { query: request.query }),
      ...(request.body === undefined
        ? {}
        : { body: JSON.stringify(request.body), contentType: "application/json" }),
      ...(signal === undefined ? {} : { signal }),
    });
    let body: unknown = answer.body;
    try {
      body = answer.body === "" ? undefined : JSON.parse(answer.body);
    } catch {
      // Not JSON (the API server's own error page): keep the text for the message.
    }
    return { status: answer.status, body };
  };
}
