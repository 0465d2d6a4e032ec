import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { type Browser, chromium, type Locator, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropDatabase } from "../../src/demo/demo-databases.js";
import { type Sandbox, startSandbox } from "../../src/demo/sandbox.js";
import { silentLogger } from "../../src/logging/logger.js";
import { ADMIN_URL } from "../support/postgres.js";
import { uniqueQueuePrefix } from "../support/redis.js";

// The whole sandbox in this process (stand-ins, real bot and worker, real PostgreSQL and
// Redis) and Debian's Chromium driving the console by clicks and typing only, as a person
// would. scripts/ensure-browser.sh installs Chromium when it is missing.

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOT = "test-results/demo-console.png";

const suffix = randomBytes(4).toString("hex");
const databaseName = `rb_demo_${suffix}`;
const catalogDatabaseName = `rb_democat_${suffix}`;

let sandbox: Sandbox;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    // Never skipped: CI must run it. scripts/test.sh installs the browser first.
    throw new Error(
      `${CHROMIUM} is missing: run "bash scripts/ensure-browser.sh" (apt-get install chromium)`,
    );
  }
  [sandbox, browser] = await Promise.all([
    startSandbox({
      logger: silentLogger,
      fast: true,
      port: 0,
      postgresUrl: ADMIN_URL,
      databaseName,
      scenarioDatabaseNames: { catalog: catalogDatabaseName },
      queuePrefix: uniqueQueuePrefix("demo"),
    }),
    chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    }),
  ]);
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.setDefaultTimeout(15_000);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await sandbox?.stop();
  await dropDatabase(ADMIN_URL, databaseName).catch(() => undefined);
  await dropDatabase(ADMIN_URL, catalogDatabaseName).catch(() => undefined);
  for (const suffix of ["pachyderm", "dex"])
    await dropDatabase(ADMIN_URL, `${databaseName}_${suffix}`).catch(() => undefined);
});

const byTestId = (id: string): Locator => page.getByTestId(id);

async function actAs(userId: string): Promise<void> {
  await byTestId(`user-${userId}`).click();
  await expect.poll(() => page.locator("body").getAttribute("data-me")).toBe(userId);
}

async function command(text: string): Promise<void> {
  await byTestId("command-input").fill(text);
  await byTestId("command-send").click();
}

/** The approval card: the channel message with Approve and Reject. */
function card(): Locator {
  return byTestId("message")
    .filter({ has: byTestId("button-request_approve") })
    .last();
}

async function approveThroughDialog(): Promise<void> {
  await card().getByTestId("button-request_approve").click();
  const dialog = byTestId("confirm-dialog");
  await expect.poll(() => dialog.isVisible()).toBe(true);
  expect(await byTestId("confirm-title").textContent()).toContain("Approve restore of prod?");
  await byTestId("confirm-ok").click();
  await expect.poll(() => dialog.isVisible()).toBe(false);
}

describe("the sandbox console in Chromium", () => {
  it("walks a whole restore by clicks: list, request, self-approval refused, approve, narrated run", async () => {
    await page.goto(sandbox.consoleUrl);
    await expect
      .poll(() => byTestId("connection").getAttribute("data-state"), { timeout: 10_000 })
      .toBe("live");

    // 1. The requester lists the recovery points: an ephemeral only they see.
    await actAs("U0DEMOREQ");
    await command("/recovery-points prod");
    const listing = byTestId("ephemeral").filter({ hasText: "Recovery points · prod" });
    await listing.waitFor();
    const listingText = (await listing.textContent()) ?? "";
    expect(listingText).toContain("incomplete");
    expect(listingText).toContain("Restore to this point");

    // 2. "Restore to this point" on the newest complete point opens the request modal; an
    //    empty reason is refused in the modal, a real one makes the request.
    await listing.getByTestId("button-restore_point_open").first().click();
    const modal = byTestId("modal");
    await expect.poll(() => modal.isVisible()).toBe(true);
    await byTestId("modal-submit").click();
    await expect
      .poll(async () => (await modal.locator(".bk-error:not([hidden])").count()) > 0)
      .toBe(true);
    await modal.locator("textarea, input").first().fill("INC-101: a bad migration dropped tables");
    await byTestId("modal-submit").click();
    await expect.poll(() => modal.isVisible()).toBe(false);
    await card().waitFor();
    expect(await card().textContent()).toContain("Waiting for approval");

    // 3. The requester cannot approve their own request.
    await approveThroughDialog();
    const refusal = byTestId("ephemeral").filter({ hasText: "a second person must approve it" });
    await refusal.last().waitFor();
    expect(await card().textContent()).toContain("Waiting for approval");

    // 4. An approver does not see the requester's ephemerals, and approves.
    await actAs("U0DEMOAPP1");
    await expect.poll(() => refusal.count()).toBe(0);
    await approveThroughDialog();

    // 5. The run pauses the operator and takes pods down (the panel shows it), then narrates
    //    its end in the card's thread.
    await page
      .locator('[data-testid="operator-status"][data-paused="true"]')
      .waitFor({ timeout: 20_000 });
    const done = byTestId("thread-reply").filter({ hasText: "Restore of prod complete" });
    await done.waitFor({ timeout: 40_000 });
    expect(await card().count()).toBe(0); // Approve and Reject are gone from the card
    const restoredCard = byTestId("message").filter({ hasText: "Restore succeeded" });
    await restoredCard.waitFor();

    // 6. The cluster is back to its original replicas, every pod ready, the operator running,
    //    and the catalog no longer has what was written after the snapshot.
    await page
      .locator('[data-testid="operator-status"][data-paused="false"]')
      .waitFor({ timeout: 10_000 });
    await page
      .locator('[data-testid="cluster-original"][data-at-original="true"]')
      .waitFor({ timeout: 10_000 });
    const components = await page.locator('[data-testid^="component-"]').all();
    expect(components.length).toBe(6);
    for (const component of components) {
      const [desired, ready, original] = await Promise.all([
        component.getAttribute("data-desired"),
        component.getAttribute("data-ready"),
        component.getAttribute("data-original"),
      ]);
      expect(desired).toBe(original);
      expect(ready).toBe(desired);
    }
    await expect
      .poll(() => byTestId("catalog-summary").textContent(), { timeout: 10_000 })
      .toContain("matches the snapshots");

    // 7. The requester was told by direct message.
    await actAs("U0DEMOREQ");
    await byTestId("dm-message").filter({ hasText: "was approved by @Avery" }).waitFor();

    // 8. The failure to rehearse switches on and off by its button, and the stand-ins follow.
    await expect.poll(() => byTestId("rehearsal-state").getAttribute("data-armed")).toBe("false");
    await byTestId("rehearsal-toggle").click();
    await expect.poll(() => byTestId("rehearsal-state").getAttribute("data-armed")).toBe("true");
    expect(sandbox.rehearsal.armed).toBe(true);
    await expect(byTestId("rehearsal-toggle").textContent()).resolves.toBe("Lift the failure");
    await byTestId("rehearsal-toggle").click();
    await expect.poll(() => byTestId("rehearsal-state").getAttribute("data-armed")).toBe("false");
    expect(sandbox.rehearsal.armed).toBe(false);

    // The picture: the finished card with its phases, the narration under it, the DM and the
    // cluster panel, in a window tall enough to hold them.
    await mkdir("test-results", { recursive: true });
    await page.setViewportSize({ width: 1440, height: 2000 });
    await restoredCard.evaluate((node) => node.scrollIntoView({ block: "start" }));
    await page.screenshot({ path: SCREENSHOT });
  }, 90_000);
});
