/**
 * The shell scripts the bare helper pod runs against the InfluxDB OSS node's PVC, following the
 * seed's file-level procedure (influxdb-0.9-backup-restore.md: stop the process, copy `meta/`
 * and `data/`, start; restore is stop, remove, put back, fix ownership, start). InfluxDB 1.x
 * keeps its newest points in `wal/`, so that directory travels too.
 *
 * The scripts use only what a busybox image has (sh, tar, tee, sha256sum, wc, df, stat, find,
 * awk, mv, rm, chown, mkfifo, hostname), and every value put into them is shell-quoted. Each one is safe to
 * run again after a crash at any line:
 *
 *   estimate          what the backup's tar will hold (sizes and entries, from metadata), so the
 *                     upload's parts can be sized before it starts
 *   backup            tar of meta/ data/ wal/ to stdout (refuses while a restore is unfinished)
 *   prepare           free-space check, ownership and the list of present directories recorded,
 *                     then meta/ data/ wal/ moved into `<dataDir>/.restorebot-old-<id>/`
 *   extract           archive on stdin → tee → (tar -x, sha256sum, wc -c); results written to
 *                     files in the aside directory, ownership fixed as recorded
 *   confirm           a second, short exec: prints what landed and exits 0 only when the size
 *                     and sha256 are the expected ones. Exec with stdin can lose the exit status
 *                     at the end of stdin (a v4-only API server), so only this exec says the
 *                     archive is written.
 *   put-back          the old directories go back, anything the extract made is removed
 *   delete-old        the old directories are deleted (only after a confirmed extract)
 *
 * Moves stay within the PVC's filesystem, so they are renames: nothing is copied and the free
 * space needed is the archive's size.
 */

import { CodedError } from "../../errors.js";

/** The directories of an InfluxDB 1.x data directory, in archive order. */
export const INFLUXDB_DIRECTORIES = ["meta", "data", "wal"] as const;

/** The marker that starts every machine-readable line the scripts print. */
export const SCRIPT_MARK = "restorebot:";

/** Exit statuses the scripts use, so callers can tell a refusal from a failed tool. */
export const SCRIPT_EXIT = {
  ok: 0,
  refused: 3,
  moveFailed: 4,
  extractFailed: 5,
  notLanded: 6,
  mismatch: 7,
} as const;

/** Single-quotes a value for POSIX sh: the one quoting that has no special characters inside. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

function checkDataDir(dataDir: string): string {
  if (!dataDir.startsWith("/") || /[\n\r\0]/.test(dataDir) || dataDir.length > 1024)
    throw new CodedError(
      "config_invalid",
      `dataDir must be an absolute path on one line (got ${JSON.stringify(dataDir)}); set it to where the node keeps meta/ and data/, e.g. dataDir: /var/lib/influxdb`,
    );
  return dataDir.length > 1 ? dataDir.replace(/\/+$/, "") : dataDir;
}

/** Restore ids name the aside directory, so they are kept to a plain file-name alphabet. */
export function checkRestoreId(id: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/.test(id))
    throw new CodedError(
      "usage",
      `restore id ${JSON.stringify(id)} is not usable as a directory name; use letters, digits, '-' and '_' (at most 63), e.g. the request id`,
    );
  return id;
}

function checkSha256(sha256: string): string {
  if (!/^[0-9a-f]{64}$/.test(sha256))
    throw new CodedError("usage", `expected a lowercase hex sha256, got ${JSON.stringify(sha256)}`);
  return sha256;
}

function checkSize(size: number): number {
  if (!Number.isSafeInteger(size) || size < 0)
    throw new CodedError("usage", `expected a byte count, got ${size}`);
  return size;
}

/** Where a restore keeps the old directories and its records, inside the data directory. */
export function asideDirectoryOf(dataDir: string, restoreId: string): string {
  return `${checkDataDir(dataDir)}/.restorebot-old-${checkRestoreId(restoreId)}`;
}

/** The command that runs a script in the helper pod: `sh -c <script>`. */
export function shCommand(script: string): string[] {
  return ["sh", "-c", script];
}

const PRELUDE = `set -u
fail() { code=$1; shift; echo "${SCRIPT_MARK} $*" >&2; exit "$code"; }`;

function header(dataDir: string, restoreId?: string): string {
  const lines = [PRELUDE, `data_dir=${shellQuote(checkDataDir(dataDir))}`];
  if (restoreId !== undefined) {
    lines.push(`id=${shellQuote(checkRestoreId(restoreId))}`);
    lines.push(`aside="$data_dir/.restorebot-old-$id"`);
    lines.push(`discard="$data_dir/.restorebot-discard-$id"`);
  }
  lines.push(
    `[ -d "$data_dir" ] || fail ${SCRIPT_EXIT.refused} "$data_dir does not exist in the helper pod; check dataDir and that the PVC is mounted there"`,
  );
  return lines.join("\n");
}

/**
 * Streams an uncompressed tar of meta/, data/ and wal/ (those present) to stdout, paths
 * relative to the data directory. Uncompressed, as the seed recommends: compression would
 * lengthen the downtime.
 */
export function backupScript(opts: { dataDir: string }): string {
  return `${archivedDirectories(opts.dataDir)}
exec tar -cf - "$@"`;
}

/**
 * Enters the data directory, refuses while a restore is unfinished or without meta/, and sets
 * the positional parameters to the directories the archive holds.
 */
function archivedDirectories(dataDir: string): string {
  return `${header(dataDir)}
cd "$data_dir" || fail ${SCRIPT_EXIT.refused} "cannot enter $data_dir"
for left in .restorebot-old-*; do
  [ -e "$left" ] && fail ${SCRIPT_EXIT.refused} "an unfinished restore left $data_dir/$left; finish or roll back that restore before taking a backup"
done
[ -d meta ] || fail ${SCRIPT_EXIT.refused} "$data_dir has no meta/ directory: is dataDir the directory holding meta/ and data/?"
set -- meta
[ -d data ] && set -- "$@" data
[ -d wal ] && set -- "$@" wal`;
}

/**
 * Measures, before the backup's tar runs, what it will archive: the regular files' apparent
 * sizes, each rounded up to tar's 512-byte blocks, and the number of entries. Apparent sizes,
 * not du's allocated blocks: tar archives a sparse file (InfluxDB preallocates its series-file
 * segments) at its full length. Metadata only, nothing is read. Prints
 * `restorebot: estimate file_bytes=<n> entries=<n>`.
 */
export function estimateArchiveScript(opts: { dataDir: string }): string {
  return `${archivedDirectories(opts.dataDir)}
sizes=$(find "$@" -type f -exec stat -c %s {} +) || fail ${SCRIPT_EXIT.refused} "cannot read the sizes of the files under $data_dir"
entries=$(find "$@" | wc -l) || fail ${SCRIPT_EXIT.refused} "cannot count the entries under $data_dir"
file_bytes=$(printf '%s\n' "$sizes" | awk '{ s += int(($1 + 511) / 512) * 512 } END { printf "%.0f", s }')
echo "${SCRIPT_MARK} estimate file_bytes=$file_bytes entries=$entries"`;
}

/** What the estimate script measured. */
export interface ArchiveEstimate {
  fileBytes: number;
  entries: number;
  /**
   * An upper bound of the tar's size: the files' blocks, per entry a 512-byte header and room
   * for a long-name header (names up to 511 bytes), and the end-of-archive blocks with the
   * padding of tar's last record.
   */
  maxBytes: number;
}

export function parseEstimateLine(stdout: string): ArchiveEstimate | undefined {
  const match = /^restorebot: estimate file_bytes=(\d+) entries=\s*(\d+)$/m.exec(stdout);
  if (!match) return undefined;
  const fileBytes = Number(match[1]);
  const entries = Number(match[2]);
  return { fileBytes, entries, maxBytes: fileBytes + entries * 1536 + 20 * 1024 };
}

/** The reference file ownership is read from, and the free-space check, are shared by re-runs. */
export function prepareRestoreScript(opts: {
  dataDir: string;
  restoreId: string;
  archiveSize: number;
}): string {
  const size = checkSize(opts.archiveSize);
  // The archive's size bounds what extracting it writes (tar headers and padding are overhead),
  // plus 1 MiB for the filesystem's own bookkeeping.
  const needKb = Math.ceil(size / 1024) + 1024;
  return `${header(opts.dataDir, opts.restoreId)}
need_kb=${needKb}
[ -e "$discard" ] && rm -rf "$discard"
mkdir -p "$aside" || fail ${SCRIPT_EXIT.refused} "cannot create $aside"
if [ ! -f "$aside/owner" ]; then
  ref="$data_dir"
  for d in meta data; do if [ -d "$data_dir/$d" ]; then ref="$data_dir/$d"; break; fi; done
  owner=$(stat -c '%u:%g' "$ref") || fail ${SCRIPT_EXIT.refused} "cannot read the owner of $ref"
  printf '%s\\n' "$owner" > "$aside/owner.tmp" && mv "$aside/owner.tmp" "$aside/owner" || fail ${SCRIPT_EXIT.refused} "cannot record the owner in $aside"
fi
if [ ! -f "$aside/present" ]; then
  present=""
  for d in meta data wal; do [ -d "$data_dir/$d" ] && present="$present $d"; done
  printf '%s\\n' "$present" > "$aside/present.tmp" && mv "$aside/present.tmp" "$aside/present" || fail ${SCRIPT_EXIT.refused} "cannot record the present directories in $aside"
fi
if [ -f "$aside/moved" ]; then
  # A re-run after the old directories were moved: whatever is live now is a partial extract.
  for d in meta data wal; do rm -rf "$data_dir/$d"; done
fi
avail_kb=$(df -Pk "$data_dir" | { read -r _; read -r _ _ _ avail _; echo "$avail"; })
case "$avail_kb" in ''|*[!0-9]*) fail ${SCRIPT_EXIT.refused} "cannot read the free space of $data_dir from df" ;; esac
if [ "$avail_kb" -lt "$need_kb" ]; then
  fail ${SCRIPT_EXIT.refused} "not enough free space in $data_dir: $avail_kb KiB free, the archive needs $need_kb KiB; grow the volume or free space, then retry"
fi
if [ ! -f "$aside/moved" ]; then
  for d in meta data wal; do
    if [ -e "$data_dir/$d" ] && [ ! -e "$aside/$d" ]; then
      mv "$data_dir/$d" "$aside/$d" || fail ${SCRIPT_EXIT.moveFailed} "cannot move $data_dir/$d aside"
    fi
  done
  : > "$aside/moved" || fail ${SCRIPT_EXIT.moveFailed} "cannot mark $aside as moved"
fi
read -r owner < "$aside/owner"
read -r present < "$aside/present" || present=""
echo "${SCRIPT_MARK} prepared owner=$owner present=$(echo $present | tr ' ' ',') free_kb=$avail_kb need_kb=$need_kb"`;
}

/**
 * Reads the archive from stdin into the data directory. tee feeds tar, sha256sum and wc at
 * once; after tar stops (at the end-of-archive blocks, or on an error) the rest of stdin is
 * drained so the digest always covers every byte received. The results go to files that the
 * confirm script reads: this exec's own exit status may never reach restorebot.
 */
export function extractArchiveScript(opts: { dataDir: string; restoreId: string }): string {
  return `${header(opts.dataDir, opts.restoreId)}
[ -f "$aside/moved" ] || fail ${SCRIPT_EXIT.refused} "the current directories of $data_dir are not moved aside; run the prepare step first"
rm -f "$aside/received.size" "$aside/received.sha256" "$aside/extract.rc" "$aside/extract.done" "$aside/confirmed" "$aside/tar.fifo" "$aside/count.fifo" "$aside/tar.rc"
echo "$$ $(hostname)" > "$aside/extract.started"
for d in meta data wal; do rm -rf "$data_dir/$d"; done
mkfifo "$aside/tar.fifo" "$aside/count.fifo" || fail ${SCRIPT_EXIT.extractFailed} "cannot create fifos in $aside"
{ tar -xf - -C "$data_dir"; echo $? > "$aside/tar.rc"; cat > /dev/null; } < "$aside/tar.fifo" &
tar_pid=$!
wc -c < "$aside/count.fifo" > "$aside/received.size.tmp" &
wc_pid=$!
tee "$aside/tar.fifo" "$aside/count.fifo" | sha256sum > "$aside/received.sha256.tmp"
wait "$tar_pid"
wait "$wc_pid"
rm -f "$aside/tar.fifo" "$aside/count.fifo"
tar_rc=1
[ -f "$aside/tar.rc" ] && read -r tar_rc < "$aside/tar.rc"
chown_rc=0
if [ "$tar_rc" = 0 ]; then
  read -r owner < "$aside/owner"
  for d in meta data wal; do
    if [ -e "$data_dir/$d" ]; then chown -R "$owner" "$data_dir/$d" || chown_rc=1; fi
  done
fi
mv "$aside/received.size.tmp" "$aside/received.size"
mv "$aside/received.sha256.tmp" "$aside/received.sha256"
echo "tar=$tar_rc chown=$chown_rc" > "$aside/extract.rc"
: > "$aside/extract.done"
[ "$tar_rc" = 0 ] && [ "$chown_rc" = 0 ] || fail ${SCRIPT_EXIT.extractFailed} "extracting into $data_dir failed (tar=$tar_rc chown=$chown_rc)"
echo "${SCRIPT_MARK} extracted"`;
}

/**
 * Waits (while the extract process is still alive) for the extract to finish, prints what
 * landed, and exits 0 only when it is exactly the expected archive.
 */
export function confirmArchiveScript(opts: {
  dataDir: string;
  restoreId: string;
  expectedSize: number;
  expectedSha256: string;
  waitSeconds?: number;
}): string {
  return `${header(opts.dataDir, opts.restoreId)}
expected_size=${checkSize(opts.expectedSize)}
expected_sha=${shellQuote(checkSha256(opts.expectedSha256))}
wait_s=${checkSize(opts.waitSeconds ?? 600)}
# The exec that streamed the archive in may have ended before its command even started.
waited=0
while [ ! -f "$aside/extract.started" ] && [ ! -f "$aside/extract.done" ]; do
  [ "$waited" -ge "$wait_s" ] && fail ${SCRIPT_EXIT.notLanded} "no extract started in $data_dir within \${wait_s}s"
  sleep 1
  waited=$((waited + 1))
done
${waitForExtract(SCRIPT_EXIT.notLanded)}
[ -f "$aside/extract.done" ] || fail ${SCRIPT_EXIT.notLanded} "the extract into $data_dir ended without finishing (its process or pod went away); roll back, then retry"
read -r size < "$aside/received.size" || size=""
read -r sha _ < "$aside/received.sha256" || sha=""
read -r rcs < "$aside/extract.rc" || rcs=""
echo "${SCRIPT_MARK} landed size=$size sha256=$sha $rcs"
[ "$rcs" = "tar=0 chown=0" ] || fail ${SCRIPT_EXIT.mismatch} "the archive did not extract cleanly ($rcs)"
[ "$size" = "$expected_size" ] || fail ${SCRIPT_EXIT.mismatch} "received $size bytes, expected $expected_size"
[ "$sha" = "$expected_sha" ] || fail ${SCRIPT_EXIT.mismatch} "received sha256 $sha, expected $expected_sha"
: > "$aside/confirmed"
echo "${SCRIPT_MARK} confirmed"`;
}

/** Shell that waits while an extract started in this pod is still running (a crash ends it). */
function waitForExtract(exitCode: number): string {
  return `if [ -f "$aside/extract.started" ] && [ ! -f "$aside/extract.done" ]; then
  read -r xpid xhost < "$aside/extract.started"
  waited=0
  while [ ! -f "$aside/extract.done" ] && [ "$xhost" = "$(hostname)" ] && kill -0 "$xpid" 2>/dev/null; do
    [ "$waited" -ge "$wait_s" ] && fail ${exitCode} "the extract (pid $xpid) is still running after \${wait_s}s"
    sleep 1
    waited=$((waited + 1))
  done
fi`;
}

/**
 * Puts the old directories back after a failed restore: each recorded directory returns to
 * its place (replacing anything extracted), directories the old node did not have are removed,
 * and the aside directory is discarded by renaming it first, so a half-deleted one never looks
 * like a restore in progress.
 */
export function putBackScript(opts: {
  dataDir: string;
  restoreId: string;
  waitSeconds?: number;
}): string {
  return `${header(opts.dataDir, opts.restoreId)}
wait_s=${checkSize(opts.waitSeconds ?? 600)}
if [ ! -d "$aside" ]; then
  [ -e "$discard" ] && rm -rf "$discard"
  echo "${SCRIPT_MARK} put-back nothing-aside"
  exit 0
fi
${waitForExtract(SCRIPT_EXIT.refused)}
present=""
recorded=0
if [ -f "$aside/present" ]; then read -r present < "$aside/present" || present=""; recorded=1; fi
for d in meta data wal; do
  case " $present " in
    *" $d "*)
      if [ -e "$aside/$d" ]; then
        rm -rf "$data_dir/$d" || fail ${SCRIPT_EXIT.moveFailed} "cannot remove the extracted $data_dir/$d"
        mv "$aside/$d" "$data_dir/$d" || fail ${SCRIPT_EXIT.moveFailed} "cannot move $aside/$d back"
      fi
      ;;
    *)
      if [ "$recorded" = 1 ] && [ -f "$aside/moved" ]; then rm -rf "$data_dir/$d"; fi
      ;;
  esac
done
mv "$aside" "$discard" || fail ${SCRIPT_EXIT.moveFailed} "cannot discard $aside"
rm -rf "$discard"
echo "${SCRIPT_MARK} put-back restored=$(echo $present | tr ' ' ',')"`;
}

/** Deletes the old directories once the restored node answers; refuses before a confirmed extract. */
export function deleteOldDirectoriesScript(opts: { dataDir: string; restoreId: string }): string {
  return `${header(opts.dataDir, opts.restoreId)}
if [ -d "$aside" ]; then
  [ -f "$aside/confirmed" ] || fail ${SCRIPT_EXIT.refused} "the restore into $data_dir was never confirmed; put the old directories back instead of deleting them"
  mv "$aside" "$discard" || fail ${SCRIPT_EXIT.moveFailed} "cannot discard $aside"
fi
[ -e "$discard" ] && rm -rf "$discard"
echo "${SCRIPT_MARK} old-directories-deleted"`;
}

/** What `confirm` reported, parsed from its `landed` line. */
export interface LandedArchive {
  size: number;
  sha256: string;
  extractedCleanly: boolean;
}

export function parseLandedLine(stdout: string): LandedArchive | undefined {
  const match = /^restorebot: landed size=(\d*) sha256=([0-9a-f]*) (.*)$/m.exec(stdout);
  if (!match) return undefined;
  return {
    size: Number(match[1] || -1),
    sha256: match[2] ?? "",
    extractedCleanly: (match[3] ?? "").trim() === "tar=0 chown=0",
  };
}

/** The owner and present directories `prepare` recorded, parsed from its `prepared` line. */
export interface PreparedRestore {
  owner: string;
  present: string[];
  freeKb: number;
  needKb: number;
}

export function parsePreparedLine(stdout: string): PreparedRestore | undefined {
  const match =
    /^restorebot: prepared owner=(\S+) present=(\S*) free_kb=(\d+) need_kb=(\d+)$/m.exec(stdout);
  if (!match) return undefined;
  return {
    owner: match[1] ?? "",
    present: (match[2] ?? "").split(",").filter((d) => d !== ""),
    freeKb: Number(match[3]),
    needKb: Number(match[4]),
  };
}

/** The last `restorebot: …` line a script wrote to stderr: its reason for refusing or failing. */
export function scriptReason(stderr: string): string | undefined {
  const lines = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith(SCRIPT_MARK));
  const last = lines.at(-1);
  return last === undefined ? undefined : last.slice(SCRIPT_MARK.length).trim();
}
