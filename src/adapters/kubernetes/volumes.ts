import { CoreV1Api, type V1PersistentVolumeClaim, type V1Pod } from "@kubernetes/client-node";
import { CodedError } from "../../errors.js";
import { type ApiCall, statusOf } from "./api-errors.js";
import type { PodWorkDeps } from "./jobs.js";
import type { Manifest, PodWorkPort } from "./pod-work-port.js";
import { callWithRetries } from "./retry.js";

/** PersistentVolumeClaims: create (or find by name), delete; bare pods that mount them. */
export function createVolumeOps(
  deps: PodWorkDeps,
): Pick<PodWorkPort, "createPvc" | "deletePvc" | "createPod"> {
  const { kc, namespace } = deps;
  const core = kc.makeApiClient(CoreV1Api);
  const call = (verb: ApiCall["verb"], action: string): ApiCall => ({ verb, action, namespace });
  return {
    async createPvc(manifest: Manifest) {
      const name = manifest.metadata?.name;
      if (!name)
        throw new CodedError("internal", "A PersistentVolumeClaim manifest needs metadata.name.");
      try {
        await callWithRetries(
          call("create", `create PersistentVolumeClaim ${name}`),
          () =>
            core.createNamespacedPersistentVolumeClaim({
              namespace,
              body: {
                apiVersion: "v1",
                kind: "PersistentVolumeClaim",
                ...manifest,
              } as V1PersistentVolumeClaim,
            }),
          deps.context(),
        );
        deps.logger.info({ pvc: name }, "PVC created");
        return { name, created: true };
      } catch (err) {
        if (httpStatus(err) === 409) return { name, created: false };
        throw err;
      }
    },
    async createPod(manifest: Manifest) {
      const name = manifest.metadata?.name;
      if (!name) throw new CodedError("internal", "A pod manifest needs metadata.name.");
      try {
        await callWithRetries(
          call("create", `create pod ${name}`),
          () =>
            core.createNamespacedPod({
              namespace,
              body: { apiVersion: "v1", kind: "Pod", ...manifest } as V1Pod,
            }),
          deps.context(),
        );
        deps.logger.info({ pod: name }, "pod created");
        return { name, created: true };
      } catch (err) {
        if (httpStatus(err) === 409) return { name, created: false };
        throw err;
      }
    },
    async deletePvc(name: string) {
      try {
        await callWithRetries(
          call("delete", `delete PersistentVolumeClaim ${name}`),
          () => core.deleteNamespacedPersistentVolumeClaim({ name, namespace }),
          deps.context(),
        );
        deps.logger.info({ pvc: name }, "PVC deleted");
      } catch (err) {
        if (httpStatus(err) !== 404) throw err;
      }
    },
  };
}

function httpStatus(err: unknown): number | undefined {
  if (err instanceof CodedError) {
    const status = (err.details as { status?: unknown } | undefined)?.status;
    return typeof status === "number" ? status : undefined;
  }
  return statusOf(err);
}
