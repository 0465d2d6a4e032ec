import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ClusterState, metadataOf } from "./cluster-state.js";
import { isJsonObject, type JsonObject } from "./patch.js";

/**
 * PersistentVolumeClaims, each backed by a real directory under one temporary directory per
 * simulator (removed by `close()`). A claim is Bound as soon as it is created (an immediate
 * binding StorageClass). As on a real cluster, a claim a live pod still mounts is not removed
 * when deleted: it is Terminating (the `kubernetes.io/pvc-protection` finalizer) until the last
 * such pod is gone, and only then is its directory deleted.
 */

export interface WriteAnswer {
  status: number;
  body: JsonObject;
}

interface ClaimState {
  object: JsonObject;
  dir: string;
  deleting: boolean;
}

export class VolumeStore {
  readonly baseDir: string;
  private readonly claims = new Map<string, ClaimState>();

  constructor(
    private readonly state: ClusterState,
    private readonly namespace: string,
    /** Whether a live pod mounts the claim (then a delete leaves it Terminating). */
    private readonly inUse: (claim: string) => boolean,
    private readonly notify: () => void,
  ) {
    this.baseDir = mkdtempSync(join(tmpdir(), "k8s-sim-pvc-"));
    state.addLister("persistentvolumeclaims", () =>
      [...this.claims.values()].map((c) => structuredClone(c.object)),
    );
  }

  /** The directory backing a claim, or undefined when there is no such claim. */
  directory(name: string): string | undefined {
    return this.claims.get(name)?.dir;
  }

  names(): string[] {
    return [...this.claims.keys()];
  }

  create(manifest: JsonObject): WriteAnswer {
    const meta = metadataOf(manifest);
    const name = typeof meta.name === "string" ? meta.name : "";
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name) || name.length > 253) {
      return invalid(
        name,
        `metadata.name: Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'`,
      );
    }
    if (this.claims.has(name)) {
      return {
        status: 409,
        body: status(409, `persistentvolumeclaims "${name}" already exists`, "AlreadyExists", name),
      };
    }
    const spec = isJsonObject(manifest.spec) ? manifest.spec : {};
    const resources = isJsonObject(spec.resources) ? spec.resources : {};
    const requests = isJsonObject(resources.requests) ? resources.requests : {};
    const accessModes = Array.isArray(spec.accessModes) ? spec.accessModes : [];
    if (typeof requests.storage !== "string" && typeof requests.storage !== "number") {
      return invalid(name, "spec.resources[storage]: Required value");
    }
    if (accessModes.length === 0) return invalid(name, "spec.accessModes: Required value");
    const uid = randomUUID();
    const dir = join(this.baseDir, `${name}-${uid.slice(0, 8)}`);
    mkdirSync(dir, { recursive: true });
    const object: JsonObject = {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: {
        ...meta,
        name,
        namespace: this.namespace,
        uid,
        resourceVersion: String(this.state.allocateResourceVersion()),
        creationTimestamp: iso(Date.now()),
        finalizers: ["kubernetes.io/pvc-protection"],
        annotations: {
          ...(isJsonObject(meta.annotations) ? meta.annotations : {}),
          "pv.kubernetes.io/bind-completed": "yes",
        },
      },
      spec: {
        storageClassName: "standard",
        volumeMode: "Filesystem",
        ...spec,
        volumeName: `pvc-${uid}`,
      },
      status: { phase: "Bound", accessModes, capacity: { storage: requests.storage } },
    };
    this.claims.set(name, { object, dir, deleting: false });
    this.state.publish("persistentvolumeclaims", "ADDED", structuredClone(object));
    this.notify();
    return { status: 201, body: object };
  }

  delete(name: string): WriteAnswer {
    const claim = this.claims.get(name);
    if (!claim) {
      return {
        status: 404,
        body: status(404, `persistentvolumeclaims "${name}" not found`, "NotFound", name),
      };
    }
    if (!claim.deleting) {
      claim.deleting = true;
      metadataOf(claim.object).deletionTimestamp = iso(Date.now());
      metadataOf(claim.object).deletionGracePeriodSeconds = 0;
      this.touch(claim, "MODIFIED");
    }
    const body = structuredClone(claim.object);
    this.release(name);
    return { status: 200, body };
  }

  /** A pod went away: claims being deleted that no live pod mounts any more are removed. */
  release(name?: string): void {
    for (const [claimName, claim] of this.claims) {
      if (name !== undefined && claimName !== name) continue;
      if (!claim.deleting || this.inUse(claimName)) continue;
      this.claims.delete(claimName);
      metadataOf(claim.object).finalizers = [];
      this.touch(claim, "DELETED");
      rmSync(claim.dir, { recursive: true, force: true });
    }
  }

  close(): void {
    rmSync(this.baseDir, { recursive: true, force: true });
  }

  private touch(claim: ClaimState, type: "MODIFIED" | "DELETED"): void {
    metadataOf(claim.object).resourceVersion = String(this.state.allocateResourceVersion());
    this.state.publish("persistentvolumeclaims", type, structuredClone(claim.object));
    this.notify();
  }
}

function invalid(name: string, message: string): WriteAnswer {
  return {
    status: 422,
    body: status(
      422,
      `PersistentVolumeClaim "${name}" is invalid: ${message}`,
      "Invalid",
      name,
      "persistentvolumeclaims",
    ),
  };
}

export function status(
  code: number,
  message: string,
  reason: string,
  name?: string,
  kind = "persistentvolumeclaims",
  group = "",
): JsonObject {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    details: { ...(name === undefined ? {} : { name }), group, kind },
    code,
  };
}

export function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}
