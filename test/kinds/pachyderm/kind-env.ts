import { runRestore } from "../../../jobs/runner/runner.js";
import { createKubernetesCluster } from "../../../src/adapters/kubernetes/kubernetes-cluster.js";
import { parseConfig } from "../../../src/config/file.js";
import type { PachydermTarget } from "../../../src/kinds/pachyderm/config.js";
import { pachyderm } from "../../../src/kinds/pachyderm/index.js";
import { silentLogger } from "../../../src/logging/logger.js";
import type { Narrate, Runbook, RunEvent } from "../../../src/runbook/types.js";
import { kubeconfigFor } from "../../../stand-ins/kubernetes/index.js";
import {
  createRunnerDatabase,
  insertApprovedRequest,
  type RunnerDatabase,
} from "../../jobs/support/run-fixtures.js";
import { type PachydermInstall, startPachydermInstall } from "./support.js";

/** A simulated Pachyderm install with a runner database, run through the real runner. */
export interface PachydermEnv extends Omit<PachydermInstall, "close" | "dsns" | "targetYaml"> {
  runner: RunnerDatabase;
  target: PachydermTarget;
  env: Record<string, string>;
  events: RunEvent[];
  /** A new approved request of this target (a backup: its point is a placeholder). */
  request(point?: unknown): Promise<string>;
  /** Runs (or resumes) a request through the real runner with the kind's backup or restore runbook. */
  run(
    requestId: string,
    which: "backup" | "restore",
    options?: {
      signal?: AbortSignal;
      onEvent?: (e: RunEvent) => void;
      /** The runner's clock (the phases' `now()`); the real one when omitted. */
      clock?: () => Date;
    },
  ): ReturnType<typeof runRestore>;
  close(): Promise<void>;
}

let counter = 0;

export async function startPachydermEnv(
  label: string,
  opts: { adminUrl: string; objects?: number },
): Promise<PachydermEnv> {
  const n = ++counter;
  const install = await startPachydermInstall(opts.adminUrl, label, opts.objects);
  const { sim, store } = install;
  const runner = await createRunnerDatabase(`pach_${label}`);
  const config = parseConfig(`
policy: { approvers: [U0A1] }
slack: { channels: [C0123] }
targets:${install.targetYaml(`pach-${n}`, "restorebot/")}
`);
  const target = config.targets[0] as PachydermTarget;
  const env: Record<string, string> = install.dsns;
  const cluster = createKubernetesCluster({
    namespace: sim.namespace,
    kubeConfig: kubeconfigFor(sim),
    retry: { attempts: 2, initialDelayMs: 10, maxDelayMs: 20 },
  });
  const events: RunEvent[] = [];
  const runbookFor = (which: "backup" | "restore"): Runbook => {
    const deps = {
      target,
      db: runner.pool,
      cluster,
      objectStore: () => store,
      env,
      workDir: "/nonexistent",
      logger: silentLogger,
    };
    return which === "backup"
      ? (pachyderm.runbooks.backup?.(deps) as Runbook)
      : pachyderm.runbooks.restore(deps);
  };
  return {
    ...install,
    runner,
    target,
    env,
    events,
    request: (point) =>
      insertApprovedRequest(runner.pool, {
        target: target.name,
        kind: "pachyderm",
        point: (point ?? { backup: true }) as never,
      }),
    run(requestId, which, options = {}) {
      const narrate: Narrate = (e) => {
        events.push(e);
        options.onEvent?.(e);
      };
      return runRestore({
        db: runner.pool,
        requestId,
        runbookFor: () => runbookFor(which),
        narrate,
        signal: options.signal ?? new AbortController().signal,
        logger: silentLogger,
        progressIntervalMs: 0,
        statusTickMs: 60_000,
        lockRetryMs: 20,
        ...(options.clock ? { clock: options.clock } : {}),
      });
    },
    async close() {
      await runner.close();
      await install.close();
    },
  };
}
