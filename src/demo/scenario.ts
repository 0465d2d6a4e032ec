import type { KubernetesSimulatorOptions } from "../../stand-ins/kubernetes/types.js";
import type { S3StandIn } from "../../stand-ins/s3/server.js";

/**
 * What `restorebot demo` (`npm start`) needs from a kind to show it in the sandbox. A kind's
 * `sandbox.load()` returns one; the demo loads it only when it starts, so the stand-ins and the
 * data builders a scenario uses never load in `serve` or the worker.
 */
export interface SandboxSetup {
  /** The target's name in the generated restorebot.yaml (unique across the kinds' scenarios). */
  targetName: string;
  /** What the Kubernetes simulator serves for the target (its namespace, workloads, resources). */
  cluster: {
    namespace: string;
    /** Options passed to the simulator as they are (workloads, custom resources it registers). */
    simulator: KubernetesSimulatorOptions;
  };
  /** Buckets the S3 stand-in must have before `seed` runs. */
  buckets: string[];
  /** Scratch databases on the sandbox's PostgreSQL (rebuilt at every start), by role. */
  databases: string[];
  /** Fills the stand-ins and databases, and says how the target is configured. */
  seed(context: SandboxContext): Promise<SandboxSeed>;
}

export interface SandboxContext {
  s3: S3StandIn;
  /** The URL of each database named in `databases`, freshly created and empty. */
  databaseUrls: Record<string, string>;
  /** Empties one of the scenario's databases again (e.g. to let the live data drift). */
  recreateDatabase(role: string): Promise<string>;
  now: Date;
  fast: boolean;
}

export interface SandboxSeed {
  /** The target's entry under `targets:` in restorebot.yaml, indented as a list item. */
  targetYaml(options: { s3Endpoint: string }): string;
  /** Environment variables the target names (DSNs), with their values in the sandbox. */
  env: Record<string, string>;
  /**
   * What to try first, for the ready summary: one line each, numbered by the demo before its
   * own steps (approving, watching the run).
   */
  ready: string[];
  /** What the console shows of the target's live data; absent when it shows nothing. */
  summary?: { read(): Promise<unknown> };
  /** Kind-specific facts the demo's tests read (e.g. which points are real). */
  details?: unknown;
}
