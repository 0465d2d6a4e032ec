import { describe, expect, it } from "vitest";
import { readEnv } from "../../src/config/env.js";

const BASE = { SLACK_BOT_TOKEN: "xoxb-test", SLACK_SIGNING_SECRET: "secret" };

describe("readEnv", () => {
  it("applies DESIGN.md's defaults", () => {
    const env = readEnv(BASE, "serve");
    expect(env.PORT).toBe(3000);
    expect(env.REDIS_URL).toBe("redis://127.0.0.1:6379");
    expect(env.RESTOREBOT_QUEUE_PREFIX).toBe("restorebot");
    expect(env.DATABASE_URL).toBe("postgres://127.0.0.1:5432/restorebot");
    expect(env.RESTOREBOT_CONFIG).toBe("./restorebot.yaml");
    expect(env.LOG_LEVEL).toBe("info");
    expect(env.socketMode).toBe(false);
  });

  it("switches to Socket Mode when SLACK_APP_TOKEN is set, without a signing secret", () => {
    const env = readEnv({ SLACK_BOT_TOKEN: "xoxb-test", SLACK_APP_TOKEN: "xapp-1-abc" }, "bot");
    expect(env.socketMode).toBe(true);
  });

  it("gives the worker's health server a port of its own: WORKER_PORT, by default PORT + 1", () => {
    expect(readEnv(BASE, "worker").WORKER_PORT).toBe(3001);
    expect(readEnv({ ...BASE, PORT: "8080" }, "worker").WORKER_PORT).toBe(8081);
    expect(readEnv({ ...BASE, PORT: "0" }, "worker").WORKER_PORT).toBe(0);
    expect(readEnv({ ...BASE, PORT: "8080", WORKER_PORT: "9102" }, "worker").WORKER_PORT).toBe(
      9102,
    );
  });

  const cases: Array<[string, Record<string, string>, string, RegExp]> = [
    [
      "worker port not a number",
      { ...BASE, WORKER_PORT: "health" },
      "worker",
      /^WORKER_PORT must be a port number/,
    ],
    [
      "worker port defaulting past 65535",
      { ...BASE, PORT: "65535" },
      "worker",
      /^WORKER_PORT is not set and its default, PORT \+ 1, does not exist/,
    ],
    [
      "HTTP bot without signing secret",
      { SLACK_BOT_TOKEN: "xoxb-1" },
      "bot",
      /^SLACK_SIGNING_SECRET is not set/,
    ],
    [
      "serve without bot token",
      { SLACK_SIGNING_SECRET: "s" },
      "serve",
      /^SLACK_BOT_TOKEN is not set/,
    ],
    ["worker without bot token", {}, "worker", /^SLACK_BOT_TOKEN is not set/],
    ["port not a number", { ...BASE, PORT: "http" }, "bot", /^PORT must be a port number/],
    ["port out of range", { ...BASE, PORT: "70000" }, "bot", /^PORT must be a port number/],
    [
      "redis URL with wrong scheme",
      { ...BASE, REDIS_URL: "http://localhost" },
      "bot",
      /^REDIS_URL must be a redis:\/\/… or rediss:\/\/… URL/,
    ],
    [
      "database URL not a URL",
      { ...BASE, DATABASE_URL: "localhost/restorebot" },
      "bot",
      /^DATABASE_URL must be a postgres:/,
    ],
    [
      "bad log level",
      { ...BASE, LOG_LEVEL: "loud" },
      "bot",
      /^LOG_LEVEL must be one of fatal, error/,
    ],
    [
      "bad queue prefix",
      { ...BASE, RESTOREBOT_QUEUE_PREFIX: "a b" },
      "bot",
      /^RESTOREBOT_QUEUE_PREFIX must be/,
    ],
    [
      "app token of the wrong kind",
      { ...BASE, SLACK_APP_TOKEN: "xoxb-2" },
      "bot",
      /^SLACK_APP_TOKEN must be an app-level token/,
    ],
    [
      "bad Slack API URL",
      { ...BASE, SLACK_API_URL: "slack" },
      "bot",
      /^SLACK_API_URL must be a http:\/\/… or https:\/\/… URL/,
    ],
  ];
  it.each(cases)("%s", (_label, env, role, message) => {
    expect(() => readEnv(env, role as "bot")).toThrowError(message);
  });

  it("migrate needs no Slack settings", () => {
    expect(readEnv({}, "migrate").DATABASE_URL).toContain("restorebot");
  });

  it("never echoes a secret value in its message", () => {
    try {
      readEnv({ ...BASE, SLACK_APP_TOKEN: "xoxb-supersecret-value" }, "bot");
    } catch (err) {
      expect((err as Error).message).not.toContain("supersecret");
    }
  });
});
