// postgres-store.ts — CoordinatorStore on PostgreSQL (pg): an advisory lock for one coordinator per database, versioned
// migrations at start, multi-statement operations in transactions, conditional updates where two callers may race.
import pg from 'pg';
import type { PoolClient, QueryResultRow } from 'pg';
import type { SecaggTranscript } from '@fedval/protocol';
import type { SignedStudyKeyStatement } from '@fedval/trust';
import { z } from 'zod';
import { CoordinatorError } from '../errors.ts';
import { DEFAULT_LOCK_CHECK_MS, watchAdvisoryLock } from './advisory-lock-watch.ts';
import { joinFrames, splitFrames } from './ciphertext-frames.ts';
import { ADVISORY_LOCK_KEY, postgresClientConfig, postgresStorageError } from './postgres-connection.ts';
import type { PostgresConnectionOptions } from './postgres-connection.ts';
import { POSTGRES_MIGRATIONS, SCHEMA_VERSION_TABLE } from './postgres-migrations.ts';
import { closureValues, contributionValues, float64FromBytes, roundSiteValues, secaggEventValues, studyValues } from './row-values.ts';
import type { RowValues } from './row-values.ts';
import { aggregateRowSchema, contributionCountRowSchema, contributionFramesRowSchema, contributionRowSchema, encryptedAggregateRowSchema, modelRowSchema, roundRowSchema, roundSiteRowSchema, secaggEventRowSchema, secaggRowSchema, siteKeyRowSchema, siteSeenRowSchema, studyRowSchema } from './row-schemas.ts';
import type {
  CoordinatorStore,
  EnrollmentTokenRecord,
  ModelRecord,
  RoundClosure,
  RoundRecord,
  RoundResult,
  RoundSiteUpdate,
  RoundState,
  SecaggEvent,
  SiteEnrollment,
  StoredContribution,
  ContributionPage,
  StudyRecord,
} from './store.ts';

export interface PostgresStoreOptions extends PostgresConnectionOptions {
  /** Connections kept for queries, besides the one holding the advisory lock. Default 10. */
  poolSize?: number | undefined;
  /** Called once if the connection holding the advisory lock is lost: every later operation then fails with FEDVAL_ERR_COORD_DATABASE_LOCKED. */
  onLockLost?: ((error: CoordinatorError) => void) | undefined;
  /**
   * How often to check, on the connection holding it, that the advisory lock is still held, in ms; also the longest one
   * check may take. A failed, late or negative check counts as a lost lock. Default 5,000 (5 s).
   */
  lockCheckMs?: number | undefined;
}

export const DEFAULT_POSTGRES_POOL_SIZE = 10; // connections

type Queryable = Pick<PoolClient, 'query'>;

const versionRowSchema = z.object({ version: z.number().int().nonnegative() });
const lockRowSchema = z.object({ taken: z.boolean() });
const holderRowSchema = z.object({ pid: z.number().int(), application_name: z.string().nullable() });
const idRowSchema = z.object({ id: z.string() });

/**
 * Opens a PostgreSQL-backed store: connects, takes the database's advisory lock (refusing with
 * FEDVAL_ERR_COORD_DATABASE_LOCKED when another coordinator holds it) and migrates the schema, in the background.
 * `ready()` settles when that is done; every operation waits for it and fails with its error.
 */
export function openPostgresStore(options: PostgresStoreOptions): PostgresCoordinatorStore {
  return new PostgresCoordinatorStore(options);
}

export class PostgresCoordinatorStore implements CoordinatorStore {
  readonly #pool: pg.Pool;
  readonly #lock: pg.Client;
  readonly #opened: Promise<void>;
  readonly #onLockLost: PostgresStoreOptions['onLockLost'];
  #lockLost: CoordinatorError | undefined;
  /** The advisory lock was taken: from then on, losing its connection means losing the lock. */
  #locked = false;
  #closing = false;
  readonly #lockCheckMs: number;
  #stopLockWatch: () => void = () => undefined;

  constructor(options: PostgresStoreOptions) {
    const client = postgresClientConfig(options);
    this.#onLockLost = options.onLockLost;
    this.#lockCheckMs = options.lockCheckMs ?? DEFAULT_LOCK_CHECK_MS;
    this.#pool = new pg.Pool({ ...client, max: options.poolSize ?? DEFAULT_POSTGRES_POOL_SIZE });
    // An idle connection the server ended (restart, failover) must not crash the coordinator; the next query reconnects.
    this.#pool.on('error', () => undefined);
    this.#lock = new pg.Client(client);
    this.#lock.on('error', () => this.#loseLock());
    this.#lock.on('end', () => this.#loseLock());
    this.#opened = this.#open();
    this.#opened.catch(() => undefined); // surfaced by ready() and by every operation
  }

  /** Settles once connected, locked and migrated; rejects with the coded error that prevented it. */
  ready(): Promise<void> {
    return this.#opened;
  }

  async #open(): Promise<void> {
    try {
      await this.#lock.connect();
    } catch (error) {
      throw postgresStorageError(error, 'connect');
    }
    try {
      const taken = lockRowSchema.parse((await this.#lock.query('SELECT pg_try_advisory_lock($1::bigint) AS taken', [ADVISORY_LOCK_KEY])).rows[0]);
      if (!taken.taken) throw new CoordinatorError('FEDVAL_ERR_COORD_DATABASE_LOCKED', await this.#lockHolder());
      this.#locked = true;
      await migrate(this.#lock);
      // The connection's own events miss a partition or a failover that sends nothing back: ask the server.
      if (!this.#closing) this.#stopLockWatch = watchAdvisoryLock(this.#lock, { key: ADVISORY_LOCK_KEY, intervalMs: this.#lockCheckMs, onLost: (reason) => this.#loseLock(reason) });
    } catch (error) {
      this.#closing = true;
      await this.#lock.end().catch(() => undefined);
      throw postgresStorageError(error, 'query');
    }
  }

  /** Which backend holds the lock, for the operator (pg_locks stores a bigint key as classid = high, objid = low 32 bits). */
  async #lockHolder(): Promise<string> {
    const result = await this.#lock.query(
      `SELECT l.pid, a.application_name FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
       WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
         AND ((l.classid::bigint << 32) | l.objid::bigint) = $1::bigint`,
      [ADVISORY_LOCK_KEY],
    );
    const holder = result.rows[0] === undefined ? undefined : holderRowSchema.parse(result.rows[0]);
    return holder === undefined ? 'the advisory lock is taken' : `server process ${holder.pid} (${holder.application_name ?? 'unknown application'}) holds the advisory lock`;
  }

  #loseLock(reason = 'the connection holding the advisory lock was lost'): void {
    if (!this.#locked || this.#closing || this.#lockLost) return;
    this.#stopLockWatch();
    this.#lockLost = new CoordinatorError('FEDVAL_ERR_COORD_DATABASE_LOCKED', `${reason}; restart the coordinator`);
    this.#onLockLost?.(this.#lockLost);
  }

  async putModel(model: ModelRecord): Promise<boolean> {
    const { rowCount } = await this.#query(
      `INSERT INTO models (id, name, version, format, manifest_json, files_json, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
      [model.id, model.name, model.version, model.format, model.manifestJson, JSON.stringify(model.files), model.createdAt],
    );
    return rowCount === 1;
  }

  async getModel(id: string): Promise<ModelRecord | undefined> {
    const row = await this.#one('SELECT * FROM models WHERE id = $1', [id]);
    return row === undefined ? undefined : this.#parse(modelRowSchema, row);
  }

  async listModels(): Promise<ModelRecord[]> {
    return this.#list('SELECT id FROM models ORDER BY created_at, seq', [], (id) => this.getModel(id));
  }

  async createStudy(study: StudyRecord): Promise<void> {
    const row = studyValues(study);
    await this.#query(insertStatement('studies', row), Object.values(row));
  }

  async getStudy(id: string): Promise<StudyRecord | undefined> {
    const row = await this.#one('SELECT * FROM studies WHERE id = $1', [id]);
    return row === undefined ? undefined : this.#parse(studyRowSchema, row);
  }

  async listStudies(): Promise<StudyRecord[]> {
    return this.#list('SELECT id FROM studies ORDER BY created_at, seq', [], (id) => this.getStudy(id));
  }

  async setStudyPublicKey(id: string, publicKey: Uint8Array, keyStatement: SignedStudyKeyStatement | null = null): Promise<boolean> {
    const { rowCount } = await this.#query('UPDATE studies SET public_key = $1, key_statement_json = $2 WHERE id = $3 AND public_key IS NULL', [
      publicKey,
      keyStatement === null ? null : JSON.stringify(keyStatement),
      id,
    ]);
    return rowCount === 1;
  }

  async setStudyKeyStatement(id: string, keyStatement: SignedStudyKeyStatement): Promise<boolean> {
    const { rowCount } = await this.#query('UPDATE studies SET key_statement_json = $1 WHERE id = $2 AND public_key IS NOT NULL', [JSON.stringify(keyStatement), id]);
    return rowCount === 1;
  }

  async createRound(round: Omit<RoundRecord, 'result' | 'closedAt' | 'reason' | 'contributions'>): Promise<void> {
    await this.#transaction(async (client) => {
      await client.query('INSERT INTO rounds (id, study_id, state, created_at, deadline_at) VALUES ($1, $2, $3, $4, $5)', [round.id, round.studyId, round.state, round.createdAt, round.deadlineAt]);
      for (const site of round.sites) {
        await client.query('INSERT INTO round_sites (round_id, site_id, status, code, updated_at) VALUES ($1, $2, $3, $4, $5)', [round.id, site.siteId, site.status, site.code, site.updatedAt]);
      }
    });
  }

  async getRound(id: string): Promise<RoundRecord | undefined> {
    // One snapshot for the round and its sites, as SQLite's single connection sees them.
    return this.#transaction(async (client) => {
      const row = (await client.query('SELECT * FROM rounds WHERE id = $1', [id])).rows[0];
      if (row === undefined) return undefined;
      const sites = (await client.query('SELECT * FROM round_sites WHERE round_id = $1 ORDER BY seq', [id])).rows;
      return { ...this.#parse(roundRowSchema, row), sites: sites.map((site) => this.#parse(roundSiteRowSchema, site)) };
    }, 'REPEATABLE READ READ ONLY');
  }

  async listRounds(studyId: string): Promise<RoundRecord[]> {
    return this.#list('SELECT id FROM rounds WHERE study_id = $1 ORDER BY created_at, seq', [studyId], (id) => this.getRound(id));
  }

  async setRoundState(id: string, state: RoundState, _at: number): Promise<void> {
    await this.#query('UPDATE rounds SET state = $1 WHERE id = $2', [state, id]);
  }

  async updateRoundSite(roundId: string, siteId: string, update: RoundSiteUpdate, at: number): Promise<void> {
    const row = roundSiteValues(update, at);
    const n = Object.keys(row).length;
    await this.#query(`UPDATE round_sites SET ${assignments(row)} WHERE round_id = $${n + 1} AND site_id = $${n + 2}`, [...Object.values(row), roundId, siteId]);
  }

  async closeRound(id: string, closure: RoundClosure): Promise<void> {
    const row = closureValues(closure);
    await this.#transaction(async (client) => {
      await client.query(`UPDATE rounds SET ${assignments(row)} WHERE id = $${Object.keys(row).length + 1}`, [...Object.values(row), id]);
      // The steps were kept for a restart; the closed round keeps its signed transcript (secagg_json).
      await client.query('DELETE FROM round_secagg_events WHERE round_id = $1', [id]);
    });
  }

  async appendSecaggEvent(roundId: string, event: SecaggEvent): Promise<void> {
    const row = secaggEventValues(roundId, event);
    await this.#query(insertStatement('round_secagg_events', row), Object.values(row));
  }

  async listSecaggEvents(roundId: string): Promise<SecaggEvent[]> {
    const { rows } = await this.#query('SELECT event_json FROM round_secagg_events WHERE round_id = $1 ORDER BY seq', [roundId]);
    return rows.map((row) => this.#parse(secaggEventRowSchema, row));
  }

  async getRoundAggregate(id: string): Promise<Float64Array | undefined> {
    const found = await this.#one('SELECT aggregate FROM rounds WHERE id = $1', [id]);
    const row = found === undefined ? undefined : this.#parse(aggregateRowSchema, found);
    return row?.aggregate ? float64FromBytes(row.aggregate) : undefined;
  }

  async getRoundEncryptedAggregate(id: string): Promise<Uint8Array[] | undefined> {
    const found = await this.#one('SELECT encrypted_aggregate FROM rounds WHERE id = $1', [id]);
    const row = found === undefined ? undefined : this.#parse(encryptedAggregateRowSchema, found);
    return row?.encrypted_aggregate ? splitFrames(row.encrypted_aggregate) : undefined;
  }

  async getRoundSecureAggregation(id: string): Promise<SecaggTranscript | undefined> {
    const found = await this.#one('SELECT secagg_json FROM rounds WHERE id = $1', [id]);
    const row = found === undefined ? undefined : this.#parse(secaggRowSchema, found);
    return row?.secagg_json ?? undefined;
  }

  async putRoundContribution(contribution: StoredContribution): Promise<void> {
    const row = contributionValues(contribution);
    // The same bytes again (a site re-sending after a restart) change nothing; other bytes are refused.
    const { rowCount } = await this.#query(`${insertStatement('round_contributions', row)} ON CONFLICT (round_id, site_id) DO NOTHING`, Object.values(row));
    if (rowCount === 1) return;
    const kept = (await this.#query('SELECT ciphertexts FROM round_contributions WHERE round_id = $1 AND site_id = $2', [contribution.roundId, contribution.siteId])).rows[0];
    if (!Buffer.from(this.#parse(contributionFramesRowSchema, kept).ciphertexts).equals(joinFrames(contribution.ciphertexts))) {
      throw new CoordinatorError('FEDVAL_ERR_COORD_DUPLICATE_CONTRIBUTION', `site ${contribution.siteId} sent other ciphertexts to round ${contribution.roundId}`);
    }
  }

  async listRoundContributions(roundId: string, page?: ContributionPage): Promise<StoredContribution[]> {
    const { rows } = page
      ? await this.#query('SELECT * FROM round_contributions WHERE round_id = $1 ORDER BY seq LIMIT $2 OFFSET $3', [roundId, page.limit, page.offset])
      : await this.#query('SELECT * FROM round_contributions WHERE round_id = $1 ORDER BY seq', [roundId]);
    return rows.map((row) => {
      const { frames, ...kept } = this.#parse(contributionRowSchema, row);
      return { ...kept, ciphertexts: splitFrames(frames) };
    });
  }

  async countRoundContributions(roundId: string): Promise<{ contributions: number; signed: number }> {
    const { rows } = await this.#query('SELECT COUNT(*)::int AS contributions, COUNT(record_json)::int AS signed FROM round_contributions WHERE round_id = $1', [roundId]);
    return this.#parse(contributionCountRowSchema, rows[0]);
  }

  async releaseRound(id: string, result: RoundResult, at: number): Promise<boolean> {
    // Conditional update: the row lock makes a second releaser (another request, another coordinator) re-check
    // `result_json IS NULL` after the first commits, and find nothing to update.
    const { rowCount } = await this.#query(`UPDATE rounds SET result_json = $1, released_at = $2 WHERE id = $3 AND state = 'aggregated' AND result_json IS NULL`, [
      JSON.stringify(result),
      at,
      id,
    ]);
    return rowCount === 1;
  }

  async listOpenRounds(): Promise<RoundRecord[]> {
    return this.#list(`SELECT id FROM rounds WHERE state IN ('dispatched', 'collecting') ORDER BY created_at, seq`, [], (id) => this.getRound(id));
  }

  async failOpenRounds(reason: string, at: number): Promise<number> {
    const { rowCount } = await this.#query(`UPDATE rounds SET state = 'failed', reason = $1, closed_at = $2 WHERE state IN ('dispatched', 'collecting')`, [reason, at]);
    return rowCount ?? 0;
  }

  async recordSiteSeen(siteId: string, at: number): Promise<void> {
    await this.#query('INSERT INTO sites (id, last_seen) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen', [siteId, at]);
  }

  async siteLastSeen(): Promise<Map<string, number>> {
    const { rows } = await this.#query('SELECT id, last_seen FROM sites', []);
    return new Map(rows.map((row) => this.#parse(siteSeenRowSchema, row)).map((row) => [row.id, row.last_seen]));
  }

  async putEnrollmentToken(token: EnrollmentTokenRecord): Promise<number> {
    return this.#transaction(async (client) => {
      const revoked = await revokeUnusedTokens(client, token.siteId, token.createdAt);
      await client.query('INSERT INTO enrollment_tokens (token_sha256, site_id, created_at, expires_at, used_at, revoked_at) VALUES ($1, $2, $3, $4, NULL, NULL)', [
        token.tokenSha256,
        token.siteId,
        token.createdAt,
        token.expiresAt,
      ]);
      return revoked;
    });
  }

  async enrollSite(enrollment: SiteEnrollment): Promise<boolean> {
    return this.#transaction(async (client) => {
      // Burning the token is a conditional update: of two enrollments racing with one token, the second finds it used.
      const burned = await client.query(
        'UPDATE enrollment_tokens SET used_at = $1 WHERE token_sha256 = $2 AND site_id = $3 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1',
        [enrollment.enrolledAt, enrollment.tokenSha256, enrollment.siteId],
      );
      if (burned.rowCount !== 1) return false;
      await revokeUnusedTokens(client, enrollment.siteId, enrollment.enrolledAt);
      await client.query(
        `INSERT INTO site_keys (site_id, public_key, fingerprint, enrolled_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (site_id) DO UPDATE SET public_key = excluded.public_key, fingerprint = excluded.fingerprint, enrolled_at = excluded.enrolled_at`,
        [enrollment.siteId, enrollment.publicKey, enrollment.fingerprint, enrollment.enrolledAt],
      );
      return true;
    });
  }

  async siteKeys(): Promise<Map<string, string>> {
    const { rows } = await this.#query('SELECT site_id, public_key FROM site_keys', []);
    return new Map(rows.map((row) => this.#parse(siteKeyRowSchema, row)).map((row) => [row.site_id, row.public_key]));
  }

  /** Ends the pool, then the connection holding the advisory lock (ending its session releases the lock). */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#stopLockWatch();
    await this.#opened.catch(() => undefined);
    await this.#pool.end().catch(() => undefined);
    // A lost lock's connection may never answer (a partition): ask it to end, without waiting on it.
    const ended = this.#lock.end().catch(() => undefined);
    if (this.#lockLost === undefined) await ended;
  }

  /** Parses a row with its schema; a row that does not fit is a coded storage error, never cast. */
  #parse<S extends z.ZodType>(schema: S, row: QueryResultRow): z.output<S> {
    const parsed = schema.safeParse(row);
    if (!parsed.success) throw new CoordinatorError('FEDVAL_ERR_COORD_STORAGE', parsed.error.message, { cause: parsed.error });
    return parsed.data;
  }

  async #ensureUsable(): Promise<void> {
    try {
      await this.#opened;
    } catch (error) {
      throw postgresStorageError(error, 'connect');
    }
    if (this.#lockLost) throw this.#lockLost;
    if (this.#closing) throw new CoordinatorError('FEDVAL_ERR_COORD_STORAGE', 'the store is closed');
  }

  async #query(text: string, values: unknown[]): Promise<pg.QueryResult> {
    await this.#ensureUsable();
    try {
      return await this.#pool.query(text, values);
    } catch (error) {
      throw postgresStorageError(error, 'query');
    }
  }

  async #one(text: string, values: unknown[]): Promise<QueryResultRow | undefined> {
    return (await this.#query(text, values)).rows[0];
  }

  /** Runs `work` in one transaction on one pooled connection: committed when it returns, rolled back when it throws. */
  async #transaction<T>(work: (client: PoolClient) => Promise<T>, mode = 'READ WRITE'): Promise<T> {
    await this.#ensureUsable();
    let client: PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw postgresStorageError(error, 'connect');
    }
    let broken = false;
    try {
      await client.query(`BEGIN ISOLATION LEVEL ${mode === 'READ WRITE' ? 'READ COMMITTED READ WRITE' : mode}`);
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw postgresStorageError(error, 'query');
    } finally {
      client.release(broken);
    }
  }

  /** The records whose ids `text` selects, in its order, each read as its single-record getter reads it. */
  async #list<T>(text: string, values: unknown[], get: (id: string) => Promise<T | undefined>): Promise<T[]> {
    const { rows } = await this.#query(text, values);
    const records: (T | undefined)[] = await Promise.all(rows.map((row) => get(this.#parse(idRowSchema, row).id)));
    return records.filter((record): record is T => record !== undefined);
  }
}

/** `INSERT INTO table (columns…) VALUES ($1, …)` for a row's values, bound in Object.values order. */
function insertStatement(table: string, row: RowValues): string {
  const columns = Object.keys(row);
  return `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})`;
}

/** `column = $1, …` for an UPDATE's SET, bound in Object.values order from $1. */
function assignments(row: RowValues): string {
  return Object.keys(row)
    .map((column, i) => `${column} = $${i + 1}`)
    .join(', ');
}

/** Revokes every unused, unrevoked token of a site; returns how many. */
async function revokeUnusedTokens(client: Queryable, siteId: string, at: number): Promise<number> {
  const revoked = await client.query('UPDATE enrollment_tokens SET revoked_at = $1 WHERE site_id = $2 AND used_at IS NULL AND revoked_at IS NULL', [at, siteId]);
  return revoked.rowCount ?? 0;
}

/**
 * Applies the migrations not yet applied, each in its own transaction with the version it reaches; refuses a database
 * whose version is newer than this coordinator knows (FEDVAL_ERR_COORD_STORAGE_VERSION). Idempotent.
 */
async function migrate(client: pg.Client): Promise<void> {
  await client.query(`CREATE TABLE IF NOT EXISTS ${SCHEMA_VERSION_TABLE} (version integer NOT NULL)`);
  await client.query(`INSERT INTO ${SCHEMA_VERSION_TABLE} (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM ${SCHEMA_VERSION_TABLE})`);
  const current = versionRowSchema.parse((await client.query(`SELECT version FROM ${SCHEMA_VERSION_TABLE}`)).rows[0]).version;
  if (current > POSTGRES_MIGRATIONS.length) {
    throw new CoordinatorError('FEDVAL_ERR_COORD_STORAGE_VERSION', `the database schema is at version ${current}; this coordinator knows up to ${POSTGRES_MIGRATIONS.length}`);
  }
  for (let version = current; version < POSTGRES_MIGRATIONS.length; version += 1) {
    try {
      await client.query('BEGIN');
      await client.query(POSTGRES_MIGRATIONS[version]!);
      await client.query(`UPDATE ${SCHEMA_VERSION_TABLE} SET version = $1`, [version + 1]);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw new CoordinatorError('FEDVAL_ERR_COORD_STORAGE', `migration to schema version ${version + 1} failed; nothing of it was applied`, { cause: error });
    }
  }
}
