import { z } from "zod";
import { DEFAULT_KINDS, type KindRegistry } from "../kinds/registry.js";
import { configSchemaOf } from "./file.js";

/**
 * restorebot.yaml as a JSON Schema (draft 7), generated from the config's zod schema: the
 * chart's values.schema.json embeds it under `config` (`npm run helm:schema`), so a kind's new
 * keys reach the chart without a hand edit. Keys with defaults are optional here, as in the
 * file; checks zod runs as code (durations, DSN variable names, reserved target names) carry
 * their JSON Schema form in `.meta()` where they are defined (schema-parts.ts).
 */
export function configJsonSchema(kinds: KindRegistry = DEFAULT_KINDS): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchemaOf(kinds), {
    io: "input",
    target: "draft-7",
    unrepresentable: "any",
  }) as Record<string, unknown>;
  delete schema.$schema;
  return schema;
}
