import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseCoordinatorConfig } from '../config.ts';
import { CoordinatorError } from '../errors.ts';
import { openCoordinatorStore } from './open-store.ts';
import { SqliteCoordinatorStore } from './sqlite-store.ts';

const sites = [{ id: 'site-a', token_sha256: 'a'.repeat(64) }];
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fedval-open-store-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function configError(raw: unknown): CoordinatorError {
  try {
    parseCoordinatorConfig(raw, { baseDir: dir });
  } catch (error) {
    if (error instanceof CoordinatorError) return error;
    throw error;
  }
  throw new Error('expected FEDVAL_ERR_COORD_CONFIG');
}

describe('storage in the coordinator configuration', () => {
  it('defaults to SQLite in data_dir; storage.postgres fills its documented defaults and resolves password_file against the file directory', async () => {
    const plain = parseCoordinatorConfig({ sites, data_dir: 'data' }, { baseDir: dir });
    expect(plain.storage).toBeUndefined();
    const opened = openCoordinatorStore(plain);
    expect(opened.store).toBeInstanceOf(SqliteCoordinatorStore);
    expect(opened.description).toBe('sqlite:coordinator.sqlite');
    await opened.ready;
    await opened.store.close();

    const config = parseCoordinatorConfig({ sites, storage: { postgres: { url: 'postgres://coord@db.example:5432/fedval?sslmode=verify-full', password_file: 'pg.password' } } }, { baseDir: dir });
    expect(config.storage).toEqual({
      postgres: { url: 'postgres://coord@db.example:5432/fedval?sslmode=verify-full', password_file: join(dir, 'pg.password'), pool_size: 10, statement_timeout_ms: 30_000, connect_timeout_ms: 10_000, lock_check_ms: 5_000 },
    });
    expect(Object.isFrozen(config.storage?.postgres)).toBe(true);
  });

  it('lists every storage problem: a password in the URL (never repeated), both password sources, a pool of zero, an unknown key', () => {
    const error = configError({
      sites,
      storage: { postgres: { url: 'postgres://coord:hunter2secret@db/fedval', password_file: 'a', password_env: 'B', pool_size: 0, lock_check_ms: 10, ssl: true } },
    });
    expect(error.code).toBe('FEDVAL_ERR_COORD_CONFIG');
    expect(error.message).not.toContain('hunter2secret');
    expect(error.message).toContain('storage.postgres.url: must not contain a password; use storage.postgres.password_file or password_env');
    expect(error.message).toContain('storage.postgres.password_file: at most one of password_file and password_env');
    expect(error.message).toContain('storage.postgres.pool_size');
    expect(error.message).toContain('storage.postgres.lock_check_ms'); // below 100 ms
    expect(error.message).toContain('storage.postgres');
    expect(error.message).toContain('"ssl"');
    expect(configError({ sites, storage: { postgres: { url: 'mysql://coord@db/fedval' } } }).message).toContain('storage.postgres.url: not a postgres:// connection URL');
    expect(configError({ sites, storage: { sqlite: {} } }).message).toContain('"sqlite"');
  });

  it('reads the password when the store opens: from the first line of password_file or from password_env, and names what is missing without a value', async () => {
    writeFileSync(join(dir, 'empty.password'), '\nsecond line\n');
    const withFile = (file: string) => parseCoordinatorConfig({ sites, storage: { postgres: { url: 'postgres://coord@127.0.0.1:1/fedval', password_file: file } } }, { baseDir: dir });
    expect(() => openCoordinatorStore(withFile('absent.password'))).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_COORD_CONFIG', message: expect.stringContaining('storage.postgres.password_file: cannot read absent.password') }));
    expect(() => openCoordinatorStore(withFile('empty.password'))).toThrow(expect.objectContaining({ message: expect.stringContaining('storage.postgres.password_file: the first line is empty') }));
    const withEnv = parseCoordinatorConfig({ sites, storage: { postgres: { url: 'postgres://coord@127.0.0.1:1/fedval', password_env: 'FEDVAL_TEST_COORD_PG' } } }, { baseDir: dir });
    expect(() => openCoordinatorStore(withEnv, { env: {} })).toThrow(expect.objectContaining({ message: expect.stringContaining('storage.postgres.password_env: FEDVAL_TEST_COORD_PG is not set') }));
    // Set: the store opens in the background and reports the unreachable server (port 1) as a coded error.
    const opened = openCoordinatorStore(withEnv, { env: { FEDVAL_TEST_COORD_PG: 'env-secret-value' } });
    expect(opened.description).toBe('postgres:coord@127.0.0.1:1/fedval');
    const failure = await opened.ready.then(
      () => undefined,
      (error: unknown) => error as CoordinatorError,
    );
    expect(failure?.code).toBe('FEDVAL_ERR_COORD_DATABASE_UNREACHABLE');
    expect(failure?.message).not.toContain('env-secret-value');
    await opened.store.close();
  });
});
