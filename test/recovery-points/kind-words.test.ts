import { describe, expect, it } from "vitest";
import { ENTERPRISE_POINT_WORDS } from "../../src/kinds/influxdb-enterprise/wording.js";
import { PACHYDERM_POINT_WORDS } from "../../src/kinds/pachyderm/wording.js";
import { DEFAULT_KINDS } from "../../src/kinds/registry.js";
import { NEUTRAL_POINT_WORDS, verificationMessage } from "../../src/recovery-points/blocks.js";
import type { VerificationReport } from "../../src/recovery-points/recovery-point.js";

function report(over: Partial<VerificationReport>): VerificationReport {
  return {
    ok: true,
    complete: true,
    dump: { present: true, bytes: 2048, sqlBytes: 9000, etag: "e", problem: undefined },
    tableLists: 2,
    referencedFiles: 30,
    referencedPrefixes: 1,
    missingFiles: 0,
    missingSample: [],
    problems: [],
    requests: { lists: 2, objectLists: 1, reads: 4 },
    durationMs: 120,
    ...over,
  };
}

const text = (r: VerificationReport, words = NEUTRAL_POINT_WORDS) =>
  JSON.stringify(
    verificationMessage({
      target: "t",
      point: { id: "2026-12-01T00:00:00Z", time: new Date("2026-12-01T00:00:00Z") },
      bucket: "s3://b/objects/",
      report: r,
      saved: true,
      words,
    }),
  );

describe("each kind's words for its points", () => {
  it("every shipped kind says itself what its restore replaces, and each time-named kind what its verify checks", () => {
    for (const kind of DEFAULT_KINDS.all) {
      expect(kind.wording.restore, kind.id).toBeDefined();
      if (kind.points.named === undefined) expect(kind.wording.points, kind.id).toBeDefined();
    }
  });

  it("a kind without words gets neutral ones: no file of another system is named", () => {
    const out = text(report({}));
    expect(out).toContain("no problem found");
    expect(out).not.toMatch(/bloom|pg_dump|Parquet|catalog|snapshot/i);
  });

  it("Pachyderm says which objects had their ETag compared (multipart ETags are compared by size)", () => {
    const facts = {
      dumpsListed: 2,
      dumpsRead: 2,
      manifestRead: true,
      objects: 30,
      objectBytes: 4096,
      etagsCompared: 27,
      absent: 0,
      differing: 0,
    };
    const out = text(report({ facts }), PACHYDERM_POINT_WORDS);
    expect(out).toContain(
      "with their size and, for 27 of them, ETag (the other 3 have multipart ETags, which a copy changes: compared by size)",
    );
    const all = text(report({ facts: { ...facts, etagsCompared: 30 } }), PACHYDERM_POINT_WORDS);
    expect(all).toContain("with their size and ETag");
    // A manifest that could not be read to its end: no claim about the objects.
    const cut = text(
      report({
        ok: false,
        facts: { ...facts, manifestRead: false },
        problems: ["objects.ndjson.gz: truncated"],
      }),
      PACHYDERM_POINT_WORDS,
    );
    expect(cut).toContain("*Objects:* the object manifest could not be read to its end");
    expect(cut).not.toContain("are in");
  });

  it("Enterprise never claims the files were read when their sizes were already wrong", () => {
    const out = text(
      report({
        ok: false,
        referencedFiles: 5,
        problems: ["20161122T112900Z.s1.tar.gz is missing (complete.json lists 1200 bytes)"],
        missingFiles: 1,
        facts: { sizesChecked: true, sizeProblems: 1, filesRead: 0, readProblems: 0, bytesRead: 0 },
      }),
      ENTERPRISE_POINT_WORDS,
    );
    expect(out).toContain(
      "*Files:* 1 file of 5 missing or not the size complete.json records; no file was read further",
    );
    expect(out).not.toContain("Contents");
    expect(out).not.toContain("read to its end");
  });
});
