import { describe, expect, it } from "vitest";
import { CLUSTERED_POINT_WORDS } from "../../src/kinds/influxdb-clustered/point-words.js";
import { contiguousRuns } from "../../src/kinds/influxdb-clustered/s3-source.js";
import {
  endsLikeCompletePgDump,
  looksLikePgDump,
  restrictKeyOf,
  tablePrefixOf,
} from "../../src/kinds/influxdb-clustered/verify-snapshot.js";
import {
  OLDER_POINTS_ACTION,
  pointNotFoundText,
  RESTORE_POINT_ACTION,
  recoveryPointsMessage,
  verificationLine,
  verificationMessage,
} from "../../src/recovery-points/blocks.js";
import { findPoint, indexFolders, nearestPoints } from "../../src/recovery-points/folder-names.js";
import {
  type ListedPoint,
  type RecoveryPointListing,
  selectPoints,
} from "../../src/recovery-points/list-recovery-points.js";
import type { VerificationReport } from "../../src/recovery-points/recovery-point.js";
import { cadenceOf, expiryOf, expiryState } from "../../src/recovery-points/retention.js";
import type { StoredVerification } from "../../src/recovery-points/verification-store.js";
import { formatAge, formatBytes } from "../../src/text/format.js";
import { blockProblems } from "../../stand-ins/slack/block-kit-limits.js";

const H = 3_600_000;
const D = 24 * H;
const retention = { hourly: 30 * D, daily: 90 * D };
const now = new Date("2024-08-12T14:42:00Z");

describe("cadence and expiry", () => {
  it.each([
    ["2024-08-12T00:00:00Z", "daily", "2024-11-10T00:00:00.000Z"],
    ["2024-08-12T14:00:00Z", "hourly", "2024-09-11T14:00:00.000Z"],
    ["2024-08-12T00:00:30Z", "hourly", "2024-09-11T00:00:30.000Z"],
    ["2024-08-11T23:00:00-01:00", "daily", "2024-11-10T00:00:00.000Z"],
  ])("%s is %s and expires at %s", (time, cadence, expires) => {
    const t = new Date(time);
    expect(cadenceOf(t)).toBe(cadence);
    expect(expiryOf(t, retention).toISOString()).toBe(expires);
  });

  it.each([
    [25 * H, "kept"],
    [24 * H, "expiring"],
    [1, "expiring"],
    [0, "overdue"],
    [-H, "overdue"],
  ])("%d ms before expiry is %s", (left, state) => {
    expect(expiryState(new Date(now.getTime() + left), now)).toBe(state);
  });
});

describe("reading snapshot folders as points", () => {
  const base = "catalog_backup_file_lists/";
  it("parses times, sorts newest first, and skips (and counts) what is not a time", () => {
    const index = indexFolders(
      [
        `${base}2024-08-12T13:00:00+00:00/`,
        `${base}2024-08-12T14:00:00+00:00/`,
        `${base}latest/`,
        `${base}2024-08-12T12:00Z/`,
        `${base}2024-02-31T00:00:00+00:00/`,
        `${base}tmp-copy/`,
        `${base}2024-08-12T14:00:00Z/`,
      ],
      base,
    );
    expect(index.points.map((p) => p.id)).toEqual([
      "2024-08-12T14:00:00+00:00",
      "2024-08-12T13:00:00+00:00",
      "2024-08-12T12:00Z",
    ]);
    expect(index.skipped).toEqual([
      "latest",
      "2024-02-31T00:00:00+00:00",
      "tmp-copy",
      "2024-08-12T14:00:00Z",
    ]);
  });

  it("finds a point by time whatever spelling was typed, and names the nearest otherwise", () => {
    const index = indexFolders(
      ["2024-08-12T10:00:00+00:00/", "2024-08-12T12:00:00+00:00/", "2024-08-12T16:00:00+00:00/"],
      "",
    );
    expect(findPoint(index, new Date("2024-08-12T12:00Z"))?.id).toBe("2024-08-12T12:00:00+00:00");
    expect(findPoint(index, new Date("2024-08-12T13:00Z"))).toBeUndefined();
    expect(nearestPoints(index, new Date("2024-08-12T13:00Z"), 2).map((p) => p.id)).toEqual([
      "2024-08-12T12:00:00+00:00",
      "2024-08-12T16:00:00+00:00",
    ]);
  });

  it("groups wanted folders into runs, bridging small gaps", () => {
    const keys = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
    expect(contiguousRuns(keys, new Set(["b", "c", "e", "j"]), 1)).toEqual([
      ["b", "c", "e"],
      ["j"],
    ]);
    expect(contiguousRuns(keys, new Set(["a", "j"]), 3)).toEqual([["a"], ["j"]]);
    expect(contiguousRuns(keys, new Set(), 3)).toEqual([]);
  });
});

describe("selecting the points a query asks for", () => {
  const index = indexFolders(
    Array.from({ length: 72 }, (_, i) => {
      const t = new Date(Date.UTC(2024, 7, 12, 14) - i * H);
      return `${t.toISOString().slice(0, 19)}+00:00/`;
    }),
    "",
  );
  const q = { cadence: "all" as const, sinceMs: undefined, limit: 20, before: undefined };

  it.each([
    [{}, 20, "2024-08-12T14:00:00+00:00", 52],
    [{ cadence: "daily" as const }, 3, "2024-08-12T00:00:00+00:00", 0],
    [{ cadence: "hourly" as const, limit: 5 }, 5, "2024-08-12T14:00:00+00:00", 64],
    [{ sinceMs: 6 * H }, 6, "2024-08-12T14:00:00+00:00", 0],
    [{ before: new Date("2024-08-12T10:00Z"), limit: 2 }, 2, "2024-08-12T09:00:00+00:00", 65],
    [{ limit: 100 }, 40, "2024-08-12T14:00:00+00:00", 32],
  ])("%o shows %d from %s with %d older", (over, shown, first, older) => {
    const s = selectPoints(index, { ...q, ...over }, now);
    expect(s.shown).toHaveLength(shown);
    expect(s.shown[0]?.id).toBe(first);
    expect(s.olderCount).toBe(older);
  });
});

describe("verification helpers", () => {
  it.each([
    ["1/2/abcd/0000-1111.parquet", "1/2/"],
    ["10/200/p/x/y.parquet", "10/200/"],
    ["1/2/x.parquet.tmp", undefined],
    ["1/x.parquet", undefined],
    ["/1/2/x.parquet", undefined],
    ["1//2/x.parquet", undefined],
  ])("%s belongs to table prefix %s", (path, prefix) => {
    expect(tablePrefixOf(path)).toBe(prefix);
  });

  it.each([
    ["--\n-- PostgreSQL database dump\n--\n\nSET x;", true],
    ["\\restrict abc\n--\n-- PostgreSQL database dump\n", true],
    ["\n\n-- PostgreSQL database dump\n", true],
    ["SET statement_timeout = 0;\n", false],
    ["PGDMP\u0001\u000e", false],
    ["-- MySQL dump 10.13\n--\n", false],
  ])("%j looks like a pg_dump: %s", (head, expected) => {
    expect(looksLikePgDump(head)).toBe(expected);
  });

  const complete = "--\n-- PostgreSQL database dump complete\n--\n\n";
  it.each([
    [`SELECT 1;\n\n${complete}`, true],
    // pg_dump 17.6, 16.10 and later: \unrestrict with the key of the opening \restrict.
    [`SELECT 1;\n\n${complete}\\unrestrict 5eB2GrhS9h0ny2tcqfcvbNyhOM\n\n`, true],
    [`SELECT 1;\r\n--\r\n-- PostgreSQL database dump complete\r\n--\r\n`, true],
    // Cut cleanly at a line boundary: the closing comment never came.
    ["ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id);\n\n", false],
    ["COPY public.t (id) FROM stdin;\n1\n2\n", false],
    // Something after the closing line is not pg_dump's.
    [`${complete}DROP TABLE public.t;\n`, false],
    ["", false],
  ])("%j ends like a complete pg_dump: %s", (tail, expected) => {
    expect(endsLikeCompletePgDump(tail)).toBe(expected);
  });

  it.each([
    [`${complete}\\unrestrict k3y\n`, "k3y", true],
    // Cut after the closing comment: the \restrict the dump opened is never closed.
    [complete, "k3y", false],
    [`${complete}\\unrestrict other\n`, "k3y", false],
  ])("%j, opened with \\restrict %s, ends complete: %s", (tail, key, expected) => {
    expect(endsLikeCompletePgDump(tail, key)).toBe(expected);
  });

  it("reads the key of the opening \\restrict", () => {
    expect(restrictKeyOf("\\restrict k3y\n\n--\n-- PostgreSQL database dump\n")).toBe("k3y");
    expect(restrictKeyOf("--\n-- PostgreSQL database dump\n--\n")).toBeUndefined();
  });
});

function point(id: string, over: Partial<ListedPoint> = {}): ListedPoint {
  const time = new Date(id);
  return {
    ref: { id, time },
    cadence: cadenceOf(time),
    expiresAt: expiryOf(time, retention),
    expiry: expiryState(expiryOf(time, retention), now),
    details: { complete: true, dumpSize: 2_800_000, dumpEtag: '"e1"' },
    restorable: true,
    verification: undefined,
    ...over,
  };
}

function listing(over: Partial<RecoveryPointListing> = {}): RecoveryPointListing {
  const newest = { id: "2024-08-12T14:00:00+00:00", time: new Date("2024-08-12T14:00:00Z") };
  return {
    target: "prod",
    location: "s3://influxdb-prod/catalog_backup_file_lists/",
    expiresBy: "system",
    now,
    query: { cadence: "all", sinceMs: undefined, limit: 20, before: undefined },
    totalPoints: 810,
    counts: { hourly: 720, daily: 90 },
    skipped: [],
    newestComplete: newest,
    oldestComplete: { id: "2024-05-15T00:00:00+00:00", time: new Date("2024-05-15T00:00:00Z") },
    completeScanLimited: false,
    newest,
    newestIsComplete: true,
    points: [point("2024-08-12T14:00:00+00:00")],
    olderCount: 0,
    truncatedToMessage: false,
    verificationsUnavailable: false,
    ...over,
  };
}

function textOf(blocks: unknown[]): string {
  return JSON.stringify(blocks);
}

describe("the listing message", () => {
  it("leads with the newest complete point, the RPO and the restorable window", () => {
    const m = recoveryPointsMessage(listing(), CLUSTERED_POINT_WORDS);
    expect(blockProblems(m.blocks, 50)).toEqual([]);
    const summary = textOf(m.blocks.slice(0, 2));
    expect(summary).toContain("Newest complete:* `2024-08-12T14:00:00+00:00` (42 min ago)");
    expect(summary).toContain("RPO now:* 42 min");
    expect(summary).toContain(
      "`2024-05-15T00:00:00+00:00` → `2024-08-12T14:00:00+00:00` (89 d 14 h)",
    );
  });

  it("offers a restore only for complete points, with the point as listed", () => {
    const m = recoveryPointsMessage(
      listing({
        points: [
          point("2024-08-12T15:00:00+00:00", {
            details: { complete: false, dumpSize: 10, dumpEtag: '"x"' },
            restorable: false,
          }),
          point("2024-08-12T14:00:00+00:00"),
        ],
      }),
      CLUSTERED_POINT_WORDS,
    );
    const sections = m.blocks.filter((b) => b.block_id?.startsWith("point:"));
    expect(sections).toHaveLength(2);
    const [incomplete, complete] = sections as unknown as Array<Record<string, unknown>>;
    expect(JSON.stringify(incomplete)).toContain("*incomplete*");
    expect(incomplete?.accessory).toBeUndefined();
    expect(complete?.accessory).toMatchObject({
      action_id: RESTORE_POINT_ACTION,
      text: { text: "Restore to this point" },
      value: JSON.stringify({ target: "prod", point: "2024-08-12T14:00:00+00:00" }),
    });
  });

  it("flags points that expire within 24 h and those past their retention", () => {
    const m = recoveryPointsMessage(
      listing({
        points: [
          point("2024-07-13T20:00:00+00:00"),
          point("2024-07-13T10:00:00+00:00"),
          point("2024-07-14T00:00:00+00:00"),
        ],
      }),
      CLUSTERED_POINT_WORDS,
    );
    const text = textOf(m.blocks);
    expect(text).toContain("*expires in 5 h 18 min*");
    expect(text).toContain("*past its hourly retention*");
    expect(text).toContain("kept until 2024-10-12 00:00 UTC");
  });

  it("pages to older points with a button and a command", () => {
    const m = recoveryPointsMessage(listing({ olderCount: 790 }), CLUSTERED_POINT_WORDS);
    expect(blockProblems(m.blocks, 50)).toEqual([]);
    const actions = m.blocks.find((b) => b.type === "actions") as unknown as {
      elements: Array<{ action_id: string; value: string; text: { text: string } }>;
    };
    expect(actions.elements[0]?.action_id).toBe(OLDER_POINTS_ACTION);
    expect(actions.elements[0]?.text.text).toBe("Older points (790 more)");
    expect(JSON.parse(actions.elements[0]?.value ?? "")).toEqual({
      target: "prod",
      cadence: "all",
      sinceMs: null,
      limit: 20,
      before: "2024-08-12T14:00:00+00:00",
    });
    expect(textOf(m.blocks)).toContain("--before 2024-08-12T14:00:00+00:00");
  });

  it("stays within Slack's limits with the most points a message can hold", () => {
    const points = Array.from({ length: 40 }, (_, i) =>
      point(`${new Date(Date.UTC(2024, 7, 12, 14) - i * H).toISOString().slice(0, 19)}+00:00`),
    );
    const m = recoveryPointsMessage(
      listing({ points, olderCount: 60, truncatedToMessage: true, skipped: ["a", "b", "c", "d"] }),
      CLUSTERED_POINT_WORDS,
    );
    expect(blockProblems(m.blocks, 50)).toEqual([]);
    expect(textOf(m.blocks)).toContain("4 folders skipped");
  });

  it("says plainly when nothing can be restored", () => {
    const m = recoveryPointsMessage(
      listing({
        newestComplete: undefined,
        oldestComplete: undefined,
        newestIsComplete: false,
        points: [point("2024-08-12T14:00:00+00:00", { restorable: false })],
      }),
      CLUSTERED_POINT_WORDS,
    );
    expect(textOf(m.blocks)).toContain("No complete recovery point");
  });

  it("shows a stored verification, and when it no longer applies", () => {
    const v: StoredVerification = {
      target: "prod",
      pointTime: new Date("2024-08-12T12:00:00Z"),
      dumpEtag: '"e1"',
      verifiedAt: new Date("2024-08-12T12:40:00Z"),
      ok: true,
      verifiedBy: "U1",
      summary: {
        complete: true,
        dumpProblem: null,
        tableLists: 200,
        referencedFiles: 48_211,
        missingFiles: 0,
        missingSample: [],
        problems: [],
        durationMs: 4000,
      },
    };
    expect(verificationLine(v, '"e1"', now, CLUSTERED_POINT_WORDS)).toBe(
      ":white_check_mark: verified 2 h 02 min ago: 48,211 files, none missing",
    );
    expect(verificationLine(v, '"e2"', now, CLUSTERED_POINT_WORDS)).toContain(
      "pg_dump.gz has changed since",
    );
    expect(
      verificationLine(
        { ...v, ok: false, summary: { ...v.summary, missingFiles: 3 } },
        '"e1"',
        now,
        CLUSTERED_POINT_WORDS,
      ),
    ).toContain("3 of 48,211 files missing");
  });
});

describe("the verify answer", () => {
  const report: VerificationReport = {
    ok: false,
    complete: true,
    dump: {
      present: true,
      bytes: 2_800_000,
      sqlBytes: 15_300_000,
      etag: '"e"',
      problem: undefined,
    },
    tableLists: 200,
    referencedFiles: 100_000,
    referencedPrefixes: 200,
    missingFiles: 12,
    missingSample: Array.from({ length: 10 }, (_, i) => `1/2/p/${i}.parquet`),
    problems: [],
    requests: { lists: 1, objectLists: 300, reads: 201 },
    durationMs: 4200,
  };
  const p = { id: "2024-08-12T14:00:00+00:00", time: new Date("2024-08-12T14:00:00Z") };

  it("gives counts and up to 10 missing paths", () => {
    const m = verificationMessage({
      target: "prod",
      point: p,
      bucket: "b",
      report,
      saved: true,
      words: CLUSTERED_POINT_WORDS,
    });
    expect(blockProblems(m.blocks, 50)).toEqual([]);
    const text = textOf(m.blocks);
    expect(text).toContain("is not restorable");
    expect(text).toContain("12 of 100,000 Parquet files referenced by 200 table file lists");
    expect(text).toContain("first 10 of 12");
    expect(text).toContain("1/2/p/9.parquet");
    expect(text).toContain("301 list requests");
  });

  it("shows what the bucket holds as text, never as Slack link or mention syntax", () => {
    // Dump lines, file-list lines and object keys come from the bucket: `<!channel>` in one of
    // them must not notify a channel, and `<…|…>` must not become a link.
    const hostile: VerificationReport = {
      ...report,
      dump: { ...report.dump, problem: 'pg_dump.gz ends at "<!channel> & <https://x|y>"' },
      missingSample: ["1/2/<!here>.parquet"],
      problems: ['a.txt.gz line 3 is not a Parquet path: "<@U0ADMIN>"'],
    };
    const m = verificationMessage({
      target: "prod",
      point: p,
      bucket: "b",
      report: hostile,
      saved: true,
      words: CLUSTERED_POINT_WORDS,
    });
    const text = textOf(m.blocks);
    expect(text).not.toMatch(/[<>]/);
    expect(text).toContain("&lt;!channel&gt; &amp; &lt;https://x|y&gt;");
    expect(text).toContain("1/2/&lt;!here&gt;.parquet");
    expect(text).toContain("&lt;@U0ADMIN&gt;");
  });

  it("names the nearest points when the asked one does not exist", () => {
    const text = pointNotFoundText({
      target: "prod",
      requested: new Date("2024-08-12T14:30:00Z"),
      nearest: [p],
      location: "s3://b/p/",
      now,
    });
    expect(text).toContain("no recovery point at `2024-08-12T14:30:00+00:00`");
    expect(text).toContain("`2024-08-12T14:00:00+00:00` (30 min earlier; 42 min ago)");
    expect(text).toContain("/recovery-points verify prod 2024-08-12T14:00:00+00:00");
  });
});

describe("formatting", () => {
  it.each([
    [0, "0 B"],
    [999, "999 B"],
    [2_800_000, "2.7 MiB"],
    [153_000_000, "146 MiB"],
  ])("%d bytes is %s", (n, s) => expect(formatBytes(n)).toBe(s));

  it("says how long ago, in two units at most", () => {
    expect(formatAge(new Date(now.getTime() - 30_000), now)).toBe("just now");
    expect(formatAge(new Date(now.getTime() - 26 * H - 5 * 60_000), now)).toBe("1 d 02 h ago");
  });
});
