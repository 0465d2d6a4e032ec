import { request as httpRequest, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import {
  ApiException,
  type AppsV1Api,
  type CoreV1Api,
  type CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  type V1Pod,
} from "@kubernetes/client-node";
import { CodedError } from "../../errors.js";
import type { Logger } from "../../logging/logger.js";
import type { ApiCall } from "./api-errors.js";
import type {
  KubeObject,
  PodDetails,
  ResourcePort,
  ResourceRef,
  ServiceProxyRequest,
  ServiceProxyResponse,
  WorkloadKind,
} from "./cluster-port.js";
import { summarizePod } from "./pod-summary.js";
import { type CallContext, callWithRetries } from "./retry.js";

export interface ResourceAccessDeps {
  kc: KubeConfig;
  namespace: string;
  apps: AppsV1Api;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  logger: Logger;
  context(signal?: AbortSignal): CallContext;
  requestOptions(signal: AbortSignal, contentType?: string): object;
}

/**
 * The `ResourcePort` half of the production adapter. Typed client-node APIs where one exists
 * (ConfigMaps, pods, custom objects); a raw request, authenticated by the same KubeConfig, for
 * core-group objects by plural and for the service proxy, whose generated `connect…` methods
 * cannot send a body.
 */
export function createResourceAccess(deps: ResourceAccessDeps): ResourcePort {
  const { namespace, apps, core, custom, logger } = deps;
  const call = (verb: ApiCall["verb"], action: string): ApiCall => ({ verb, action, namespace });
  const opts = (s: AbortSignal, contentType?: string) =>
    deps.requestOptions(s, contentType) as Parameters<CoreV1Api["readNamespacedPod"]>[1];

  /** Undefined for a 404, the object otherwise; anything else throws. */
  const orMissing = async <T>(work: Promise<T>): Promise<T | undefined> => {
    try {
      return await work;
    } catch (err) {
      if (err instanceof CodedError && err.details?.status === 404) return undefined;
      throw err;
    }
  };

  const raw = (
    method: string,
    path: string,
    body: string | undefined,
    contentType: string | undefined,
    signal: AbortSignal,
  ): Promise<ServiceProxyResponse> => rawRequest(deps.kc, method, path, body, contentType, signal);

  const corePath = (ref: ResourceRef) =>
    `/api/${ref.version}/namespaces/${encodeURIComponent(namespace)}/${ref.plural}/${encodeURIComponent(ref.name)}`;

  const throwUnlessOk = (answer: ServiceProxyResponse): ServiceProxyResponse => {
    if (answer.status >= 200 && answer.status < 300) return answer;
    let parsed: unknown = answer.body;
    try {
      parsed = JSON.parse(answer.body);
    } catch {}
    throw new ApiException(answer.status, `HTTP ${answer.status}`, parsed, {});
  };

  return {
    async listWorkloads(kind: WorkloadKind, labelSelector: string): Promise<string[]> {
      const list = await callWithRetries(
        call("list", `list the ${kind}s labelled ${labelSelector}`),
        async (s): Promise<{ items: Array<{ metadata?: { name?: string } }> }> => {
          const args = { namespace, labelSelector };
          if (kind === "Deployment") return apps.listNamespacedDeployment(args, opts(s));
          if (kind === "StatefulSet") return apps.listNamespacedStatefulSet(args, opts(s));
          return core.listNamespacedReplicationController(args, opts(s));
        },
        deps.context(),
      );
      return list.items
        .map((i) => i.metadata?.name ?? "")
        .filter(Boolean)
        .sort();
    },

    async getResource(ref: ResourceRef): Promise<KubeObject | undefined> {
      return orMissing(
        callWithRetries(
          call("get", `read ${describeRef(ref)}`),
          async (s) =>
            ref.group === ""
              ? (JSON.parse(
                  throwUnlessOk(await raw("GET", corePath(ref), undefined, undefined, s)).body,
                ) as KubeObject)
              : ((await custom.getNamespacedCustomObject(
                  {
                    group: ref.group,
                    version: ref.version,
                    plural: ref.plural,
                    namespace,
                    name: ref.name,
                  },
                  opts(s),
                )) as KubeObject),
          deps.context(),
        ),
      );
    },

    async patchResource(
      ref: ResourceRef,
      patch: KubeObject,
      options?: { action?: string },
    ): Promise<KubeObject> {
      const object = await callWithRetries(
        call("patch", options?.action ?? `patch ${describeRef(ref)} with ${JSON.stringify(patch)}`),
        async (s) =>
          ref.group === ""
            ? (JSON.parse(
                throwUnlessOk(
                  await raw(
                    "PATCH",
                    corePath(ref),
                    JSON.stringify(patch),
                    PatchStrategy.MergePatch,
                    s,
                  ),
                ).body,
              ) as KubeObject)
            : ((await custom.patchNamespacedCustomObject(
                {
                  group: ref.group,
                  version: ref.version,
                  plural: ref.plural,
                  namespace,
                  name: ref.name,
                  body: patch,
                },
                // Custom resources take no strategic merge patch; a merge patch touches only what it names.
                opts(s, PatchStrategy.MergePatch),
              )) as KubeObject),
        deps.context(),
      );
      logger.info({ resource: describeRef(ref) }, "patched");
      return object;
    },

    async getConfigMap(name: string) {
      const cm = await orMissing(
        callWithRetries(
          call("get", `read ConfigMap ${name}`),
          (s) => core.readNamespacedConfigMap({ name, namespace }, opts(s)),
          deps.context(),
        ),
      );
      if (!cm) return undefined;
      return { data: { ...(cm.data ?? {}) }, resourceVersion: cm.metadata?.resourceVersion ?? "" };
    },

    async listConfigMaps(labelSelector: string) {
      const list = await callWithRetries(
        call("list", `list the ConfigMaps labelled ${labelSelector}`),
        (s) => core.listNamespacedConfigMap({ namespace, labelSelector }, opts(s)),
        deps.context(),
      );
      return list.items
        .map((cm) => ({
          metadata: { name: cm.metadata?.name ?? "", labels: { ...(cm.metadata?.labels ?? {}) } },
          data: { ...(cm.data ?? {}) },
        }))
        .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    },

    async replaceConfigMap(name: string, data: Record<string, string>, resourceVersion?: string) {
      try {
        await callWithRetries(
          call("update", `replace ConfigMap ${name}`),
          async (s) => {
            // Read for its metadata (labels, annotations stay as they are); only data changes.
            const current = await core.readNamespacedConfigMap({ name, namespace }, opts(s));
            const metadata = { ...current.metadata };
            if (resourceVersion !== undefined) metadata.resourceVersion = resourceVersion;
            return core.replaceNamespacedConfigMap(
              { name, namespace, body: { ...current, metadata, data } },
              opts(s),
            );
          },
          deps.context(),
        );
      } catch (err) {
        if (err instanceof CodedError && err.details?.status === 409) {
          throw new CodedError(
            "conflict",
            `ConfigMap ${name} in namespace ${namespace} changed since it was read, so it was not replaced. Read it again and decide, then Retry phase.`,
            { cause: err },
          );
        }
        throw err;
      }
    },

    async getPod(name: string): Promise<PodDetails | undefined> {
      const pod: V1Pod | undefined = await orMissing(
        callWithRetries(
          call("get", `read pod ${name}`),
          (s) => core.readNamespacedPod({ name, namespace }, opts(s)),
          deps.context(),
        ),
      );
      if (!pod) return undefined;
      const summary = summarizePod(pod);
      const owner =
        pod.metadata?.ownerReferences?.find((o) => o.controller) ??
        pod.metadata?.ownerReferences?.[0];
      return {
        name,
        uid: pod.metadata?.uid ?? "",
        phase: summary?.phase ?? "Unknown",
        ready: summary?.ready ?? false,
        terminating: summary?.terminating ?? false,
        owner: owner ? { kind: owner.kind, name: owner.name } : undefined,
        labels: { ...(pod.metadata?.labels ?? {}) },
      };
    },

    async deletePod(name: string): Promise<boolean> {
      const deleted = await orMissing(
        callWithRetries(
          call("delete", `delete pod ${name}`),
          (s) => core.deleteNamespacedPod({ name, namespace }, opts(s)),
          deps.context(),
        ),
      );
      logger.info({ pod: name, deleted: deleted !== undefined }, "pod deleted");
      return deleted !== undefined;
    },

    async callServiceProxy(request: ServiceProxyRequest): Promise<ServiceProxyResponse> {
      const method = request.method ?? "GET";
      const sub = request.path.replace(/^\/+/, "");
      const query = request.query ? `?${new URLSearchParams(request.query).toString()}` : "";
      const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(request.service)}:${encodeURIComponent(String(request.port))}/proxy/${sub}${query}`;
      // Only reads are retried: a POST that reached the service may have acted already.
      const ctx = deps.context(request.signal);
      return callWithRetries(
        call("proxy", `call ${method} /${sub} on service ${request.service}:${request.port}`),
        (s) => raw(method, path, request.body, request.contentType, s),
        method === "GET" || method === "HEAD"
          ? ctx
          : { ...ctx, policy: { ...ctx.policy, attempts: 1 } },
      );
    },
  };
}

function describeRef(ref: ResourceRef): string {
  return `${ref.plural}${ref.group ? `.${ref.group}` : ""} ${ref.name}`;
}

/** One HTTP request to the API server, authenticated as client-node's own requests are. */
async function rawRequest(
  kc: KubeConfig,
  method: string,
  path: string,
  body: string | undefined,
  contentType: string | undefined,
  signal: AbortSignal,
): Promise<ServiceProxyResponse> {
  const cluster = kc.getCurrentCluster();
  if (!cluster)
    throw new CodedError("config_invalid", "The Kubernetes configuration names no cluster.");
  const server = new URL(cluster.server);
  const options: RequestOptions & { headers: Record<string, string> } = {
    method,
    host: server.hostname,
    port: server.port || (server.protocol === "https:" ? 443 : 80),
    path: `${server.pathname.replace(/\/$/, "")}${path}`,
    headers: {},
    signal,
  };
  await kc.applyToHTTPSOptions(options);
  if (contentType) options.headers["Content-Type"] = contentType;
  if (body !== undefined) options.headers["Content-Length"] = String(Buffer.byteLength(body));
  const send = server.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(options, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          contentType: res.headers["content-type"],
          body: Buffer.concat(chunks).toString("utf8"),
        }),
      );
    });
    req.on("error", reject);
    req.end(body);
  });
}
