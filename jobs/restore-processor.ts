import { UnrecoverableError } from "bullmq";
import type { Runtime } from "../src/runtime/runtime.js";
import type { RestoreProcessor } from "./restore-worker.js";

/** Builds the processor that runs a restore job with the process's clients. */
export function createRestoreProcessor(runtime: Runtime): RestoreProcessor {
  return async (job) => {
    runtime.logger.error({ requestId: job.data.requestId }, "no runbook runner in this build");
    throw new UnrecoverableError("no runbook runner in this build");
  };
}
