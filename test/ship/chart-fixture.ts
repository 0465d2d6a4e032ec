import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { ChartRenderer, type RenderContext } from "./go-template.js";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const CHART_DIR = `${REPO_ROOT}helm/restorebot/`;

export type Values = Record<string, unknown>;

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

export function readChartFile(path: string): string {
  return readFileSync(`${CHART_DIR}${path}`, "utf8");
}

export function chartMetadata(): { name: string; version: string; appVersion: string } {
  return parseYaml(readChartFile("Chart.yaml")) as {
    name: string;
    version: string;
    appVersion: string;
  };
}

export function defaultValues(): Values {
  return parseYaml(readChartFile("values.yaml")) as Values;
}

export function templateSources(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(`${CHART_DIR}templates`).sort()) {
    out[`templates/${name}`] = readChartFile(`templates/${name}`);
  }
  return out;
}

function isPlainObject(v: unknown): v is Values {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Helm's value coalescing: maps merge key by key, anything else (lists too) is replaced; null deletes. */
export function mergeValues(base: Values, override: Values): Values {
  const out: Values = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value === null) delete out[key];
    else if (isPlainObject(value) && isPlainObject(out[key]))
      out[key] = mergeValues(out[key] as Values, value);
    else out[key] = value;
  }
  return out;
}

export const RELEASE = { name: "rb", namespace: "restorebot" };

/** Renders the chart like `helm template rb helm/restorebot -n restorebot -f <overrides>`. */
export function renderChart(
  overrides: Values = {},
  options: { strict?: boolean } = {},
): Record<string, string> {
  const chart = chartMetadata();
  const renderer = new ChartRenderer({ templates: templateSources() }, options);
  const ctx: RenderContext = {
    Values: mergeValues(defaultValues(), overrides),
    Release: {
      Name: RELEASE.name,
      Namespace: RELEASE.namespace,
      Service: "Helm",
      IsInstall: true,
      IsUpgrade: false,
    },
    Chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion },
  };
  return renderer.renderAll(ctx);
}

/** The Kubernetes objects of a render (NOTES.txt left out), each YAML document parsed. */
export function renderManifests(overrides: Values = {}): Manifest[] {
  const files = renderChart(overrides);
  const manifests: Manifest[] = [];
  for (const [file, text] of Object.entries(files)) {
    if (file.endsWith("NOTES.txt")) continue;
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0]?.message}\n${text}`);
      const value = doc.toJS() as Manifest | null;
      if (value !== null) manifests.push(value);
    }
  }
  return manifests;
}

export function findManifest(manifests: Manifest[], kind: string, nameSuffix = ""): Manifest {
  const found = manifests.filter((m) => m.kind === kind && m.metadata.name.endsWith(nameSuffix));
  if (found.length !== 1)
    throw new Error(`expected one ${kind} named *${nameSuffix}, found ${found.length}`);
  return found[0] as Manifest;
}

/** A complete, valid set of values: two targets in two namespaces, secrets by reference. */
export function goodValues(): Values {
  return {
    image: { repository: "registry.example.com/restorebot", tag: "1.2.3" },
    slack: { existingSecret: "restorebot-slack" },
    database: { existingSecret: "restorebot-db" },
    redis: { existingSecret: "restorebot-redis" },
    catalogDsns: { existingSecret: "restorebot-catalogs" },
    aws: { region: "us-east-1" },
    config: {
      policy: {
        requesters: ["*"],
        approvers: ["U0A1", "S0OPS"],
        requiredApprovals: 1,
        requestTtl: "30m",
      },
      slack: { channels: ["C0RESTORE"] },
      targets: [
        {
          name: "prod",
          kind: "influxdb-clustered",
          namespace: "influxdb",
          appInstance: "influxdb",
          catalog: { dsnEnv: "PROD_CATALOG_DSN" },
          snapshots: {
            bucket: "influxdb-prod",
            prefix: "catalog_backup_file_lists/",
            region: "us-east-1",
          },
          retention: { hourly: "30d", daily: "90d" },
          timeouts: { podsGone: "15m", podsReady: "15m" },
          policy: { requiredApprovals: 2 },
        },
        {
          name: "staging",
          kind: "influxdb-clustered",
          namespace: "influxdb-staging",
          appInstance: "influxdb",
          catalog: { dsnEnv: "STAGING_CATALOG_DSN" },
          snapshots: { bucket: "influxdb-staging" },
        },
      ],
    },
  };
}
