/**
 * Regenerates the chart's values.schema.json (its `config` part) and the Role's rules from the
 * code: `npm run helm:schema`. With --check, changes nothing and exits 1 when either is stale.
 */
import { readFileSync, writeFileSync } from "node:fs";
import {
  generateRoleTemplate,
  generateValuesSchema,
  ROLE_TEMPLATE_PATH,
  VALUES_SCHEMA_PATH,
} from "../src/cli/helm-files.js";

const check = process.argv.includes("--check");
let stale = 0;
for (const [path, generate] of [
  [VALUES_SCHEMA_PATH, generateValuesSchema],
  [ROLE_TEMPLATE_PATH, generateRoleTemplate],
] as const) {
  const current = readFileSync(path, "utf8");
  const next = generate(current);
  if (next === current) continue;
  stale++;
  if (check) console.error(`${path} is out of date: run npm run helm:schema`);
  else {
    writeFileSync(path, next);
    console.log(`wrote ${path}`);
  }
}
process.exit(check && stale ? 1 : 0);
