/**
 * Errors a person will read. Every failure that crosses a module boundary becomes a
 * `CodedError`: a stable machine code plus a message written for the operator (what went
 * wrong, and what to do). `asCodedError` normalises anything else at the edges.
 */
export type ErrorCode =
  | "config_invalid"
  | "env_invalid"
  | "usage"
  | "not_found"
  | "forbidden"
  | "conflict"
  | "precondition_failed"
  | "s3_unreachable"
  | "s3_access_denied"
  | "kubernetes_error"
  | "timeout"
  | "cancelled"
  | "dump_invalid"
  | "restore_failed"
  | "database_error"
  | "internal";

export class CodedError extends Error {
  readonly code: ErrorCode;
  /** Extra facts safe to show a user (never secrets). */
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "CodedError";
    this.code = code;
    this.details = options?.details;
  }
}

export function asCodedError(err: unknown, fallback: ErrorCode = "internal"): CodedError {
  if (err instanceof CodedError) return err;
  if (err instanceof Error)
    return new CodedError(fallback, redactSecrets(err.message), { cause: err });
  return new CodedError(fallback, redactSecrets(String(err)));
}

const SECRET_PATTERNS: RegExp[] = [
  // userinfo in URLs: postgres://user:password@host → postgres://user:***@host
  /(?<=[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@\s/]+(?=@)/gi,
  // Slack tokens
  /\bx(?:oxb|oxp|oxa|oxe|app|oxr)-[A-Za-z0-9-]+/g,
  // AWS secret-ish assignments
  /(?<=(?:secret|password|token|key)["'=:\s]+)[A-Za-z0-9/+=_-]{12,}/gi,
];

/** Removes anything that looks like a credential from a message meant for logs or Slack. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const pattern of SECRET_PATTERNS) out = out.replace(pattern, "***");
  return out;
}
