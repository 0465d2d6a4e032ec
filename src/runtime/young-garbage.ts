/**
 * Bulk bytes streamed through the process (a catalog dump being read, an archive passing
 * through a pod exec in either direction) between two collections of V8's young generation.
 *
 * Streaming allocates a new ArrayBuffer outside the V8 heap for every socket read, every
 * reassembled WebSocket frame, every gunzip output chunk and every frame sent; each is garbage
 * a moment later, but V8 frees it only at its next collection. Node 20 collected the young
 * generation on "external memory pressure"; Node 24 does not, and a stream allocates too little
 * on the heap to fill the young generation often, so the buffers wait for the full collection
 * V8 forces once memory outside the heap has grown by about 64 MB. Measured: ~65 MB of such
 * garbage and peak RSS 149–155 MB on a 1,000,000-row dump (docs/catalog-restore.md); 60–100 MB
 * of it and some 200 full collections per GB of archive (docs/influxdb-1x.md). Collecting the
 * young generation every 8 MB streamed bounds it at a few tens of MB on any Node version and
 * stream size; each collection takes about a millisecond, since almost nothing in it is alive.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

const COLLECT_EVERY_BYTES = 8 * 1024 * 1024;
let streamedSinceCollect = 0;
let collectYoung: (() => void) | null | undefined;

/** Counts `bytes` streamed; collects the young generation once 8 MB have passed since the last. */
export function noteStreamedBytes(bytes: number): void {
  streamedSinceCollect += bytes;
  if (streamedSinceCollect < COLLECT_EVERY_BYTES) return;
  streamedSinceCollect = 0;
  collectYoung ??= youngCollector();
  collectYoung?.();
}

/**
 * V8's `gc()`, asked for a young-generation collection. It exists only with --expose-gc, so
 * the flag is set for one new context to fetch the function and cleared again: no command
 * line (the `restorebot` bin, the image's entrypoint, `npx`) has to carry a flag. Null when
 * the function cannot be had, in which case V8's own triggers remain.
 */
export function youngCollector(): (() => void) | null {
  try {
    let gc: unknown = globalThis.gc;
    if (typeof gc !== "function") {
      setFlagsFromString("--expose-gc");
      try {
        gc = runInNewContext("gc");
      } finally {
        setFlagsFromString("--no-expose-gc");
      }
    }
    if (typeof gc !== "function") return null;
    const collect = gc as (options: { type: "minor" }) => void;
    return () => collect({ type: "minor" });
  } catch {
    return null;
  }
}
