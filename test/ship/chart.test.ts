import { readFileSync } from "node:fs";
import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { parseConfig } from "../../src/config/file.js";
import { rbacRulesOf } from "../../src/kinds/registry.js";
import {
  chartMetadata,
  defaultValues,
  findManifest,
  goodValues,
  type Manifest,
  mergeValues,
  RELEASE,
  REPO_ROOT,
  readChartFile,
  renderChart,
  renderManifests,
  templateSources,
  type Values,
} from "./chart-fixture.js";

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
interface Container {
  name: string;
  image: string;
  args: string[];
  env: EnvVar[];
  ports: { name: string; containerPort: number }[];
  startupProbe: { httpGet: { path: string; port: string } };
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  securityContext: Record<string, unknown> & { capabilities: { drop: string[] } };
  volumeMounts: { name: string; mountPath: string }[];
  resources: Record<string, unknown>;
}
interface PodSpec {
  serviceAccountName: string;
  terminationGracePeriodSeconds: number;
  securityContext: Record<string, unknown>;
  containers: Container[];
  volumes: {
    name: string;
    configMap?: { name: string };
    emptyDir?: unknown;
    secret?: { secretName: string };
  }[];
}
interface Deployment extends Manifest {
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      spec: PodSpec;
    };
  };
}

const deployment = (manifests: Manifest[], component: "bot" | "worker") =>
  findManifest(manifests, "Deployment", `-${component}`) as Deployment;
const container = (d: Deployment) => d.spec.template.spec.containers[0] as Container;
const envOf = (d: Deployment) => new Map(container(d).env.map((e) => [e.name, e]));
const without = (values: Values, path: string): Values => {
  const copy = structuredClone(values);
  const keys = path.split(".");
  let node = copy as Record<string, unknown>;
  for (const key of keys.slice(0, -1)) node = node[key] as Record<string, unknown>;
  delete node[keys.at(-1) as string];
  return copy;
};

// ---------------------------------------------------------------------------------------------

describe("Chart.yaml and values.yaml", () => {
  it("describe an application chart whose appVersion is the package version", () => {
    const chart = chartMetadata() as ReturnType<typeof chartMetadata> & {
      apiVersion: string;
      type: string;
    };
    const pkg = JSON.parse(readFileSync(`${REPO_ROOT}package.json`, "utf8")) as { version: string };
    expect(chart.apiVersion).toBe("v2");
    expect(chart.name).toBe("restorebot");
    expect(chart.type).toBe("application");
    expect(chart.version).toMatch(/^\d+\.\d+\.\d+(-[\w.]+)?$/);
    expect(chart.appVersion).toBe(pkg.version);
  });

  it("keep secrets out of the defaults", () => {
    const text = JSON.stringify(defaultValues());
    expect(text).not.toMatch(/xox[bpa]-|xapp-|postgres(ql)?:\/\/\S+@|rediss?:\/\/\S+@/);
    const values = defaultValues() as {
      slack: Values;
      database: Values;
      redis: Values;
      devSecret: { create: boolean; stringData: Values };
    };
    expect(values.devSecret).toEqual({ create: false, stringData: {} });
    expect(values.slack.existingSecret).toBe("");
    expect(values.database.existingSecret).toBe("");
  });
});

describe("values.schema.json", () => {
  const schema = JSON.parse(readChartFile("values.schema.json")) as Record<string, unknown>;
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
  const validate = ajv.compile(schema);
  const errorsOf = (values: Values) =>
    validate(values) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);

  it("is draft-07 and accepts the default values and a complete install", () => {
    expect(schema.$schema).toBe("http://json-schema.org/draft-07/schema#");
    expect(errorsOf(defaultValues())).toEqual([]);
    expect(errorsOf(mergeValues(defaultValues(), goodValues()))).toEqual([]);
  });

  const target = () => (goodValues().config as { targets: Values[] }).targets[0] as Values;
  const withTarget = (patch: Values): Values =>
    mergeValues(goodValues(), { config: { targets: [mergeValues(target(), patch)] } });

  it.each<[string, Values]>([
    ["a negative replica count", { worker: { replicas: -1 } }],
    ["a non-boolean socketMode", { slack: { socketMode: "yes" } }],
    ["an unknown top-level key", { replicaCount: 2 }],
    ["an unknown key in a component", { bot: { replica: 2 } }],
    ["an unknown pull policy", { image: { pullPolicy: "Sometimes" } }],
    ["an unknown log level", { logLevel: "verbose" }],
    ["a Secret name that Kubernetes refuses", { database: { existingSecret: "My_Secret" } }],
    ["an approver that is not a Slack ID", { config: { policy: { approvers: ["alice"] } } }],
    ["a duration with words", { config: { policy: { requestTtl: "30 minutes" } } }],
    ["a percentage-less string for maxUnavailable", { bot: { pdb: { maxUnavailable: "one" } } }],
    ["an image digest that is not sha256", { image: { digest: "latest" } }],
    ["an http:// path-less apiUrl with spaces", { slack: { apiUrl: "not a url" } }],
    ["a target named with capitals", withTarget({ name: "Prod" })],
    ["a target named with a reserved word", withTarget({ name: "latest" })],
    [
      "a DSN instead of a variable name",
      withTarget({ catalog: { dsnEnv: "postgres://u:p@h/db" } }),
    ],
    ["a target without a bucket", withTarget({ snapshots: { bucket: null, region: "us-east-1" } })],
    ["an unknown target key", withTarget({ replicas: 3 })],
    ["an unknown kind", withTarget({ kind: "influxdb-oss" })],
  ])("rejects %s", (_label, overrides) => {
    expect(errorsOf(mergeValues(defaultValues(), overrides)).length).toBeGreaterThan(0);
  });

  it("agrees with the application's own config validation on the cases above", () => {
    // Each bad target the schema refuses is refused by parseConfig too, so the chart never
    // blocks a config the application accepts for the same reason.
    for (const patch of [
      { name: "Prod" },
      { name: "latest" },
      { catalog: { dsnEnv: "postgres://u:p@h/db" } },
      { replicas: 3 },
    ]) {
      const config = (withTarget(patch) as { config: Values }).config;
      expect(() => parseConfig(JSON.stringify(config))).toThrow();
    }
    const good = (mergeValues(defaultValues(), goodValues()) as { config: Values }).config;
    expect(() => parseConfig(JSON.stringify(good))).not.toThrow();
  });
});

// ---------------------------------------------------------------------------------------------

describe("templates, read as text", () => {
  const sources = templateSources();
  const all = Object.values(sources).join("\n");

  function hasPath(root: unknown, path: string[]): boolean {
    let node = root;
    for (const key of path) {
      if (typeof node !== "object" || node === null || !Object.hasOwn(node, key)) return false;
      node = (node as Record<string, unknown>)[key];
    }
    return true;
  }

  it("reference only values that exist in values.yaml", () => {
    const values = defaultValues();
    const missing: string[] = [];
    for (const [file, text] of Object.entries(sources)) {
      for (const m of text.matchAll(/\bValues((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
        const path = (m[1] ?? "").slice(1).split(".");
        if (!hasPath(values, path)) missing.push(`${file}: .Values.${path.join(".")}`);
      }
      // `.values` / `$values` is a component's own block: it must exist for bot and worker.
      for (const m of text.matchAll(/[.$]values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
        const path = (m[1] ?? "").slice(1).split(".");
        for (const component of ["bot", "worker"]) {
          if (!hasPath(values, [component, ...path]))
            missing.push(`${file}: ${component}.${path.join(".")}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it("use every value they declare (no dead settings in values.yaml)", () => {
    const values = defaultValues();
    const referenced = new Set<string>();
    for (const m of all.matchAll(/\bValues((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g))
      referenced.add((m[1] ?? "").slice(1));
    for (const m of all.matchAll(/[.$]values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
      referenced.add(`bot${m[1]}`);
      referenced.add(`worker${m[1]}`);
    }
    // `index $.Values $component` reaches bot.* and worker.* through $values.
    const leaves: string[] = [];
    const walk = (node: unknown, path: string[]) => {
      if (
        typeof node === "object" &&
        node !== null &&
        !Array.isArray(node) &&
        Object.keys(node).length
      ) {
        for (const [k, v] of Object.entries(node)) walk(v, [...path, k]);
      } else leaves.push(path.join("."));
    };
    walk(values, []);
    const unused = leaves.filter(
      (leaf) => ![...referenced].some((ref) => leaf === ref || leaf.startsWith(`${ref}.`)),
    );
    expect(unused).toEqual([]);
  });

  it("guard each required value with required or fail and a message that names it", () => {
    for (const name of [
      "slack.existingSecret",
      "database.existingSecret",
      "redis.existingSecret",
      "catalogDsns.existingSecret",
      "config.targets",
      "config.policy.approvers",
    ]) {
      // Directly in required/fail, or as the "missing" message restorebot.secretKeyRef fails with.
      expect(all, name).toMatch(
        new RegExp(`(required|fail|"missing")[^\\n]*"[^"\\n]*${name.replaceAll(".", "\\.")}`),
      );
    }
    expect(sources["templates/_helpers.tpl"]).toContain("{{- fail .missing -}}");
  });

  it("keep the Role rules in a static block that values cannot change", () => {
    const role = sources["templates/role.yaml"] ?? "";
    const rules = role.slice(role.indexOf("rules:"), role.indexOf("---", role.indexOf("rules:")));
    expect(rules).not.toContain("{{");
  });
});

// ---------------------------------------------------------------------------------------------

describe("rendered with a complete set of values", () => {
  const manifests = renderManifests(goodValues());
  const bot = deployment(manifests, "bot");
  const worker = deployment(manifests, "worker");

  it("renders the expected objects, all named within Kubernetes limits", () => {
    const kinds = manifests.map(
      (m) => `${m.kind}/${m.metadata.namespace ?? RELEASE.namespace}/${m.metadata.name}`,
    );
    expect(kinds.sort()).toEqual(
      [
        "ConfigMap/restorebot/rb-restorebot",
        "Deployment/restorebot/rb-restorebot-bot",
        "Deployment/restorebot/rb-restorebot-worker",
        "PodDisruptionBudget/restorebot/rb-restorebot-bot",
        "PodDisruptionBudget/restorebot/rb-restorebot-worker",
        "Role/influxdb/rb-restorebot",
        "Role/influxdb-staging/rb-restorebot",
        "RoleBinding/influxdb/rb-restorebot",
        "RoleBinding/influxdb-staging/rb-restorebot",
        "Service/restorebot/rb-restorebot-bot",
        "ServiceAccount/restorebot/rb-restorebot",
      ].sort(),
    );
    for (const m of manifests) {
      expect(m.metadata.name.length).toBeLessThanOrEqual(63);
      expect(m.metadata.labels?.["app.kubernetes.io/instance"]).toBe(RELEASE.name);
    }
  });

  it("renders a restorebot.yaml that the application itself accepts", () => {
    const configMap = findManifest(manifests, "ConfigMap") as Manifest & {
      data: Record<string, string>;
    };
    const text = configMap.data["restorebot.yaml"] ?? "";
    const config = parseConfig(text, {
      env: { PROD_CATALOG_DSN: "postgres://x", STAGING_CATALOG_DSN: "postgres://y" },
      requireCatalogDsn: true,
    });
    expect(config.targets.map((t) => t.name)).toEqual(["prod", "staging"]);
    expect(config.targets[0]?.policy.requiredApprovals).toBe(2);
    expect(parseYaml(text)).toEqual(goodValues().config as Values);
  });

  it("grants exactly the registered kinds' RBAC rules (rbacRulesOf) in every target namespace, to the pods' ServiceAccount", () => {
    const normalise = (
      rules: readonly { apiGroups: string[]; resources: string[]; verbs: string[] }[],
    ) =>
      rules
        .map((r) => ({
          apiGroups: [...r.apiGroups].sort(),
          resources: [...r.resources].sort(),
          verbs: [...r.verbs].sort(),
        }))
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    const roles = manifests.filter((m) => m.kind === "Role") as (Manifest & {
      rules: ReturnType<typeof rbacRulesOf>;
    })[];
    expect(roles.map((r) => r.metadata.namespace).sort()).toEqual(["influxdb", "influxdb-staging"]);
    for (const role of roles) expect(normalise(role.rules)).toEqual(normalise(rbacRulesOf()));

    const sa = findManifest(manifests, "ServiceAccount");
    for (const binding of manifests.filter((m) => m.kind === "RoleBinding") as (Manifest & {
      roleRef: { kind: string; name: string };
      subjects: { kind: string; name: string; namespace: string }[];
    })[]) {
      expect(binding.roleRef).toMatchObject({ kind: "Role", name: "rb-restorebot" });
      expect(binding.subjects).toEqual([
        { kind: "ServiceAccount", name: sa.metadata.name, namespace: RELEASE.namespace },
      ]);
    }
    expect(bot.spec.template.spec.serviceAccountName).toBe(sa.metadata.name);
    expect(worker.spec.template.spec.serviceAccountName).toBe(sa.metadata.name);
    // No cluster-wide access at all.
    expect(manifests.some((m) => m.kind.startsWith("Cluster"))).toBe(false);
  });

  it("runs one image as bot and worker, separately scaled", () => {
    expect(container(bot).args).toEqual(["bot"]);
    expect(container(worker).args).toEqual(["worker"]);
    expect(container(bot).image).toBe("registry.example.com/restorebot:1.2.3");
    expect(container(worker).image).toBe(container(bot).image);
    const scaled = renderManifests(
      mergeValues(goodValues(), { bot: { replicas: 3 }, worker: { replicas: 5 } }),
    );
    expect(deployment(scaled, "bot").spec.replicas).toBe(3);
    expect(deployment(scaled, "worker").spec.replicas).toBe(5);
  });

  it("gives both processes the same environment, secrets only by reference", () => {
    const names = [...envOf(bot).keys()];
    expect([...envOf(worker).keys()]).toEqual(names);
    const designEnv = [
      "SLACK_SIGNING_SECRET",
      "SLACK_BOT_TOKEN",
      "SLACK_APP_TOKEN",
      "SLACK_API_URL",
      "PORT",
      "WORKER_PORT",
      "REDIS_URL",
      "RESTOREBOT_QUEUE_PREFIX",
      "DATABASE_URL",
      "RESTOREBOT_CONFIG",
      "KUBECONFIG",
      "AWS_ACCESS_KEY_ID",
      "AWS_SECRET_ACCESS_KEY",
      "AWS_REGION",
      "LOG_LEVEL",
    ];
    for (const name of names)
      expect([...designEnv, "TMPDIR", "PROD_CATALOG_DSN", "STAGING_CATALOG_DSN"]).toContain(name);
    const secretRefs = {
      SLACK_BOT_TOKEN: { name: "restorebot-slack", key: "SLACK_BOT_TOKEN" },
      SLACK_SIGNING_SECRET: { name: "restorebot-slack", key: "SLACK_SIGNING_SECRET" },
      DATABASE_URL: { name: "restorebot-db", key: "DATABASE_URL" },
      REDIS_URL: { name: "restorebot-redis", key: "REDIS_URL" },
      PROD_CATALOG_DSN: { name: "restorebot-catalogs", key: "PROD_CATALOG_DSN" },
      STAGING_CATALOG_DSN: { name: "restorebot-catalogs", key: "STAGING_CATALOG_DSN" },
    };
    for (const [name, ref] of Object.entries(secretRefs)) {
      expect(envOf(bot).get(name), name).toEqual({ name, valueFrom: { secretKeyRef: ref } });
    }
    // HTTP mode: no app token, or the bot would switch to Socket Mode.
    expect(envOf(bot).has("SLACK_APP_TOKEN")).toBe(false);
    // No static AWS keys unless asked for: the pod identity is used.
    expect(envOf(bot).has("AWS_ACCESS_KEY_ID")).toBe(false);
    expect(envOf(bot).get("AWS_REGION")?.value).toBe("us-east-1");
  });

  it("mounts the ConfigMap where RESTOREBOT_CONFIG points", () => {
    const configMap = findManifest(manifests, "ConfigMap");
    for (const d of [bot, worker]) {
      const path = envOf(d).get("RESTOREBOT_CONFIG")?.value ?? "";
      const volume = d.spec.template.spec.volumes.find(
        (v) => v.configMap?.name === configMap.metadata.name,
      );
      const mount = container(d).volumeMounts.find((m) => m.name === volume?.name);
      expect(mount && `${mount.mountPath}/restorebot.yaml`).toBe(path);
    }
  });

  it("rolls the pods when the config changes, and only then", () => {
    const checksum = (values: Values) =>
      deployment(renderManifests(values), "worker").spec.template.metadata.annotations[
        "checksum/config"
      ];
    const before = checksum(goodValues());
    expect(before).toMatch(/^[a-f0-9]{64}$/);
    expect(checksum(mergeValues(goodValues(), { worker: { replicas: 4 } }))).toBe(before);
    expect(
      checksum(mergeValues(goodValues(), { config: { policy: { requestTtl: "1h" } } })),
    ).not.toBe(before);
    expect(bot.spec.template.metadata.annotations["checksum/config"]).toBe(before);
  });

  it("probes /healthz and /readyz on the port the processes listen on", () => {
    // The bot listens on PORT, the worker on WORKER_PORT: one environment for both.
    for (const [d, port] of [
      [bot, 3000],
      [worker, 3001],
    ] as const) {
      const c = container(d);
      expect(c.ports).toEqual([{ name: "http", containerPort: port, protocol: "TCP" }]);
      expect(envOf(d).get("PORT")?.value).toBe("3000");
      expect(envOf(d).get("WORKER_PORT")?.value).toBe("3001");
      expect(d.spec.template.metadata.annotations["prometheus.io/port"]).toBe(String(port));
      expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
      expect(c.startupProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
      expect(c.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
    }
  });

  it("runs locked down, as the image's non-root user, with /tmp as the only writable path", () => {
    const dockerUser = /^USER\s+(\d+):(\d+)/m.exec(readFileSync(`${REPO_ROOT}Dockerfile`, "utf8"));
    for (const d of [bot, worker]) {
      const pod = d.spec.template.spec;
      expect(pod.securityContext).toMatchObject({
        runAsNonRoot: true,
        runAsUser: Number(dockerUser?.[1]),
        runAsGroup: Number(dockerUser?.[2]),
        seccompProfile: { type: "RuntimeDefault" },
      });
      expect(container(d).securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ["ALL"] },
      });
      const tmp = pod.volumes.find(
        (v) => v.name === container(d).volumeMounts.find((m) => m.mountPath === "/tmp")?.name,
      );
      expect(tmp?.emptyDir).toBeDefined();
      expect(container(d).resources).toHaveProperty("requests");
    }
  });

  it("gives a worker time to reach a phase boundary, longer than the default phase timeouts", () => {
    // DESIGN.md: pod waits default to 15m; a worker asked to stop finishes its phase first.
    expect(worker.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(15 * 60);
    expect(bot.spec.template.spec.terminationGracePeriodSeconds).toBeLessThanOrEqual(60);
  });

  it("selects each component's pods with its Service and PodDisruptionBudgets", () => {
    const service = findManifest(manifests, "Service") as Manifest & {
      spec: { selector: Record<string, string>; ports: { targetPort: string }[] };
    };
    const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
      Object.entries(selector).every(([k, v]) => labels[k] === v);
    const botLabels = bot.spec.template.metadata.labels;
    const workerLabels = worker.spec.template.metadata.labels;
    expect(matches(service.spec.selector, botLabels)).toBe(true);
    expect(matches(service.spec.selector, workerLabels)).toBe(false);
    expect(service.spec.ports[0]?.targetPort).toBe("http");
    for (const d of [bot, worker])
      expect(matches(d.spec.selector.matchLabels, d.spec.template.metadata.labels)).toBe(true);
    const pdb = (c: string) =>
      findManifest(manifests, "PodDisruptionBudget", `-${c}`) as Manifest & {
        spec: { maxUnavailable: number; selector: { matchLabels: Record<string, string> } };
      };
    expect(matches(pdb("bot").spec.selector.matchLabels, botLabels)).toBe(true);
    expect(matches(pdb("bot").spec.selector.matchLabels, workerLabels)).toBe(false);
    expect(matches(pdb("worker").spec.selector.matchLabels, workerLabels)).toBe(true);
    expect(pdb("worker").spec.maxUnavailable).toBe(1);
  });

  it("renders under helm's --strict mode too (no read of a key that may be missing)", () => {
    const strictValues = mergeValues(goodValues(), {
      bot: { ingress: { enabled: true, host: "rb.example.com" } },
    });
    expect(() => renderChart(strictValues, { strict: true })).not.toThrow();
    const devValues = mergeValues(goodValues(), {
      catalogDsns: {
        existingSecret: "",
        byVariable: { PROD_CATALOG_DSN: { secret: "p" }, STAGING_CATALOG_DSN: { key: "k" } },
      },
    });
    expect(() => renderChart(devValues, { strict: true })).toThrow(
      /catalogDsns\.existingSecret is required/,
    );
  });

  it("renders the install notes", () => {
    expect(renderChart(goodValues())["templates/NOTES.txt"]).toContain("/slack/events");
  });
});

describe("rendered with options", () => {
  it("publishes only /slack/events through the Ingress", () => {
    const manifests = renderManifests(
      mergeValues(goodValues(), {
        bot: {
          ingress: {
            enabled: true,
            className: "nginx",
            host: "restorebot.example.com",
            tls: { secretName: "rb-tls" },
          },
        },
      }),
    );
    const ingress = findManifest(manifests, "Ingress") as Manifest & {
      spec: {
        ingressClassName: string;
        tls: { hosts: string[]; secretName: string }[];
        rules: {
          host: string;
          http: {
            paths: {
              path: string;
              pathType: string;
              backend: { service: { name: string; port: { name: string } } };
            }[];
          };
        }[];
      };
    };
    const service = findManifest(manifests, "Service");
    expect(ingress.spec.ingressClassName).toBe("nginx");
    expect(ingress.spec.tls).toEqual([{ hosts: ["restorebot.example.com"], secretName: "rb-tls" }]);
    expect(ingress.spec.rules).toEqual([
      {
        host: "restorebot.example.com",
        http: {
          paths: [
            {
              path: "/slack/events",
              pathType: "Exact",
              backend: { service: { name: service.metadata.name, port: { name: "http" } } },
            },
          ],
        },
      },
    ]);
  });

  it("in Socket Mode renders no Service or Ingress and passes the app token instead of the signing secret", () => {
    const manifests = renderManifests(mergeValues(goodValues(), { slack: { socketMode: true } }));
    expect(manifests.some((m) => m.kind === "Service" || m.kind === "Ingress")).toBe(false);
    const env = envOf(deployment(manifests, "bot"));
    expect(env.get("SLACK_APP_TOKEN")?.valueFrom?.secretKeyRef).toEqual({
      name: "restorebot-slack",
      key: "SLACK_APP_TOKEN",
    });
    expect(env.has("SLACK_SIGNING_SECRET")).toBe(false);
    // The health endpoints still answer on the pod port.
    expect(container(deployment(manifests, "bot")).readinessProbe.httpGet.path).toBe("/readyz");
  });

  it("reads catalog DSNs from per-variable Secrets when asked", () => {
    const manifests = renderManifests(
      mergeValues(goodValues(), {
        catalogDsns: {
          existingSecret: "",
          byVariable: {
            PROD_CATALOG_DSN: { secret: "prod-catalog", key: "dsn" },
            STAGING_CATALOG_DSN: { secret: "staging-catalog" },
          },
        },
      }),
    );
    const env = envOf(deployment(manifests, "worker"));
    expect(env.get("PROD_CATALOG_DSN")?.valueFrom?.secretKeyRef).toEqual({
      name: "prod-catalog",
      key: "dsn",
    });
    expect(env.get("STAGING_CATALOG_DSN")?.valueFrom?.secretKeyRef).toEqual({
      name: "staging-catalog",
      key: "STAGING_CATALOG_DSN",
    });
  });

  it("passes one variable for a DSN shared by two targets", () => {
    const values = goodValues() as { config: { targets: { catalog: { dsnEnv: string } }[] } };
    for (const t of values.config.targets) t.catalog.dsnEnv = "SHARED_CATALOG_DSN";
    const env = container(deployment(renderManifests(values as Values), "worker")).env.map(
      (e) => e.name,
    );
    expect(env.filter((n) => n === "SHARED_CATALOG_DSN")).toHaveLength(1);
  });

  it("uses static S3 keys from a Secret when one is named", () => {
    const manifests = renderManifests(
      mergeValues(goodValues(), { aws: { existingSecret: "s3-keys" } }),
    );
    const env = envOf(deployment(manifests, "worker"));
    expect(env.get("AWS_ACCESS_KEY_ID")?.valueFrom?.secretKeyRef).toEqual({
      name: "s3-keys",
      key: "AWS_ACCESS_KEY_ID",
    });
    expect(env.get("AWS_SECRET_ACCESS_KEY")?.valueFrom?.secretKeyRef).toEqual({
      name: "s3-keys",
      key: "AWS_SECRET_ACCESS_KEY",
    });
  });

  it("mounts a kubeconfig for targets in other clusters and grants no Role for them here", () => {
    const values = mergeValues(goodValues(), { kubeconfig: { existingSecret: "remote-kube" } }) as {
      config: { targets: Values[] };
    };
    (values.config.targets[1] as Values).kubeContext = "staging-admin";
    const manifests = renderManifests(values as Values);
    expect(manifests.filter((m) => m.kind === "Role").map((m) => m.metadata.namespace)).toEqual([
      "influxdb",
    ]);
    const worker = deployment(manifests, "worker");
    const path = envOf(worker).get("KUBECONFIG")?.value ?? "";
    const mount = container(worker).volumeMounts.find((m) => path.startsWith(`${m.mountPath}/`));
    const volume = worker.spec.template.spec.volumes.find((v) => v.name === mount?.name);
    expect(volume?.secret?.secretName).toBe("remote-kube");
  });

  it("creates no RBAC when rbac.create is false", () => {
    const manifests = renderManifests(mergeValues(goodValues(), { rbac: { create: false } }));
    expect(manifests.some((m) => m.kind === "Role" || m.kind === "RoleBinding")).toBe(false);
  });

  it("builds a development Secret only on request, and points every empty reference at it", () => {
    const devValues: Values = mergeValues(goodValues(), {
      slack: { existingSecret: "" },
      database: { existingSecret: "" },
      redis: { existingSecret: "" },
      catalogDsns: { existingSecret: "" },
      devSecret: {
        create: true,
        stringData: {
          SLACK_BOT_TOKEN: "xoxb-dev",
          SLACK_SIGNING_SECRET: "dev",
          DATABASE_URL: "postgres://dev@db/restorebot",
          REDIS_URL: "redis://redis:6379",
          PROD_CATALOG_DSN: "postgres://dev@prod-catalog/iox",
          STAGING_CATALOG_DSN: "postgres://dev@staging-catalog/iox",
        },
      },
    });
    const manifests = renderManifests(devValues);
    const secret = findManifest(manifests, "Secret") as Manifest & {
      stringData: Record<string, string>;
    };
    expect(secret.metadata.name).toBe("rb-restorebot-dev");
    expect(secret.stringData.SLACK_BOT_TOKEN).toBe("xoxb-dev");
    const env = envOf(deployment(manifests, "bot"));
    for (const name of ["SLACK_BOT_TOKEN", "DATABASE_URL", "REDIS_URL", "PROD_CATALOG_DSN"]) {
      expect(env.get(name)?.valueFrom?.secretKeyRef?.name).toBe("rb-restorebot-dev");
    }
    expect(renderChart(devValues)["templates/NOTES.txt"]).toContain("WARNING");
    const incomplete = structuredClone(devValues) as { devSecret: { stringData: Values } };
    delete incomplete.devSecret.stringData.REDIS_URL;
    expect(() => renderManifests(incomplete as Values)).toThrow(
      /devSecret\.stringData\.REDIS_URL is missing/,
    );
  });
});

describe("refuses to render with a clear message", () => {
  it.each<[string, () => Values, RegExp]>([
    ["the defaults alone (no target)", () => ({}), /config\.targets is empty/],
    [
      "no Slack Secret",
      () => without(goodValues(), "slack.existingSecret"),
      /slack\.existingSecret is required/,
    ],
    [
      "no database Secret",
      () => without(goodValues(), "database.existingSecret"),
      /database\.existingSecret is required/,
    ],
    [
      "no Redis Secret",
      () => without(goodValues(), "redis.existingSecret"),
      /redis\.existingSecret is required/,
    ],
    [
      "no Secret for the catalog DSNs",
      () => without(goodValues(), "catalogDsns.existingSecret"),
      /catalogDsns\.existingSecret is required: .*PROD_CATALOG_DSN/,
    ],
    [
      "no approvers",
      () => mergeValues(goodValues(), { config: { policy: { approvers: [] } } }),
      /no approvers for target "prod": set config\.policy\.approvers/,
    ],
    [
      "a target whose own policy empties the approvers",
      () => {
        const v = goodValues() as { config: { targets: Values[] } };
        (v.config.targets[1] as Values).policy = { approvers: [] };
        return v as Values;
      },
      /no approvers for target "staging"/,
    ],
    [
      "a target without a namespace",
      () => {
        const v = goodValues() as { config: { targets: Values[] } };
        delete (v.config.targets[1] as Values).namespace;
        return v as Values;
      },
      /config\.targets\[1\]\.namespace \(target "staging"\) is required/,
    ],
    [
      "a kubeContext without a kubeconfig",
      () => {
        const v = goodValues() as { config: { targets: Values[] } };
        (v.config.targets[0] as Values).kubeContext = "prod-admin";
        return v as Values;
      },
      /sets kubeContext "prod-admin", so the pods need a kubeconfig: set kubeconfig\.existingSecret/,
    ],
    [
      "a catalog variable the chart already sets",
      () => {
        const v = goodValues() as { config: { targets: { catalog: { dsnEnv: string } }[] } };
        (v.config.targets[0] as { catalog: { dsnEnv: string } }).catalog.dsnEnv = "DATABASE_URL";
        return v as Values;
      },
      /dsnEnv \(target "prod"\) is DATABASE_URL, which the chart already sets; choose a name of its own such as PROD_CATALOG_DSN/,
    ],
    [
      "an Ingress in Socket Mode",
      () =>
        mergeValues(goodValues(), {
          slack: { socketMode: true },
          bot: { ingress: { enabled: true, host: "x.example.com" } },
        }),
      /bot\.ingress\.enabled is true but slack\.socketMode is true/,
    ],
    [
      "an Ingress without a host",
      () => mergeValues(goodValues(), { bot: { ingress: { enabled: true } } }),
      /bot\.ingress\.host is required/,
    ],
    [
      "an existing ServiceAccount without a name",
      () => mergeValues(goodValues(), { serviceAccount: { create: false } }),
      /serviceAccount\.name is required when serviceAccount\.create is false/,
    ],
  ])("%s", (_label, values, message) => {
    expect(() => renderChart(values())).toThrow(message);
  });

  it("lets a target's own approvers stand in for empty global ones", () => {
    const v = mergeValues(goodValues(), { config: { policy: { approvers: [] } } }) as {
      config: { targets: Values[] };
    };
    for (const t of v.config.targets) t.policy = { approvers: ["U0B1"] };
    expect(() => renderChart(v as Values)).not.toThrow();
  });
});
