// sqlite-store.ts — CoordinatorStore on embedded SQLite (node:sqlite): schema migrations, WAL, transactions.
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { inWriteTransaction, openSqliteDatabase, SqliteError } from '@fedval/sqlite';
import type { SQLInputValue } from 'node:sqlite';
import type { SignedStudyKeyStatement } from '@fedval/trust';
import { CoordinatorError } from '../errors.ts';
import { joinFrames, splitFrames } from './ciphertext-frames.ts';
import { closureValues, contributionValues, float64FromBytes, roundSiteValues, secaggEventValues, studyValues } from './row-values.ts';
import type { RowValues } from './row-values.ts';
import { aggregateRowSchema, contributionCountRowSchema, contributionFramesRowSchema, contributionRowSchema, encryptedAggregateRowSchema, modelRowSchema, roundRowSchema, roundSiteRowSchema, secaggEventRowSchema, secaggRowSchema, siteKeyRowSchema, siteSeenRowSchema, studyRowSchema } from './row-schemas.ts';
import type { SecaggTranscript } from '@fedval/protocol';
import type {
  CoordinatorStore,
  ModelRecord,
  RoundClosure,
  RoundRecord,
  RoundSiteUpdate,
  RoundState,
  StudyRecord,
  RoundResult,
  EnrollmentTokenRecord,
  SecaggEvent,
  SiteEnrollment,
  StoredContribution,
  ContributionPage,
} from './store.ts';

/** Name of the database file inside the data directory. */
export const DATABASE_FILE = 'coordinator.sqlite';

/** Each entry migrates the schema from version i to i + 1 (`PRAGMA user_version`). */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE models (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     version TEXT NOT NULL,
     format TEXT NOT NULL,
     manifest_json TEXT NOT NULL,
     files_json TEXT NOT NULL,
     created_at INTEGER NOT NULL
   ) STRICT;
   CREATE TABLE studies (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     model_id TEXT REFERENCES models(id),
     score_column TEXT,
     metric_spec_json TEXT NOT NULL,
     sites_json TEXT NOT NULL,
     quorum INTEGER NOT NULL,
     deadline_seconds INTEGER NOT NULL,
     contribution TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     CHECK ((model_id IS NULL) <> (score_column IS NULL))
   ) STRICT;
   CREATE TABLE rounds (
     id TEXT PRIMARY KEY,
     study_id TEXT NOT NULL REFERENCES studies(id),
     state TEXT NOT NULL CHECK (state IN ('dispatched', 'collecting', 'aggregated', 'failed')),
     reason TEXT,
     created_at INTEGER NOT NULL,
     deadline_at INTEGER NOT NULL,
     closed_at INTEGER,
     contributions INTEGER NOT NULL DEFAULT 0,
     aggregate BLOB,
     result_json TEXT
   ) STRICT;
   CREATE INDEX rounds_by_study ON rounds(study_id);
   CREATE INDEX rounds_by_state ON rounds(state);
   CREATE TABLE round_sites (
     round_id TEXT NOT NULL REFERENCES rounds(id),
     site_id TEXT NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('pending', 'dispatched', 'accepted', 'refused', 'contributed', 'invalid')),
     code TEXT,
     contribution_bytes INTEGER,
     contribution_sha256 TEXT,
     updated_at INTEGER NOT NULL,
     PRIMARY KEY (round_id, site_id)
   ) STRICT;
   CREATE TABLE sites (
     id TEXT PRIMARY KEY,
     last_seen INTEGER NOT NULL
   ) STRICT;`,
  `ALTER TABLE studies ADD COLUMN protection_json TEXT NOT NULL DEFAULT '{"minSites":1,"maxPatientsPerSite":1000000,"encryption":null,"privacy":null}';
   ALTER TABLE studies ADD COLUMN public_key BLOB;
   ALTER TABLE rounds ADD COLUMN encrypted_aggregate BLOB;
   ALTER TABLE rounds ADD COLUMN released_at INTEGER;
   ALTER TABLE round_sites ADD COLUMN privacy_json TEXT;`,
  `CREATE TABLE enrollment_tokens (
     token_sha256 TEXT PRIMARY KEY,
     site_id TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     used_at INTEGER,
     revoked_at INTEGER
   ) STRICT;
   CREATE TABLE site_keys (
     site_id TEXT PRIMARY KEY,
     public_key TEXT NOT NULL,
     fingerprint TEXT NOT NULL,
     enrolled_at INTEGER NOT NULL
   ) STRICT;`,
  `CREATE TABLE round_contributions (
     round_id TEXT NOT NULL REFERENCES rounds(id),
     site_id TEXT NOT NULL,
     ciphertexts BLOB NOT NULL,
     record_json TEXT,
     attestation_json TEXT,
     public_key TEXT,
     received_at INTEGER NOT NULL,
     PRIMARY KEY (round_id, site_id)
   ) STRICT;`,
  // The key holder's signed study key statement (@fedval/trust), forwarded in every bfv task.
  `ALTER TABLE studies ADD COLUMN key_statement_json TEXT;`,
  // The signed transcript of a securely aggregated round (advertisements, survivor signatures, reveals), JSON.
  `ALTER TABLE rounds ADD COLUMN secagg_json TEXT;`,
  // The secure-aggregation steps of a round still open, in order (rowid), for a restarted coordinator to replay.
  `CREATE TABLE round_secagg_events (
     round_id TEXT NOT NULL REFERENCES rounds(id),
     event_json TEXT NOT NULL
   ) STRICT;
   CREATE INDEX round_secagg_events_by_round ON round_secagg_events(round_id);`,
];

type Row = Record<string, SQLInputValue>;

/** Opens (creating if needed) `<dataDir>/coordinator.sqlite` and migrates it to the current schema. */
export function openSqliteStore(dataDir: string): SqliteCoordinatorStore {
  try {
    // synchronous NORMAL: under WAL a commit survives a crash of the process; the writes a restarted round needs after
    // a crash of the machine are fsynced one by one (#durably). The audit trail is fsynced on its own.
    return new SqliteCoordinatorStore(openSqliteDatabase(join(dataDir, DATABASE_FILE), { migrations: MIGRATIONS, synchronous: 'NORMAL', foreignKeys: true }));
  } catch (cause) {
    if (cause instanceof SqliteError && cause.code === 'FEDVAL_ERR_SQLITE_SCHEMA_VERSION') {
      throw new CoordinatorError('FEDVAL_ERR_COORD_STORAGE_VERSION', cause.message, { cause });
    }
    throw new CoordinatorError('FEDVAL_ERR_COORD_STORAGE', `cannot open the database in ${dataDir}${cause instanceof SqliteError ? ` (${cause.code})` : ''}`, { cause });
  }
}

export class SqliteCoordinatorStore implements CoordinatorStore {
  readonly #db: DatabaseSync;
  /** Last-seen times not yet written, and the pending write of this turn (recordSiteSeen). */
  #seen = new Map<string, number>();
  #seenWrite: Promise<void> | undefined;

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  async putModel(model: ModelRecord): Promise<boolean> {
    return this.#run(() => {
      const info = this.#db
        .prepare(
          `INSERT INTO models (id, name, version, format, manifest_json, files_json, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING`,
        )
        .run(model.id, model.name, model.version, model.format, model.manifestJson, JSON.stringify(model.files), model.createdAt);
      return Number(info.changes) === 1;
    });
  }

  async getModel(id: string): Promise<ModelRecord | undefined> {
    return this.#run(() => {
      const row = this.#db.prepare('SELECT * FROM models WHERE id = ?').get(id);
      return row === undefined ? undefined : modelRowSchema.parse(row);
    });
  }

  async createStudy(study: StudyRecord): Promise<void> {
    const row = studyValues(study);
    this.#run(() => this.#db.prepare(insertStatement('studies', row)).run(...Object.values(row)));
  }

  async setStudyPublicKey(id: string, publicKey: Uint8Array, keyStatement: SignedStudyKeyStatement | null = null): Promise<boolean> {
    return this.#run(() => {
      const info = this.#db
        .prepare('UPDATE studies SET public_key = ?, key_statement_json = ? WHERE id = ? AND public_key IS NULL')
        .run(publicKey, keyStatement === null ? null : JSON.stringify(keyStatement), id);
      return Number(info.changes) === 1;
    });
  }

  async setStudyKeyStatement(id: string, keyStatement: SignedStudyKeyStatement): Promise<boolean> {
    return this.#run(() => {
      const info = this.#db.prepare('UPDATE studies SET key_statement_json = ? WHERE id = ? AND public_key IS NOT NULL').run(JSON.stringify(keyStatement), id);
      return Number(info.changes) === 1;
    });
  }

  async releaseRound(id: string, result: RoundResult, at: number): Promise<boolean> {
    return this.#durably(() => {
      const info = this.#db
        .prepare(`UPDATE rounds SET result_json = ?, released_at = ? WHERE id = ? AND state = 'aggregated' AND result_json IS NULL`)
        .run(JSON.stringify(result), at, id);
      return Number(info.changes) === 1;
    });
  }

  async getRoundEncryptedAggregate(id: string): Promise<Uint8Array[] | undefined> {
    return this.#run(() => {
      const found = this.#db.prepare('SELECT encrypted_aggregate FROM rounds WHERE id = ?').get(id);
      const row = found === undefined ? undefined : encryptedAggregateRowSchema.parse(found);
      return row?.encrypted_aggregate ? splitFrames(row.encrypted_aggregate) : undefined;
    });
  }

  async getRoundSecureAggregation(id: string): Promise<SecaggTranscript | undefined> {
    return this.#run(() => {
      const found = this.#db.prepare('SELECT secagg_json FROM rounds WHERE id = ?').get(id);
      const row = found === undefined ? undefined : secaggRowSchema.parse(found);
      return row?.secagg_json ?? undefined;
    });
  }

  async putRoundContribution(contribution: StoredContribution): Promise<void> {
    const row = contributionValues(contribution);
    this.#durably(() =>
      inWriteTransaction(this.#db, () => {
        // The same bytes again (a site re-sending after a restart) change nothing; other bytes are refused.
        const inserted = this.#db.prepare(`${insertStatement('round_contributions', row)} ON CONFLICT(round_id, site_id) DO NOTHING`).run(...Object.values(row));
        if (Number(inserted.changes) === 1) return;
        const kept = this.#db.prepare('SELECT ciphertexts FROM round_contributions WHERE round_id = ? AND site_id = ?').get(contribution.roundId, contribution.siteId);
        if (!Buffer.from(contributionFramesRowSchema.parse(kept).ciphertexts).equals(joinFrames(contribution.ciphertexts))) {
          throw new CoordinatorError('FEDVAL_ERR_COORD_DUPLICATE_CONTRIBUTION', `site ${contribution.siteId} sent other ciphertexts to round ${contribution.roundId}`);
        }
      }),
    );
  }

  async listRoundContributions(roundId: string, page?: ContributionPage): Promise<StoredContribution[]> {
    return this.#run(() => {
      const rows = page
        ? this.#db.prepare('SELECT * FROM round_contributions WHERE round_id = ? ORDER BY rowid LIMIT ? OFFSET ?').all(roundId, page.limit, page.offset)
        : this.#db.prepare('SELECT * FROM round_contributions WHERE round_id = ? ORDER BY rowid').all(roundId);
      return rows.map((row) => {
        const { frames, ...kept } = contributionRowSchema.parse(row);
        return { ...kept, ciphertexts: splitFrames(frames) };
      });
    });
  }

  async countRoundContributions(roundId: string): Promise<{ contributions: number; signed: number }> {
    return this.#run(() => {
      const row = this.#db.prepare('SELECT COUNT(*) AS contributions, COUNT(record_json) AS signed FROM round_contributions WHERE round_id = ?').get(roundId);
      return contributionCountRowSchema.parse(row);
    });
  }

  async getStudy(id: string): Promise<StudyRecord | undefined> {
    return this.#run(() => {
      const row = this.#db.prepare('SELECT * FROM studies WHERE id = ?').get(id);
      return row === undefined ? undefined : studyRowSchema.parse(row);
    });
  }

  async createRound(round: Omit<RoundRecord, 'result' | 'closedAt' | 'reason' | 'contributions'>): Promise<void> {
    this.#durably(() =>
      inWriteTransaction(this.#db, () => {
        this.#db
          .prepare('INSERT INTO rounds (id, study_id, state, created_at, deadline_at) VALUES (?, ?, ?, ?, ?)')
          .run(round.id, round.studyId, round.state, round.createdAt, round.deadlineAt);
        const insertSite = this.#db.prepare('INSERT INTO round_sites (round_id, site_id, status, code, updated_at) VALUES (?, ?, ?, ?, ?)');
        for (const site of round.sites) insertSite.run(round.id, site.siteId, site.status, site.code, site.updatedAt);
      }),
    );
  }

  async getRound(id: string): Promise<RoundRecord | undefined> {
    return this.#run(() => {
      const row = this.#db.prepare('SELECT * FROM rounds WHERE id = ?').get(id);
      if (row === undefined) return undefined;
      const sites = this.#db.prepare('SELECT * FROM round_sites WHERE round_id = ? ORDER BY rowid').all(id);
      return { ...roundRowSchema.parse(row), sites: sites.map((site) => roundSiteRowSchema.parse(site)) };
    });
  }

  async setRoundState(id: string, state: RoundState, _at: number): Promise<void> {
    this.#run(() => this.#db.prepare('UPDATE rounds SET state = ? WHERE id = ?').run(state, id));
  }

  async updateRoundSite(roundId: string, siteId: string, update: RoundSiteUpdate, at: number): Promise<void> {
    const row = roundSiteValues(update, at);
    this.#run(() => this.#db.prepare(`UPDATE round_sites SET ${assignments(row)} WHERE round_id = ? AND site_id = ?`).run(...Object.values(row), roundId, siteId));
  }

  async closeRound(id: string, closure: RoundClosure): Promise<void> {
    const row = closureValues(closure);
    this.#durably(() =>
      inWriteTransaction(this.#db, () => {
        this.#db.prepare(`UPDATE rounds SET ${assignments(row)} WHERE id = ?`).run(...Object.values(row), id);
        // The steps were kept for a restart; the closed round keeps its signed transcript (secagg_json).
        this.#db.prepare('DELETE FROM round_secagg_events WHERE round_id = ?').run(id);
      }),
    );
  }

  async appendSecaggEvent(roundId: string, event: SecaggEvent): Promise<void> {
    const row = secaggEventValues(roundId, event);
    this.#durably(() => this.#db.prepare(insertStatement('round_secagg_events', row)).run(...Object.values(row)));
  }

  async listSecaggEvents(roundId: string): Promise<SecaggEvent[]> {
    return this.#run(() => this.#db.prepare('SELECT event_json FROM round_secagg_events WHERE round_id = ? ORDER BY rowid').all(roundId).map((row) => secaggEventRowSchema.parse(row)));
  }

  async getRoundAggregate(id: string): Promise<Float64Array | undefined> {
    return this.#run(() => {
      const found = this.#db.prepare('SELECT aggregate FROM rounds WHERE id = ?').get(id);
      const row = found === undefined ? undefined : aggregateRowSchema.parse(found);
      return row?.aggregate ? float64FromBytes(row.aggregate) : undefined;
    });
  }

  async listOpenRounds(): Promise<RoundRecord[]> {
    return this.#list(`SELECT id FROM rounds WHERE state IN ('dispatched', 'collecting') ORDER BY created_at, rowid`, [], (id) => this.getRound(id));
  }

  async failOpenRounds(reason: string, at: number): Promise<number> {
    return this.#run(() => {
      const info = this.#db
        .prepare(`UPDATE rounds SET state = 'failed', reason = ?, closed_at = ? WHERE state IN ('dispatched', 'collecting')`)
        .run(reason, at);
      return Number(info.changes);
    });
  }

  /**
   * Sites' last-seen times are coalesced and written in one transaction per event-loop turn: the heartbeat sweep
   * records every connected site at once, and a thousand single-row commits (each an fsync) stalled the coordinator.
   */
  async recordSiteSeen(siteId: string, at: number): Promise<void> {
    this.#seen.set(siteId, at);
    this.#seenWrite ??= new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        try {
          this.#flushSeen();
          resolve();
        } catch (error) {
          reject(error);
        }
      });
    });
    return this.#seenWrite;
  }

  #flushSeen(): void {
    this.#seenWrite = undefined;
    const batch = this.#seen;
    if (batch.size === 0 || !this.#db.isOpen) return;
    this.#seen = new Map();
    this.#run(() =>
      inWriteTransaction(this.#db, () => {
        const upsert = this.#db.prepare('INSERT INTO sites (id, last_seen) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET last_seen = excluded.last_seen');
        for (const [siteId, at] of batch) upsert.run(siteId, at);
      }),
    );
  }

  async siteLastSeen(): Promise<Map<string, number>> {
    this.#flushSeen();
    return this.#run(() => {
      const rows = this.#db.prepare('SELECT id, last_seen FROM sites').all().map((row) => siteSeenRowSchema.parse(row));
      return new Map(rows.map((row) => [row.id, row.last_seen]));
    });
  }

  async putEnrollmentToken(token: EnrollmentTokenRecord): Promise<number> {
    return this.#run(() =>
      inWriteTransaction(this.#db, () => {
        const revoked = this.#revokeUnusedTokens(token.siteId, token.createdAt);
        this.#db
          .prepare('INSERT INTO enrollment_tokens (token_sha256, site_id, created_at, expires_at, used_at, revoked_at) VALUES (?, ?, ?, ?, NULL, NULL)')
          .run(token.tokenSha256, token.siteId, token.createdAt, token.expiresAt);
        return revoked;
      }),
    );
  }

  /** Revokes every unused, unrevoked token of a site; returns how many. */
  #revokeUnusedTokens(siteId: string, at: number): number {
    const revoked = this.#db.prepare('UPDATE enrollment_tokens SET revoked_at = ? WHERE site_id = ? AND used_at IS NULL AND revoked_at IS NULL').run(at, siteId);
    return Number(revoked.changes);
  }

  async enrollSite(enrollment: SiteEnrollment): Promise<boolean> {
    return this.#run(() =>
      inWriteTransaction(this.#db, () => {
        const burned = this.#db
          .prepare('UPDATE enrollment_tokens SET used_at = ? WHERE token_sha256 = ? AND site_id = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?')
          .run(enrollment.enrolledAt, enrollment.tokenSha256, enrollment.siteId, enrollment.enrolledAt);
        if (Number(burned.changes) !== 1) return false;
        this.#revokeUnusedTokens(enrollment.siteId, enrollment.enrolledAt);
        this.#db
          .prepare(
            `INSERT INTO site_keys (site_id, public_key, fingerprint, enrolled_at) VALUES (?, ?, ?, ?)
             ON CONFLICT(site_id) DO UPDATE SET public_key = excluded.public_key, fingerprint = excluded.fingerprint, enrolled_at = excluded.enrolled_at`,
          )
          .run(enrollment.siteId, enrollment.publicKey, enrollment.fingerprint, enrollment.enrolledAt);
        return true;
      }),
    );
  }

  async siteKeys(): Promise<Map<string, string>> {
    return this.#run(() => {
      const rows = this.#db.prepare('SELECT site_id, public_key FROM site_keys').all().map((row) => siteKeyRowSchema.parse(row));
      return new Map(rows.map((row) => [row.site_id, row.public_key]));
    });
  }

  async listModels(): Promise<ModelRecord[]> {
    return this.#list('SELECT id FROM models ORDER BY created_at, rowid', [], (id) => this.getModel(id));
  }

  async listStudies(): Promise<StudyRecord[]> {
    return this.#list('SELECT id FROM studies ORDER BY created_at, rowid', [], (id) => this.getStudy(id));
  }

  async listRounds(studyId: string): Promise<RoundRecord[]> {
    return this.#list('SELECT id FROM rounds WHERE study_id = ? ORDER BY created_at, rowid', [studyId], (id) => this.getRound(id));
  }

  async close(): Promise<void> {
    this.#flushSeen();
    if (this.#db.isOpen) this.#db.close();
  }

  /** The records whose ids `sql` selects, in its order, each read as its single-record getter reads it. */
  async #list<T>(sql: string, parameters: SQLInputValue[], get: (id: string) => Promise<T | undefined>): Promise<T[]> {
    const ids = this.#run(() => (this.#db.prepare(sql).all(...parameters) as Row[]).map((row) => String(row.id)));
    const records: (T | undefined)[] = await Promise.all(ids.map((id) => get(id)));
    return records.filter((record): record is T => record !== undefined);
  }

  /**
   * Runs a write whose commit is fsynced (`PRAGMA synchronous = FULL` for it alone, which also makes every earlier
   * commit in the WAL durable): what a round needs to resume after a power cut. Each costs an fsync (about 4–8 ms on
   * the test VM against 0.1 ms), so the frequent per-site status writes stay NORMAL: they survive a crash of the
   * process, and a round rebuilds them from its stored contributions or asks the site again.
   */
  #durably<T>(work: () => T): T {
    this.#db.exec('PRAGMA synchronous = FULL');
    try {
      return this.#run(work);
    } finally {
      this.#db.exec('PRAGMA synchronous = NORMAL');
    }
  }

  #run<T>(work: () => T): T {
    try {
      return work();
    } catch (cause) {
      if (cause instanceof CoordinatorError) throw cause;
      throw new CoordinatorError('FEDVAL_ERR_COORD_STORAGE', (cause as Error).message, { cause });
    }
  }
}

/** `INSERT INTO table (columns…) VALUES (?, …)` for a row's values, bound in Object.values order. */
function insertStatement(table: string, row: RowValues): string {
  const columns = Object.keys(row);
  return `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`;
}

/** `column = ?, …` for an UPDATE's SET, bound in Object.values order. */
function assignments(row: RowValues): string {
  return Object.keys(row)
    .map((column) => `${column} = ?`)
    .join(', ');
}
