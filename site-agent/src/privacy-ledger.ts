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
  /** The round's (ε, δ) as the study states it, for display. */
  epsilon: number;
  delta: number;
}

export interface LedgerRecord extends LedgerCharge {
  at: string;
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
    return inWriteTransaction(this.#db, () => {
      const decision = decideCharge(budget, this.#entries(charge.datasetId), { datasetId: charge.datasetId, roundId: charge.roundId, rho: charge.rho });
      if (decision.allowed) {
        this.#db
          .prepare('INSERT INTO privacy_ledger (dataset_id, study_id, round_id, rho, epsilon, delta, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
          .run(charge.datasetId, charge.studyId, charge.roundId, charge.rho, charge.epsilon, charge.delta, Date.now());
      }
      return decision;
    });
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
      .prepare('SELECT * FROM privacy_ledger WHERE dataset_id = ? ORDER BY id')
      .all(datasetId)
      .map((row) => ledgerRowSchema.parse(row));
  }

  close(): void {
    this.#db.close();
  }

  #entries(datasetId: string) {
    return entryRowSchema.array().parse(this.#db.prepare('SELECT round_id, rho FROM privacy_ledger WHERE dataset_id = ?').all(datasetId)).map((row) => ({
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
    created_at: z.number().int(),
  })
  .transform(
    (row): LedgerRecord => ({
      datasetId: row.dataset_id,
      studyId: row.study_id,
      roundId: row.round_id,
      rho: row.rho,
      epsilon: row.epsilon,
      delta: row.delta,
      at: new Date(row.created_at).toISOString(),
    }),
  );

/** What the budget check reads of each charge. */
const entryRowSchema = z.object({ round_id: z.string(), rho: z.number() });
