import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { resolveMetricSpec } from '@fedval/metrics';
import { AgentError } from '../errors.ts';
import { evaluateDataset } from '../evaluation.ts';
import type { EvaluationSpec } from '../evaluation.ts';
import { loadLocalModelScorer } from '../model-scorer.ts';
import { createCsvSource } from './csv-source.ts';
import type { ColumnRequest, DataSource } from './data-source.ts';
import { isParquetPath, openDataFile } from './open-data-source.ts';
import { createParquetSource } from './parquet-source.ts';

const DATA = fileURLToPath(new URL('../../../examples/rotterdam/data/', import.meta.url));
const MODEL = fileURLToPath(new URL('../../../examples/rotterdam/model/', import.meta.url));
const SITE_CSV = join(DATA, 'site-a.csv');
const SITE_PARQUET = join(DATA, 'site-a.parquet');
const dir = mkdtempSync(join(tmpdir(), 'fedval-parquet-'));

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(AgentError);
    return (error as AgentError).code;
  }
  throw new Error('expected an AgentError');
}

async function drain(source: DataSource, columns: readonly ColumnRequest[]): Promise<number> {
  let rows = 0;
  for await (const batch of source.read({ columns })) rows += batch.rowCount;
  return rows;
}

describe('Parquet source', () => {
  it('gives the same statistics vector as the CSV of the same rows (Rotterdam model, two categorical and one banded subgroup)', async () => {
    const scorer = await loadLocalModelScorer(MODEL, pino({ level: 'silent' }));
    const spec: EvaluationSpec = { ...resolveMetricSpec({ task: 'binary', groups: [] }), groups: [{ column: 'meno' }, { column: 'size' }, { column: 'age', cuts: [50, 70] }] };
    const label = { column: 'event5y', positive: '1' };
    const csv = await evaluateDataset({ source: createCsvSource({ path: SITE_CSV, batchRows: 500 }), spec, label, scorer });
    const parquet = await evaluateDataset({ source: createParquetSource({ path: SITE_PARQUET, batchRows: 700 }), spec, label, scorer });
    expect(parquet.layout.groupLevels).toEqual(csv.layout.groupLevels);
    // Natural order (localeCompare, numeric), as fedval-agent levels has always listed them.
    expect(csv.layout.groupLevels[1]).toEqual(['<=20', '>50', '20-50', '(other)', '(missing)']);
    expect(Array.from(parquet.vector)).toEqual(Array.from(csv.vector));
    expect(parquet.included).toBe(csv.included);
    expect(csv.included).toBeGreaterThan(1000);
  });

  it('reads integer columns as numbers or as their decimal text, and text columns read as numbers as invalid', async () => {
    const seen = { meno: new Set<string>(), sizeAsNumber: new Set<number>(), age: 0, missingLabels: 0 };
    const columns: ColumnRequest[] = [{ name: 'meno', kind: 'categorical' }, { name: 'size', kind: 'numeric' }, { name: 'age', kind: 'numeric' }, { name: 'event5y', kind: 'numeric' }];
    for await (const batch of createParquetSource({ path: SITE_PARQUET }).read({ columns })) {
      const meno = batch.columns.get('categorical:meno')!;
      if (meno.kind === 'categorical') for (const code of meno.codes) seen.meno.add(meno.levels[code]!);
      const size = batch.columns.get('numeric:size')!;
      if (size.kind === 'numeric') for (const v of size.values) seen.sizeAsNumber.add(v);
      const age = batch.columns.get('numeric:age')!;
      if (age.kind === 'numeric') seen.age += age.values.filter(Number.isFinite).length;
      const label = batch.columns.get('numeric:event5y')!;
      if (label.kind === 'numeric') seen.missingLabels += label.values.filter(Number.isNaN).length;
    }
    expect([...seen.meno].sort()).toEqual(['0', '1']);
    expect([...seen.sizeAsNumber]).toEqual([Number.POSITIVE_INFINITY]);
    expect(seen.age).toBe(1815);
    const csvMissing = readFileSync(SITE_CSV, 'utf8').trim().split('\n').slice(1).filter((line) => line.endsWith(',')).length;
    expect(seen.missingLabels).toBe(csvMissing);
  });

  it('refuses a truncated or non-Parquet file with a coded error before any batch, and leaves the file as it was', async () => {
    const bytes = readFileSync(SITE_PARQUET);
    const truncated = join(dir, 'truncated.parquet');
    writeFileSync(truncated, bytes.subarray(0, bytes.length - 200));
    let batches = 0;
    const read = async () => {
      for await (const _batch of createParquetSource({ path: truncated }).read({ columns: [{ name: 'age', kind: 'numeric' }] })) batches += 1;
    };
    expect(await codeOf(read())).toBe('FEDVAL_ERR_AGENT_DATA_MALFORMED');
    expect(batches).toBe(0);
    expect(readFileSync(truncated).equals(bytes.subarray(0, bytes.length - 200))).toBe(true);
    const notParquet = join(dir, 'csv.parquet');
    copyFileSync(SITE_CSV, notParquet);
    expect(await codeOf(drain(createParquetSource({ path: notParquet }), [{ name: 'age', kind: 'numeric' }]))).toBe('FEDVAL_ERR_AGENT_DATA_MALFORMED');
    expect(await codeOf(drain(createParquetSource({ path: join(dir, 'absent.parquet') }), [{ name: 'age', kind: 'numeric' }]))).toBe('FEDVAL_ERR_AGENT_DATA_NOT_FOUND');
  });

  it('maps study names, names every missing column, and keeps the row limit', async () => {
    const source = createParquetSource({ path: SITE_PARQUET, columns: { outcome: 'event5y' } });
    expect(await source.columnNames()).toContain('outcome');
    try {
      await drain(createParquetSource({ path: SITE_PARQUET, columns: { label: 'Outcome' } }), [{ name: 'label', kind: 'categorical' }, { name: 'score', kind: 'numeric' }]);
      throw new Error('accepted');
    } catch (error) {
      expect((error as AgentError).code).toBe('FEDVAL_ERR_AGENT_DATA_COLUMNS');
      expect((error as Error).message).toContain('label (local Outcome)');
      expect((error as Error).message).toContain('score');
    }
    expect(await codeOf(drain(createParquetSource({ path: SITE_PARQUET, maxRows: 1000 }), [{ name: 'age', kind: 'numeric' }]))).toBe('FEDVAL_ERR_AGENT_DATA_LIMIT');
    expect(await drain(openDataFile(SITE_PARQUET), [{ name: 'age', kind: 'numeric' }])).toBe(1815);
    expect(isParquetPath('x.PARQUET')).toBe(true);
    expect(isParquetPath('x.csv')).toBe(false);
  });
});
