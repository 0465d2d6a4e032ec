/** Points restorebot writes itself (kinds with `/backup`): names, layout, complete.json, retention. */
export { formatAsOf, parseAsOf } from "./as-of.js";
export {
  type CompleteManifest,
  completeManifestSchema,
  type PointFile,
  parseCompleteManifest,
  readCompleteManifest,
  writeCompleteManifest,
} from "./complete-manifest.js";
export {
  type BackupLocation,
  bareEtag,
  COMPLETE_FILE,
  normalisePrefix,
  pointFileKey,
  pointPrefix,
  pointsPrefix,
  poolEntry,
  poolKey,
  poolPrefix,
} from "./layout.js";
export {
  checkPointFileSizes,
  openCheckedPointFile,
  openSizedPointFile,
  type PointFileProblem,
  uploadPointFile,
} from "./point-files.js";
export {
  AS_OF_FACT,
  abortLeftoverUploads,
  claimAsOf,
  claimPointFolder,
  type PointFolderClaim,
} from "./point-folder.js";
export { type BackupPoint, type ListPointsOptions, listBackupPoints } from "./points.js";
export {
  applyRetention,
  deletePoints,
  type KeepReason,
  planRetention,
  prunePool,
  type RetentionPlan,
  type RetentionResult,
} from "./retention.js";
