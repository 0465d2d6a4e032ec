import { ApiException } from "@kubernetes/client-node";
import { CodedError, redactSecrets } from "../../errors.js";

/** One Kubernetes API call, described for the person reading a failure. */
export interface ApiCall {
  /** What we were doing, as a sentence fragment: `scale StatefulSet data-store to 0`. */
  action: string;
  verb: "get" | "list" | "watch" | "patch" | "update" | "delete" | "create" | "proxy";
  namespace: string;
}

/** What went wrong with a call, and whether trying again can help. */
export interface ApiFailure {
  /** HTTP status, when the API server answered. */
  status: number | undefined;
  /** `reason` of the API's Status body (NotFound, Conflict, …). */
  reason: string | undefined;
  /** The API's own message, or the network error. */
  message: string;
  transient: boolean;
  /** From Retry-After on 429/503. */
  retryAfterMs: number | undefined;
}

const TRANSIENT_STATUSES = new Set([429, 500, 502, 503, 504]);
const TRANSIENT_NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "UND_ERR_SOCKET",
]);

/**
 * Classifies anything a client-node call or watch threw. A 409 is transient only for our
 * patches: they are idempotent merge patches without a resourceVersion, so repeating one after
 * a conflict is safe.
 */
export function describeFailure(err: unknown, verb: ApiCall["verb"]): ApiFailure {
  const status = statusOf(err);
  if (status !== undefined) {
    const body = statusBodyOf(err);
    const reason =
      body?.reason ??
      (err instanceof Error && !(err instanceof ApiException) ? err.message : undefined);
    return {
      status,
      reason,
      message: body?.message ?? reason ?? `HTTP ${status}`,
      transient: TRANSIENT_STATUSES.has(status) || (status === 409 && verb === "patch"),
      retryAfterMs: retryAfterOf(err),
    };
  }
  const code = networkCodeOf(err);
  if (code !== undefined) {
    return {
      status: undefined,
      reason: code,
      message: `the connection to the API server failed (${code})`,
      transient: TRANSIENT_NETWORK_CODES.has(code) || code.startsWith("UND_ERR"),
      retryAfterMs: undefined,
    };
  }
  // node-fetch (client-node 1.x) rejected with an AbortError when the request's signal fired;
  // undici (2.x) rejects with the signal's reason, a DOMException named TimeoutError.
  if (isAbortOrTimeout(err)) {
    return {
      status: undefined,
      reason: "Timeout",
      message: "the request timed out",
      transient: true,
      retryAfterMs: undefined,
    };
  }
  return {
    status: undefined,
    reason: undefined,
    message: err instanceof Error ? err.message : String(err),
    transient: false,
    retryAfterMs: undefined,
  };
}

/** The CodedError a person sees: which call, on which object, what the API said, what to check. */
export function failureToCodedError(
  call: ApiCall,
  failure: ApiFailure,
  attempts: number,
  cause: unknown,
): CodedError {
  const answered =
    failure.status === undefined
      ? failure.message
      : `the API server answered ${failure.status}${failure.reason ? ` ${failure.reason}` : ""}: ${failure.message}`;
  const tries = attempts > 1 ? ` (gave up after ${attempts} attempts)` : "";
  const hint = hintFor(failure);
  return new CodedError(
    "kubernetes_error",
    redactSecrets(
      `Kubernetes: could not ${call.action} in namespace ${call.namespace}: ${answered}${tries}.${hint ? ` ${hint}` : ""}`,
    ),
    {
      cause,
      details: {
        action: call.action,
        namespace: call.namespace,
        ...(failure.status === undefined ? {} : { status: failure.status }),
        ...(failure.reason === undefined ? {} : { reason: failure.reason }),
        attempts,
      },
    },
  );
}

function hintFor(failure: ApiFailure): string | undefined {
  switch (failure.status) {
    case 401:
      return "The credentials in the Kubernetes configuration were rejected; renew them.";
    case 403:
      return "The account restorebot runs as lacks this permission; the Helm chart's Role grants exactly what it needs.";
    case 404:
      return "Check the target's namespace and the names of its workloads and resources.";
    case undefined:
      return failure.reason === "Timeout" || failure.transient
        ? "Is the API server reachable from here?"
        : undefined;
    default:
      return undefined;
  }
}

/** HTTP status of an ApiException, or of the error client-node's Watch reports for a non-200 answer. */
export function statusOf(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  if (
    typeof err === "object" &&
    err !== null &&
    "statusCode" in err &&
    typeof err.statusCode === "number"
  ) {
    return err.statusCode;
  }
  return undefined;
}

interface StatusBody {
  message?: string;
  reason?: string;
  code?: number;
}

function statusBodyOf(err: unknown): StatusBody | undefined {
  if (!(err instanceof ApiException)) return undefined;
  const body: unknown = err.body;
  if (typeof body === "object" && body !== null) return body as StatusBody;
  if (typeof body !== "string" || body === "") return undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === "object" && parsed !== null
      ? (parsed as StatusBody)
      : { message: body };
  } catch {
    return { message: body.slice(0, 300) };
  }
}

function retryAfterOf(err: unknown): number | undefined {
  if (!(err instanceof ApiException)) return undefined;
  const headers = err.headers as Record<string, string> | undefined;
  const value = headers?.["retry-after"];
  const seconds = value === undefined ? Number.NaN : Number(value);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

function isAbortOrTimeout(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  if ("name" in err && (err.name === "AbortError" || err.name === "TimeoutError")) return true;
  return "cause" in err && err.cause !== err && isAbortOrTimeout(err.cause);
}

function networkCodeOf(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const direct = "code" in err && typeof err.code === "string" ? err.code : undefined;
  if (direct) return direct;
  // node-fetch's FetchError keeps the socket error in `errno`/`code`; undici nests it in `cause`.
  if ("errno" in err && typeof err.errno === "string") return err.errno;
  if ("cause" in err) return networkCodeOf(err.cause);
  return undefined;
}
