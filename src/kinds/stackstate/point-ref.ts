import { CodedError } from "../../errors.js";
import { STACKSTATE_STORES, type StackStateStore } from "./points.js";

export type StackStatePointRef =
  | { store: StackStateStore; latest: true }
  | { store: StackStateStore; latest: false; name: string };

const EXAMPLES: Record<StackStateStore, string> = {
  stackgraph: "stackgraph:sts-backup-20210216-0300.graph",
  metrics: "metrics:victoria-metrics-0/victoria-metrics-0-20231128160000",
  clickhouse: "clickhouse:incremental_2024-06-17T18-57-00",
  elasticsearch: "elasticsearch:sts-backup-20210223-0300-ppss8nx40ykppss8nx40yk",
};

function usage(message: string): CodedError {
  return new CodedError(
    "usage",
    `${message} A StackState point is <store>:<name> or <store>:latest, with <store> one of ${STACKSTATE_STORES.join(", ")}; for example \`${EXAMPLES.stackgraph}\` or \`metrics:latest\`. \`/recovery-points <target> --store <store>\` lists the names.`,
  );
}

/**
 * Reads `<store>:<name>` (or `<store>:latest`, the newest complete point of that store).
 * `configured` is the stores the target has; a store it lacks is refused by name.
 */
export function parseStackStatePoint(
  text: string,
  configured: readonly StackStateStore[] = STACKSTATE_STORES,
): StackStatePointRef {
  const trimmed = text.trim();
  const colon = trimmed.indexOf(":");
  if (trimmed === "" || trimmed === "latest") {
    throw usage(`"${trimmed}" does not say which store to restore.`);
  }
  if (colon <= 0) throw usage(`"${trimmed}" has no store.`);
  const store = trimmed.slice(0, colon).toLowerCase();
  const name = trimmed.slice(colon + 1);
  if (!(STACKSTATE_STORES as readonly string[]).includes(store)) {
    throw usage(`"${store}" is not a StackState store.`);
  }
  const known = store as StackStateStore;
  if (!configured.includes(known)) {
    throw new CodedError(
      "usage",
      `This target has no ${known} store configured (it has ${configured.length === 0 ? "none" : configured.join(", ")}). Pick one of those, e.g. \`${configured[0] ?? "stackgraph"}:latest\`, or add stores.${known} to the target's config.`,
    );
  }
  if (name === "") throw usage(`"${trimmed}" names no ${known} backup.`);
  if (name === "latest") return { store: known, latest: true };
  if (/\s/.test(name) || name.includes("..") || name.startsWith("/")) {
    throw usage(`"${name}" is not a ${known} backup name.`);
  }
  if (known === "metrics") {
    const [instance, version, ...rest] = name.split("/");
    if (instance === undefined || version === undefined || rest.length > 0 || version === "") {
      throw usage(
        `A metrics point is <instance>/<version>, e.g. \`${EXAMPLES.metrics}\`; "${name}" is not.`,
      );
    }
  } else if (name.includes("/")) {
    throw usage(`"${name}" is not a ${known} backup name (no "/" in it).`);
  }
  return { store: known, latest: false, name };
}

/** The point as typed in commands and shown on cards. */
export function formatStackStatePoint(store: StackStateStore, name: string): string {
  return `${store}:${name}`;
}
