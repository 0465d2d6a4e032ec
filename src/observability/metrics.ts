import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** Prometheus metrics of one process, served on GET /metrics. */
export interface Metrics {
  registry: Registry;
  restoresTotal: Counter<"target" | "outcome">;
  phaseDurationSeconds: Histogram<"target" | "phase" | "outcome">;
  timeToApprovalSeconds: Histogram<"target">;
  requestsTotal: Counter<"target" | "event">;
  slackCommandsTotal: Counter<"command" | "outcome">;
  queueDepth: Gauge<"state">;
}

export function createMetrics(
  options: { queueDepth?: () => Promise<Record<string, number>> } = {},
): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ app: "restorebot" });
  collectDefaultMetrics({ register: registry });
  const queueDepthSource = options.queueDepth;
  return {
    registry,
    restoresTotal: new Counter({
      name: "restorebot_restores_total",
      help: "Restore runs that ended, by outcome (succeeded, rolled_back, abandoned, halted).",
      labelNames: ["target", "outcome"],
      registers: [registry],
    }),
    phaseDurationSeconds: new Histogram({
      name: "restorebot_phase_duration_seconds",
      help: "Duration of each runbook phase.",
      labelNames: ["target", "phase", "outcome"],
      buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
      registers: [registry],
    }),
    timeToApprovalSeconds: new Histogram({
      name: "restorebot_time_to_approval_seconds",
      help: "Time from a restore request to its final approval.",
      labelNames: ["target"],
      buckets: [10, 30, 60, 120, 300, 600, 1200, 1800, 3600],
      registers: [registry],
    }),
    requestsTotal: new Counter({
      name: "restorebot_request_events_total",
      help: "Restore request events (requested, approved, rejected, expired, cancelled).",
      labelNames: ["target", "event"],
      registers: [registry],
    }),
    slackCommandsTotal: new Counter({
      name: "restorebot_slack_commands_total",
      help: "Slash commands received, by command and outcome (accepted, refused, error).",
      labelNames: ["command", "outcome"],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: "restorebot_queue_depth",
      help: "Restore jobs in the queue, by state.",
      labelNames: ["state"],
      registers: [registry],
      async collect() {
        if (!queueDepthSource) return;
        try {
          for (const [state, count] of Object.entries(await queueDepthSource()))
            this.set({ state }, count);
        } catch {
          // Redis down: keep the last values; /readyz reports the outage.
        }
      },
    }),
  };
}
