import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BotHarness, startBotHarness } from "../support/bot-harness.js";

describe("the bot over real HTTP, with requests signed as Slack signs them", () => {
  let h: BotHarness;
  beforeAll(async () => {
    h = await startBotHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it("answers a signed /restore help with the usage, well within Slack's 3 s", async () => {
    const res = await h.sender.slashCommand({
      command: "/restore",
      text: "help",
      userId: "UREQUESTER",
      channelId: "CRESTORES",
    });
    expect(res.status).toBe(200);
    expect(res.elapsedMs).toBeLessThan(3_000);
    const body = res.json as { response_type: string; text: string };
    expect(body.response_type).toBe("ephemeral");
    // Escaped for mrkdwn: raw, Slack would read `<target>` as link syntax and drop it.
    expect(body.text).toContain("/restore &lt;target&gt; &lt;point|latest&gt; &lt;reason…&gt;");
    expect(body.text).toContain("/restore plan &lt;target&gt; &lt;point|latest&gt;");
    expect(body.text).not.toMatch(/[<>]/);
  });

  it("answers /recovery-points help with its own usage", async () => {
    const res = await h.sender.slashCommand({
      command: "/recovery-points",
      text: "help",
      userId: "UREQUESTER",
      channelId: "CRESTORES",
    });
    expect(res.status).toBe(200);
    const text = (res.json as { text: string }).text;
    expect(text).toContain("/recovery-points verify &lt;target&gt; &lt;point&gt;");
    expect(text).toContain("--before &lt;point&gt;");
    expect(text).not.toMatch(/[<>]/);
  });

  it("answers an unknown subcommand with what was wrong and the usage, privately", async () => {
    const res = await h.sender.slashCommand({
      command: "/restore",
      text: "rollback prod",
      userId: "UREQUESTER",
      channelId: "CRESTORES",
    });
    const body = res.json as { response_type: string; text: string };
    expect(body.response_type).toBe("ephemeral");
    expect(body.text).toMatch(/Unknown target or subcommand `rollback`\. Known targets: `prod`\./);
    expect(body.text).toContain("*Usage*");
  });

  it("refuses a forged signature and never runs the command", async () => {
    const before = await h.runtime.metrics.registry.getSingleMetricAsString(
      "restorebot_slack_commands_total",
    );
    const res = await h.sender.slashCommand(
      { command: "/restore", text: "help", userId: "UREQUESTER", channelId: "CRESTORES" },
      { forgeSignature: true },
    );
    expect(res.status).toBe(401);
    expect(
      await h.runtime.metrics.registry.getSingleMetricAsString("restorebot_slack_commands_total"),
    ).toBe(before);
  });

  it("refuses a request signed ten minutes ago (replay)", async () => {
    const res = await h.sender.slashCommand(
      { command: "/restore", text: "help", userId: "UREQUESTER", channelId: "CRESTORES" },
      { timestampOffsetSeconds: -600 },
    );
    expect(res.status).toBe(401);
  });

  it("refuses an unsigned request", async () => {
    const res = await h.sender.slashCommand(
      { command: "/restore", text: "help", userId: "UREQUESTER", channelId: "CRESTORES" },
      { omitSignature: true },
    );
    expect(res.status).toBe(401);
  });

  it("serves /healthz, /readyz (PostgreSQL and Redis reachable) and /metrics", async () => {
    const health = await fetch(`${h.baseUrl}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`${h.baseUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      status: "ready",
      checks: { postgres: "ok", redis: "ok" },
    });
    const metrics = await (await fetch(`${h.baseUrl}/metrics`)).text();
    expect(metrics).toContain("# TYPE restorebot_slack_commands_total counter");
    expect(metrics).toMatch(
      /restorebot_slack_commands_total\{[^}]*command="\/restore"[^}]*outcome="accepted"[^}]*\} [1-9]/,
    );
    expect(metrics).toContain("restorebot_queue_depth");
  });
});

describe("readiness when a dependency is down", () => {
  it("reports 503 naming Redis when Redis cannot be reached", async () => {
    const h = await startBotHarness({ env: { REDIS_URL: "redis://127.0.0.1:1" } });
    try {
      const ready = await fetch(`${h.baseUrl}/readyz`);
      expect(ready.status).toBe(503);
      const body = (await ready.json()) as { checks: Record<string, string> };
      expect(body.checks.postgres).toBe("ok");
      expect(body.checks.redis).toMatch(/^unavailable/);
    } finally {
      await h.close();
    }
  });
});
