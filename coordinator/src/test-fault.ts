// test-fault.ts — the restart tests' crash points: the coordinator SIGKILLs itself where a test's fault file says.
import { readFileSync, rmSync } from 'node:fs';

/**
 * The environment variable naming a file into which a test writes one crash point, arming it; unset in production
 * (then nothing happens). The coordinator deletes the file as it fires, so a crash point fires once and the next start
 * runs unarmed; a test arms the next one without restarting the coordinator.
 */
export const COORDINATOR_FAULT_ENV = 'FEDVAL_COORDINATOR_TEST_FAULT_FILE';

/**
 * Where a round can be cut short, each after the store writes queued before it have finished:
 * `crash-after-dispatch` once a new round's tasks are sent; `crash-after-contribution` once a contribution is stored
 * (the first one; under secure aggregation, a masked input); `crash-before-close` once a round is settled or past its
 * deadline, before its aggregate is stored. Secure aggregation's phases: `crash-after-secagg-keys` once every
 * advertisement is kept and the keys are relayed; `-inbox` once the shares are kept and relayed; `-survivors` once the
 * survivor set is sent; `-unmask` once every survivor signature is kept and the unmasking request sent;
 * `crash-after-secagg-reveal` once the first reveal is kept.
 */
export type CrashPoint =
  | 'crash-after-dispatch'
  | 'crash-after-contribution'
  | 'crash-before-close'
  | 'crash-after-secagg-keys'
  | 'crash-after-secagg-inbox'
  | 'crash-after-secagg-survivors'
  | 'crash-after-secagg-unmask'
  | 'crash-after-secagg-reveal';

/** Kills this process with SIGKILL (no cleanup, as a power cut or the OOM killer would) when the test armed `point`. */
export function crashPoint(point: CrashPoint): void {
  const file = process.env[COORDINATOR_FAULT_ENV];
  if (file === undefined) return;
  let armed: string;
  try {
    armed = readFileSync(file, 'utf8').trim();
  } catch {
    return; // not armed
  }
  if (armed !== point) return;
  rmSync(file, { force: true });
  process.kill(process.pid, 'SIGKILL');
}
