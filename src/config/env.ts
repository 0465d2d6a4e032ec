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

const portNumber = (name: string) => {
  const message = `${name} must be a port number between 0 and 65535`;
  return z.coerce.number({ message }).int({ message }).min(0, { message }).max(65535, { message });
};

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
  PORT: portNumber("PORT").default(3000),
  // The worker's own health server (/healthz, /readyz, /metrics). A setting of its own so
  // that `bot` and `worker` started on one machine with one environment do not both bind PORT.
  WORKER_PORT: portNumber("WORKER_PORT").optional(),
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
  // Set by Kubernetes in every pod: the in-cluster service account is used when no kubeconfig is.
  KUBERNETES_SERVICE_HOST: z.string().optional(),
  KUBERNETES_SERVICE_PORT: z.string().optional(),
  // A DSN without a user means this one, then the OS user (as libpq does).
  PGUSER: z.string().optional(),
  USER: z.string().optional(),
  AWS_REGION: z.string().optional(),
  LOG_LEVEL: z
    .enum(LOG_LEVELS, { message: `LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}` })
    .default("info"),
});

export type Env = Omit<z.infer<typeof envSchema>, "WORKER_PORT"> & {
  /** True when the bot receives events over Socket Mode instead of HTTP. */
  socketMode: boolean;
  /** The port of the worker's health server: WORKER_PORT, by default PORT + 1 (0 when PORT is 0). */
  WORKER_PORT: number;
  /**
   * The variables the configuration names (each `dsnEnv`, any `…DsnEnv`), by name, read once at
   * start by `readConfigVariables`. Empty until then. Values are secrets: never log them.
   */
  variables: Readonly<Record<string, string>>;
  /**
   * What a tool restorebot runs (pg_dump) inherits: PATH, HOME, the locale, TZ and TMPDIR, read
   * once at start. Never the secrets: a tool gets its own credentials from its caller.
   */
  childProcess: Readonly<Record<string, string>>;
};

const CHILD_PROCESS_VARIABLES = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"] as const;

/**
 * Validates the environment once at start (DESIGN.md, "Environment"). Throws a CodedError
 * whose message is one line naming the variable and what is expected.
 */
export function readEnv(env: NodeJS.ProcessEnv, role: ProcessRole = "serve"): Env {
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
  let workerPort = value.WORKER_PORT;
  if (workerPort === undefined) {
    // PORT 0 asks for any free port; so does its default companion.
    if (value.PORT === 65535 && role === "worker")
      throw new CodedError(
        "env_invalid",
        "WORKER_PORT is not set and its default, PORT + 1, does not exist (PORT is 65535): set WORKER_PORT to the port of the worker's health endpoints",
      );
    workerPort = value.PORT === 0 ? 0 : Math.min(value.PORT + 1, 65535);
  }
  const childProcess: Record<string, string> = {};
  for (const name of CHILD_PROCESS_VARIABLES) {
    const v = cleaned[name];
    if (v !== undefined) childProcess[name] = v;
  }
  return { ...value, socketMode, WORKER_PORT: workerPort, variables: {}, childProcess };
}

/** An environment variable the configuration names, and where (for the error message). */
export interface ConfigVariable {
  name: string;
  /** Path in restorebot.yaml, e.g. `targets[0].catalog.dsnEnv`. */
  path: string;
}

/**
 * Every environment variable the configuration names: the value of each `dsnEnv` key and of
 * any key ending in `DsnEnv`, wherever it sits (so a new kind's config branch is covered
 * without a change here).
 */
export function configVariableNames(config: unknown): ConfigVariable[] {
  const found: ConfigVariable[] = [];
  const walk = (value: unknown, path: string): void => {
    if (Array.isArray(value)) {
      for (const [i, item] of value.entries()) walk(item, `${path}[${i}]`);
    } else if (value !== null && typeof value === "object") {
      for (const [key, child] of Object.entries(value)) {
        const at = path ? `${path}.${key}` : key;
        if ((key === "dsnEnv" || key.endsWith("DsnEnv")) && typeof child === "string")
          found.push({ name: child, path: at });
        else walk(child, at);
      }
    }
  };
  walk(config, "");
  return found;
}

/**
 * Reads the variables the configuration names into `env.variables`, once, at start. When
 * `required` (the worker and `serve`, which connect to them), a missing one stops start-up
 * with an error naming the variable and where the config names it — never a value.
 */
export function readConfigVariables(
  env: Env,
  raw: NodeJS.ProcessEnv,
  config: unknown,
  options: { required: boolean },
): Env {
  const variables: Record<string, string> = { ...env.variables };
  for (const { name, path } of configVariableNames(config)) {
    const value = raw[name];
    if (value !== undefined && value !== "") variables[name] = value;
    else if (options.required)
      throw new CodedError(
        "env_invalid",
        `environment variable ${name} is not set: restorebot.yaml names it at ${path}, and it must hold that PostgreSQL DSN`,
      );
  }
  return { ...env, variables };
}

/** The part of the environment the Kubernetes client configuration is looked up in. */
export function kubernetesEnv(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of ["KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"] as const) {
    const value = env[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}
