import type { DatabasePool } from "../../src/db/database.js";

/**
 * The per-target lock: a PostgreSQL session-level advisory lock held on a dedicated connection
 * for the whole run. It is the second guard, after BullMQ's job lock, against two workers
 * running phases of the same target at once (a worker whose event loop stalled past the job
 * lock, or a duplicate job). When the holder dies, even by `kill -9`, its connection closes and
 * PostgreSQL releases the lock at once; server-side TCP keepalives release it within ~30 s
 * when the holder's machine vanishes instead.
 */

// An arbitrary constant naming restorebot's target locks ("RBTL"), apart from the key space
// of the migration lock.
const TARGET_LOCK_CLASS = 0x5242_544c;
const HEARTBEAT_MS = 5_000;

export interface TargetLock {
  readonly target: string;
  /** Aborted when the lock's connection fails: the run must stop at once. */
  readonly lost: AbortSignal;
  release(): Promise<void>;
}

export async function tryAcquireTargetLock(
  pool: Pick<DatabasePool, "connect">,
  target: string,
): Promise<TargetLock | undefined> {
  const client = await pool.connect();
  // A checked-out client has no listener of the pool's: when the server ends the session (a
  // failover, pg_terminate_backend) node-pg emits 'error' even while a query is running, so a
  // listener stays on from here until the client goes back, or the process would crash. Before
  // the lock is held such an error only fails the statement; once held it means the lock is lost.
  let onError: (err: Error) => void = () => undefined;
  const forwardError = (err: Error) => onError(err);
  client.on("error", forwardError);
  const giveBack = (err?: Error | boolean) => {
    client.off("error", forwardError);
    client.release(err);
  };
  let acquired = false;
  try {
    // Let the server notice a vanished client (and free the lock) without waiting hours.
    await client.query(
      "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3",
    );
    const { rows } = await client.query<{ locked: boolean }>(
      "SELECT pg_try_advisory_lock($1::int, hashtext($2)) AS locked",
      [TARGET_LOCK_CLASS, target],
    );
    acquired = rows[0]?.locked === true;
  } catch (err) {
    giveBack(err as Error);
    throw err;
  }
  if (!acquired) {
    giveBack();
    return undefined;
  }
  const controller = new AbortController();
  onError = (err: Error) => {
    controller.abort(new Error(`lost the lock on target ${target}: ${err.message}`));
  };
  // A connection that silently died would otherwise only be noticed at release.
  const heartbeat = setInterval(() => {
    client.query("SELECT 1").catch((err: Error) => onError(err));
  }, HEARTBEAT_MS);
  heartbeat.unref();
  let released = false;
  return {
    target,
    lost: controller.signal,
    async release() {
      if (released) return;
      released = true;
      clearInterval(heartbeat);
      if (controller.signal.aborted) {
        giveBack(true);
        return;
      }
      // Released on purpose: a session ending from here on is no longer a lost lock.
      onError = () => undefined;
      try {
        await client.query("SELECT pg_advisory_unlock($1::int, hashtext($2))", [
          TARGET_LOCK_CLASS,
          target,
        ]);
        giveBack();
      } catch (err) {
        // Destroying the connection frees the lock just as well.
        giveBack(err as Error);
      }
    },
  };
}

/** Waits (polling every `retryMs`) until the target's lock is free, or the signal aborts. */
export async function acquireTargetLock(
  pool: Pick<DatabasePool, "connect">,
  target: string,
  options: { signal: AbortSignal; retryMs?: number; onWaiting?: () => void },
): Promise<TargetLock | undefined> {
  let told = false;
  for (;;) {
    if (options.signal.aborted) return undefined;
    const lock = await tryAcquireTargetLock(pool, target);
    if (lock) return lock;
    if (!told) {
      told = true;
      options.onWaiting?.();
    }
    await sleep(options.retryMs ?? 1_000, options.signal);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
