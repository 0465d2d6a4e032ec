/** The restore-options hook of the influxdb-enterprise kind (Kind.restoreOptions). */

import { CodedError } from "../../errors.js";
import type { BackupOptions, JsonValue, RestoreOptions } from "../kind.js";
import type { EnterpriseTarget } from "./config.js";
import { enterprisePointOf } from "./points.js";
import {
  describeRestoreScope,
  type EnterpriseRestoreOptions,
  parseEnterpriseRestoreOptions,
  validateAgainstSet,
} from "./restore-options.js";

export const ENTERPRISE_OPTIONS_USAGE = "[--db X [--newdb Y]] [--rp R [--newrp S]]";

function messageOf(err: unknown): string {
  if (err instanceof CodedError) return err.message;
  throw err;
}

export const enterpriseRestoreOptions: RestoreOptions<EnterpriseTarget> = {
  usage: ENTERPRISE_OPTIONS_USAGE,
  parse(
    words: readonly string[],
    _target: EnterpriseTarget,
  ): { ok: true; options: JsonValue; consumed: number } | { ok: false; message: string } {
    try {
      const { options, rest } = parseEnterpriseRestoreOptions([...words]);
      return {
        ok: true,
        options: options as unknown as JsonValue,
        consumed: words.length - rest.length,
      };
    } catch (err) {
      return { ok: false, message: messageOf(err) };
    }
  },
  check(options: JsonValue, point: JsonValue, _target: EnterpriseTarget): string | undefined {
    let set: ReturnType<typeof enterprisePointOf>;
    try {
      set = enterprisePointOf(point);
    } catch {
      return "that point is not an InfluxDB Enterprise backup set; pick a set listed by /recovery-points for this target";
    }
    try {
      validateAgainstSet((options ?? {}) as EnterpriseRestoreOptions, set);
      return undefined;
    } catch (err) {
      return messageOf(err);
    }
  },
  cardLines(options: JsonValue, point: JsonValue): string[] {
    const o = (options ?? {}) as EnterpriseRestoreOptions;
    const set = enterprisePointOf(point);
    const scope = describeRestoreScope(o, set.full);
    if (o.newdb !== undefined || o.newrp !== undefined) return [`Restores ${scope}.`];
    const overwritten =
      o.db === undefined
        ? set.retentionPolicies.map((r) => `\`${r.database}.${r.retentionPolicy}\``)
        : set.retentionPolicies
            .filter(
              (r) => r.database === o.db && (o.rp === undefined || r.retentionPolicy === o.rp),
            )
            .map((r) => `\`${r.database}.${r.retentionPolicy}\``);
    return [`*Overwrites ${scope}:* ${overwritten.join(", ") || "nothing listed in the set"}`];
  },
};

export const ENTERPRISE_BACKUP_USAGE = "[--incremental]";

/** `/backup <target> [--incremental] <reason>`: full sets unless `--incremental` is given. */
export const enterpriseBackupOptions: BackupOptions<EnterpriseTarget> = {
  usage: ENTERPRISE_BACKUP_USAGE,
  parse(words) {
    let incremental = false;
    let consumed = 0;
    for (const word of words) {
      if (!word.startsWith("--")) break;
      if (word === "--full")
        return {
          ok: false,
          message:
            "`--full` is not needed: `/backup` takes a full set unless `--incremental` is given.",
        };
      if (word !== "--incremental")
        return {
          ok: false,
          message: `Unknown option \`${word}\`: the only /backup option here is \`--incremental\`.`,
        };
      if (incremental)
        return { ok: false, message: "`--incremental` is given twice; give it once." };
      incremental = true;
      consumed++;
    }
    const options: JsonValue = incremental ? { incremental: true } : {};
    return { ok: true, options, consumed };
  },
  cardLines(options) {
    return (options as { incremental?: boolean } | null)?.incremental
      ? [
          "*Incremental set:* `influxd-ctl backup` without `-full`, into the directory kept in the meta pod for incremental sets; only shards changed since its last run are copied, and the set uploaded holds the whole directory",
        ]
      : ["*Full set:* `influxd-ctl backup -full`"];
  },
};
