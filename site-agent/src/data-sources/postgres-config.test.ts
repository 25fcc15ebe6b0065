import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveAgentConfig } from '../config.ts';
import { AgentError } from '../errors.ts';
import { dataSourceName, openDataSource } from './open-data-source.ts';
import { readPostgresPassword } from './postgres-config.ts';

function errorOf(fn: () => unknown): AgentError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(AgentError);
    return error as AgentError;
  }
  throw new Error('expected an AgentError');
}

const base = {
  coordinator: 'ws://127.0.0.1:8740/ws',
  site_id: 'site-omop',
  token: 'a-long-enough-token-1234',
  data_dir: './state',
};
const label = { column: 'event5y', positive: '1' };

describe('data.postgres in the site configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedval-site-data-'));
  writeFileSync(join(dir, 'pg.password'), 'S3cret-from-file\nignored second line\n');
  writeFileSync(join(dir, 'cohort.sql'), 'SELECT 1 AS event5y');

  it('resolves files against the configuration directory and keeps no password in the configuration', () => {
    const config = resolveAgentConfig(
      { ...base, data: { label, postgres: { url: 'postgres://fedval_reader@db.example:5432/cdm', password_file: 'pg.password', query_file: 'cohort.sql' } } },
      dir,
    );
    expect(config.data.path).toBeUndefined();
    expect(config.data.postgres).toEqual({
      url: 'postgres://fedval_reader@db.example:5432/cdm',
      password_file: join(dir, 'pg.password'),
      query_file: join(dir, 'cohort.sql'),
      statement_timeout_ms: 300_000,
      connect_timeout_ms: 10_000,
    });
    expect(JSON.stringify(config)).not.toContain('S3cret');
    expect(readPostgresPassword(config.data.postgres!)).toBe('S3cret-from-file');
    expect(dataSourceName(config.data)).toBe('postgres:fedval_reader@db.example:5432/cdm/query');
    // Opening the source reads the query file and the password; nothing connects until read().
    expect(openDataSource(config.data).description).toBe('postgres fedval_reader@db.example:5432/cdm query');
  });

  it('reads the password from the environment variable named, and refuses an unset one', () => {
    const config = resolveAgentConfig({ ...base, data: { label, postgres: { url: 'postgres://r@h/db', password_env: 'FEDVAL_TEST_PG_PASSWORD', table: 'cdm.cohort' } } }, dir);
    expect(readPostgresPassword(config.data.postgres!, { FEDVAL_TEST_PG_PASSWORD: 'from-env' })).toBe('from-env');
    expect(errorOf(() => readPostgresPassword(config.data.postgres!, {})).message).toContain('FEDVAL_TEST_PG_PASSWORD is not set');
    expect(dataSourceName(config.data)).toBe('postgres:r@h:5432/db/cdm.cohort');
  });

  it('lists every problem: both or neither of path and postgres, a password in the URL (not repeated), query and table together, a missing file', () => {
    const both = errorOf(() => resolveAgentConfig({ ...base, data: { label, path: 'a.csv', postgres: { url: 'postgres://r@h/db', table: 't' } } }, dir));
    expect(both.message).toContain('exactly one of data.path');
    expect(errorOf(() => resolveAgentConfig({ ...base, data: { label } }, dir)).message).toContain('data.postgres (a PostgreSQL table or query)');
    const problems = errorOf(() =>
      resolveAgentConfig({ ...base, data: { label, postgres: { url: 'postgres://r:hunter2secret@h/db', query: 'SELECT 1', table: 't', password_file: 'absent.password' } } }, dir),
    );
    expect(problems.code).toBe('FEDVAL_ERR_AGENT_CONFIG');
    expect(problems.message).toContain('exactly one of query, query_file and table');
    expect(problems.message).not.toContain('hunter2secret');
    const url = errorOf(() => resolveAgentConfig({ ...base, data: { label, postgres: { url: 'postgres://r:hunter2secret@h/db', table: 't', password_file: 'absent.password' } } }, dir));
    expect(url.message).toContain('must not contain a password');
    expect(url.message).toContain('data.postgres.password_file: cannot read absent.password');
    expect(url.message).not.toContain('hunter2secret');
    expect(errorOf(() => resolveAgentConfig({ ...base, data: { label, postgres: { url: 'mysql://r@h/db', table: 't' } } }, dir)).message).toContain('not a postgres:// connection URL');
  });
});
