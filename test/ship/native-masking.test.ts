import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";

/**
 * Every stdin frame restorebot sends into a pod (an InfluxDB archive being restored, a set copied
 * into a meta pod) is masked, as the WebSocket protocol asks of a client. ws masks in plain
 * JavaScript unless bufferutil's native binary loads; in the restore benchmark that loop was
 * about 5 s of CPU per GB. This checks that the binary ships and loads where restorebot runs
 * (linux-x64, as in the image), and that it masks as the protocol defines.
 */
const require = createRequire(import.meta.url);

describe("ws's native frame masking", () => {
  it.runIf(process.platform === "linux" && process.arch === "x64")(
    "loads bufferutil's prebuilt binary, not its JavaScript fallback",
    () => {
      const bufferutil = require("bufferutil") as {
        mask: (...args: unknown[]) => void;
      };
      expect(Function.prototype.toString.call(bufferutil.mask)).toContain("[native code]");
    },
  );

  it("masks each byte with the key's byte at its position modulo 4", () => {
    const bufferutil = require("bufferutil") as {
      mask: (source: Buffer, mask: Buffer, output: Buffer, offset: number, length: number) => void;
    };
    const source = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff));
    const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
    const output = Buffer.alloc(1003);
    bufferutil.mask(source, key, output, 3, source.length);
    const expected = Buffer.from(source.map((b, i) => b ^ (key[i % 4] ?? 0)));
    expect(output.subarray(3)).toEqual(expected);
    expect(output.subarray(0, 3)).toEqual(Buffer.alloc(3));
  });
});
