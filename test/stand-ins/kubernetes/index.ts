export { DEFAULT_TIMING, influxdbClusteredComponents } from "./components.js";
export {
  type KubeconfigOptions,
  kubeconfigFor,
  kubeconfigYaml,
  writeKubeconfig,
} from "./kubeconfig.js";
export { KubernetesSimulator, startKubernetesSimulator } from "./simulator.js";
export type * from "./types.js";
