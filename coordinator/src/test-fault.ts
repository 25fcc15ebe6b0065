// test-fault.ts — the crash points of the restart tests: FEDVAL_COORDINATOR_TEST_FAULT=<point> SIGKILLs the coordinator there.

/** The environment variable that names a crash point; unset in production (then nothing happens). */
export const COORDINATOR_FAULT_ENV = 'FEDVAL_COORDINATOR_TEST_FAULT';

/**
 * Where a round can be cut short, each after the store writes queued before it have finished:
 * `crash-after-dispatch` once a new round's tasks are sent; `crash-after-contribution` once a contribution is stored
 * (the first one); `crash-before-close` once a round is settled or past its deadline, before its aggregate is stored.
 */
export type CrashPoint = 'crash-after-dispatch' | 'crash-after-contribution' | 'crash-before-close';

/** Kills this process with SIGKILL (no cleanup, as a power cut or the OOM killer would) when the test asks for `point`. */
export function crashPoint(point: CrashPoint): void {
  if (process.env[COORDINATOR_FAULT_ENV] === point) process.kill(process.pid, 'SIGKILL');
}
