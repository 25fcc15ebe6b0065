// secure-aggregation-sessions.ts — the `secagg_sessions` table of agent.sqlite: per securely aggregated round, the
// session's secrets and what it already sent and received (the keys it shared with, its sealed shares, its inbox), each
// kept before anything that depends on it leaves; the secrets are wiped at the round's deadline, the row stays.
import type { DatabaseSync } from 'node:sqlite';
import { keyAdvertisementSchema } from '@fedval/trust';
import type { KeyAdvertisement } from '@fedval/trust';
import { z } from 'zod';
import { AgentError } from './errors.ts';
import type { SharePair } from './secure-aggregation-session.ts';

/** The session options a restored session needs beyond the agent's configuration and key. */
export interface KeptSessionOptions {
  threshold: number;
  minSites: number;
  /** The key holder's roster: [site id, key fingerprint] pairs. */
  roster: [string, string][];
}

export interface SealedShare {
  site: string;
  sealed: Uint8Array;
}

export interface SecaggSessionRecord {
  roundId: string;
  studyId: string;
  /** The round's deadline, epoch ms: the secrets are wiped after it. */
  deadline: number;
  options: KeptSessionOptions;
  /** c_u^SK ‖ s_u^SK ‖ b_u (secure-aggregation-session.ts SESSION_SECRETS_BYTES); null once wiped. */
  secrets: Uint8Array | null;
  /** ShareKeys done: the advertisements shared with, the pair kept of its own secrets, the sealed shares sent (`site`: recipient). */
  shared: { advertisements: KeyAdvertisement[]; own: SharePair; sent: SealedShare[] } | null;
  /** The sealed shares received (`site`: sender). */
  inbox: SealedShare[] | null;
}

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);
const sealedSchema = z.array(z.strictObject({ site: z.string(), sealed_base64: base64 })).transform((shares): SealedShare[] =>
  shares.map((share) => ({ site: share.site, sealed: new Uint8Array(Buffer.from(share.sealed_base64, 'base64')) })),
);
const decimal = z.string().regex(/^\d+$/).transform((text) => BigInt(text));
const json = <S extends z.ZodType>(schema: S) => z.string().transform((text) => JSON.parse(text) as unknown).pipe(schema);
const rowSchema = z.object({
  round_id: z.string(),
  study_id: z.string(),
  deadline: z.number().int(),
  options_json: json(z.strictObject({ threshold: z.number().int(), minSites: z.number().int(), roster: z.array(z.tuple([z.string(), z.string()])) })),
  secrets: z.instanceof(Uint8Array).nullable(),
  shared_json: json(
    z.strictObject({
      advertisements: z.array(keyAdvertisementSchema),
      own: z.strictObject({ x: z.number().int(), self_mask_seed: decimal, agreement_key: decimal }),
      sent: sealedSchema,
    }),
  ).nullable(),
  inbox_json: json(sealedSchema).nullable(),
});

const sealedJson = (shares: readonly SealedShare[]): { site: string; sealed_base64: string }[] =>
  shares.map((share) => ({ site: share.site, sealed_base64: Buffer.from(share.sealed).toString('base64') }));

/** Per-round secure-aggregation sessions; every write is made before the message it enables leaves the site. */
export class SecaggSessions {
  readonly #db: DatabaseSync;
  /**
   * The write-ahead log may still hold wiped values: a wipe's truncation was blocked, or not tried yet since the database
   * was opened (a crash may have come between a wipe and its truncation). The next wipeExpired tries it again.
   */
  #logPending = true;

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** Keeps a new session's secrets, before its advertisement leaves; false (nothing written) when the round has one. */
  create(roundId: string, studyId: string, deadline: number, options: KeptSessionOptions, secrets: Uint8Array, now = Date.now()): boolean {
    const info = this.#db
      .prepare('INSERT INTO secagg_sessions (round_id, study_id, deadline, options_json, secrets, updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(round_id) DO NOTHING')
      .run(roundId, studyId, deadline, JSON.stringify(options), secrets, now);
    return Number(info.changes) === 1;
  }

  find(roundId: string): SecaggSessionRecord | undefined {
    const found = this.#db.prepare('SELECT round_id, study_id, deadline, options_json, secrets, shared_json, inbox_json FROM secagg_sessions WHERE round_id = ?').get(roundId);
    if (found === undefined) return undefined;
    let row: z.output<typeof rowSchema>;
    try {
      row = rowSchema.parse(found);
    } catch (cause) {
      // A JSON column that does not parse throws from its transform, a wrong shape fails the schema: both are damage.
      throw new AgentError('FEDVAL_ERR_AGENT_LEDGER', `the kept secure-aggregation session of round ${roundId} is damaged`, { cause });
    }
    const shared = row.shared_json;
    return {
      roundId: row.round_id,
      studyId: row.study_id,
      deadline: row.deadline,
      options: row.options_json,
      secrets: row.secrets,
      shared: shared === null ? null : { advertisements: shared.advertisements, own: { x: shared.own.x, selfMaskSeed: shared.own.self_mask_seed, agreementKey: shared.own.agreement_key }, sent: shared.sent },
      inbox: row.inbox_json,
    };
  }

  /**
   * ShareKeys done: kept before the sealed shares leave. True only when it changed the round's row, its secrets still
   * kept and no shares recorded yet; false (nothing written) otherwise: the caller sends nothing (never a second split).
   */
  recordShared(roundId: string, advertisements: readonly KeyAdvertisement[], own: SharePair, sent: readonly SealedShare[], now = Date.now()): boolean {
    const shared = { advertisements, own: { x: own.x, self_mask_seed: own.selfMaskSeed.toString(), agreement_key: own.agreementKey.toString() }, sent: sealedJson(sent) };
    const info = this.#db
      .prepare('UPDATE secagg_sessions SET shared_json = ?, updated_at = ? WHERE round_id = ? AND shared_json IS NULL AND secrets IS NOT NULL')
      .run(JSON.stringify(shared), now, roundId);
    return Number(info.changes) === 1;
  }

  /** The inbox received and opened; a second call for the round changes nothing. */
  recordInbox(roundId: string, inbox: readonly SealedShare[], now = Date.now()): void {
    this.#db.prepare('UPDATE secagg_sessions SET inbox_json = ?, updated_at = ? WHERE round_id = ? AND inbox_json IS NULL').run(JSON.stringify(sealedJson(inbox)), now, roundId);
  }

  /** True while the write-ahead log may still hold wiped values (its truncation was blocked): call wipeExpired again later. */
  get logPending(): boolean {
    return this.#logPending;
  }

  /**
   * Wipes the secrets and shares of every round whose deadline passed (the row stays: the round is never keyed again);
   * returns their ids. agent.sqlite runs with secure_delete (agent-database.ts: the database pages that held them are
   * overwritten), and after a wipe the write-ahead log is checkpointed and truncated, so the old values do not stay in
   * the WAL file. Another connection reading the database (the site admin's CLI) blocks the truncation: it is tried
   * without waiting, and `logPending` stays true until a later call completes it.
   */
  wipeExpired(now = Date.now()): string[] {
    const rows = z.array(z.object({ round_id: z.string() })).parse(this.#db.prepare('SELECT round_id FROM secagg_sessions WHERE deadline <= ? AND secrets IS NOT NULL').all(now));
    if (rows.length > 0) {
      this.#db.prepare('UPDATE secagg_sessions SET secrets = NULL, shared_json = NULL, inbox_json = NULL, updated_at = ? WHERE deadline <= ? AND secrets IS NOT NULL').run(now, now);
      this.#logPending = true;
    }
    if (this.#logPending) this.#logPending = !this.#truncateLog();
    return rows.map((row) => row.round_id);
  }

  /**
   * Checkpoints the write-ahead log and truncates it to zero bytes; false when a reader or writer on another connection
   * blocked it (the PRAGMA's `busy` column, https://www.sqlite.org/pragma.html#pragma_wal_checkpoint). Tried without the
   * busy timeout, which would block the agent's event loop for up to its length.
   */
  #truncateLog(): boolean {
    const { timeout } = z.object({ timeout: z.number().int() }).parse(this.#db.prepare('PRAGMA busy_timeout').get());
    this.#db.exec('PRAGMA busy_timeout = 0');
    try {
      const { busy } = z.object({ busy: z.number().int() }).parse(this.#db.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get());
      return busy === 0;
    } finally {
      this.#db.exec(`PRAGMA busy_timeout = ${timeout}`);
    }
  }

  /** The earliest deadline (epoch ms) after `now` of a round whose secrets are kept, if any: when the next wipe is due. */
  nextDeadline(now = Date.now()): number | undefined {
    const row = z.object({ next: z.number().nullable() }).parse(this.#db.prepare('SELECT MIN(deadline) AS next FROM secagg_sessions WHERE deadline > ? AND secrets IS NOT NULL').get(now));
    return row.next ?? undefined;
  }
}
