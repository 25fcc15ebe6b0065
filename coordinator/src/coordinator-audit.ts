// coordinator-audit.ts — the coordinator's hash-chained audit trail `<data_dir>/audit.jsonl` (AuditLog of @fedval/trust).
import { join } from 'node:path';
import { AuditLog } from '@fedval/trust';
import type { AuditEntry, AuditEvent } from '@fedval/trust';
import { CoordinatorError } from './errors.ts';

/** File name of the audit trail inside the data directory. */
export const AUDIT_FILE = 'audit.jsonl';

/** Appends one event (fsynced before it returns); throws FEDVAL_ERR_COORD_AUDIT when the trail cannot be written. */
export type AuditRecorder = (event: AuditEvent) => AuditEntry;

/** Opens (and verifies) the trail; a broken or torn trail refuses to open with FEDVAL_ERR_COORD_AUDIT naming the trust code. */
export function openCoordinatorAudit(dataDir: string): { log: AuditLog; record: AuditRecorder } {
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
  return { log, record };
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'unknown';
}
