/** Pachyderm's building blocks; the kind module wires them into its runbooks. */
export {
  type PachydermDatabase,
  type PachydermPointFields,
  writePachydermPoint,
} from "./backup-point.js";
export { pachyderm } from "./kind.js";
export { OBJECT_MANIFEST, readObjectManifest, writeObjectManifest } from "./object-manifest.js";
export {
  copyIntoPool,
  type LiveLocation,
  type LiveObject,
  listLiveObjects,
  type PoolCopyOptions,
  type PoolCopyProgress,
  type PoolIndex,
  readPoolIndex,
} from "./object-pool.js";
export {
  checkPgDumpCanDump,
  dumpDatabaseToPoint,
  pgDumpConnection,
  pgDumpMajorVersion,
  serverMajorVersion,
} from "./pg-dump.js";
export {
  type CommitMode,
  type CommitModeReport,
  commitModeSentence,
  type DatabasesRestoreResult,
  type DatabaseToRestore,
  preparedId,
  readCommitMode,
  restoreDatabases,
  settlePrepared,
} from "./restore-databases.js";
export {
  type ObjectRestoreProgress,
  planObjectRestore,
  restoreObjectsFromPool,
} from "./restore-objects.js";
export { type PachydermVerifyResult, verifyPachydermPoint } from "./verify-point.js";
