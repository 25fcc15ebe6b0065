// advisory-lock-watch.ts — asks, every few seconds on the connection holding it, whether the coordinator still holds its
// PostgreSQL advisory lock: a failover or partition the connection's own events do not report is noticed within two checks.
import type pg from 'pg';

/** Default of storage.postgres.lock_check_ms: how often the lock is checked, in ms (5 s); also the check's timeout. */
export const DEFAULT_LOCK_CHECK_MS = 5_000; // ms

/**
 * Rows only when this session holds the advisory lock `$1` (pg_locks stores a bigint key as classid = high and objid = low
 * 32 bits, objsubid = 1: PostgreSQL "pg_locks", §53.12).
 */
const LOCK_HELD_SQL = `SELECT 1 AS held FROM pg_locks
  WHERE pid = pg_backend_pid() AND locktype = 'advisory' AND granted AND objsubid = 1
    AND ((classid::bigint << 32) | objid::bigint) = $1::bigint`;

/** Whether the session of `client` holds the advisory lock `key`; rejects when the answer takes longer than `timeoutMs`. */
export async function advisoryLockHeld(client: Pick<pg.Client, 'query'>, key: string, timeoutMs: number): Promise<boolean> {
  // pg reads a per-query `query_timeout` (client.js) that its type definitions do not declare.
  const query: pg.QueryConfig<string[]> & { query_timeout: number } = { text: LOCK_HELD_SQL, values: [key], query_timeout: timeoutMs };
  const result = await client.query(query);
  return result.rows.length > 0;
}

export interface AdvisoryLockWatchOptions {
  /** The lock's key (a signed 64-bit integer as text). */
  key: string;
  /** Time between the end of one check and the start of the next, and the longest one check may take, in ms. */
  intervalMs: number;
  /** Called once, with why, when a check fails or finds the lock gone; no check follows. */
  onLost: (reason: string) => void;
}

/** Checks the lock every `intervalMs` on `client` until stopped (the returned function) or lost. */
export function watchAdvisoryLock(client: Pick<pg.Client, 'query'>, options: AdvisoryLockWatchOptions): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const check = async (): Promise<void> => {
    let reason: string | undefined;
    try {
      if (!(await advisoryLockHeld(client, options.key, options.intervalMs))) reason = 'the connection holding the advisory lock no longer holds it';
    } catch (error) {
      const what = error instanceof Error && /timeout/i.test(error.message) ? `no answer within ${options.intervalMs} ms` : 'the check failed';
      reason = `the advisory lock check on its connection got ${what}`;
    }
    if (stopped) return;
    if (reason === undefined) return schedule();
    stopped = true;
    options.onLost(reason);
  };
  const schedule = (): void => {
    timer = setTimeout(() => void check(), options.intervalMs);
    timer.unref(); // the connection, not the watch, keeps a process alive
  };
  schedule();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
