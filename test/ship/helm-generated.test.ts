import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  generateRoleTemplate,
  generateValuesSchema,
  ROLE_TEMPLATE_PATH,
  VALUES_SCHEMA_PATH,
} from "../../src/cli/helm-files.js";
import { createKindRegistry, KINDS } from "../../src/kinds/registry.js";
import { REPO_ROOT } from "./chart-fixture.js";

const committed = (path: string) => readFileSync(join(REPO_ROOT, path), "utf8");

describe("the chart files generated from the code (npm run helm:schema)", () => {
  it("values.schema.json is the config's zod schema, with the patterns of durations and names", () => {
    const text = committed(VALUES_SCHEMA_PATH);
    expect(text, "run npm run helm:schema").toBe(generateValuesSchema(text));
    const config = JSON.parse(text).properties.config;
    const target = config.properties.targets.items.oneOf[0].properties;
    expect(target.timeouts.properties.podsGone.pattern).toBe("^[0-9]{1,9}[smhd]$");
    expect(target.namespace.pattern).toBe("^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$");
    expect(target.name.not.enum).toContain("latest");
    expect(config.properties.policy.properties.requestTtl.pattern).toBe("^[0-9]{1,9}[smhd]$");
  });

  it("the Role's rules are the registered kinds' rules", () => {
    const text = committed(ROLE_TEMPLATE_PATH);
    expect(text, "run npm run helm:schema").toBe(generateRoleTemplate(text));
  });

  it("a kind with other needs changes both: the generator is not a copy of the files", () => {
    const [first] = KINDS;
    const other = createKindRegistry([
      first,
      {
        ...first,
        id: "other-kind",
        rbac: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get"] }],
      },
    ]);
    const role = committed(ROLE_TEMPLATE_PATH);
    expect(generateRoleTemplate(role, other)).toContain('resources: ["configmaps"]');
    const schema = committed(VALUES_SCHEMA_PATH);
    expect(generateValuesSchema(schema, other)).toContain('"const": "other-kind"');
  });
});
