import { describe, expect, it } from "vitest";
import { buildRequestCard } from "../../../src/approvals/card.js";
import { formatRequestStatus } from "../../../src/approvals/reports.js";
import type { RestoreRequest } from "../../../src/approvals/request-store.js";
import type { JsonValue } from "../../../src/kinds/kind.js";
import { DEFAULT_KINDS } from "../../../src/kinds/registry.js";
import { stackstateRestoreOptions } from "../../../src/kinds/stackstate/options.js";
import {
  parseRecoveryPointsCommand,
  parseRestoreCommand,
  type SyntaxOf,
} from "../../../src/slack/commands/grammar.js";
import { stackstateTarget } from "./support/runbook-env.js";

const target = stackstateTarget();
const kind = DEFAULT_KINDS.get("stackstate");
const TARGETS = ["prod", "sts"];
const syntaxOf: SyntaxOf = (name) =>
  name === "sts"
    ? {
        namedPoints: kind.points.named!.syntax,
        stores: kind.points.named!.stores(target),
        options: {
          usage: kind.restoreOptions!.usage,
          parse: (words) => kind.restoreOptions!.parse(words, target),
        },
      }
    : {};

const SG_POINT = {
  store: "stackgraph",
  name: "sts-backup-20240617-0300.graph",
  time: "2024-06-17T03:00:00.000Z",
  keys: ["sts-backup-20240617-0300.graph"],
  sizeBytes: 11,
};
const ES_POINT = {
  store: "elasticsearch",
  name: "snap-1",
  time: "2024-06-17T03:00:00.000Z",
  indices: ["a-1", "b-1", "c-1"],
  state: "SUCCESS",
};

describe("/restore with a kind's points and options", () => {
  it("passes <store>:<name> through as the kind's own point, reads --force/--indices before the reason", () => {
    const parsed = parseRestoreCommand(
      "sts stackgraph:latest --force graph corrupted INC-42",
      TARGETS,
      syntaxOf,
    );
    expect(parsed).toEqual({
      ok: true,
      command: {
        kind: "request",
        target: "sts",
        point: { kind: "named", text: "stackgraph:latest" },
        reason: "graph corrupted INC-42",
        options: { force: true },
      },
    });
    const es = parseRestoreCommand(
      "sts elasticsearch:snap-1 --indices a-1,b-1 indices lost INC-43",
      TARGETS,
      syntaxOf,
    );
    expect(es).toMatchObject({
      ok: true,
      command: { options: { indices: ["a-1", "b-1"] }, reason: "indices lost INC-43" },
    });
    const none = parseRestoreCommand(
      "sts metrics:latest metrics lost in INC-44",
      TARGETS,
      syntaxOf,
    );
    expect(none).toMatchObject({ ok: true, command: { reason: "metrics lost in INC-44" } });
    expect(none.ok && "options" in none.command).toBe(false);
  });

  it("refuses an unknown flag or an --indices without names, saying what to type", () => {
    const bad = parseRestoreCommand(
      "sts stackgraph:latest --overwrite graph corrupted INC-42",
      TARGETS,
      syntaxOf,
    );
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.error).toContain("`--force`");
    expect(!bad.ok && bad.error).toContain("[--force] [--indices a,b]");
    const empty = parseRestoreCommand(
      "sts elasticsearch:snap-1 --indices --force lost indices INC-1",
      TARGETS,
      syntaxOf,
    );
    expect(!empty.ok && empty.error).toContain("comma-separated list of index names");
  });

  it("leaves InfluxDB Clustered's grammar as it was: a time point, the rest is the reason", () => {
    expect(
      parseRestoreCommand("prod latest --force is part of this reason", TARGETS, syntaxOf),
    ).toMatchObject({
      ok: true,
      command: { point: { kind: "latest" }, reason: "--force is part of this reason" },
    });
    expect(
      parseRestoreCommand("prod stackgraph:latest some reason here", TARGETS, syntaxOf).ok,
    ).toBe(false);
  });

  it("checks options against the frozen point: --force only for StackGraph, --indices only names the snapshot holds", () => {
    const check = stackstateRestoreOptions.check!;
    expect(check({ force: true }, ES_POINT as JsonValue, target)).toContain(
      "StackGraph restores only",
    );
    expect(check({ indices: ["a-1"] }, SG_POINT as JsonValue, target)).toContain(
      "Elasticsearch restores only",
    );
    expect(check({ indices: ["a-1", "zzz"] }, ES_POINT as JsonValue, target)).toContain('"zzz"');
    expect(check({ indices: ["a-1"] }, ES_POINT as JsonValue, target)).toBeUndefined();
  });
});

describe("/recovery-points --store", () => {
  it("passes a store of a multi-store target on; refuses one it lacks, and --store on a one-store target", () => {
    expect(
      parseRecoveryPointsCommand("sts --store metrics --limit 5", TARGETS, syntaxOf),
    ).toMatchObject({
      ok: true,
      command: { kind: "list", target: "sts", store: "metrics", limit: 5 },
    });
    const unknown = parseRecoveryPointsCommand("sts --store kafka", TARGETS, syntaxOf);
    expect(!unknown.ok && unknown.error).toContain("has no store `kafka`");
    const influx = parseRecoveryPointsCommand("prod --store stackgraph", TARGETS, syntaxOf);
    expect(!influx.ok && influx.error).toContain("`--store` does not apply");
    expect(!influx.ok && influx.error).toContain("/recovery-points prod");
  });
});

function request(point: unknown, options: unknown): RestoreRequest {
  const now = new Date("2024-06-18T10:00:00Z");
  return {
    id: "rb-k3m9x2qa",
    target: "sts",
    kind: "stackstate",
    pointTime: new Date("2024-06-17T03:00:00Z"),
    point: point as JsonValue,
    options: options as JsonValue,
    requester: "UREQ1",
    reason: "graph corrupted INC-42",
    channelId: "CRESTORES",
    cardTs: null,
    state: "pending",
    requiredApprovals: 1,
    policy: {},
    createdAt: now,
    expiresAt: new Date(now.getTime() + 1_800_000),
    approvedAt: null,
    startedAt: null,
    finishedAt: null,
    cancelRequested: false,
    cancelRequestedBy: null,
    haltedPhase: null,
    haltedReason: null,
    closedBy: null,
    closeReason: null,
    enqueuedAt: null,
    runMode: "forward",
    operation: "restore",
    version: 1,
    updatedAt: now,
  };
}

describe("the approval card and /restore status", () => {
  const now = new Date("2024-06-18T10:00:00Z");
  it("says in bold that --force overwrites existing data", () => {
    const card = buildRequestCard({
      kinds: DEFAULT_KINDS,
      request: request(SG_POINT, { force: true }),
      approvals: [],
      now,
    });
    const text = JSON.stringify(card.blocks);
    expect(text).toContain("*`--force`: existing StackGraph data is overwritten.*");
    expect(text).toContain("stackgraph:sts-backup-20240617-0300.graph");
    expect(
      formatRequestStatus(DEFAULT_KINDS, request(SG_POINT, { force: true }), [], now),
    ).toContain("existing StackGraph data is overwritten");
  });

  it("lists the indices to delete before approval, narrowed by --indices", () => {
    const all = JSON.stringify(
      buildRequestCard({
        kinds: DEFAULT_KINDS,
        request: request(ES_POINT, null),
        approvals: [],
        now,
      }).blocks,
    );
    expect(all).toContain("a-1, b-1, c-1");
    const narrowed = JSON.stringify(
      buildRequestCard({
        kinds: DEFAULT_KINDS,
        request: request(ES_POINT, { indices: ["b-1"] }),
        approvals: [],
        now,
      }).blocks,
    );
    expect(narrowed).toContain("Only these 1 of the snapshot's 3 indices are deleted and restored");
    expect(narrowed).toContain("`b-1`");
  });

  it("a request without options shows no options block", () => {
    const card = buildRequestCard({
      kinds: DEFAULT_KINDS,
      request: request(SG_POINT, null),
      approvals: [],
      now,
    });
    expect(card.blocks.some((b) => (b as { block_id?: string }).block_id === "options")).toBe(
      false,
    );
  });
});
