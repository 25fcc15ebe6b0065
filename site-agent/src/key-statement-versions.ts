// key-statement-versions.ts — the highest study key statement version this site has verified per study (agent.sqlite), so an older statement (a roster the privacy officer replaced) is refused.
import type { DatabaseSync } from 'node:sqlite';
import { z } from 'zod';
import { AgentError } from './errors.ts';

const versionRowSchema = z.object({ version: z.number().int() });

/** The `key_statement_versions` table of agent.sqlite. */
export class KeyStatementVersions {
  readonly #db: DatabaseSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** The highest version verified for `studyId`, or 0 when none was. */
  highest(studyId: string): number {
    const row = this.#db.prepare('SELECT version FROM key_statement_versions WHERE study_id = ?').get(studyId);
    return row === undefined ? 0 : versionRowSchema.parse(row).version;
  }

  /**
   * Accepts a verified statement's `version` for `studyId`: throws FEDVAL_ERR_AGENT_KEY_STATEMENT_OUTDATED when an
   * older one than the highest already seen; otherwise keeps it as the highest (the same version is accepted again).
   */
  accept(studyId: string, version: number, keyHolderFingerprint: string, now = Date.now()): void {
    const highest = this.highest(studyId);
    if (version < highest) throw new AgentError('FEDVAL_ERR_AGENT_KEY_STATEMENT_OUTDATED', `version ${version}, this site has verified version ${highest} for study ${studyId}`);
    if (version === highest) return;
    this.#db
      .prepare('INSERT OR REPLACE INTO key_statement_versions (study_id, version, key_holder_fingerprint, updated_at) VALUES (?, ?, ?, ?)')
      .run(studyId, version, keyHolderFingerprint, now);
  }
}
