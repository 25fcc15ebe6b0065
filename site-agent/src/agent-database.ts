// agent-database.ts — the agent's embedded SQLite database (`agent.sqlite`): opening, pragmas and schema migrations.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
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
];

/** Opens (creating and migrating) `<dataDir>/agent.sqlite`. Throws FEDVAL_ERR_AGENT_LEDGER. */
export function openAgentDatabase(dataDir: string): DatabaseSync {
  let db: DatabaseSync | undefined;
  try {
    mkdirSync(dataDir, { recursive: true });
    db = new DatabaseSync(join(dataDir, AGENT_DATABASE_FILE));
    // busy_timeout: the agent and the site admin's CLI share the file; a writer waits up to 5 s for the other.
    db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;');
    const version = Number((db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version);
    if (version > MIGRATIONS.length) throw new Error(`schema version ${version} is newer than this agent`);
    for (let v = version; v < MIGRATIONS.length; v += 1) {
      db.exec('BEGIN IMMEDIATE');
      try {
        db.exec(MIGRATIONS[v]!);
        db.exec(`PRAGMA user_version = ${v + 1}`);
        db.exec('COMMIT');
      } catch (error) {
        db.exec('ROLLBACK');
        throw error;
      }
    }
    return db;
  } catch (cause) {
    db?.close();
    throw new AgentError('FEDVAL_ERR_AGENT_LEDGER', `cannot open the agent database in ${dataDir}`, { cause });
  }
}

/** Runs `change` in one write transaction (BEGIN IMMEDIATE: also a lock between the agent and the admin's CLI). */
export function inWriteTransaction<T>(db: DatabaseSync, change: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  let result: T;
  try {
    result = change();
  } catch (error) {
    db.exec('ROLLBACK');
    throw error;
  }
  db.exec('COMMIT');
  return result;
}
