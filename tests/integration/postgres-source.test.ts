// The PostgreSQL connector on a real throwaway PostgreSQL: typed batches, the read-only COPY, the fingerprint feed,
// and a coded error (never a password, never a cell) for every way a database read fails.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresSource } from '../../site-agent/src/data-sources/postgres-source.ts';
import type { PostgresSourceOptions } from '../../site-agent/src/data-sources/postgres-source.ts';
import { copyColumnBatch } from '../../site-agent/src/data-sources/data-source.ts';
import type { CategoricalColumn, ColumnBatch, ColumnRequest, NumericColumn } from '../../site-agent/src/data-sources/data-source.ts';
import { AgentError } from '../../site-agent/src/errors.ts';
import { requirePostgresBin, startTestPostgres } from '../helpers/postgres.ts';
import type { TestPostgres } from '../helpers/postgres.ts';

let db: TestPostgres;

beforeAll(async () => {
  db = await startTestPostgres();
  await db.sql(`CREATE TABLE cohort (person_id int, age numeric, sex text, label int, note text)`);
  // person_id is an identifier the study never asks for; note holds text that must never reach an error message.
  await db.sql(`INSERT INTO cohort VALUES
    (101, 61.5, 'F', 1, 'secret-note-a'),
    (102, NULL, 'M', 0, 'secret-note-b'),
    (103, 40, ' F ', NULL, 'secret-note-c'),
    (104, 'NaN', 'NA', 1, 'secret-note-d'),
    (105, 77, 'X', 0, 'secret-note-e')`);
  await db.sql(`CREATE SCHEMA cdm; GRANT USAGE ON SCHEMA cdm TO ${db.reader}; CREATE TABLE cdm."Cohort Two" ("Age" int); INSERT INTO cdm."Cohort Two" VALUES (1), (2), (3)`);
  await db.sql(`GRANT SELECT ON ALL TABLES IN SCHEMA cdm TO ${db.reader}`);
  await db.sql(`CREATE TABLE hidden (x int)`); // never granted to the reader
  await db.grantReader();
  await db.sql(`REVOKE SELECT ON hidden FROM ${db.reader}`);
});

afterAll(async () => {
  await db?.stop();
});

function source(extra: Partial<PostgresSourceOptions> = {}): ReturnType<typeof createPostgresSource> {
  return createPostgresSource({ url: db.readerUrl, password: db.readerPassword, table: 'cohort', ...extra });
}

async function readAll(options: Partial<PostgresSourceOptions>, columns: ColumnRequest[], fingerprint?: (bytes: Uint8Array) => void): Promise<ColumnBatch[]> {
  const batches: ColumnBatch[] = [];
  const reader = source(options);
  try {
    for await (const batch of reader.read({ columns, fingerprint })) batches.push(copyColumnBatch(batch)); // the connector reuses its arrays
  } finally {
    await reader.close();
  }
  return batches;
}

async function codeOf(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(AgentError);
    return { code: (error as AgentError).code, message: (error as AgentError).message };
  }
  throw new Error('expected a coded error');
}

describe('PostgreSQL source', () => {
  it('reads a table as typed column batches through the read-only role: NaN missing, dictionaries that only grow', async () => {
    const batches = await readAll({ batchRows: 2, query: 'SELECT * FROM cohort ORDER BY person_id;', table: undefined }, [
      { name: 'age', kind: 'numeric' },
      { name: 'sex', kind: 'categorical' },
      { name: 'label', kind: 'categorical' },
      { name: 'label', kind: 'numeric' },
    ]);
    expect(batches.map((batch) => batch.rowCount)).toEqual([2, 2, 1]);
    const ages = batches.flatMap((batch) => [...(batch.columns.get('numeric:age') as NumericColumn).values]);
    expect(ages).toEqual([61.5, Number.NaN, 40, Number.NaN, 77]);
    const sex = batches.map((batch) => batch.columns.get('categorical:sex') as CategoricalColumn);
    expect(sex.flatMap((column) => [...column.codes])).toEqual([0, 1, 0, -1, 2]);
    expect(sex.at(-1)!.levels).toEqual(['F', 'M', 'X']);
    const labels = batches.flatMap((batch) => [...(batch.columns.get('numeric:label') as NumericColumn).values]);
    expect(labels).toEqual([1, 0, Number.NaN, 1, 0]);
    const labelCodes = batches.flatMap((batch) => [...(batch.columns.get('categorical:label') as CategoricalColumn).codes]);
    expect(labelCodes).toEqual([0, 1, -1, 0, 1]);
  });

  it('maps study names to local names, and quotes schema-qualified tables', async () => {
    const batches = await readAll({ table: 'cdm."Cohort Two"', columns: { age: 'Age' } }, [{ name: 'age', kind: 'numeric' }]);
    expect([...(batches[0]!.columns.get('numeric:age') as NumericColumn).values].sort()).toEqual([1, 2, 3]);
    expect(await source({ table: 'cdm."Cohort Two"', columns: { age: 'Age' } }).columnNames()).toEqual(['age']);
  });

  it('feeds the fingerprint the COPY statement then the binary COPY stream, and never the columns it was not asked for', async () => {
    const parts: Buffer[] = [];
    await readAll({ query: 'SELECT * FROM cohort ORDER BY person_id', table: undefined }, [{ name: 'sex', kind: 'categorical' }, { name: 'age', kind: 'numeric' }], (bytes) => parts.push(Buffer.from(bytes)));
    const fed = Buffer.concat(parts);
    // Written out by hand from the rows inserted above and PostgreSQL's "COPY — Binary Format": the header, the
    // statement, the signature, flags and extension length, then per row a field count and each field as an int32
    // length (−1 for NULL) and its binary send format: text as UTF-8, numeric as ndigits, weight, sign, dscale, digits.
    const i16 = (v: number) => Buffer.from([(v >> 8) & 0xff, v & 0xff]);
    const i32 = (v: number) => Buffer.from([(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]);
    const textField = (v: string) => Buffer.concat([i32(Buffer.byteLength(v)), Buffer.from(v)]);
    const numericField = (digits: number[], dscale: number, sign = 0) => Buffer.concat([i32(8 + 2 * digits.length), i16(digits.length), i16(0), i16(sign), i16(dscale), ...digits.map(i16)]);
    const sql = 'COPY (SELECT "sex", "age" FROM (SELECT * FROM cohort ORDER BY person_id) AS fedval_source) TO STDOUT (FORMAT binary)';
    const stream = Buffer.concat([
      Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), i32(0), i32(0),
      i16(2), textField('F'), numericField([61, 5000], 1),
      i16(2), textField('M'), i32(-1),
      i16(2), textField(' F '), numericField([40], 0),
      i16(2), textField('NA'), numericField([], 0, 0xc000),
      i16(2), textField('X'), numericField([77], 0),
      i16(-1),
    ]);
    const expected = Buffer.concat([Buffer.from(`fedval-postgres-v2\n${sql}\n`), stream]);
    expect(fed.equals(expected)).toBe(true);
    expect(fed.toString('latin1')).not.toContain('secret-note');
    const digest = (batchRows: number) => {
      const hash = createHash('sha256');
      return readAll({ query: 'SELECT * FROM cohort ORDER BY person_id', table: undefined, batchRows }, [{ name: 'sex', kind: 'categorical' }, { name: 'age', kind: 'numeric' }], (bytes) => hash.update(bytes)).then(() => hash.digest('hex'));
    };
    // The digest describes the rows, not how they were batched.
    expect(await digest(1)).toBe(await digest(1000));
    expect(await digest(2)).toBe(createHash('sha256').update(expected).digest('hex'));
    // An inspector recomputes it with psql from the same statement (psql passes COPY TO STDOUT's bytes through).
    const psql = execFileSync(join(requirePostgresBin(), 'psql'), ['-X', '-q', '-c', sql, db.readerUrl], { env: { ...process.env, PGPASSWORD: db.readerPassword } });
    expect(createHash('sha256').update(`fedval-postgres-v2\n${sql}\n`).update(psql).digest('hex')).toBe(await digest(2));
  });

  it('reads in a READ ONLY transaction: a query that writes fails, and nothing is written', async () => {
    // Even a role allowed to write (here: to advance a sequence) cannot, from inside the agent's transaction.
    await db.sql(`CREATE SEQUENCE counter; GRANT USAGE, UPDATE ON SEQUENCE counter TO ${db.reader}; ALTER ROLE ${db.reader} SET default_transaction_read_only = off`);
    try {
      const failure = await codeOf(readAll({ query: `SELECT nextval('counter') AS x`, table: undefined }, [{ name: 'x', kind: 'numeric' }]));
      expect(failure.code).toBe('FEDVAL_ERR_AGENT_DB_QUERY');
      expect(failure.message).toContain('25006'); // read_only_sql_transaction
    } finally {
      await db.sql(`ALTER ROLE ${db.reader} SET default_transaction_read_only = on`);
    }
    expect((await db.sql('SELECT last_value::int AS n, is_called FROM counter')).rows[0]).toEqual({ n: 1, is_called: false });
  });

  it('names every missing column (study and local name) before reading any row', async () => {
    const failure = await codeOf(readAll({ columns: { outcome: 'event5y' } }, [{ name: 'age', kind: 'numeric' }, { name: 'outcome', kind: 'categorical' }, { name: 'bmi', kind: 'numeric' }]));
    expect(failure).toEqual({ code: 'FEDVAL_ERR_AGENT_DATA_COLUMNS', message: expect.stringContaining('missing outcome (local event5y), bmi') });
  });

  it('refuses more rows than max_rows with a coded error instead of a partial read', async () => {
    expect((await codeOf(readAll({ maxRows: 4, batchRows: 2 }, [{ name: 'age', kind: 'numeric' }]))).code).toBe('FEDVAL_ERR_AGENT_DATA_LIMIT');
  });

  it('a wrong password is FEDVAL_ERR_AGENT_DB_AUTH and is never echoed; so is a missing one', async () => {
    const wrong = 'Wr0ng-pa55word-do-not-echo';
    const failure = await codeOf(readAll({ password: wrong }, [{ name: 'age', kind: 'numeric' }]));
    expect(failure.code).toBe('FEDVAL_ERR_AGENT_DB_AUTH');
    expect(failure.message).not.toContain(wrong);
    expect((await codeOf(readAll({ password: undefined }, [{ name: 'age', kind: 'numeric' }]))).code).toBe('FEDVAL_ERR_AGENT_DB_AUTH');
  });

  it('an unreachable server is FEDVAL_ERR_AGENT_DB_UNREACHABLE', async () => {
    const closedPort = db.readerUrl.replace(`:${db.port}/`, ':1/');
    expect((await codeOf(readAll({ url: closedPort }, [{ name: 'age', kind: 'numeric' }]))).code).toBe('FEDVAL_ERR_AGENT_DB_UNREACHABLE');
  });

  it('a failing query is FEDVAL_ERR_AGENT_DB_QUERY with its SQLSTATE, never the cell that made it fail', async () => {
    const failure = await codeOf(readAll({ query: 'SELECT note::int AS x FROM cohort', table: undefined }, [{ name: 'x', kind: 'numeric' }]));
    expect(failure.code).toBe('FEDVAL_ERR_AGENT_DB_QUERY');
    expect(failure.message).toContain('22P02'); // invalid_text_representation: the server's own message quotes the cell
    expect(failure.message).not.toContain('secret-note');
    const syntax = await codeOf(readAll({ query: 'SELEC oops', table: undefined }, [{ name: 'x', kind: 'numeric' }]));
    expect(syntax.code).toBe('FEDVAL_ERR_AGENT_DB_QUERY');
    expect(syntax.message).toContain('42601');
  });

  it('a table that is absent or not granted is FEDVAL_ERR_AGENT_DATA_NOT_FOUND', async () => {
    expect((await codeOf(readAll({ table: 'no_such_table' }, [{ name: 'x', kind: 'numeric' }]))).code).toBe('FEDVAL_ERR_AGENT_DATA_NOT_FOUND');
    expect((await codeOf(readAll({ table: 'hidden' }, [{ name: 'x', kind: 'numeric' }]))).message).toContain('42501');
  });

  it('a query that outlasts statement_timeout_ms is FEDVAL_ERR_AGENT_DB_TIMEOUT', async () => {
    const started = Date.now();
    const failure = await codeOf(readAll({ query: 'SELECT pg_sleep(5)::text AS x', table: undefined, statementTimeoutMs: 200 }, [{ name: 'x', kind: 'numeric' }]));
    expect(failure.code).toBe('FEDVAL_ERR_AGENT_DB_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it('a machine without PostgreSQL fails the tests with how to install it', () => {
    const saved = process.env.FEDVAL_PG_BIN;
    process.env.FEDVAL_PG_BIN = db.dir; // a directory without initdb
    try {
      expect(() => requirePostgresBin()).toThrow(/apt-get install postgresql/);
    } finally {
      if (saved === undefined) delete process.env.FEDVAL_PG_BIN;
      else process.env.FEDVAL_PG_BIN = saved;
    }
  });

  it('refuses a URL carrying a password, without repeating it', () => {
    let caught: unknown;
    try {
      createPostgresSource({ url: 'postgres://reader:hunter2secret@127.0.0.1:5432/db', table: 'cohort' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(AgentError);
    expect((caught as AgentError).code).toBe('FEDVAL_ERR_AGENT_CONFIG');
    expect((caught as AgentError).message).not.toContain('hunter2secret');
  });
});
