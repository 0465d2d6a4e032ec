import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { stringify } from "yaml";
import type { KubernetesSimulator } from "./simulator.js";

export interface KubeconfigOptions {
  /** Context selected by default. Default: the first context. */
  currentContext?: string;
  /** Bearer token to present instead of the simulator's own (to provoke 401s). */
  token?: string;
  /** Default namespace of every context. */
  namespace?: string;
}

/**
 * Kubeconfig YAML for one simulator (context `simulator`) or several, keyed by context name.
 * Plain HTTP needs `insecure-skip-tls-verify`: client-node refuses `http:` servers without it.
 */
export function kubeconfigYaml(
  target: KubernetesSimulator | Record<string, KubernetesSimulator>,
  options: KubeconfigOptions = {},
): string {
  const entries = Object.entries(isSimulator(target) ? { simulator: target } : target);
  if (entries.length === 0) throw new Error("kubeconfigYaml needs at least one simulator");
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: entries.map(([name, sim]) => ({
      name,
      cluster: { server: sim.url, "insecure-skip-tls-verify": true },
    })),
    users: entries.map(([name, sim]) => ({ name, user: { token: options.token ?? sim.token } })),
    contexts: entries.map(([name, sim]) => ({
      name,
      context: { cluster: name, user: name, namespace: options.namespace ?? sim.namespace },
    })),
    "current-context": options.currentContext ?? entries[0]?.[0],
    preferences: {},
  });
}

/** A loaded `KubeConfig` pointing at the simulator(s). */
export function kubeconfigFor(
  target: KubernetesSimulator | Record<string, KubernetesSimulator>,
  options: KubeconfigOptions = {},
): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfigYaml(target, options));
  return kc;
}

/** Writes the kubeconfig to a new temporary directory and returns the file path (for `KUBECONFIG`). */
export async function writeKubeconfig(
  target: KubernetesSimulator | Record<string, KubernetesSimulator>,
  options: KubeconfigOptions & { dir?: string } = {},
): Promise<string> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), "k8s-sim-")));
  const file = join(dir, "kubeconfig.yaml");
  await writeFile(file, kubeconfigYaml(target, options), { mode: 0o600 });
  return file;
}

function isSimulator(value: unknown): value is KubernetesSimulator {
  return typeof value === "object" && value !== null && "snapshot" in value && "url" in value;
}
