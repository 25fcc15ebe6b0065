// agent-database.ts — the agent's embedded SQLite database (`agent.sqlite`): opening, pragmas and schema migrations.
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { openSqliteDatabase, SqliteError } from '@fedval/sqlite';
import { AgentError } from './errors.ts';

/** Name of the agent's database inside its data directory. */
export const AGENT_DATABASE_FILE = 'agent.sqlite';

/** Schema migrations in order; `PRAGMA user_version` counts those applied. Never edit one that has shipped: append. */
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
  `CREATE TABLE model_bundles (
     bundle_sha256 TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     version TEXT NOT NULL,
     inputs TEXT NOT NULL,
     signer_fingerprint TEXT,
     received_at INTEGER NOT NULL,
     approved_at INTEGER,
     approved_by TEXT,
     approval_note TEXT
   ) STRICT;
   CREATE TABLE dataset_commitments (
     id INTEGER PRIMARY KEY,
     study_id TEXT NOT NULL,
     round_id TEXT NOT NULL,
     dataset_id TEXT NOT NULL,
     data_file TEXT NOT NULL,
     fingerprint TEXT NOT NULL,
     salt TEXT NOT NULL,
     commitment TEXT NOT NULL,
     created_at INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX dataset_commitments_by_round ON dataset_commitments(round_id);`,
  `CREATE TABLE sent_contributions (
     round_id TEXT PRIMARY KEY,
     study_id TEXT NOT NULL,
     deadline INTEGER NOT NULL,
     sha256 TEXT NOT NULL,
     message BLOB NOT NULL,
     created_at INTEGER NOT NULL
   ) STRICT;`,
  // The ε of the site's own noise share alone (null for rounds charged before it was recorded).
  `ALTER TABLE privacy_ledger ADD COLUMN own_share_epsilon REAL;`,
  // The key and plan a kept contribution was encrypted under (null: not BFV), signed again when it is re-sent; and the
  // highest study key statement version verified per study (older ones are refused).
  `ALTER TABLE sent_contributions ADD COLUMN public_key_sha256 TEXT;
   ALTER TABLE sent_contributions ADD COLUMN plan_sha256 TEXT;
   CREATE TABLE key_statement_versions (
     study_id TEXT PRIMARY KEY,
     version INTEGER NOT NULL CHECK (version >= 1),
     key_holder_fingerprint TEXT NOT NULL,
     updated_at INTEGER NOT NULL
   ) STRICT;`,
  // Secure aggregation: what this site signed and revealed per round (never both secrets of one site), and refunds.
  `CREATE TABLE secagg_rounds (
     round_id TEXT PRIMARY KEY,
     study_id TEXT NOT NULL,
     deadline INTEGER NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('masked', 'signed', 'revealed', 'refunded')),
     survivors_json TEXT,
     revealed_json TEXT NOT NULL DEFAULT '{}',
     updated_at INTEGER NOT NULL
   ) STRICT;
   CREATE TABLE privacy_refunds (
     round_id TEXT PRIMARY KEY,
     reason TEXT NOT NULL,
     created_at INTEGER NOT NULL
   ) STRICT;`,
  // Secure aggregation's per-round secrets and progress, kept before anything made from them leaves, so a site answers a
  // restarted coordinator (or restarts itself) with what it sent before; the secrets are wiped at the round's deadline.
  `CREATE TABLE secagg_sessions (
     round_id TEXT PRIMARY KEY,
     study_id TEXT NOT NULL,
     deadline INTEGER NOT NULL,
     options_json TEXT NOT NULL,
     secrets BLOB,
     shared_json TEXT,
     inbox_json TEXT,
     updated_at INTEGER NOT NULL
   ) STRICT;`,
];

/** Opens (creating and migrating) `<dataDir>/agent.sqlite`. Throws FEDVAL_ERR_AGENT_LEDGER. */
export function openAgentDatabase(dataDir: string): DatabaseSync {
  try {
    // synchronous FULL: a charge or an audit entry is on disk before anything leaves. busy_timeout (default 5 s): the
    // agent and the site admin's CLI share the file; a writer waits for the other.
    const db = openSqliteDatabase(join(dataDir, AGENT_DATABASE_FILE), { migrations: MIGRATIONS, synchronous: 'FULL' });
    // Deleted and overwritten content (secure aggregation's wiped secrets) is zeroed on disk, not left in free pages.
    try {
      db.exec('PRAGMA secure_delete = ON');
    } catch (cause) {
      db.close();
      throw cause;
    }
    return db;
  } catch (cause) {
    throw new AgentError('FEDVAL_ERR_AGENT_LEDGER', `cannot open the agent database in ${dataDir}${cause instanceof SqliteError ? ` (${cause.code})` : ''}`, { cause });
  }
}
