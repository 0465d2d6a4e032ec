import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  claimSandboxDatabases,
  databaseUrlFor,
  dropDatabase,
  recreateDatabase,
} from "../../src/demo/demo-databases.js";
import { ADMIN_URL } from "../support/postgres.js";

describe("the sandbox's databases", () => {
  it("refuses a second sandbox on the same databases until the first one stops", async () => {
    const name = `rb_democlaim_${randomBytes(4).toString("hex")}`;
    const first = await claimSandboxDatabases(ADMIN_URL, name);
    await expect(claimSandboxDatabases(ADMIN_URL, name)).rejects.toThrow(
      /another restorebot demo is running on the database rb_democlaim_/,
    );
    // Another set of databases (another test run) is not affected.
    const other = await claimSandboxDatabases(ADMIN_URL, `${name}_other`);
    await other.release();
    await first.release();
    const again = await claimSandboxDatabases(ADMIN_URL, name);
    await again.release();
  });

  it("rebuilds a database empty, and takes plain names only", async () => {
    const name = `rb_demorebuild_${randomBytes(4).toString("hex")}`;
    const url = await recreateDatabase(ADMIN_URL, name);
    expect(url).toBe(databaseUrlFor(ADMIN_URL, name));
    expect(new URL(url).username).not.toBe("");
    await recreateDatabase(ADMIN_URL, name);
    await dropDatabase(ADMIN_URL, name);
    await expect(recreateDatabase(ADMIN_URL, 'x"; DROP DATABASE postgres; --')).rejects.toThrow(
      /not a plain database name/,
    );
  });
});
