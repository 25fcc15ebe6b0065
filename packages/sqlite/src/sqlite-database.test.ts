import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SQLITE_ERROR_MESSAGES, SqliteError } from './errors.ts';
import { inWriteTransaction, openSqliteDatabase, schemaVersion } from './sqlite-database.ts';

const MIGRATIONS = ['CREATE TABLE a (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE) STRICT;', 'ALTER TABLE a ADD COLUMN note TEXT;'];

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof SqliteError ? error.code : 'uncoded';
  }
  return undefined;
}

describe('openSqliteDatabase', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fedval-sqlite-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates the directory, uses WAL with the asked pragmas, and migrates once to the latest version', () => {
    const path = join(dir, 'nested', 'x.sqlite');
    const db = openSqliteDatabase(path, { migrations: MIGRATIONS, synchronous: 'NORMAL', foreignKeys: true });
    expect(schemaVersion(db)).toBe(2);
    expect(db.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
    expect(db.prepare('PRAGMA synchronous').get()).toEqual({ synchronous: 1 }); // NORMAL
    expect(db.prepare('PRAGMA foreign_keys').get()).toEqual({ foreign_keys: 1 });
    db.prepare('INSERT INTO a (name, note) VALUES (?, ?)').run('x', 'kept');
    db.close();
    const again = openSqliteDatabase(path, { migrations: MIGRATIONS });
    expect(again.prepare('SELECT name, note FROM a').all()).toEqual([{ name: 'x', note: 'kept' }]);
    expect(again.prepare('PRAGMA synchronous').get()).toEqual({ synchronous: 2 }); // FULL, the default
    again.close();
  });

  it('refuses a database written by a newer program, and a failing migration, leaving the version as it was', () => {
    const path = join(dir, 'x.sqlite');
    openSqliteDatabase(path, { migrations: MIGRATIONS }).close();
    expect(codeOf(() => openSqliteDatabase(path, { migrations: MIGRATIONS.slice(0, 1) }))).toBe('FEDVAL_ERR_SQLITE_SCHEMA_VERSION');
    expect(codeOf(() => openSqliteDatabase(path, { migrations: [...MIGRATIONS, 'CREATE TABLE b (x INTEGER); CREATE TABLE b (y INTEGER);'] }))).toBe('FEDVAL_ERR_SQLITE_MIGRATION');
    const raw = new DatabaseSync(path);
    expect(schemaVersion(raw)).toBe(2);
    expect(raw.prepare("SELECT name FROM sqlite_master WHERE name = 'b'").all()).toEqual([]);
    raw.close();
    expect(codeOf(() => openSqliteDatabase(join(dir, 'x.sqlite', 'under-a-file.sqlite'), { migrations: MIGRATIONS }))).toBe('FEDVAL_ERR_SQLITE_OPEN');
  });

  it('rolls a write transaction back when it fails part-way', () => {
    const db = openSqliteDatabase(join(dir, 'x.sqlite'), { migrations: MIGRATIONS });
    expect(() =>
      inWriteTransaction(db, () => {
        db.prepare('INSERT INTO a (name) VALUES (?)').run('first');
        db.prepare('INSERT INTO a (name) VALUES (?)').run('first');
      }),
    ).toThrow();
    expect(db.prepare('SELECT count(*) AS n FROM a').get()).toEqual({ n: 0 });
    expect(inWriteTransaction(db, () => db.prepare('INSERT INTO a (name) VALUES (?)').run('second').changes)).toBe(1);
    db.close();
  });

  it('creates its directory 0700 and the database 0600 (its WAL too), and narrows an existing world-readable file', () => {
    const path = join(dir, 'data', 'x.sqlite');
    const db = openSqliteDatabase(path, { migrations: MIGRATIONS });
    db.prepare('INSERT INTO a (name) VALUES (?)').run('x');
    expect(statSync(join(dir, 'data')).mode & 0o777).toBe(0o700);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(`${path}-wal`).mode & 0o777).toBe(0o600);
    db.close();
    const loose = join(dir, 'loose.sqlite');
    closeSync(openSync(loose, 'w', 0o644));
    openSqliteDatabase(loose, { migrations: MIGRATIONS }).close();
    expect(statSync(loose).mode & 0o777).toBe(0o600);
  });

  it('refuses at start a file whose middle page was damaged (FEDVAL_ERR_SQLITE_CORRUPT), and opens the intact copy', () => {
    const path = join(dir, 'x.sqlite');
    const db = openSqliteDatabase(path, { migrations: MIGRATIONS });
    const insert = db.prepare('INSERT INTO a (name, note) VALUES (?, ?)');
    inWriteTransaction(db, () => {
      for (let i = 0; i < 2000; i += 1) insert.run(`name-${i}`, 'x'.repeat(200));
    });
    db.close(); // checkpoints the WAL into the file
    const pageSize = 4096; // SQLite's default page size
    const pages = statSync(path).size / pageSize;
    expect(pages).toBeGreaterThan(20);
    openSqliteDatabase(path, { migrations: MIGRATIONS }).close(); // intact: opens
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(pageSize, 0xa5), 0, pageSize, Math.floor(pages / 2) * pageSize);
    closeSync(fd);
    expect(codeOf(() => openSqliteDatabase(path, { migrations: MIGRATIONS }))).toBe('FEDVAL_ERR_SQLITE_CORRUPT');
  });

  it('has exactly the published error codes', () => {
    expect(Object.keys(SQLITE_ERROR_MESSAGES)).toEqual(['FEDVAL_ERR_SQLITE_OPEN', 'FEDVAL_ERR_SQLITE_CORRUPT', 'FEDVAL_ERR_SQLITE_SCHEMA_VERSION', 'FEDVAL_ERR_SQLITE_MIGRATION']);
  });
});
