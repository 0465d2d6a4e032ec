/**
 * The runbook step library: small, typed functions a kind's phases call (Kanister's functions,
 * plus durable checkpoints, narration and a compensation recorded by every step that changes the
 * cluster). See docs/steps.md.
 */
export { CONFIG_MAP_OPERATIONS, getConfigMap, replaceConfigMap } from "./config-map.js";
export { type CopyObjectsArgs, copyObjects, type ObjectCopier } from "./copy-objects.js";
export {
  describe as describeResource,
  getResource,
  inverseMergePatch,
  type PatchCheckpoint,
  patchBack,
  patchOperations,
  patchResource,
} from "./patch-resource.js";
export { restartPod, restartPodOperations } from "./restart-pod.js";
export { restorePostgres } from "./restore-postgres.js";
export {
  deleteJobAndPvc,
  RUN_JOB_OPERATIONS,
  type RunJobArgs,
  type RunJobCheckpoint,
  type RunJobResult,
  runJob,
  runJobCheckpoint,
} from "./run-job.js";
export {
  recordedCounts,
  type ScaleCheckpoint,
  scaleBack,
  scaleOperations,
  scaleWorkloads,
  type WorkloadSelection,
} from "./scale-workloads.js";
export { callServiceProxy, serviceProxyOperations } from "./service-proxy.js";
export type { StepContext, StepDeps, StepInfo } from "./types.js";
export {
  derivedRollbackSteps,
  describeRollback,
  rollbackAfter,
  type UndoOptions,
  undoRecorded,
} from "./undo.js";
export {
  describePodList,
  WAIT_OPERATIONS,
  waitPodsGone,
  waitPodsReady,
  workloadsNotGone,
  workloadsNotReady,
  workloadsSay,
} from "./wait-pods.js";
