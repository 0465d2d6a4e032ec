export { DEFAULT_TIMING } from "./components.js";
export {
  type ContainerShell,
  type ContainerShellOptions,
  containerShell,
} from "./container-shell.js";
export type { ResourceType, ServiceBackend } from "./extra-resources.js";
export {
  type KubeconfigOptions,
  kubeconfigFor,
  kubeconfigYaml,
  writeKubeconfig,
} from "./kubeconfig.js";
export {
  EXEC_PROTOCOL_V4,
  EXEC_PROTOCOL_V5,
  type ExecHandler,
  type ExecMatch,
  type ExecProtocol,
  type ExecRecord,
  type ExecSession,
} from "./pod-io.js";
export { KubernetesSimulator, startKubernetesSimulator } from "./simulator.js";
export type * from "./types.js";
