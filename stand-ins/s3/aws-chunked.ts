/**
 * Decodes an `aws-chunked` request body (what the SDK sends for streamed uploads with a
 * trailing checksum): `<hex-size>[;chunk-signature=…]\r\n<bytes>\r\n` … `0…\r\n`, then
 * trailer lines `name:value\r\n`, then `\r\n`. Signatures are not checked.
 */
export interface DecodedChunkedBody {
  body: Buffer;
  trailers: Record<string, string>;
}

export class ChunkedBodyError extends Error {}

export function decodeAwsChunked(raw: Buffer): DecodedChunkedBody {
  const parts: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const lineEnd = raw.indexOf("\r\n", pos);
    if (lineEnd < 0) throw new ChunkedBodyError("chunk header not terminated");
    const header = raw.subarray(pos, lineEnd).toString("latin1");
    const sizeHex = header.split(";", 1)[0] ?? "";
    if (!/^[0-9a-fA-F]+$/.test(sizeHex)) throw new ChunkedBodyError(`bad chunk size "${sizeHex}"`);
    const size = Number.parseInt(sizeHex, 16);
    pos = lineEnd + 2;
    if (size === 0) break;
    if (pos + size + 2 > raw.length) throw new ChunkedBodyError("chunk shorter than announced");
    parts.push(raw.subarray(pos, pos + size));
    pos += size;
    if (raw[pos] !== 0x0d || raw[pos + 1] !== 0x0a)
      throw new ChunkedBodyError("chunk not followed by CRLF");
    pos += 2;
  }
  const trailers: Record<string, string> = {};
  for (;;) {
    const lineEnd = raw.indexOf("\r\n", pos);
    // Some clients end the body right after the last trailer line.
    const line = raw.subarray(pos, lineEnd < 0 ? raw.length : lineEnd).toString("latin1");
    if (line === "") break;
    const colon = line.indexOf(":");
    if (colon > 0)
      trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    if (lineEnd < 0) break;
    pos = lineEnd + 2;
  }
  return { body: Buffer.concat(parts), trailers };
}
