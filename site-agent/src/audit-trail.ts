// audit-trail.ts — the site's audit.jsonl: one writer at a time across the agent and the admin's CLI, each entry on disk before its action.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { AuditLog, TrustError } from '@fedval/trust';
import type { AuditEntry, AuditEvent } from '@fedval/trust';
import { inWriteTransaction } from '@fedval/sqlite';
import { AgentError } from './errors.ts';

/** Name of the audit log inside the agent's data directory. */
export const AUDIT_LOG_FILE = 'audit.jsonl';

/** The audit log of a data directory. */
export function auditLogPath(dataDir: string): string {
  return join(dataDir, AUDIT_LOG_FILE);
}

/**
 * Appends to `<dataDir>/audit.jsonl`. The running agent and the site admin's commands (`fedval-agent approve`) both
 * write it, so every append holds agent.sqlite's write lock (BEGIN IMMEDIATE), and a log another process extended
 * since this one last wrote is reopened, which re-verifies the whole chain, before appending. An entry is fsynced
 * before `record` returns: callers act (send, refuse) only afterwards.
 */
export class SiteAuditTrail {
  readonly #db: DatabaseSync;
  readonly #path: string;
  #log: AuditLog | undefined;
  #sizeAfterLastWrite = -1;

  constructor(db: DatabaseSync, dataDir: string) {
    this.#db = db;
    this.#path = auditLogPath(dataDir);
  }

  get path(): string {
    return this.#path;
  }

  /**
   * Writes `event`; with `change`, runs it in the same database transaction first, so the change and its entry are
   * made together or not at all. Throws FEDVAL_ERR_AGENT_AUDIT when the log cannot be verified or written (errors of
   * `change` pass through unchanged).
   */
  record(event: AuditEvent, change?: () => void): AuditEntry {
    return this.transaction((append) => {
      change?.();
      return append(event);
    });
  }

  /**
   * Runs `work` inside one database write transaction (BEGIN IMMEDIATE), giving it `append` to write audit entries
   * (each fsynced as it is appended): database changes made in `work` commit together, after every entry is on disk,
   * or not at all. A crash before the commit leaves the entries in the log and nothing in the database.
   */
  transaction<T>(work: (append: (event: AuditEvent) => AuditEntry) => T): T {
    return inWriteTransaction(this.#db, () => work((event) => this.#append(event)));
  }

  #append(event: AuditEvent): AuditEntry {
    try {
      const entry = this.#open().append(event);
      this.#sizeAfterLastWrite = statSync(this.#path).size;
      return entry;
    } catch (cause) {
      this.#log?.close();
      this.#log = undefined;
      if (cause instanceof TrustError) throw new AgentError('FEDVAL_ERR_AGENT_AUDIT', `${cause.code}: ${cause.message}`, { cause });
      throw new AgentError('FEDVAL_ERR_AGENT_AUDIT', this.#path, { cause });
    }
  }

  close(): void {
    this.#log?.close();
    this.#log = undefined;
  }

  #open(): AuditLog {
    let size = -1;
    try {
      size = statSync(this.#path).size;
    } catch {
      // absent: AuditLog.open creates it
    }
    if (this.#log && size !== this.#sizeAfterLastWrite) {
      this.#log.close();
      this.#log = undefined;
    }
    this.#log ??= AuditLog.open(this.#path);
    return this.#log;
  }
}
