// privacy-ledger.ts — the site's persistent privacy ledger (embedded SQLite): every charge is written before data leaves.
import type { DatabaseSync } from 'node:sqlite';
import { z } from 'zod';
import { budgetStatus, decideCharge } from '@fedval/dp';
import type { BudgetStatus, ChargeDecision, PrivacyBudget } from '@fedval/dp';
import { inWriteTransaction } from '@fedval/sqlite';
import { openAgentDatabase } from './agent-database.ts';

export interface LedgerCharge {
  datasetId: string;
  studyId: string;
  roundId: string;
  /** zCDP cost of this contribution. */
  rho: number;
  /** The round's (ε, δ) as the study states it, for display: the guarantee when the other sites' noise shares are honest. */
  epsilon: number;
  delta: number;
  /** ε (at `delta`) of this site's own noise share alone: the guarantee if every other party colludes. */
  ownShareEpsilon: number;
}

export interface LedgerRecord extends Omit<LedgerCharge, 'ownShareEpsilon'> {
  /** Null for a round charged before the agent recorded it. */
  ownShareEpsilon: number | null;
  at: string;
  /** Why the charge was refunded (a securely aggregated round that can never be unmasked), or null. */
  refund: { reason: string; at: string } | null;
}

/**
 * The ledger of ρ spent per dataset. A charge is decided and recorded in one transaction
 * (BEGIN IMMEDIATE), so two tasks cannot both fit into the last of a budget, and a charge that is
 * recorded stays recorded whatever happens to the contribution afterwards.
 */
export class PrivacyLedger {
  readonly #db: DatabaseSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** Opens the ledger on its own connection to `<dataDir>/agent.sqlite` (for read-only commands); `close` closes it. */
  static open(dataDir: string): PrivacyLedger {
    return new PrivacyLedger(openAgentDatabase(dataDir));
  }

  /** Decides a charge against the dataset's budget and, when allowed, records it before returning. */
  charge(charge: LedgerCharge, budget: PrivacyBudget): ChargeDecision {
    return inWriteTransaction(this.#db, () => this.chargeInTransaction(charge, budget));
  }

  /**
   * {@link charge} inside a write transaction the caller holds (BEGIN IMMEDIATE on the same connection), so the charge
   * commits or rolls back together with the caller's other changes (the contribution kept for the round).
   */
  chargeInTransaction(charge: LedgerCharge, budget: PrivacyBudget): ChargeDecision {
    const decision = this.decide(charge, budget);
    if (decision.allowed) {
      this.#db
        .prepare('INSERT INTO privacy_ledger (dataset_id, study_id, round_id, rho, epsilon, delta, own_share_epsilon, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(charge.datasetId, charge.studyId, charge.roundId, charge.rho, charge.epsilon, charge.delta, charge.ownShareEpsilon, Date.now());
    }
    return decision;
  }

  /** Whether a charge would fit the budget now, recording nothing (the final decision is the charge's own). */
  decide(charge: Pick<LedgerCharge, 'datasetId' | 'roundId' | 'rho'>, budget: PrivacyBudget): ChargeDecision {
    return decideCharge(budget, this.#entries(charge.datasetId), { datasetId: charge.datasetId, roundId: charge.roundId, rho: charge.rho });
  }

  /**
   * Refunds a round's charge inside the caller's write transaction: its ρ no longer counts against the budget; the
   * charge row stays, with the refund beside it. Only for a securely aggregated round whose masked input this site
   * never let be unmasked (it signed no survivor set): nothing of it can ever be decrypted. False if already refunded.
   */
  refundInTransaction(roundId: string, reason: string, now = Date.now()): boolean {
    return this.#db.prepare('INSERT OR IGNORE INTO privacy_refunds (round_id, reason, created_at) VALUES (?, ?, ?)').run(roundId, reason, now).changes === 1;
  }

  /** Whether any dataset was already charged for this round: its release exists, and must not be made a second time. */
  hasCharged(roundId: string): boolean {
    return this.#db.prepare('SELECT 1 FROM privacy_ledger WHERE round_id = ? LIMIT 1').get(roundId) !== undefined;
  }

  status(datasetId: string, budget: PrivacyBudget): BudgetStatus {
    return budgetStatus(budget, this.#entries(datasetId), datasetId);
  }

  records(datasetId: string): LedgerRecord[] {
    return this.#db
      .prepare('SELECT l.*, r.reason AS refund_reason, r.created_at AS refunded_at FROM privacy_ledger l LEFT JOIN privacy_refunds r ON r.round_id = l.round_id WHERE l.dataset_id = ? ORDER BY l.id')
      .all(datasetId)
      .map((row) => ledgerRowSchema.parse(row));
  }

  close(): void {
    this.#db.close();
  }

  #entries(datasetId: string) {
    // A refunded round costs nothing: its masked input can never be unmasked.
    const rows = this.#db.prepare('SELECT round_id, rho FROM privacy_ledger WHERE dataset_id = ? AND round_id NOT IN (SELECT round_id FROM privacy_refunds)').all(datasetId);
    return entryRowSchema.array().parse(rows).map((row) => ({
      datasetId,
      roundId: row.round_id,
      rho: Number(row.rho),
    }));
  }
}

/** A row of `privacy_ledger`, parsed. */
const ledgerRowSchema = z
  .object({
    dataset_id: z.string(),
    study_id: z.string(),
    round_id: z.string(),
    rho: z.number(),
    epsilon: z.number(),
    delta: z.number(),
    own_share_epsilon: z.number().nullable(),
    created_at: z.number().int(),
    refund_reason: z.string().nullable(),
    refunded_at: z.number().int().nullable(),
  })
  .transform(
    (row): LedgerRecord => ({
      datasetId: row.dataset_id,
      studyId: row.study_id,
      roundId: row.round_id,
      rho: row.rho,
      epsilon: row.epsilon,
      delta: row.delta,
      ownShareEpsilon: row.own_share_epsilon,
      at: new Date(row.created_at).toISOString(),
      refund: row.refund_reason === null ? null : { reason: row.refund_reason, at: new Date(row.refunded_at ?? 0).toISOString() },
    }),
  );

/** What the budget check reads of each charge. */
const entryRowSchema = z.object({ round_id: z.string(), rho: z.number() });
