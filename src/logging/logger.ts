import { type Logger, pino } from "pino";

export type { Logger };

/**
 * JSON logs on stdout. Anything that may carry a credential is redacted by path, and
 * callers log DSN *names* (dsnEnv), never DSNs.
 */
export function createLogger(level = "info", bindings: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { service: "restorebot", ...bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        "token",
        "*.token",
        "password",
        "*.password",
        "dsn",
        "*.dsn",
        "connectionString",
        "*.connectionString",
        "headers.authorization",
        "*.headers.authorization",
        "signingSecret",
        "*.signingSecret",
        "secretAccessKey",
        "*.secretAccessKey",
      ],
      censor: "***",
    },
  });
}

/** A logger that writes nothing, for tests and library defaults. */
export const silentLogger: Logger = pino({ level: "silent" });
