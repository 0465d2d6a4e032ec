/**
 * The AWS SDK's own CPU per CopyObject in restorebot's process, with the network taken out:
 * the request handler answers every request at once with a canned CopyObjectResult, so what
 * is measured is signing, the middleware stack, serialization and XML parsing — the part of a
 * restore copy's cost that more copies in flight cannot overlap. Client settings are compared
 * in alternating rounds (16 in flight, after a warm-up), as CPU µs per copy.
 *
 *   npm run bench:s3-copy-cpu               # N=20000 copies a round, R=3 rounds
 *   N=20000 R=5 V=product,cache npx tsx bench/s3-copy-cpu.ts
 */
import { Readable } from "node:stream";
import { CopyObjectCommand, S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";
import { HttpResponse } from "@smithy/core/protocols";
import { createS3Client } from "../src/adapters/s3/s3-object-store.js";

const BODY = `<?xml version="1.0" encoding="UTF-8"?>\n<CopyObjectResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LastModified>2026-12-03T10:00:00.000Z</LastModified><ETag>"9b2cf535f27731c974343645a3985328"</ETag></CopyObjectResult>`;
const cannedHandler = {
  handle: async () => ({
    response: new HttpResponse({
      statusCode: 200,
      headers: { "content-type": "application/xml", "x-amz-request-id": "BENCH" },
      body: Readable.from([Buffer.from(BODY)]),
    }),
  }),
  destroy() {},
  updateHttpClientConfig() {},
  httpHandlerConfigs: () => ({}),
};
const base = {
  endpoint: "http://127.0.0.1:9",
  region: "us-east-1",
  forcePathStyle: true,
  credentials: { accessKeyId: "AKIDBENCH", secretAccessKey: "bench" },
};

/** The client settings compared: restorebot's, the SDK's defaults, and the SDK's knobs. */
const VARIANTS: Record<string, () => S3Client> = {
  product: () => createS3Client(base),
  plain: () => new S3Client(base),
  "checksums-when-required": () =>
    new S3Client({
      ...base,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    } satisfies S3ClientConfig),
  cache: () => new S3Client({ ...base, cacheMiddleware: true }),
};

const N = Number(process.env.N ?? 20_000);
const ROUNDS = Number(process.env.R ?? 3);

async function cpuPerCopy(make: () => S3Client): Promise<number> {
  const client = make();
  (client.config as { requestHandler: unknown }).requestHandler = cannedHandler;
  const one = (i: number) =>
    client.send(
      new CopyObjectCommand({
        Bucket: "pool",
        Key: `objects/k${i}/9b2cf535f27731c974343645a3985328`,
        CopySource: `live/k${i}`,
        CopySourceIfMatch: '"9b2cf535f27731c974343645a3985328"',
      }),
    );
  for (let i = 0; i < 2000; i++) await one(i);
  const before = process.cpuUsage();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < N) await one(next++);
    }),
  );
  const used = process.cpuUsage(before);
  client.destroy();
  return (used.user + used.system) / N;
}

const names = (process.env.V ?? Object.keys(VARIANTS).join(",")).split(",");
const results = new Map<string, number[]>();
for (let round = 0; round < ROUNDS; round++)
  for (const name of round % 2 === 0 ? names : [...names].reverse()) {
    const make = VARIANTS[name];
    if (!make)
      throw new Error(`unknown variant ${name}: one of ${Object.keys(VARIANTS).join(", ")}`);
    results.set(name, [...(results.get(name) ?? []), await cpuPerCopy(make)]);
  }
for (const [name, xs] of results) {
  const sorted = [...xs].sort((a, b) => a - b);
  console.log(
    `${name}: ${sorted[Math.floor(sorted.length / 2)]?.toFixed(0)} µs CPU per CopyObject (median of ${xs.length}; ${xs.map((x) => x.toFixed(0)).join(", ")})`,
  );
}
