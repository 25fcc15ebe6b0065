// The PostgreSQL connector's binary COPY path on a real throwaway PostgreSQL: the same columns and statistics vector as
// the CSV connector on the same rows exported to CSV by the server (NULLs, NaN, text in numeric columns, numerics with
// many digits, negatives, non-ASCII levels, booleans, float4, bigint), and a COPY stopped early leaves no backend.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveMetricSpec } from '../../packages/metrics/src/index.ts';
import { createCsvSource } from '../../site-agent/src/data-sources/csv-source.ts';
import type { BatchColumn, ColumnRequest, DataSource } from '../../site-agent/src/data-sources/data-source.ts';
import { CopyOutStream } from '../../site-agent/src/data-sources/postgres-copy-out.ts';
import { createPostgresSource } from '../../site-agent/src/data-sources/postgres-source.ts';
import type { PostgresSourceOptions } from '../../site-agent/src/data-sources/postgres-source.ts';
import { AgentError } from '../../site-agent/src/errors.ts';
import { evaluateDataset } from '../../site-agent/src/evaluation.ts';
import { scoreColumnScorer } from '../../site-agent/src/scorers.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import type { TestPostgres } from '../helpers/postgres.ts';

let db: TestPostgres;
const dir = mkdtempSync(join(tmpdir(), 'fedval-pg-copy-'));
const csvPath = join(dir, 'mixed.csv');
const QUERY = 'SELECT * FROM mixed ORDER BY id';
const COLUMNS = ['outcome', 'score', 'dose', 'dose_text', 'weight', 'grp', 'flag', 'big', 'small', 'seen', 'code'];

beforeAll(async () => {
  db = await startTestPostgres();
  await db.sql(`CREATE TABLE mixed (id int, outcome int, score float8, dose numeric, dose_text text, weight float4, grp text, flag boolean, big bigint, small smallint, seen date, code varchar(8))`);
  // 600 ordinary rows (scores spread over [0, 1], doses with 30 decimals, negative doses, non-ASCII levels), then the edge cases.
  await db.sql(`INSERT INTO mixed SELECT g,
      g % 2,
      ((g * 0.6180339887498949) % 1)::float8,
      ((g - 300) * 1.000000000000000000001234567891)::numeric(40, 30),
      CASE g % 7 WHEN 0 THEN 'abc' WHEN 1 THEN ' ' || (g / 3.0)::text || ' ' WHEN 2 THEN 'NA' WHEN 3 THEN '-' || g || 'e-2' ELSE (g * 1.5)::text END,
      (g / 10.0)::float4,
      (ARRAY['Zürich', '東京', 'São Paulo', ' Ålesund ', 'NA', ''])[1 + g % 6],
      g % 3 = 0,
      9007199254740990 + g % 5,
      (g % 11 - 5)::smallint,
      DATE '2020-01-01' + g % 4,
      'c' || g % 3
    FROM generate_series(1, 600) g`);
  await db.sql(`INSERT INTO mixed VALUES
    (1001, NULL, 0.5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    (1002, 1, 'NaN', 'NaN', 'NaN', 'NaN', 'null', false, -9007199254740993, -32768, NULL, 'NULL'),
    (1003, 0, 'Infinity', 'Infinity', 'Infinity', 'Infinity', 'Zürich', true, 9223372036854775807, 32767, '2000-01-01', ' c1 '),
    (1004, 1, '-Infinity', '-Infinity', '-1.5', '-Infinity', '東京', NULL, -9223372036854775808, 0, '1999-12-31', 'c2'),
    (1005, 2, 0.7, -0.000000000000000000000000000001, '1e400', 0.1, 'São Paulo', true, 0, -1, '2024-02-29', 'c0'),
    (1006, 0, -0.25, 123456789012345678901234567890.123456789, '+.5', 3.4e38, 'Zürich', false, 1, 1, '2020-01-01', 'c1'),
    (1007, 1, 1.25, 0.1, '0x10', -0.0, '  ', true, 2, 2, '2020-01-02', 'c2')`);
  await db.grantReader();
  // The same rows as CSV, written by the server (NULL as an empty unquoted field, floats as their shortest text).
  const stream = db.admin.query(new CopyOutStream(`COPY (SELECT ${COLUMNS.join(', ')} FROM (${QUERY}) q) TO STDOUT (FORMAT csv, HEADER true)`));
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  writeFileSync(csvPath, Buffer.concat(parts));
}, 120_000);

afterAll(async () => {
  await db?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function postgres(extra: Partial<PostgresSourceOptions> = {}): DataSource {
  return createPostgresSource({ url: db.readerUrl, password: db.readerPassword, query: QUERY, ...extra });
}

/** Every requested column over the whole read: numbers, or category texts (null when missing). */
async function columns(source: DataSource, requests: ColumnRequest[], batchRows?: number): Promise<Record<string, (number | string | null)[]>> {
  const out: Record<string, (number | string | null)[]> = Object.fromEntries(requests.map((r) => [`${r.kind}:${r.name}`, []]));
  try {
    for await (const batch of source.read({ columns: requests })) {
      expect(batch.restart).toBeFalsy();
      if (batchRows !== undefined) expect(batch.rowCount).toBeLessThanOrEqual(batchRows);
      for (const [key, column] of batch.columns as ReadonlyMap<string, BatchColumn>) {
        if (column.kind === 'numeric') out[key]!.push(...column.values);
        else out[key]!.push(...[...column.codes].map((code) => (code === -1 ? null : column.levels[code]!)));
      }
    }
  } finally {
    await source.close();
  }
  return out;
}

async function codeOf(promise: Promise<unknown>): Promise<AgentError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(AgentError);
    return error as AgentError;
  }
  throw new Error('expected a coded error');
}

/** Backends of the agent (application_name fedval-agent) still connected, after waiting up to 5 s for them to go. */
async function agentBackends(): Promise<number> {
  for (let i = 0; ; i += 1) {
    const { rows } = await db.sql(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'fedval-agent'`);
    if (rows[0].n === 0 || i >= 50) return rows[0].n as number;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('PostgreSQL binary COPY path', () => {
  it('reads every column as the CSV connector reads the same rows: numbers, missing and invalid cells, levels', async () => {
    const requests: ColumnRequest[] = [
      ...COLUMNS.map((name): ColumnRequest => ({ name, kind: 'numeric' })),
      ...COLUMNS.map((name): ColumnRequest => ({ name, kind: 'categorical' })),
    ];
    const fromCsv = await columns(createCsvSource({ path: csvPath }), requests);
    const fromPostgres = await columns(postgres({ batchRows: 100 }), requests, 100);
    expect(fromCsv['numeric:score']).toHaveLength(607);
    // ±Infinity both mean "present, not a number" (data-source.ts); the CSV connector writes +Infinity for every such
    // text, this connector keeps the sign of '-…' texts as its text rule always did: compared as one class.
    const invalidAsOne = (values: (number | string | null)[]) => values.map((v) => (v === Number.POSITIVE_INFINITY || v === Number.NEGATIVE_INFINITY ? 'invalid' : v));
    for (const request of requests) {
      const key = `${request.kind}:${request.name}`;
      expect({ key, values: invalidAsOne(fromPostgres[key]!) }).toEqual({ key, values: invalidAsOne(fromCsv[key]!) });
    }
    // Spot checks against values written out by hand, so that both connectors cannot be wrong together.
    const at = (key: string, id: number) => fromPostgres[key]![id > 1000 ? 600 + id - 1001 : id - 1];
    expect(at('numeric:dose', 1006)).toBe(123456789012345678901234567890.123456789);
    expect(at('numeric:dose', 1005)).toBe(-1e-30);
    expect(at('numeric:dose', 1)).toBe(-299.000000000000000000369135799409);
    expect(at('numeric:dose_text', 1005)).toBe(Number.POSITIVE_INFINITY); // 1e400: a strict decimal beyond the double range
    expect(at('numeric:dose_text', 1007)).toBe(Number.POSITIVE_INFINITY); // 0x10: not a strict decimal
    expect(at('numeric:dose_text', 1004)).toBe(-1.5);
    expect(at('numeric:weight', 1005)).toBe(0.1); // float4 0.1 read as its text, as before
    expect(at('numeric:big', 1002)).toBe(-9007199254740992);
    expect(at('categorical:big', 1002)).toBe('-9007199254740993');
    expect(at('categorical:flag', 1003)).toBe('t');
    expect(at('categorical:seen', 1004)).toBe('1999-12-31');
    expect(at('categorical:grp', 3)).toBe('Ålesund');
    expect(at('categorical:grp', 1002)).toBeNull(); // 'null' is a missing token
    expect(at('categorical:score', 1006)).toBe('-0.25');
    expect(at('numeric:score', 1002)).toBeNaN();
    expect(at('numeric:score', 1004)).toBe(Number.NEGATIVE_INFINITY);
  });

  it('keeps the text rule of the cursor path it replaces: non-decimal text starting with - is -Infinity', async () => {
    const read = await columns(postgres({ query: `SELECT * FROM (VALUES ('-x'), ('x'), ('-3e-2'), (' 5 ')) AS t(v)` }), [{ name: 'v', kind: 'numeric' }]);
    expect(read['numeric:v']).toEqual([Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, -0.03, 5]);
  });

  it('gives the statistics vector eval-local computes on the CSV export: binary with subgroups, and regression', async () => {
    const tasks = [
      {
        spec: { ...resolveMetricSpec({ task: 'binary', groups: [] }), groups: [{ column: 'grp' }, { column: 'flag' }, { column: 'dose', cuts: [-100, 0, 100] }, { column: 'dose_text', cuts: [10] }] },
        label: { column: 'outcome', positive: '1', negative: '0' },
      },
      { spec: { ...resolveMetricSpec({ task: 'regression', regressionRange: [-400, 400], groups: [] }), groups: [{ column: 'code' }] }, label: { column: 'dose', positive: '1' } },
    ];
    for (const { spec, label } of tasks) {
      const run = (source: DataSource) => evaluateDataset({ source, spec, label, scorer: scoreColumnScorer('score') }).finally(() => source.close());
      const fromCsv = await run(createCsvSource({ path: csvPath }));
      const fromPostgres = await run(postgres({ batchRows: 64 }));
      expect(fromCsv.included).toBeGreaterThan(100);
      expect(fromPostgres.layout).toEqual(fromCsv.layout);
      expect([...fromPostgres.vector]).toEqual([...fromCsv.vector]);
    }
  });

  it('a query that fails mid-stream is FEDVAL_ERR_AGENT_DB_QUERY with its SQLSTATE and no value; the connection is gone', async () => {
    const failure = await codeOf(
      columns(postgres({ query: `SELECT CASE WHEN g < 150000 THEN g ELSE 1 / (g - g) END AS x FROM generate_series(1, 200000) g` }), [{ name: 'x', kind: 'numeric' }]),
    );
    expect(failure.code).toBe('FEDVAL_ERR_AGENT_DB_QUERY');
    expect(failure.message).toContain('22012'); // division_by_zero
    expect(await agentBackends()).toBe(0);
  });

  it('statement_timeout_ms bounds the whole COPY: a query that stalls after its first rows is FEDVAL_ERR_AGENT_DB_TIMEOUT', async () => {
    const started = Date.now();
    const failure = await codeOf(
      columns(postgres({ query: `SELECT g AS x, CASE WHEN g = 5000 THEN pg_sleep(5) END AS s FROM generate_series(1, 10000) g`, statementTimeoutMs: 300, batchRows: 1000 }), [{ name: 'x', kind: 'numeric' }]),
    );
    expect(failure.code).toBe('FEDVAL_ERR_AGENT_DB_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it('a read stopped early (max_rows, an abort, a consumer that stops) ends the server backend instead of letting it stream on', async () => {
    const big = `SELECT g AS x FROM generate_series(1, 5000000) g`;
    const limited = await codeOf(columns(postgres({ query: big, maxRows: 1000, batchRows: 500 }), [{ name: 'x', kind: 'numeric' }]));
    expect(limited.code).toBe('FEDVAL_ERR_AGENT_DATA_LIMIT');
    expect(await agentBackends()).toBe(0);

    const controller = new AbortController();
    const aborted = postgres({ query: big, batchRows: 1000 });
    let seen = 0;
    await expect(
      (async () => {
        for await (const batch of aborted.read({ columns: [{ name: 'x', kind: 'numeric' }], signal: controller.signal })) {
          seen += batch.rowCount;
          if (seen >= 3000) controller.abort();
        }
      })(),
    ).rejects.toThrow(/abort/i);
    expect(seen).toBeLessThan(100_000);
    expect(await agentBackends()).toBe(0);

    const stopped = postgres({ query: big, batchRows: 1000 });
    for await (const batch of stopped.read({ columns: [{ name: 'x', kind: 'numeric' }] })) {
      expect(batch.rowCount).toBe(1000);
      break;
    }
    expect(await agentBackends()).toBe(0);
    await stopped.close();
  });
});
