import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeStoreConformance } from '../test-support/store-conformance.ts';
import { DATABASE_FILE, openSqliteStore } from './sqlite-store.ts';

let dir: string;

/** Runs one statement on the database file behind the store's back. */
function writeBehind(sql: string, ...values: string[]): void {
  const db = new DatabaseSync(join(dir, DATABASE_FILE));
  try {
    db.prepare(sql).run(...values);
  } finally {
    db.close();
  }
}

describeStoreConformance('SQLite', {
  async reset() {
    dir = mkdtempSync(join(tmpdir(), 'fedval-coord-store-'));
  },
  async open() {
    return openSqliteStore(dir);
  },
  async crash() {
    // A killed process leaves its connection unclosed and the WAL not checkpointed: nothing to do.
  },
  async setStudyColumn(column, value, studyId) {
    writeBehind(`UPDATE studies SET ${column} = ? WHERE id = ?`, value, studyId);
  },
  async setSchemaVersion(version) {
    const db = new DatabaseSync(join(dir, DATABASE_FILE));
    db.exec(`PRAGMA user_version = ${Math.trunc(version)}`);
    db.close();
  },
  async cleanup() {
    rmSync(dir, { recursive: true, force: true });
  },
});

describe('SqliteCoordinatorStore', () => {
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fedval-coord-store-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('migrates with PRAGMA user_version and uses WAL', async () => {
    const store = openSqliteStore(dir);
    await store.close();
    const db = new DatabaseSync(join(dir, DATABASE_FILE));
    expect(db.prepare('PRAGMA user_version').get()).toEqual({ user_version: 7 });
    expect(db.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
    const columns = (db.prepare('SELECT name FROM pragma_table_info(?)').all('round_sites') as { name: string }[]).map((c) => c.name);
    expect(columns).toEqual(['round_id', 'site_id', 'status', 'code', 'contribution_bytes', 'contribution_sha256', 'updated_at', 'privacy_json']);
    const studyColumns = (db.prepare('SELECT name FROM pragma_table_info(?)').all('studies') as { name: string }[]).map((c) => c.name);
    expect(studyColumns).toContain('key_statement_json');
    db.close();
  });
});
