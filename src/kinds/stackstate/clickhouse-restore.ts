import type { ExecInPodOptions, ExecResult } from "../../adapters/kubernetes/pod-work-port.js";
import { CodedError } from "../../errors.js";

/**
 * `clickhouse-backup restore_remote <name>`, run so that a worker dying mid-restore does not
 * start a second one, as a restore Job is found again by its name. The command runs detached in
 * the backup container (it outlives the exec that started it), its output and exit status
 * written to files under a directory named by the request and run:
 *
 *     /tmp/restorebot-clickhouse/<request-id>-<run>/started   when it was started (UTC)
 *                                                 /output    stdout and stderr, as written
 *                                                 /exit      the exit status, written last
 *
 * One exec does both halves: `mkdir` of the run's directory (atomic: only one exec ever wins it)
 * starts the restore, and every exec then follows the output from the byte the caller has
 * already posted until `exit` appears. A worker that is restarted runs the same exec and,
 * finding the directory, only follows. The script says on stderr what it did
 * (`restorebot: started`, `restorebot: following`) and, last, `restorebot: exit <status>`.
 * It needs `sh`, `mkdir`, `wc`, `tail`, `head`, `cat`, `sleep` and `setsid` or `nohup`, which
 * the chart's backup image has.
 */
export const CLICKHOUSE_RUN_ROOT = "/tmp/restorebot-clickhouse";

/** As the chart's `restore-clickhouse-backup.sh` runs it. */
export const CLICKHOUSE_BACKUP_CONFIG = "/etc/clickhouse-backup.yaml";

/** $1 run directory, $2 backup name, $3 bytes of output already posted, $4 poll seconds. */
export const CLICKHOUSE_RESTORE_SCRIPT = `set -u
run=$1; name=$2; sent=$3; every=$4
mkdir -p "\${run%/*}" || exit 125
if mkdir "$run" 2>/dev/null; then
  : > "$run/output"
  date -u +%Y-%m-%dT%H:%M:%SZ > "$run/started"
  restore='clickhouse-backup --config ${CLICKHOUSE_BACKUP_CONFIG} restore_remote "$1" > "$2/output" 2>&1; echo $? > "$2/exit.tmp"; mv "$2/exit.tmp" "$2/exit"'
  if command -v setsid > /dev/null 2>&1; then
    setsid sh -c "$restore" sh "$name" "$run" < /dev/null > /dev/null 2>&1 &
  else
    nohup sh -c "$restore" sh "$name" "$run" < /dev/null > /dev/null 2>&1 &
  fi
  echo "restorebot: started" >&2
elif [ -e "$run/started" ]; then
  echo "restorebot: following the restore started at $(cat "$run/started")" >&2
else
  echo "restorebot: $run exists but no restore was started in it" >&2
  exit 125
fi
while :; do
  ended=0
  [ -e "$run/exit" ] && ended=1
  size=$(wc -c < "$run/output")
  size=$((size + 0))
  if [ "$size" -gt "$sent" ]; then
    tail -c +"$((sent + 1))" "$run/output" | head -c "$((size - sent))"
    sent=$size
  fi
  if [ "$ended" = 1 ]; then
    echo "restorebot: exit $(cat "$run/exit")" >&2
    exit 0
  fi
  sleep "$every"
done
`;

/** Where a request's nth run of restore_remote keeps its files in the backup container. */
export function clickHouseRunDirectory(requestId: string, run: number): string {
  return `${CLICKHOUSE_RUN_ROOT}/${requestId}-${run}`;
}

export interface ClickHouseRestoreCheckpoint {
  /** Which run of restore_remote this is (a Retry after it ended starts the next). */
  run: number;
  directory: string;
  /** Bytes of output already posted in the thread (a follow resumes after them). */
  bytesPosted: number;
}

export interface FollowClickHouseRestore {
  exec(options: ExecInPodOptions): Promise<ExecResult>;
  pod: string;
  container: string;
  backup: string;
  checkpoint: ClickHouseRestoreCheckpoint;
  /** Seconds between looks at the output file (default 1). */
  pollSeconds?: number;
  /** Complete lines of output, with the bytes posted once they are. */
  onLines(lines: string[], bytesPosted: number): void;
  /** The script's own lines: whether it started the restore or followed one already running. */
  onStatus(text: string): void;
  signal?: AbortSignal;
}

/**
 * Starts the run (unless it was) and follows it to its end: its exit status, or throws when the
 * follow itself failed (the restore may still be running; following again finds it).
 */
export async function followClickHouseRestore(
  args: FollowClickHouseRestore,
): Promise<{ exitCode: number }> {
  let bytes = args.checkpoint.bytesPosted;
  let partial = Buffer.alloc(0);
  const onStdout = (chunk: Buffer) => {
    const data = Buffer.concat([partial, chunk]);
    const end = data.lastIndexOf(0x0a);
    if (end < 0) {
      partial = data;
      return;
    }
    const complete = data.subarray(0, end + 1);
    partial = data.subarray(end + 1);
    bytes += complete.length;
    args.onLines(complete.toString("utf8").slice(0, -1).split("\n"), bytes);
  };
  let stderrText = "";
  let exitCode: number | undefined;
  const problems: string[] = [];
  const onStderr = (chunk: Buffer) => {
    stderrText += chunk.toString("utf8");
    const lines = stderrText.split("\n");
    stderrText = lines.pop() ?? "";
    for (const line of lines) {
      const exit = /^restorebot: exit (\d+)\s*$/.exec(line);
      if (exit) exitCode = Number(exit[1]);
      else if (line.startsWith("restorebot: ")) args.onStatus(line.slice("restorebot: ".length));
      else if (line.trim() !== "") problems.push(line);
    }
  };
  const result = await args.exec({
    pod: args.pod,
    container: args.container,
    command: [
      "sh",
      "-c",
      CLICKHOUSE_RESTORE_SCRIPT,
      "sh",
      args.checkpoint.directory,
      args.backup,
      String(args.checkpoint.bytesPosted),
      String(args.pollSeconds ?? 1),
    ],
    onStdout,
    onStderr,
    ...(args.signal === undefined ? {} : { signal: args.signal }),
  });
  if (partial.length > 0) {
    bytes += partial.length;
    args.onLines([partial.toString("utf8")], bytes);
  }
  if (stderrText.trim() !== "") problems.push(stderrText);
  if (exitCode === undefined)
    throw new CodedError(
      "restore_failed",
      `could not start or follow clickhouse-backup restore_remote ${args.backup} in ${args.pod}/${args.container} (the script exited with ${result.exitCode}${problems.length ? `: ${problems.slice(-5).join("; ")}` : ""}). If it started, it keeps running there: Retry phase follows it again and does not start a second one.`,
    );
  return { exitCode };
}

/** Removes a finished run's files; best effort (they are small, and in the container's /tmp). */
export async function removeClickHouseRun(
  exec: (options: ExecInPodOptions) => Promise<ExecResult>,
  where: { pod: string; container: string; directory: string },
): Promise<void> {
  await exec({
    pod: where.pod,
    container: where.container,
    command: ["rm", "-rf", where.directory],
  }).catch(() => undefined);
}
