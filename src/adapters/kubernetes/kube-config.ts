import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { CodedError, redactSecrets } from "../../errors.js";

const SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

export interface KubeConfigSource {
  /** A ready KubeConfig (tests); wins over everything else. `kubeContext` is selected on it in place. */
  kubeConfig?: KubeConfig;
  /** Kubeconfig YAML text. */
  kubeconfigYaml?: string;
  /** A kubeconfig file; otherwise `KUBECONFIG`, then `~/.kube/config`, then the in-cluster service account. */
  kubeconfigPath?: string;
  /** Context to use instead of the file's current-context. */
  kubeContext?: string;
  /** `KUBECONFIG` and `KUBERNETES_SERVICE_HOST`, as read once at start (config/env.ts). Default none. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Loads the Kubernetes client configuration the way kubectl finds it, but fails with a
 * `config_invalid` CodedError instead of silently falling back to localhost:8080 as
 * `loadFromDefault` does when nothing is configured.
 */
export function loadKubeConfig(source: KubeConfigSource): KubeConfig {
  const env = source.env ?? {};
  let kc: KubeConfig;
  let origin: string;
  try {
    if (source.kubeConfig) {
      kc = source.kubeConfig;
      origin = "the given KubeConfig";
    } else if (source.kubeconfigYaml !== undefined) {
      kc = new KubeConfig();
      kc.loadFromString(source.kubeconfigYaml);
      origin = "the given kubeconfig text";
    } else if (source.kubeconfigPath) {
      kc = fromFiles([source.kubeconfigPath]);
      origin = source.kubeconfigPath;
    } else if (env.KUBECONFIG) {
      kc = fromFiles(env.KUBECONFIG.split(delimiter).filter((f) => f !== ""));
      origin = "KUBECONFIG";
    } else if (existsSync(join(env.HOME ?? homedir(), ".kube", "config"))) {
      const file = join(env.HOME ?? homedir(), ".kube", "config");
      kc = fromFiles([file]);
      origin = file;
    } else if (env.KUBERNETES_SERVICE_HOST && existsSync(SERVICE_ACCOUNT_TOKEN)) {
      if (source.kubeContext) {
        throw new CodedError(
          "config_invalid",
          `kubeContext "${source.kubeContext}" is set, but there is no kubeconfig: running in a pod, only the pod's own service account is available. Remove kubeContext from the target or mount a kubeconfig and set KUBECONFIG.`,
        );
      }
      kc = new KubeConfig();
      kc.loadFromCluster();
      return kc;
    } else {
      throw new CodedError(
        "config_invalid",
        "No Kubernetes configuration found: set KUBECONFIG to a kubeconfig file, or run in a pod with a service account.",
      );
    }
  } catch (err) {
    if (err instanceof CodedError) throw err;
    throw new CodedError(
      "config_invalid",
      `Could not read the Kubernetes configuration: ${redactSecrets(err instanceof Error ? err.message : String(err))}`,
      { cause: err },
    );
  }

  if (source.kubeContext) {
    const names = kc.getContexts().map((c) => c.name);
    if (!names.includes(source.kubeContext)) {
      throw new CodedError(
        "config_invalid",
        `Kubernetes context "${source.kubeContext}" is not in ${origin} (it has: ${names.join(", ") || "no contexts"}). Fix the target's kubeContext or the kubeconfig.`,
        { details: { kubeContext: source.kubeContext, available: names } },
      );
    }
    kc.setCurrentContext(source.kubeContext);
  }
  if (!kc.getCurrentCluster()) {
    throw new CodedError(
      "config_invalid",
      `The Kubernetes configuration from ${origin} has no usable current context ("${kc.getCurrentContext()}"). Set current-context or the target's kubeContext.`,
    );
  }
  return kc;
}

function fromFiles(files: string[]): KubeConfig {
  const [first, ...rest] = files;
  if (first === undefined)
    throw new CodedError("config_invalid", "KUBECONFIG is set but names no file.");
  const kc = new KubeConfig();
  kc.loadFromFile(first);
  for (const file of rest) {
    const more = new KubeConfig();
    more.loadFromFile(file);
    // Like kubectl: the first file that sets current-context wins.
    kc.mergeConfig(more, kc.getCurrentContext() !== undefined && kc.getCurrentContext() !== "");
  }
  return kc;
}
