import { z } from "zod";
import type { ObjectStore } from "../adapters/s3/object-store.js";
import { CodedError } from "../errors.js";
import { parseAsOf } from "./as-of.js";
import { type BackupLocation, COMPLETE_FILE, pointFileKey } from "./layout.js";

/**
 * `complete.json`, format 1: written last, it is what makes a point complete. It lists every
 * other file of the point with its size and sha256, so a restore can check each file (size
 * before anything is stopped, sha256 while reading). Kinds add their own fields beside these
 * (Pachyderm: objectCount, objectBytes); they are kept as read.
 */
const fileSchema = z.object({
  name: z
    .string()
    .min(1)
    .refine((n) => !n.includes("/") && n !== COMPLETE_FILE, "a file name in the point's folder"),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

export const completeManifestSchema = z
  .object({
    format: z.literal(1),
    kind: z.string().min(1),
    target: z.string().min(1),
    asOf: z.string().refine((s) => parseAsOf(s) !== undefined, "RFC 3339 UTC to the second with Z"),
    files: z.array(fileSchema),
    restorebotVersion: z.string().min(1),
  })
  .loose();

export type CompleteManifest = z.infer<typeof completeManifestSchema>;
export type PointFile = z.infer<typeof fileSchema>;

export function parseCompleteManifest(text: string, where: string): CompleteManifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CodedError("dump_invalid", `${where} is not JSON, so the point cannot be trusted.`);
  }
  const parsed = completeManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CodedError(
      "dump_invalid",
      `${where} is not a format-1 complete.json (${issue?.path.join(".") || "top level"}: ${issue?.message ?? "invalid"}), so the point cannot be trusted.`,
    );
  }
  return parsed.data;
}

/** Writes complete.json; call it only after every file it lists is stored. */
export async function writeCompleteManifest(
  store: Pick<ObjectStore, "put">,
  location: BackupLocation,
  manifest: CompleteManifest,
): Promise<void> {
  const checked = completeManifestSchema.parse(manifest);
  await store.put(
    location.bucket,
    pointFileKey(location.prefix, checked.asOf, COMPLETE_FILE, location.pointsFolder),
    `${JSON.stringify(checked, null, 2)}\n`,
    { contentType: "application/json" },
  );
}

/** The point's complete.json, or undefined when the point is incomplete (none written). */
export async function readCompleteManifest(
  store: Pick<ObjectStore, "getStream">,
  location: BackupLocation,
  asOf: string,
): Promise<CompleteManifest | undefined> {
  const key = pointFileKey(location.prefix, asOf, COMPLETE_FILE, location.pointsFolder);
  let stream: Awaited<ReturnType<ObjectStore["getStream"]>>;
  try {
    stream = await store.getStream(location.bucket, key);
  } catch (err) {
    if (err instanceof CodedError && err.code === "not_found") return undefined;
    throw err;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of stream.body) chunks.push(chunk as Buffer);
  const manifest = parseCompleteManifest(
    Buffer.concat(chunks).toString("utf8"),
    `s3://${location.bucket}/${key}`,
  );
  if (manifest.asOf !== asOf) {
    throw new CodedError(
      "dump_invalid",
      `s3://${location.bucket}/${key} says asOf ${manifest.asOf}, but it sits in the folder of ${asOf}: the point was moved or edited and cannot be trusted.`,
    );
  }
  return manifest;
}
