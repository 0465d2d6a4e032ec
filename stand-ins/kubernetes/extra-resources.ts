import { request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { matchesLabelSelector, parseLabelSelector } from "./label-selector.js";
import { isJsonObject, type Json, type JsonObject } from "./patch.js";
import type { RequestInfo } from "./types.js";

/**
 * What the simulator serves beyond its workloads, pods and the operator's resource: ConfigMaps, any
 * custom resource a test registers, pod deletion (the owner replaces the pod) and the API
 * server's service proxy. Kept apart from the router so the router only delegates to it.
 */

/** The router's helpers this file answers with (the simulator passes its own). */
export interface ExtraHelpers {
  namespace: string;
  sendStatus(
    res: ServerResponse,
    code: number,
    message: string,
    extra?: { info?: RequestInfo | undefined },
  ): number;
  sendJson(res: ServerResponse, code: number, body: Json): number;
  /** Applies a PATCH body by its content type; throws what `sendPatchError` answers. */
  applyPatch(contentType: string | undefined, current: JsonObject, patch: Json): Json;
  sendPatchError(res: ServerResponse, err: unknown): number;
  /** Deletes a pod as `kubectl delete pod` does (terminates; its controller replaces it). */
  deletePod(name: string): boolean;
  podExists(name: string): boolean;
  /** Bumps and returns the cluster's resourceVersion. */
  nextResourceVersion(): number;
}

/** A custom resource type the simulator should serve (`sim.defineResource`). */
export interface ResourceType {
  apiGroup: string;
  version: string;
  /** Plural, lower case: `configmaps`, `elasticsearches`. */
  plural: string;
  kind: string;
}

/**
 * A local HTTP endpoint standing in for a Service's port: requests to
 * `/api/v1/namespaces/<ns>/services/<name>:<port>/proxy/<path>` are forwarded to
 * `http://127.0.0.1:<localPort>/<path>` with their method, query, body and content type.
 */
export interface ServiceBackend {
  name: string;
  /** The Service port named in the proxy path (number or port name). */
  port: string | number;
  localPort: number;
}

export class ExtraResources {
  private readonly objects = new Map<string, JsonObject>();
  private readonly types = new Map<string, ResourceType>();
  private readonly services = new Map<string, ServiceBackend>();
  private readonly deletions: string[] = [];

  constructor(private readonly helpers: ExtraHelpers) {
    this.defineResource({ apiGroup: "", version: "v1", plural: "configmaps", kind: "ConfigMap" });
  }

  defineResource(type: ResourceType): void {
    this.types.set(`${type.apiGroup}|${type.plural}`, type);
  }

  /** Creates or replaces an object of a defined type (by its `metadata.name`). */
  putObject(type: Pick<ResourceType, "apiGroup" | "plural">, object: JsonObject): JsonObject {
    const t = this.types.get(`${type.apiGroup}|${type.plural}`);
    if (!t) throw new Error(`no resource type ${type.plural}.${type.apiGroup} (defineResource it)`);
    const meta = isJsonObject(object.metadata) ? object.metadata : {};
    const name = String(meta.name ?? "");
    if (!name) throw new Error("metadata.name is required");
    const stored = this.store(t, name, object, this.getObject(t, name));
    return structuredClone(stored);
  }

  getObject(type: Pick<ResourceType, "apiGroup" | "plural">, name: string): JsonObject | undefined {
    const o = this.objects.get(`${type.apiGroup}|${type.plural}|${name}`);
    return o ? structuredClone(o) : undefined;
  }

  registerService(backend: ServiceBackend): () => void {
    const key = `${backend.name}:${backend.port}`;
    this.services.set(key, backend);
    return () => {
      if (this.services.get(key) === backend) this.services.delete(key);
    };
  }

  /** Names of the pods deleted through the API, in order. */
  deletedPods(): readonly string[] {
    return this.deletions;
  }

  /**
   * Serves the request when it is one of these resources; undefined hands it back to the
   * router. Returns the HTTP status sent.
   */
  async handle(
    method: string,
    info: RequestInfo | undefined,
    url: URL,
    body: string,
    contentType: string | undefined,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<number | undefined> {
    if (!info) return undefined;
    const h = this.helpers;
    const inNamespace = info.namespace === h.namespace;
    if (info.apiGroup === "" && info.resource === "pods" && method === "DELETE" && info.name) {
      if (!inNamespace || !h.podExists(info.name))
        return h.sendStatus(res, 404, `pods "${info.name}" not found`, { info });
      h.deletePod(info.name);
      this.deletions.push(info.name);
      return h.sendJson(res, 200, {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Success",
        details: { name: info.name, kind: "pods" },
      });
    }
    if (info.apiGroup === "" && info.resource === "services/proxy" && info.name) {
      return this.proxy(method, info, url, body, contentType, req, res);
    }
    const type = this.types.get(`${info.apiGroup}|${info.resource}`);
    if (!type) return undefined;
    const key = (name: string) => `${type.apiGroup}|${type.plural}|${name}`;
    const qualified = type.apiGroup ? `${type.plural}.${type.apiGroup}` : type.plural;
    const current = info.name && inNamespace ? this.objects.get(key(info.name)) : undefined;
    const missing = () => h.sendStatus(res, 404, `${qualified} "${info.name}" not found`, { info });
    switch (method) {
      case "GET": {
        if (info.name !== undefined) return current ? h.sendJson(res, 200, current) : missing();
        const selector = parseLabelSelector(url.searchParams.get("labelSelector"));
        const items = inNamespace
          ? [...this.objects.entries()]
              .filter(([k]) => k.startsWith(`${type.apiGroup}|${type.plural}|`))
              .map(([, o]) => o)
              .filter((o) => matchesLabelSelector(selector, labelsOf(o)))
          : [];
        return h.sendJson(res, 200, {
          apiVersion: type.apiGroup ? `${type.apiGroup}/${type.version}` : type.version,
          kind: `${type.kind}List`,
          metadata: { resourceVersion: String(h.nextResourceVersion()) },
          items,
        });
      }
      case "POST": {
        const next = parseObject(body);
        const name = next && isJsonObject(next.metadata) ? String(next.metadata.name ?? "") : "";
        if (!next || !name) return h.sendStatus(res, 400, "metadata.name is required", { info });
        if (this.objects.has(key(name)))
          return h.sendStatus(res, 409, `${qualified} "${name}" already exists`, {
            info: { ...info, name },
          });
        return h.sendJson(res, 201, this.store(type, name, next, undefined));
      }
      case "PUT":
      case "PATCH": {
        if (!current || !info.name) return missing();
        let next: Json;
        try {
          next =
            method === "PUT"
              ? JSON.parse(body)
              : h.applyPatch(contentType, current, JSON.parse(body));
        } catch (err) {
          return h.sendPatchError(res, err);
        }
        if (!isJsonObject(next))
          return h.sendStatus(res, 422, "the object must be a JSON object", { info });
        const wanted = isJsonObject(next.metadata) ? next.metadata.resourceVersion : undefined;
        const have = isJsonObject(current.metadata) ? current.metadata.resourceVersion : undefined;
        if (wanted !== undefined && wanted !== null && wanted !== "" && wanted !== have) {
          return h.sendStatus(
            res,
            409,
            `Operation cannot be fulfilled on ${qualified} "${info.name}": the object has been modified; please apply your changes to the latest version and try again`,
            { info },
          );
        }
        return h.sendJson(res, 200, this.store(type, info.name, next, current));
      }
      case "DELETE":
        if (!current || !info.name) return missing();
        this.objects.delete(key(info.name));
        return h.sendJson(res, 200, current);
      default:
        return h.sendStatus(res, 405, "method not allowed", { info });
    }
  }

  private store(
    type: ResourceType,
    name: string,
    next: JsonObject,
    before: JsonObject | undefined,
  ): JsonObject {
    const meta = isJsonObject(next.metadata) ? next.metadata : {};
    const old = before && isJsonObject(before.metadata) ? before.metadata : {};
    const specChanged = JSON.stringify(next.spec) !== JSON.stringify(before?.spec);
    const generation = typeof old.generation === "number" ? old.generation : 0;
    const stored: JsonObject = {
      ...next,
      apiVersion: type.apiGroup ? `${type.apiGroup}/${type.version}` : type.version,
      kind: type.kind,
      metadata: {
        ...meta,
        name,
        namespace: this.helpers.namespace,
        uid: old.uid ?? `uid-${type.plural}-${name}`,
        generation: generation + (specChanged || !before ? 1 : 0),
        resourceVersion: String(this.helpers.nextResourceVersion()),
      },
    };
    this.objects.set(`${type.apiGroup}|${type.plural}|${name}`, stored);
    return stored;
  }

  private proxy(
    method: string,
    info: RequestInfo,
    url: URL,
    body: string,
    contentType: string | undefined,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<number> {
    const h = this.helpers;
    const backend = info.namespace === h.namespace ? this.services.get(info.name ?? "") : undefined;
    if (!backend) {
      const service = (info.name ?? "").split(":")[0];
      return Promise.resolve(h.sendStatus(res, 404, `services "${service}" not found`, { info }));
    }
    // Everything after `/proxy` is the path on the service, as the API server forwards it.
    const marker = `/services/${info.name}/proxy`;
    const rawPath = url.pathname.slice(url.pathname.indexOf(marker) + marker.length) || "/";
    return new Promise((resolve) => {
      const forward = httpRequest(
        {
          host: "127.0.0.1",
          port: backend.localPort,
          method,
          path: `${rawPath}${url.search}`,
          headers: {
            ...(contentType ? { "content-type": req.headers["content-type"] ?? contentType } : {}),
            ...(req.headers.accept ? { accept: req.headers.accept } : {}),
          },
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, {
            "Content-Type": answer.headers["content-type"] ?? "application/octet-stream",
          });
          answer.pipe(res);
          answer.on("end", () => resolve(answer.statusCode ?? 502));
        },
      );
      forward.on("error", (err) => {
        // What the API server answers when the endpoint refuses: 503 with the dial error.
        resolve(h.sendStatus(res, 503, `error trying to reach service: ${err.message}`, { info }));
      });
      forward.end(body);
    });
  }
}

function parseObject(body: string): JsonObject | undefined {
  try {
    const parsed: unknown = JSON.parse(body);
    return isJsonObject(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function labelsOf(object: JsonObject): Record<string, string> {
  const meta = isJsonObject(object.metadata) ? object.metadata : {};
  const labels = isJsonObject(meta.labels) ? meta.labels : {};
  return Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, String(v)]));
}
