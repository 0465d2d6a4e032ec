import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { KubernetesCluster } from "../../src/adapters/kubernetes/kubernetes-cluster.js";
import { k8sName, type TargetBase } from "../../src/config/schema-parts.js";
import type { JsonValue, Kind } from "../../src/kinds/kind.js";
import { createKindRegistry, KINDS } from "../../src/kinds/registry.js";
import { RUN_CONTROL_ACTIONS } from "../../src/narration/run-messages.js";
import type { RecoveryPointSource } from "../../src/recovery-points/recovery-point.js";
import type { Runbook } from "../../src/runbook/types.js";
import type { SlackSendResult } from "../../stand-ins/slack/signer.js";
import { answerTo, type BotHarness, startBotHarness } from "../support/bot-harness.js";

/**
 * A kind that exists only here, added through the registry alone: its config branch, its
 * recovery points, a one-phase runbook with a one-step roll back. The real bot, approvals,
 * queue, worker, runner and narration drive it, so nothing in the core names a kind.
 */

interface WidgetTarget extends TargetBase {
  kind: "widget";
  deployment: string;
}

/** The "system" the widget kind restores: one deployment's version, in memory. */
const widgets = {
  version: "v-live",
  /** What the last replace found, so Roll back can put it back (its compensation). */
  previous: undefined as string | undefined,
  failNextRun: false,
};

const POINT_TIME = new Date("2024-08-12T14:00:00Z");
const POINT_ID = "2024-08-12T14:00:00+00:00";

const widgetPoints: RecoveryPointSource = {
  location: "the widget archive",
  dataLocation: "the widget archive",
  listPoints: async () => ({ points: [{ id: POINT_ID, time: POINT_TIME }], skipped: [] }),
  describePoints: async (points) =>
    new Map(points.map((p) => [p.id, { complete: true, dumpSize: 1, dumpEtag: '"w"' }])),
  verifyPoint: async () => {
    throw new Error("widgets are not verified");
  },
};

function versionOf(point: JsonValue): string {
  const v = (point as { version?: unknown } | null)?.version;
  return typeof v === "string" ? v : "unknown";
}

function widgetRunbook(): Runbook {
  return {
    kind: "widget",
    phases: [
      {
        name: "replace-widget",
        title: "Replace the widget",
        mutates: true,
        async run(ctx) {
          if (ctx.facts.previous === undefined) {
            widgets.previous = widgets.version;
            await ctx.fact("previous", widgets.version);
          }
          widgets.version = versionOf(ctx.request.point);
          if (widgets.failNextRun) {
            widgets.failNextRun = false;
            throw new Error("the widget did not come back");
          }
        },
        summarize: (facts) => `was ${String(facts.previous)}`,
      },
    ],
    rollback: [
      {
        name: "put-widget-back",
        title: "Put the widget back",
        mutates: true,
        async run() {
          if (widgets.previous !== undefined) widgets.version = widgets.previous;
        },
      },
    ],
    describeHalt: async () => ({
      state: [`Widget: ${widgets.version}.`],
      rollback: "puts the widget back as it was.",
    }),
    describeFinish: (request) => [
      request.runMode === "rollback"
        ? `*Rolled back ${request.target}*: the widget is ${widgets.version} again.`
        : `*Restore of ${request.target} complete*: the widget is ${widgets.version}.`,
    ],
  };
}

const widgetKind: Kind<WidgetTarget> = {
  id: "widget",
  label: "Widget",
  config: {
    shape: { kind: z.literal("widget"), deployment: k8sName },
    complete: (parsed) => parsed as unknown as WidgetTarget,
    problems: () => [],
    envVars: () => [],
    describe: (t) => `widget \`${t.deployment}\``,
    objectStore: () => undefined,
  },
  points: {
    source: () => widgetPoints,
    freeze: (_target, ref) => ({ ok: true, point: { version: `v-${ref.id}` } }),
    cardLines: (point) => [`Widget version \`${versionOf(point)}\``],
    reportLine: (point) => `widget version \`${versionOf(point)}\``,
  },
  outline: {
    phases: [{ name: "replace-widget", title: "Replace the widget", mutates: true }],
    rollback: [{ name: "put-widget-back", title: "Put the widget back", mutates: true }],
    replacesData: "replace-widget",
    takesDown: "replace-widget",
    bringsUp: "replace-widget",
  },
  runbooks: { restore: () => widgetRunbook() },
  plan: async ({ point }) => ({
    summary: `The widget would become ${versionOf(point.point)}.`,
    phases: ["1. Replace the widget"],
    warnings: [],
  }),
  wording: {
    abandoned: (_r, _runs, userId) => `<@${userId}> abandoned the widget restore.`,
    rollbackPressed: (_r, _runs, userId) =>
      `<@${userId}> pressed *Roll back*: the widget goes back.`,
  },
  rbac: [],
};

const CHANNEL = "CWIDGETS";
const REQUESTER = "UREQ1";
const APPROVER = "UAPP1";
const CONFIG = `
policy:
  approvers: [${APPROVER}]
targets:
  - name: gadgets
    kind: widget
    namespace: widgets
    deployment: gadget
`;

describe("a kind added through the registry alone", () => {
  const kinds = createKindRegistry([...KINDS, widgetKind]);
  let h: BotHarness;

  beforeAll(async () => {
    h = await startBotHarness({
      configYaml: CONFIG,
      kinds,
      worker: {
        objectStoreFor: () => {
          throw new Error("the widget kind keeps no object store");
        },
        // The widget runbook never calls the cluster.
        clusterFor: () => ({}) as KubernetesCluster,
      },
    });
  });

  afterAll(async () => {
    await h?.close();
  });

  const answer = async (res: SlackSendResult) =>
    (await answerTo(h, res, { timeoutMs: 10_000, inAck: false })).text;

  async function requestAndApprove(): Promise<{ id: string; cardTs: string }> {
    const text = await answer(
      await h.sender.slashCommand({
        command: "/restore",
        text: "gadgets latest the gadget widget was overwritten INC-9",
        userId: REQUESTER,
        channelId: CHANNEL,
      }),
    );
    const id = /rb-[a-z0-9]{8}/.exec(text)?.[0];
    if (!id || !text.startsWith("Requested")) throw new Error(`request refused: ${text}`);
    const card = await h.fake.waitForMessage(CHANNEL, (m) => m.text.includes(id));
    // The card lists the kind's phase and its frozen point in the kind's words.
    const blocks = JSON.stringify(card.blocks);
    expect(blocks).toContain("Replace the widget");
    expect(blocks).toContain(`Widget version \`v-${POINT_ID}\``);
    await h.sender.clickButton({
      userId: APPROVER,
      channelId: CHANNEL,
      messageTs: card.ts,
      actionId: "request_approve",
    });
    return { id, cardTs: card.ts };
  }

  async function stateOf(id: string, states: string[]): Promise<string> {
    const { rows } = await h.runtime.pool.query<{ state: string }>(
      "SELECT state FROM restore_requests WHERE id = $1",
      [id],
    );
    const state = rows[0]?.state ?? "missing";
    if (!states.includes(state)) throw new Error(`request ${id} is ${state}`);
    return state;
  }

  async function finalMessage(id: string, pattern: RegExp): Promise<void> {
    await h.fake.waitForMessage(
      CHANNEL,
      (m) => pattern.test(m.text) && m.text.includes("gadgets"),
      {
        timeoutMs: 20_000,
        label: `the end of ${id}`,
      },
    );
  }

  it("shows its targets and its plan through the core's commands", async () => {
    const targets = await answer(
      await h.sender.slashCommand({
        command: "/restore",
        text: "targets",
        userId: REQUESTER,
        channelId: CHANNEL,
      }),
    );
    expect(targets).toContain("*`gadgets`* — widget, namespace `widgets`, widget `gadget`");
    const plan = await answer(
      await h.sender.slashCommand({
        command: "/restore",
        text: "plan gadgets latest",
        userId: REQUESTER,
        channelId: CHANNEL,
      }),
    );
    expect(plan).toContain(`The widget would become v-${POINT_ID}.`);
  });

  it("runs a request through approval to the end, with the frozen point the kind chose", async () => {
    widgets.version = "v-live";
    const { id } = await requestAndApprove();
    await finalMessage(id, /Restore of gadgets complete/);
    expect(await stateOf(id, ["succeeded"])).toBe("succeeded");
    expect(widgets.version).toBe(`v-${POINT_ID}`);
    const { rows } = await h.runtime.pool.query(
      "SELECT point FROM restore_requests WHERE id = $1",
      [id],
    );
    expect(rows[0]?.point).toEqual({ version: `v-${POINT_ID}` });
  });

  it("halts on a failed phase and rolls back what the phase did when Roll back is pressed", async () => {
    widgets.version = "v-before";
    widgets.failNextRun = true;
    const { id, cardTs } = await requestAndApprove();
    await h.fake.waitForMessage(
      CHANNEL,
      (m) =>
        m.ts === cardTs &&
        JSON.stringify(m.blocks).includes(RUN_CONTROL_ACTIONS.rollback) &&
        !m.deleted,
      { timeoutMs: 20_000, label: "the card's Roll back button" },
    );
    expect(await stateOf(id, ["halted"])).toBe("halted");
    expect(widgets.version).toBe(`v-${POINT_ID}`);
    const rollbackAnswer = h.fake.waitForMessage(CHANNEL, (m) =>
      m.text.includes("pressed *Roll back*: the widget goes back"),
    );
    await h.sender.clickButton({
      userId: APPROVER,
      channelId: CHANNEL,
      messageTs: cardTs,
      actionId: RUN_CONTROL_ACTIONS.rollback,
    });
    await rollbackAnswer;
    await finalMessage(id, /Rolled back gadgets/);
    expect(await stateOf(id, ["rolled_back"])).toBe("rolled_back");
    expect(widgets.version).toBe("v-before");
  });
});
