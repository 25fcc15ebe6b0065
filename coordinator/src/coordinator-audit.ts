// coordinator-audit.ts — the coordinator's hash-chained audit trail `<data_dir>/audit.jsonl` (AuditLog of @fedval/trust).
import { join } from 'node:path';
import { AuditLog } from '@fedval/trust';
import type { AuditEntry, AuditEvent } from '@fedval/trust';
import { CoordinatorError } from './errors.ts';

/** File name of the audit trail inside the data directory. */
export const AUDIT_FILE = 'audit.jsonl';

/** Appends one event (fsynced before it returns); throws FEDVAL_ERR_COORD_AUDIT when the trail cannot be written. */
export type AuditRecorder = (event: AuditEvent) => AuditEntry;

/**
 * Appends one event at once and fsyncs it together with every other entry recorded in the same event-loop turn (group
 * commit): a round's hundreds of per-site entries cost one fsync per turn, not one each. The entry is on disk when
 * `durable` resolves; anything sent that names it (its head) waits for that. `durable` rejects with
 * FEDVAL_ERR_COORD_AUDIT if the fsync failed (the trail then refuses further entries).
 */
export type BatchedAuditRecorder = (event: AuditEvent) => { entry: AuditEntry; durable: Promise<void> };

/** Opens (and verifies) the trail; a broken or torn trail refuses to open with FEDVAL_ERR_COORD_AUDIT naming the trust code. */
export function openCoordinatorAudit(dataDir: string): { log: AuditLog; record: AuditRecorder; recordBatched: BatchedAuditRecorder } {
  const path = join(dataDir, AUDIT_FILE);
  let log: AuditLog;
  try {
    log = AuditLog.open(path);
  } catch (cause) {
    throw new CoordinatorError('FEDVAL_ERR_COORD_AUDIT', `${path}: ${codeOf(cause)}: ${(cause as Error).message}`, { cause });
  }
  const record: AuditRecorder = (event) => {
    try {
      return log.append(event);
    } catch (cause) {
      throw new CoordinatorError('FEDVAL_ERR_COORD_AUDIT', codeOf(cause), { cause });
    }
  };
  let pending: Promise<void> | undefined;
  const recordBatched: BatchedAuditRecorder = (event) => {
    let entry: AuditEntry;
    try {
      entry = log.append(event, { sync: false });
    } catch (cause) {
      throw new CoordinatorError('FEDVAL_ERR_COORD_AUDIT', codeOf(cause), { cause });
    }
    pending ??= new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        pending = undefined;
        try {
          log.sync();
          resolve();
        } catch (cause) {
          reject(new CoordinatorError('FEDVAL_ERR_COORD_AUDIT', codeOf(cause), { cause }));
        }
      });
    });
    return { entry, durable: pending };
  };
  return { log, record, recordBatched };
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'unknown';
}
