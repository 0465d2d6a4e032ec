import { z } from "zod";
import { CodedError } from "../errors.js";

/** Which process is starting; each needs a different part of the environment. */
export type ProcessRole = "serve" | "bot" | "worker" | "migrate" | "restore-catalog" | "demo";

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

const urlWithProtocols = (name: string, protocols: string[]) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `${name} must be a ${protocols.map((p) => `${p}//…`).join(" or ")} URL` },
  );

const envSchema = z.object({
  SLACK_SIGNING_SECRET: z.string().min(1).optional(),
  SLACK_BOT_TOKEN: z.string().min(1).optional(),
  SLACK_APP_TOKEN: z
    .string()
    .regex(/^xapp-/, { message: "SLACK_APP_TOKEN must be an app-level token starting with xapp-" })
    .optional(),
  SLACK_API_URL: urlWithProtocols("SLACK_API_URL", ["http:", "https:"]).default(
    "https://slack.com/api/",
  ),
  PORT: z.coerce
    .number({ message: "PORT must be a port number between 0 and 65535" })
    .int({ message: "PORT must be a port number between 0 and 65535" })
    .min(0, { message: "PORT must be a port number between 0 and 65535" })
    .max(65535, { message: "PORT must be a port number between 0 and 65535" })
    .default(3000),
  REDIS_URL: urlWithProtocols("REDIS_URL", ["redis:", "rediss:"]).default("redis://127.0.0.1:6379"),
  RESTOREBOT_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, {
      message: "RESTOREBOT_QUEUE_PREFIX must be 1-64 letters, digits or _ . : -",
    })
    .default("restorebot"),
  DATABASE_URL: urlWithProtocols("DATABASE_URL", ["postgres:", "postgresql:"]).default(
    "postgres://127.0.0.1:5432/restorebot",
  ),
  RESTOREBOT_CONFIG: z.string().min(1).default("./restorebot.yaml"),
  KUBECONFIG: z.string().optional(),
  AWS_REGION: z.string().optional(),
  LOG_LEVEL: z
    .enum(LOG_LEVELS, { message: `LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}` })
    .default("info"),
});

export type Env = z.infer<typeof envSchema> & {
  /** True when the bot receives events over Socket Mode instead of HTTP. */
  socketMode: boolean;
};

/**
 * Validates the environment once at start (DESIGN.md, "Environment"). Throws a CodedError
 * whose message is one line naming the variable and what is expected.
 */
export function readEnv(env: NodeJS.ProcessEnv = process.env, role: ProcessRole = "serve"): Env {
  // Treat empty strings as unset, as a shell `VAR=` usually means "not configured".
  const cleaned: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && value !== "") cleaned[key] = value;
  }
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue?.path[0] ?? "environment");
    const message = issue?.message ?? "invalid";
    throw new CodedError("env_invalid", message.includes(name) ? message : `${name}: ${message}`);
  }
  const value = parsed.data;
  const socketMode = value.SLACK_APP_TOKEN !== undefined;
  const needsSlack = role === "serve" || role === "bot" || role === "worker";
  if (needsSlack && !value.SLACK_BOT_TOKEN) {
    throw new CodedError(
      "env_invalid",
      "SLACK_BOT_TOKEN is not set: it is the bot token (xoxb-…) used to post and update messages",
    );
  }
  if ((role === "serve" || role === "bot") && !socketMode && !value.SLACK_SIGNING_SECRET) {
    throw new CodedError(
      "env_invalid",
      "SLACK_SIGNING_SECRET is not set: HTTP mode needs it to verify requests from Slack (or set SLACK_APP_TOKEN for Socket Mode)",
    );
  }
  return { ...value, socketMode };
}
