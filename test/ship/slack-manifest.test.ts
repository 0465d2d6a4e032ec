import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { REPO_ROOT } from "./chart-fixture.js";

interface SlashCommand {
  command: string;
  url: string;
  description: string;
  usage_hint: string;
  should_escape: boolean;
}
interface AppManifest {
  display_information: { name: string; description: string };
  features: { bot_user: { display_name: string }; slash_commands: SlashCommand[] };
  oauth_config: { scopes: { bot: string[]; user?: string[] } };
  settings: {
    interactivity: { is_enabled: boolean; request_url: string };
    event_subscriptions?: unknown;
    socket_mode_enabled: boolean;
    org_deploy_enabled: boolean;
    token_rotation_enabled: boolean;
  };
}

const manifest = parseYaml(readFileSync(`${REPO_ROOT}slack/manifest.yaml`, "utf8")) as AppManifest;

/**
 * Why each bot scope is there: the Web API methods restorebot calls (and the slash commands it
 * receives), each with the scope Slack's method reference requires for a bot token. `null` means
 * the method needs no scope. The manifest must ask for exactly the union of these.
 */
const SCOPE_OF: Record<string, string | null> = {
  "slash commands (/recovery-points, /restore, /backup)": "commands",
  "chat.postMessage": "chat:write",
  "chat.update": "chat:write",
  "chat.postEphemeral": "chat:write",
  "chat.getPermalink": null,
  "conversations.open": "im:write",
  "views.open": null,
  "usergroups.users.list": "usergroups:read",
  "users.info": "users:read",
};

/** The commands of DESIGN.md ("Slash commands") and the words of their grammar. */
const DESIGN_COMMANDS: Record<string, string[]> = {
  "/recovery-points": [
    "target",
    "--hourly",
    "--daily",
    "--since",
    "--limit",
    "--before",
    "verify",
    "point",
  ],
  "/restore": [
    "target",
    "latest",
    "reason",
    "plan",
    "status",
    "cancel",
    "history",
    "targets",
    "help",
  ],
  "/backup": ["target", "reason", "status", "help"],
};

describe("slack/manifest.yaml", () => {
  it("declares exactly the slash commands of DESIGN.md, described, with usage hints", () => {
    const commands = manifest.features.slash_commands;
    expect(commands.map((c) => c.command).sort()).toEqual(Object.keys(DESIGN_COMMANDS).sort());
    for (const c of commands) {
      expect(c.description.length, c.command).toBeGreaterThan(10);
      for (const word of DESIGN_COMMANDS[c.command] ?? [])
        expect(c.usage_hint, `${c.command}: ${word}`).toContain(word);
      // restorebot parses the raw text itself; escaped <@U…> forms would break the grammar.
      expect(c.should_escape).toBe(false);
    }
  });

  it("sends commands and interactivity to Bolt's /slack/events over HTTPS", () => {
    const urls = [
      ...manifest.features.slash_commands.map((c) => c.url),
      manifest.settings.interactivity.request_url,
    ];
    for (const url of urls) {
      const parsed = new URL(url);
      expect(parsed.protocol).toBe("https:");
      expect(parsed.pathname).toBe("/slack/events");
    }
    expect(new Set(urls.map((u) => new URL(u).host)).size).toBe(1);
    expect(manifest.settings.interactivity.is_enabled).toBe(true);
  });

  it("asks for exactly the bot scopes the called methods need, and no user scopes", () => {
    const needed = [
      ...new Set(Object.values(SCOPE_OF).filter((s): s is string => s !== null)),
    ].sort();
    expect([...manifest.oauth_config.scopes.bot].sort()).toEqual(needed);
    expect(manifest.oauth_config.scopes.user ?? []).toEqual([]);
  });

  it("subscribes to no events and uses HTTP, not Socket Mode, by default", () => {
    expect(manifest.settings.event_subscriptions).toBeUndefined();
    expect(manifest.settings.socket_mode_enabled).toBe(false);
    expect(manifest.settings.token_rotation_enabled).toBe(false);
  });
});
