import type { Logger } from "../logging/logger.js";
import type { WebClient } from "../slack/slack-api.js";
import type { GroupMembers } from "./policy.js";

/** The one Slack call group resolution needs; a WebClient satisfies it. */
export type UserGroupClient = Pick<WebClient, "usergroups">;

interface Entry {
  members: Promise<readonly string[] | undefined>;
  fetchedAt: number;
}

/**
 * Members of Slack user groups (`usergroups.users.list`), cached briefly: a burst of clicks
 * costs one call per group, and a membership change takes effect within `ttlMs`. A failed
 * lookup is not cached and yields `undefined`, which the policy treats as "not a member"
 * (fail closed) and explains.
 */
export class UserGroupCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly options: { ttlMs?: number; now?: () => number; logger?: Logger } = {},
  ) {}

  private get ttlMs(): number {
    return this.options.ttlMs ?? 60_000;
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  async resolve(client: UserGroupClient, groupIds: readonly string[]): Promise<GroupMembers> {
    const out: Record<string, readonly string[] | undefined> = {};
    await Promise.all(
      [...new Set(groupIds)].map(async (id) => {
        out[id] = await this.members(client, id);
      }),
    );
    return out;
  }

  private members(client: UserGroupClient, id: string): Promise<readonly string[] | undefined> {
    const cached = this.entries.get(id);
    // Concurrent callers share the in-flight lookup.
    if (cached && this.now() - cached.fetchedAt < this.ttlMs) return cached.members;
    const members = client.usergroups.users
      .list({ usergroup: id })
      .then((res) => res.users ?? [])
      .catch((err: unknown) => {
        this.entries.delete(id);
        this.options.logger?.warn(
          { usergroup: id, err: err instanceof Error ? err.message : String(err) },
          "could not list the members of a Slack user group",
        );
        return undefined;
      });
    this.entries.set(id, { members, fetchedAt: this.now() });
    return members;
  }

  clear(): void {
    this.entries.clear();
  }
}
