/** The catalog restore engine: what the runner, the CLI and the benchmark use. */
export {
  RESTORE_CATALOG_USAGE,
  type RestoreCatalogCliIo,
  runRestoreCatalogCommand,
} from "./cli.js";
export type { DumpSource } from "./dump-source.js";
export type { DumpObjectRef } from "./dump-splitter.js";
export { type LiveInventory, readLiveInventory } from "./live-catalog.js";
export {
  type DumpPreflight,
  type PreflightOptions,
  type PreflightProgress,
  preflightDump,
} from "./preflight.js";
export {
  CATALOG_WORDING,
  type CatalogRestorePhase,
  type CatalogRestoreProgress,
  type RestoreCatalogOptions,
  type RestoreCatalogResult,
  type RestoreWording,
  restoreCatalog,
} from "./restore-engine.js";
export { planRestore, type RestorePlan } from "./restore-plan.js";
