import pg from "pg";
import { to as copyTo } from "pg-copy-streams";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BinaryCopyEncoder,
  type ColumnCodec,
  codecFor,
  parseCopyStatement,
  readCopyColumnCodecs,
  type TypeInfo,
} from "../../src/catalog-restore/binary-copy.js";
import { createTestDatabase, type TestDatabase } from "../support/postgres.js";

describe("parseCopyStatement", () => {
  const cases: Array<[string, ReturnType<typeof parseCopyStatement>]> = [
    [
      "COPY public.actor (actor_id, first_name, last_update) FROM stdin;",
      { relation: "public.actor", columns: ["actor_id", "first_name", "last_update"] },
    ],
    [
      'COPY "Ünïcode schema"."Tâble; with ""quotes""" (id, "Order", "a""b") FROM stdin;',
      {
        relation: '"Ünïcode schema"."Tâble; with ""quotes"""',
        columns: ["id", "Order", 'a"b'],
      },
    ],
    ["COPY public.empty  FROM stdin;", { relation: "public.empty", columns: undefined }],
    ["COPY public.t (a) FROM '/etc/passwd';", undefined],
  ];
  for (const [sql, expected] of cases) {
    it(sql, () => expect(parseCopyStatement(sql)).toEqual(expected));
  }
});

describe("codecFor", () => {
  const types = new Map<number, TypeInfo>(
    [
      {
        oid: 20,
        name: "int8",
        namespace: "pg_catalog",
        kind: "b",
        baseType: 0,
        element: 0,
        category: "N",
      },
      {
        oid: 1016,
        name: "_int8",
        namespace: "pg_catalog",
        kind: "b",
        baseType: 0,
        element: 20,
        category: "A",
      },
      {
        oid: 1184,
        name: "timestamptz",
        namespace: "pg_catalog",
        kind: "b",
        baseType: 0,
        element: 0,
        category: "D",
      },
      {
        oid: 1009,
        name: "_text",
        namespace: "pg_catalog",
        kind: "b",
        baseType: 0,
        element: 25,
        category: "A",
      },
      {
        oid: 25,
        name: "text",
        namespace: "pg_catalog",
        kind: "b",
        baseType: 0,
        element: 0,
        category: "S",
      },
      {
        oid: 90001,
        name: "positive",
        namespace: "public",
        kind: "d",
        baseType: 20,
        element: 0,
        category: "N",
      },
      {
        oid: 90002,
        name: "_positive",
        namespace: "public",
        kind: "b",
        baseType: 0,
        element: 90001,
        category: "A",
      },
      {
        oid: 90003,
        name: "mood",
        namespace: "public",
        kind: "e",
        baseType: 0,
        element: 0,
        category: "E",
      },
      {
        oid: 90004,
        name: "int8",
        namespace: "public",
        kind: "b",
        baseType: 0,
        element: 0,
        category: "U",
      },
      {
        oid: 90005,
        name: "ids",
        namespace: "public",
        kind: "d",
        baseType: 1016,
        element: 0,
        category: "A",
      },
    ].map((t) => [t.oid, t]),
  );
  const cases: Array<[string, number, ColumnCodec | undefined]> = [
    ["bigint", 20, { kind: "scalar", type: "int8" }],
    ["bigint[]", 1016, { kind: "int-array", element: "int8", elementOid: 20 }],
    ["a domain over bigint", 90001, { kind: "scalar", type: "int8" }],
    ["a domain over bigint[]", 90005, { kind: "int-array", element: "int8", elementOid: 20 }],
    ["an enum", 90003, { kind: "scalar", type: "text" }],
    ["timestamptz (kept as text)", 1184, undefined],
    ["text[] (kept as text)", 1009, undefined],
    ["an array of a domain (kept as text)", 90002, undefined],
    ["a user type that happens to be called int8", 90004, undefined],
  ];
  for (const [name, oid, expected] of cases) {
    it(name, () => expect(codecFor(oid, types)).toEqual(expected));
  }
});

const TABLE = `
CREATE TYPE mood AS ENUM ('sad', 'ok', 'hap"py');
CREATE DOMAIN positive AS bigint CHECK (VALUE >= 0);
CREATE DOMAIN ids AS bigint[];
CREATE TABLE sample (
  n serial, i2 smallint, i4 integer, i8 bigint, b boolean, u uuid, by bytea, t text,
  v varchar(12), j json, jb jsonb, m mood, p positive, a8 bigint[], a4 integer[], a2 smallint[], d ids
);
INSERT INTO sample (i2, i4, i8, b, u, by, t, v, j, jb, m, p, a8, a4, a2, d) VALUES
  (-32768, -2147483648, -9223372036854775808, true, '00000000-0000-0000-0000-000000000000', '\\x', '', '',
   '{}', '{}', 'sad', 0, '{}', '{}', '{}', '{}'),
  (32767, 2147483647, 9223372036854775807, false, 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '\\x00ff5c0a2e',
   E'tab\\there\\nnew line \\\\ backslash \\\\N not null', 'Çé😀', '{"a": [1, "x\\ny"]}', '{"b": "\\\\", "a": [1, 2.5e3]}',
   'hap"py', 9223372036854775807, '{1,NULL,3}', '{{1,2},{3,4}}', '[0:1]={5,6}', '{-9223372036854775808,0}'),
  (0, 0, 0, NULL, NULL, E'\\\\x5c78'::bytea, E'\\x01\\x7f control', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (-1, -1, -1, true, gen_random_uuid(), decode(repeat('ab', 500), 'hex'), repeat('long text ', 300), 'x', '[]', '[]', 'ok',
   1722470400000000000, ARRAY[4294967296, -4294967296, 1722470400000000000], ARRAY[NULL]::int[], ARRAY[1,NULL]::smallint[],
   ARRAY[[1],[2]]::bigint[]);
INSERT INTO sample (i2, i4, i8, t, by)
  SELECT g % 32767, g * 7919, g::bigint * 1000000007 * (CASE WHEN g % 2 = 0 THEN -1 ELSE 1 END), 'row ' || g,
         decode(md5(g::text), 'hex')
  FROM generate_series(1, 2000) g;
`;

async function copyOut(client: pg.Client, sql: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of client.query(copyTo(sql))) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe("BinaryCopyEncoder against PostgreSQL's own binary COPY", () => {
  let db: TestDatabase;
  let client: pg.Client;
  let codecs: ColumnCodec[];
  const copySql =
    "COPY public.sample (n, i2, i4, i8, b, u, by, t, v, j, jb, m, p, a8, a4, a2, d) FROM stdin;";

  beforeAll(async () => {
    db = await createTestDatabase("binary_copy");
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(TABLE);
    codecs = (await readCopyColumnCodecs(client, copySql)) ?? [];
  });

  afterAll(async () => {
    await client?.end();
    await db?.drop();
  });

  it("finds a binary form for every column", () => {
    expect(codecs).toHaveLength(17);
  });

  for (const byteaOutput of ["hex", "escape"]) {
    it(`produces byte-for-byte what PostgreSQL sends (bytea_output = ${byteaOutput}), whatever the chunking`, async () => {
      await client.query(`SET bytea_output = '${byteaOutput}'`);
      const text = await copyOut(client, "COPY sample TO STDOUT");
      const binary = await copyOut(client, "COPY sample TO STDOUT (FORMAT binary)");
      for (const size of [1, 7, 4096, 1 << 20]) {
        const encoder = new BinaryCopyEncoder(codecs, "public.sample", 1);
        const parts = [encoder.header()];
        for (let i = 0; i < text.length; i += size)
          parts.push(encoder.encode(text.subarray(i, i + size)));
        parts.push(encoder.finish());
        const ours = Buffer.concat(parts);
        expect(ours.length).toBe(binary.length);
        expect(ours.equals(binary)).toBe(true);
      }
    });
  }

  it("is loaded by PostgreSQL into the same rows", async () => {
    const text = await copyOut(client, "COPY sample TO STDOUT");
    const encoder = new BinaryCopyEncoder(codecs, "public.sample", 1);
    const data = Buffer.concat([encoder.header(), encoder.encode(text), encoder.finish()]);
    await client.query("CREATE TABLE copy_of_sample (LIKE sample)");
    const { from: copyFrom } = await import("pg-copy-streams");
    const stream = client.query(
      copyFrom(
        "COPY copy_of_sample (n, i2, i4, i8, b, u, by, t, v, j, jb, m, p, a8, a4, a2, d) FROM STDIN (FORMAT binary)",
      ),
    );
    await new Promise<void>((resolve, reject) => {
      stream.on("finish", () => resolve());
      stream.on("error", reject);
      stream.end(data);
    });
    const { rows } = await client.query<{ differ: string }>(
      // json has no equality operator: compare whole rows as text.
      "SELECT count(*) AS differ FROM ((SELECT s::text FROM sample s EXCEPT ALL SELECT c::text FROM copy_of_sample c) UNION ALL (SELECT c::text FROM copy_of_sample c EXCEPT ALL SELECT s::text FROM sample s)) d",
    );
    expect(rows[0]?.differ).toBe("0");
  });

  it("says where the data does not fit", () => {
    const encoder = new BinaryCopyEncoder(
      [
        { kind: "scalar", type: "int8" },
        { kind: "scalar", type: "uuid" },
      ],
      "public.t",
      100,
    );
    expect(() => encoder.encode(Buffer.from("1\tnot-a-uuid\n"))).toThrow(
      /COPY data of public\.t near line 101 .*: a uuid is not in its 36-character form/,
    );
    const short = new BinaryCopyEncoder(
      [
        { kind: "scalar", type: "int8" },
        { kind: "scalar", type: "int8" },
      ],
      "public.t",
      1,
    );
    expect(() => short.encode(Buffer.from("1\n"))).toThrow(/fewer than 2 fields/);
  });
});
