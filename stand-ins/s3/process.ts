/**
 * The S3 stand-in as a process of its own, so a benchmark's client (the SDK's signing and XML
 * parsing) and the server do not share one event loop and one core.
 *
 *   tsx stand-ins/s3/process.ts [--bucket NAME]… [--port N] [--latency-ms MS] [--copy-rate BYTES_PER_S]
 *
 * `--latency-ms` delays the first byte of every answer (off by default), as a network object
 * store's round trip would; `--copy-rate` makes each CopyObject also take size ÷ rate.
 * Started with an IPC channel (`startS3StandInProcess`, stand-ins/s3/process-client.ts) it
 * signals readiness with a `{ type: "ready", endpoint }` message and takes the control calls of
 * `S3StandInControl`; started from a terminal it prints "S3 stand-in listening on <endpoint>".
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { type S3Operation, startS3StandIn } from "./server.js";

/** The test controls a parent process can call over IPC (a subset of `S3StandIn`'s). */
export interface S3StandInControl {
  /**
   * Stores one object per key, `size` bytes each, without HTTP: windows into one random buffer
   * chosen by key and `variant`, so keys get distinct contents (and ETags) without distinct
   * memory, and a new `variant` rewrites a key with new content.
   */
  putGenerated(args: { bucket: string; keys: string[]; size: number; variant: number }): number;
  /** Deletes every object under the prefix; returns how many. */
  deletePrefix(args: { bucket: string; prefix: string }): number;
  setLatency(args: { ms: number; op?: S3Operation }): void;
  setCopyRate(args: { bytesPerSecond?: number }): void;
  /**
   * Requests per operation, the most of each handled at once, and connections accepted, since
   * the last call; then resets them and the write log.
   */
  takeRequestCounts(): {
    counts: Partial<Record<S3Operation, number>>;
    peakInFlight: Partial<Record<S3Operation, number>>;
    connections: number;
  };
  memoryUsage(): NodeJS.MemoryUsage;
}

export type ControlCall = {
  [K in keyof S3StandInControl]: {
    id: number;
    call: K;
    args: Parameters<S3StandInControl[K]>[0];
  };
}[keyof S3StandInControl];

export type ControlReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: string };

export type ReadyMessage = { type: "ready"; endpoint: string; port: number };

const GENERATED_SOURCE_BYTES = 64 * 1024 * 1024;

/** FNV-1a over the key and variant: a spread of offsets into the random source. */
function windowOffset(key: string, variant: number, span: number): number {
  let hash = 0x811c9dc5 ^ variant;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return (hash >>> 0) % span;
}

function numberOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0)
    throw new Error(`${name} must be a number ≥ 0, not "${value}" (e.g. ${name} 10)`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      bucket: { type: "string", multiple: true },
      port: { type: "string" },
      "latency-ms": { type: "string" },
      "copy-rate": { type: "string" },
    },
  });
  const s3 = await startS3StandIn({
    buckets: values.bucket ?? [],
    port: numberOption(values.port, "--port") ?? 0,
  });
  const latency = numberOption(values["latency-ms"], "--latency-ms");
  if (latency !== undefined && latency > 0) s3.setLatency(latency);
  const copyRate = numberOption(values["copy-rate"], "--copy-rate");
  if (copyRate !== undefined && copyRate > 0) s3.setCopyRate(copyRate);

  let source: Buffer | undefined;
  const control: S3StandInControl = {
    putGenerated({ bucket, keys, size, variant }) {
      if (size > GENERATED_SOURCE_BYTES)
        throw new Error(`generated objects are at most ${GENERATED_SOURCE_BYTES} bytes`);
      source ??= randomBytes(GENERATED_SOURCE_BYTES);
      const span = source.length - size + 1;
      for (const key of keys) {
        const offset = windowOffset(key, variant, span);
        s3.putObjectDirect(bucket, key, source.subarray(offset, offset + size));
      }
      return keys.length;
    },
    deletePrefix({ bucket, prefix }) {
      const keys = s3.listKeys(bucket, prefix);
      for (const key of keys) s3.deleteObjectDirect(bucket, key);
      return keys.length;
    },
    setLatency({ ms, op }) {
      s3.setLatency(ms, op);
    },
    setCopyRate({ bytesPerSecond }) {
      s3.setCopyRate(bytesPerSecond);
    },
    takeRequestCounts() {
      const taken = {
        counts: s3.requestCounts(),
        peakInFlight: s3.peakInFlight(),
        connections: s3.connections(),
      };
      s3.resetCounts();
      s3.clearWriteLog();
      return taken;
    },
    memoryUsage: () => process.memoryUsage(),
  };

  const close = () => {
    void s3.close().finally(() => process.exit(0));
  };
  process.on("SIGTERM", close);
  process.on("SIGINT", close);

  const send = process.send?.bind(process);
  if (send === undefined) {
    console.log(`S3 stand-in listening on ${s3.endpoint}`);
    return;
  }
  // The parent going away (or closing the channel) ends the stand-in.
  process.on("disconnect", close);
  process.on("message", (message: ControlCall) => {
    let reply: ControlReply;
    try {
      const handler = control[message.call] as (args: unknown) => unknown;
      if (typeof handler !== "function") throw new Error(`unknown control call "${message.call}"`);
      reply = { id: message.id, ok: true, result: handler(message.args) };
    } catch (err) {
      reply = {
        id: message.id,
        ok: false,
        error: err instanceof Error ? err.message : String(err),
      };
    }
    send(reply);
  });
  send({ type: "ready", endpoint: s3.endpoint, port: s3.port } satisfies ReadyMessage);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
