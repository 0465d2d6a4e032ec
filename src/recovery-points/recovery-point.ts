/**
 * What a recovery point is, independent of where it is stored. A source (each kind builds its
 * own, e.g. snapshot folders in S3) lists points cheaply, describes only the few it is
 * asked about, and verifies one end to end.
 */

/** A point as listed: its id is the folder's time exactly as the store names it. */
export interface RecoveryPointRef {
  /** As listed, e.g. `2024-08-12T14:00:00+00:00`; what buttons and commands carry. */
  id: string;
  time: Date;
}

/** Every point of a target, newest first, and what could not be read as a point. */
export interface RecoveryPointIndex {
  points: RecoveryPointRef[];
  /** Folder names under the prefix that are not a snapshot time (skipped, never fatal). */
  skipped: string[];
}

/** Facts about one point that cost a request or so to learn. */
export interface RecoveryPointDetails {
  /** The point was finished (e.g. the file its system writes last is present). */
  complete: boolean;
  /** Size of the catalog dump in bytes; undefined when the dump is missing. */
  dumpSize: number | undefined;
  /** ETag of the dump, so a stored verification can tell it still applies. */
  dumpEtag: string | undefined;
  /** The kind's own facts for the listing, one line (shown instead of the dump's size). */
  summary?: string;
  /** Why an incomplete point is incomplete, for the listing (the kind's own words). */
  incompleteReason?: string;
  /** When the point expires, when the kind decides it (restorebot's own backups: `backup.retention`). */
  expiresAt?: Date;
  /** The kind's own record of the point, for its `freeze` (e.g. complete.json's sha256). */
  record?: unknown;
}

export type VerificationProgress =
  | { stage: "dump"; bytesRead: number; totalBytes: number }
  | { stage: "file-lists"; done: number; total: number; referencedFiles: number }
  | { stage: "objects"; prefixesDone: number; prefixesTotal: number; objectsListed: number };

export interface VerificationReport {
  ok: boolean;
  complete: boolean;
  dump: {
    present: boolean;
    /** Compressed size. */
    bytes: number;
    /** Decompressed size, when it decompressed end to end. */
    sqlBytes: number | undefined;
    etag: string | undefined;
    /** What is wrong with it, for people; undefined when it is sound. */
    problem: string | undefined;
  };
  tableLists: number;
  referencedFiles: number;
  /** Distinct `<namespace-id>/<table-id>/` prefixes the file lists reference. */
  referencedPrefixes: number;
  missingFiles: number;
  /** Up to 10 missing Parquet paths. */
  missingSample: string[];
  /** File-list lines that are not a Parquet path, and unreadable file lists. */
  problems: string[];
  requests: { lists: number; objectLists: number; reads: number };
  durationMs: number;
  /**
   * The kind's own counts of what its verify did (e.g. files read to their end, objects whose
   * ETag was compared), so its wording (`PointWords.verify`) says exactly what was checked.
   */
  facts?: Record<string, number | boolean>;
}

export interface VerifyOptions {
  onProgress?: (progress: VerificationProgress) => void;
}

/**
 * The port every system's recovery points implement. Costs are part of the contract:
 * `listPoints` must not grow with what is inside each point, and `describePoints` must cost
 * in proportion to the points asked about.
 */
export interface RecoveryPointSource {
  /** Where the points live, for messages, e.g. `s3://<bucket>/<prefix>/`. */
  readonly location: string;
  /** Where a point's data files live (e.g. a bucket), for verification results. */
  readonly dataLocation: string;
  /** What to check when the store holds no points at all, e.g. the setting that makes them. */
  readonly emptyHint?: string;
  /**
   * What deletes points. "system" (the default): the system's own clean-up, which the target's
   * `retention` mirrors (hourly and daily points). "backup": restorebot's own retention
   * (`backup.retention`) of the backups it takes: a point expires only at the `expiresAt` its
   * details give, and is kept until removed without one.
   */
  readonly expiresBy?: "system" | "backup";
  listPoints(): Promise<RecoveryPointIndex>;
  /** Details for these points only, keyed by `id`; points that vanished are left out. */
  describePoints(
    points: readonly RecoveryPointRef[],
    index: RecoveryPointIndex,
  ): Promise<Map<string, RecoveryPointDetails>>;
  verifyPoint(point: RecoveryPointRef, options?: VerifyOptions): Promise<VerificationReport>;
}
