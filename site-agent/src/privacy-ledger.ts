// privacy-ledger.ts — the site's persistent privacy ledger (embedded SQLite): every charge is written before data leaves.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { budgetStatus, decideCharge } from '@fedval/dp';
import type { BudgetStatus, ChargeDecision, PrivacyBudget } from '@fedval/dp';
import { AgentError } from './errors.ts';

/** Name of the agent's database inside its data directory. */
export const AGENT_DATABASE_FILE = 'agent.sqlite';

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

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE privacy_ledger (
     id INTEGER PRIMARY KEY,
     dataset_id TEXT NOT NULL,
     study_id TEXT NOT NULL,
     round_id TEXT NOT NULL,
     rho REAL NOT NULL CHECK (rho >= 0),
     epsilon REAL NOT NULL,
     delta REAL NOT NULL,
     created_at INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX privacy_ledger_by_dataset ON privacy_ledger(dataset_id);`,
];

/**
 * The ledger of ρ spent per dataset. A charge is decided and recorded in one transaction
 * (BEGIN IMMEDIATE), so two tasks cannot both fit into the last of a budget, and a charge that is
 * recorded stays recorded whatever happens to the contribution afterwards.
 */
export class PrivacyLedger {
  readonly #db: DatabaseSync;

  private constructor(db: DatabaseSync) {
    this.#db = db;
  }

  static open(dataDir: string): PrivacyLedger {
    let db: DatabaseSync;
    try {
      mkdirSync(dataDir, { recursive: true });
      db = new DatabaseSync(join(dataDir, AGENT_DATABASE_FILE));
      db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;');
      const version = Number((db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version);
      if (version > MIGRATIONS.length) throw new Error(`schema version ${version} is newer than this agent`);
      for (let v = version; v < MIGRATIONS.length; v += 1) {
        db.exec('BEGIN');
        db.exec(MIGRATIONS[v]!);
        db.exec(`PRAGMA user_version = ${v + 1}`);
        db.exec('COMMIT');
      }
    } catch (cause) {
      throw new AgentError('FEDVAL_ERR_AGENT_LEDGER', `cannot open the privacy ledger in ${dataDir}`, { cause });
    }
    return new PrivacyLedger(db);
  }

  /** Decides a charge against the dataset's budget and, when allowed, records it before returning. */
  charge(charge: LedgerCharge, budget: PrivacyBudget): ChargeDecision {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const decision = decideCharge(budget, this.#entries(charge.datasetId), { datasetId: charge.datasetId, roundId: charge.roundId, rho: charge.rho });
      if (decision.allowed) {
        this.#db
          .prepare('INSERT INTO privacy_ledger (dataset_id, study_id, round_id, rho, epsilon, delta, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
          .run(charge.datasetId, charge.studyId, charge.roundId, charge.rho, charge.epsilon, charge.delta, Date.now());
      }
      this.#db.exec('COMMIT');
      return decision;
    } catch (error) {
      this.#db.exec('ROLLBACK');
      throw error;
    }
  }

  status(datasetId: string, budget: PrivacyBudget): BudgetStatus {
    return budgetStatus(budget, this.#entries(datasetId), datasetId);
  }

  records(datasetId: string): LedgerRecord[] {
    const rows = this.#db.prepare('SELECT * FROM privacy_ledger WHERE dataset_id = ? ORDER BY id').all(datasetId) as Record<string, unknown>[];
    return rows.map((row) => ({
      datasetId: String(row.dataset_id),
      studyId: String(row.study_id),
      roundId: String(row.round_id),
      rho: Number(row.rho),
      epsilon: Number(row.epsilon),
      delta: Number(row.delta),
      at: new Date(Number(row.created_at)).toISOString(),
    }));
  }

  close(): void {
    this.#db.close();
  }

  #entries(datasetId: string) {
    return (this.#db.prepare('SELECT round_id, rho FROM privacy_ledger WHERE dataset_id = ?').all(datasetId) as { round_id: string; rho: number }[]).map((row) => ({
      datasetId,
      roundId: row.round_id,
      rho: Number(row.rho),
    }));
  }
}
