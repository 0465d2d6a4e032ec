import type { App } from "@slack/bolt";
import type { AppDeps } from "../../../app-deps.js";
import { handleBackupCommand } from "./backup.js";
import { handleRecoveryPointsCommand } from "./recovery-points.js";
import { handleRestoreCommand } from "./restore.js";

export function registerCommands(app: App, deps: AppDeps): void {
  app.command("/restore", (args) => handleRestoreCommand(args, deps));
  app.command("/recovery-points", (args) => handleRecoveryPointsCommand(args, deps));
  app.command("/backup", (args) => handleBackupCommand(args, deps));
}
