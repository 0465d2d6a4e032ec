/**
 * Where a target's points live under its `backups.prefix`:
 *   points/<as-of>/<files…>      one folder per point, complete.json written last
 *   objects/<key>/<etag>         Pachyderm's pool of object versions shared by all points
 */
export const COMPLETE_FILE = "complete.json";

export interface BackupLocation {
  bucket: string;
  /** "" or ending in "/". */
  prefix: string;
  /**
   * The folder below `prefix` that holds the points: `points/` by default (kinds that keep a
   * pool beside them); "" for kinds whose points sit directly under the prefix
   * (`<prefix><as-of>/…`, e.g. file-level archives).
   */
  pointsFolder?: string;
}

/** Normalises a configured prefix: no leading slash, one trailing slash unless empty. */
export function normalisePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+/, "");
  return trimmed === "" || trimmed.endsWith("/") ? trimmed : `${trimmed}/`;
}

export function pointsPrefix(prefix: string, pointsFolder = "points/"): string {
  return `${normalisePrefix(prefix)}${pointsFolder}`;
}

export function pointPrefix(prefix: string, asOf: string, pointsFolder?: string): string {
  return `${pointsPrefix(prefix, pointsFolder)}${asOf}/`;
}

export function pointFileKey(
  prefix: string,
  asOf: string,
  name: string,
  pointsFolder?: string,
): string {
  return `${pointPrefix(prefix, asOf, pointsFolder)}${name}`;
}

export function poolPrefix(prefix: string): string {
  return `${normalisePrefix(prefix)}objects/`;
}

/** S3 quotes ETags; the pool and the manifests keep them bare. */
export function bareEtag(etag: string): string {
  return etag.trim().replace(/^"|"$/g, "");
}

/** The pool entry for one version of a live object (`key` relative to the live prefix). */
export function poolEntry(key: string, etag: string): string {
  return `${key}/${bareEtag(etag)}`;
}

export function poolKey(prefix: string, key: string, etag: string): string {
  return `${poolPrefix(prefix)}${poolEntry(key, etag)}`;
}
