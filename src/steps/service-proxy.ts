import type {
  ServiceProxyRequest,
  ServiceProxyResponse,
} from "../adapters/kubernetes/cluster-port.js";
import type { KubernetesOperation } from "../adapters/kubernetes/rbac.js";
import { CodedError } from "../errors.js";
import type { StepContext, StepDeps } from "./types.js";

export const serviceProxyOperations = (
  methods: NonNullable<ServiceProxyRequest["method"]>[],
): KubernetesOperation[] => [{ type: "serviceProxy", methods }];

/**
 * HTTP to a service inside the cluster through the API server's service proxy
 * (`/api/v1/namespaces/<ns>/services/<name>:<port>/proxy/<path>`): no port-forward, no network
 * path from the worker to the pods. A status outside `expect` (default 2xx) fails the step with
 * what the service answered; JSON bodies are parsed when `json` is set.
 */
export async function callServiceProxy(
  ctx: Pick<StepContext, "signal">,
  deps: StepDeps,
  request: Omit<ServiceProxyRequest, "signal"> & { expect?: readonly number[] },
): Promise<ServiceProxyResponse & { json?: unknown }> {
  const { expect, ...rest } = request;
  const answer = await deps.cluster.callServiceProxy({ ...rest, signal: ctx.signal });
  const ok = expect ? expect.includes(answer.status) : answer.status >= 200 && answer.status < 300;
  const where = `${request.method ?? "GET"} /${request.path.replace(/^\/+/, "")} on service ${request.service}:${request.port}`;
  if (!ok) {
    throw new CodedError(
      "kubernetes_error",
      `${where} answered ${answer.status}: ${answer.body.slice(0, 300)}`,
      { details: { status: answer.status } },
    );
  }
  if (answer.contentType?.includes("json") && answer.body) {
    try {
      return { ...answer, json: JSON.parse(answer.body) };
    } catch {
      throw new CodedError("kubernetes_error", `${where} answered JSON that does not parse.`);
    }
  }
  return answer;
}
