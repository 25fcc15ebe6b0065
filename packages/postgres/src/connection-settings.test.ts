import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describePostgresUrl, postgresUrlProblem, resolvePostgresPassword } from './connection-settings.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedval-pg-settings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('PostgreSQL connection settings', () => {
  it('accepts a URL without a password; refuses one with a password, another scheme or none, naming the field and never the URL', () => {
    expect(postgresUrlProblem('postgres://reader@db.example:5432/cdm?sslmode=verify-full', 'data.postgres')).toBeUndefined();
    expect(postgresUrlProblem('postgresql://reader@db/cdm', 'storage.postgres')).toBeUndefined();
    const withPassword = postgresUrlProblem('postgres://reader:hunter2secret@db/cdm', 'storage.postgres');
    expect(withPassword).toBe('storage.postgres.url: must not contain a password; use storage.postgres.password_file or password_env');
    expect(postgresUrlProblem('mysql://reader@db/cdm', 'data.postgres')).toBe('data.postgres.url: not a postgres:// connection URL');
    expect(postgresUrlProblem('db.example:5432', 'data.postgres')).toBe('data.postgres.url: not a postgres:// connection URL');
  });

  it('reads the password from the first line of a file or from an environment variable; says what is missing without a value', () => {
    writeFileSync(join(dir, 'ok.password'), 'S3cret-line-one\r\nsecond\n');
    writeFileSync(join(dir, 'empty.password'), '\nS3cret-on-line-two\n');
    expect(resolvePostgresPassword({ password_file: join(dir, 'ok.password') }, 'data.postgres')).toEqual({ ok: true, password: 'S3cret-line-one' });
    expect(resolvePostgresPassword({ password_file: join(dir, 'empty.password') }, 'storage.postgres')).toEqual({ ok: false, problem: 'storage.postgres.password_file: the first line is empty' });
    expect(resolvePostgresPassword({ password_file: join(dir, 'absent.password') }, 'storage.postgres')).toEqual({ ok: false, problem: 'storage.postgres.password_file: cannot read absent.password' });
    expect(resolvePostgresPassword({ password_env: 'PGPW' }, 'storage.postgres', { PGPW: 'from-env' })).toEqual({ ok: true, password: 'from-env' });
    expect(resolvePostgresPassword({ password_env: 'PGPW' }, 'storage.postgres', { PGPW: '' })).toEqual({ ok: false, problem: 'storage.postgres.password_env: PGPW is not set' });
    expect(resolvePostgresPassword({}, 'storage.postgres', { PGPASSWORD: 'ignored' })).toEqual({ ok: true, password: undefined });
  });

  it('describes a URL for logs by user, host, port and database only', () => {
    expect(describePostgresUrl('postgres://reader@db.example/cdm?sslmode=verify-full&application_name=x')).toBe('reader@db.example:5432/cdm');
    expect(describePostgresUrl('postgres://reader@db.example:6543/cdm')).toBe('reader@db.example:6543/cdm');
    // As the agent always described it (its default dataset id, the ledger's key, is built from this).
    expect(describePostgresUrl('postgres:///cdm?host=/var/run/postgresql')).toBe('@socket /var/run/postgresql/cdm');
  });
});
