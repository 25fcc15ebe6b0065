// sqlite-database.ts — an embedded SQLite database (node:sqlite) opened the one way fedval opens them: WAL, a busy
// timeout, an integrity check at start, owner-only file modes, schema migrations counted by PRAGMA user_version, and
// write transactions that also lock between processes.
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { SqliteError } from './errors.ts';

/** Options of {@link openSqliteDatabase}. */
export interface SqliteDatabaseOptions {
  /**
   * Schema migrations in order: entry i takes the schema from version i to i + 1, in one transaction. Never edit one
   * that has shipped: append.
   */
  migrations: readonly string[];
  /** `PRAGMA synchronous`: FULL fsyncs every commit (survives power loss), NORMAL only at checkpoints under WAL. Default 'FULL'. */
  synchronous: 'FULL' | 'NORMAL';
  /** `PRAGMA foreign_keys`. Default false (SQLite's own default). */
  foreignKeys: boolean;
  /** How long a writer waits for another process's lock, in milliseconds. Default 5000 ms. */
  busyTimeoutMs: number;
}

export const DEFAULT_SQLITE_DATABASE_OPTIONS: Readonly<Omit<SqliteDatabaseOptions, 'migrations'>> = Object.freeze({
  synchronous: 'FULL', // fsync every commit
  foreignKeys: false,
  busyTimeoutMs: 5_000, // 5 s
});

/** Mode of a directory openSqliteDatabase creates: owner only. */
export const SQLITE_DIRECTORY_MODE = 0o700;
/** Mode of the database file (SQLite gives its -wal and -shm files the same): owner read and write only. */
export const SQLITE_FILE_MODE = 0o600;

/**
 * Opens (creating its directory, mode 0700, and file, mode 0600) the database at `path` in WAL mode, checks its
 * integrity (`PRAGMA quick_check`: every page and b-tree, not the indexes' contents) and migrates it to the latest
 * schema. An existing file is narrowed to mode 0600. Throws FEDVAL_ERR_SQLITE_OPEN, FEDVAL_ERR_SQLITE_CORRUPT (the
 * file is damaged: restore it from a backup), FEDVAL_ERR_SQLITE_SCHEMA_VERSION (written by a newer program) or
 * FEDVAL_ERR_SQLITE_MIGRATION; the database is closed again on any failure.
 */
export function openSqliteDatabase(path: string, options: Pick<SqliteDatabaseOptions, 'migrations'> & Partial<SqliteDatabaseOptions>): DatabaseSync {
  const { migrations, synchronous, foreignKeys, busyTimeoutMs } = { ...DEFAULT_SQLITE_DATABASE_OPTIONS, ...options };
  if (!Number.isSafeInteger(busyTimeoutMs) || busyTimeoutMs < 0) throw new SqliteError('FEDVAL_ERR_SQLITE_OPEN', 'busyTimeoutMs must be an integer ≥ 0');
  let db: DatabaseSync;
  try {
    mkdirSync(dirname(path), { recursive: true, mode: SQLITE_DIRECTORY_MODE });
    closeSync(openSync(path, 'a', SQLITE_FILE_MODE)); // created owner-only before SQLite opens it
    chmodSync(path, SQLITE_FILE_MODE);
    db = new DatabaseSync(path);
  } catch (cause) {
    throw new SqliteError('FEDVAL_ERR_SQLITE_OPEN', `${path} (${(cause as NodeJS.ErrnoException).code ?? 'open failed'})`, { cause });
  }
  try {
    db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${synchronous === 'NORMAL' ? 'NORMAL' : 'FULL'}; PRAGMA foreign_keys = ${foreignKeys ? 'ON' : 'OFF'}; PRAGMA busy_timeout = ${busyTimeoutMs};`);
  } catch (cause) {
    db.close();
    throw isCorruption(cause)
      ? new SqliteError('FEDVAL_ERR_SQLITE_CORRUPT', `${path}: ${(cause as Error).message}`, { cause })
      : new SqliteError('FEDVAL_ERR_SQLITE_OPEN', `${path}: cannot set its pragmas`, { cause });
  }
  try {
    checkIntegrity(db, path);
    migrate(db, migrations);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

/** Most problems quick_check lists in its error message. */
const MAX_REPORTED_PROBLEMS = 3;

function isCorruption(cause: unknown): boolean {
  const { errcode, message } = (cause ?? {}) as { errcode?: unknown; message?: unknown };
  // SQLITE_CORRUPT (11) and SQLITE_NOTADB (26), with their extended codes in the high bits.
  return (typeof errcode === 'number' && [11, 26].includes(errcode & 0xff)) || (typeof message === 'string' && /malformed|not a database/.test(message));
}

function checkIntegrity(db: DatabaseSync, path: string): void {
  let rows: { quick_check?: unknown }[];
  try {
    rows = db.prepare(`PRAGMA quick_check(${MAX_REPORTED_PROBLEMS})`).all() as { quick_check?: unknown }[];
  } catch (cause) {
    throw new SqliteError('FEDVAL_ERR_SQLITE_CORRUPT', `${path}: ${(cause as Error).message}`, { cause });
  }
  const problems = rows.map((row) => String(row.quick_check)).filter((text) => text !== 'ok');
  if (problems.length > 0) throw new SqliteError('FEDVAL_ERR_SQLITE_CORRUPT', `${path}: ${problems.join('; ')}`);
}

/** The schema version a database is at (`PRAGMA user_version`). */
export function schemaVersion(db: DatabaseSync): number {
  return Number((db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version);
}

function migrate(db: DatabaseSync, migrations: readonly string[]): void {
  const current = schemaVersion(db);
  if (current > migrations.length) {
    throw new SqliteError('FEDVAL_ERR_SQLITE_SCHEMA_VERSION', `schema version ${current}, this program knows up to ${migrations.length}`);
  }
  for (let version = current; version < migrations.length; version += 1) {
    try {
      inWriteTransaction(db, () => {
        db.exec(migrations[version]!);
        db.exec(`PRAGMA user_version = ${version + 1}`);
      });
    } catch (cause) {
      throw new SqliteError('FEDVAL_ERR_SQLITE_MIGRATION', `to schema version ${version + 1}`, { cause });
    }
  }
}

/**
 * Runs `change` in one write transaction (BEGIN IMMEDIATE: the write lock is taken at once, so it is also a lock
 * between processes sharing the file); rolls back and rethrows when `change` or the commit fails.
 */
export function inWriteTransaction<T>(db: DatabaseSync, change: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = change();
    db.exec('COMMIT');
    return result;
  } catch (error) {
    db.exec('ROLLBACK');
    throw error;
  }
}
