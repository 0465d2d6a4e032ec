import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/file.js";
import type { PachydermTarget } from "../../../src/kinds/pachyderm/config.js";
import { pachyderm } from "../../../src/kinds/pachyderm/index.js";
import {
  PACH_BACKUP_BUCKET,
  pachydermConfigYaml,
  seedPachydermSandbox,
} from "../../../src/kinds/pachyderm/sandbox/scenario.js";
import { type S3StandIn, startS3StandIn } from "../../../stand-ins/s3/server.js";
import {
  type ScratchDatabase,
  SEQUENTIAL_ADMIN_URL,
  scratchDatabase,
  storeFor,
} from "./support.js";

let s3: S3StandIn | undefined;
const dbs: ScratchDatabase[] = [];

afterAll(async () => {
  await s3?.close();
  for (const d of dbs) await d.drop();
});

describe("the sandbox's Pachyderm target", () => {
  it("has three complete backups written by the backup writer and one incomplete point, newest first", async () => {
    s3 = await startS3StandIn();
    const pach = await scratchDatabase(SEQUENTIAL_ADMIN_URL, "sbx_p");
    const dex = await scratchDatabase(SEQUENTIAL_ADMIN_URL, "sbx_d");
    dbs.push(pach, dex);
    const now = new Date();
    const seeded = await seedPachydermSandbox({
      s3,
      urls: { pachyderm: pach.url, dex: dex.url },
      now,
    });
    const config = parseConfig(
      `policy: { approvers: [U0A1] }\nslack: { channels: [C0123] }\ntargets:\n${pachydermConfigYaml(s3.endpoint)}`,
    );
    const target = config.targets[0] as PachydermTarget;
    const store = storeFor(s3.endpoint);
    const source = pachyderm.points.source(target, () => store);
    const index = await source.listPoints();
    expect(index.points.map((p) => p.id)).toEqual([
      seeded.incomplete,
      ...[...seeded.points].reverse(),
    ]);
    const details = await source.describePoints(index.points, index);
    expect(index.points.map((p) => details.get(p.id)?.complete)).toEqual([false, true, true, true]);
    const newest = details.get(seeded.points[2] as string);
    expect(newest?.summary).toMatch(/43 objects \(.+\)$/);
    // backup.retention (14 d) decides the expiry, which the listing shows.
    expect(newest?.expiresAt?.getTime()).toBe(
      new Date(seeded.points[2] as string).getTime() + 14 * 86_400_000,
    );
    // The pool holds one entry per version the points need, shared between them.
    expect(s3.listKeys(PACH_BACKUP_BUCKET, "restorebot/objects/").length).toBeGreaterThan(43);
    const verified = await source.verifyPoint(index.points[1] as never);
    expect(verified.problems).toEqual([]);
  });
});
