import { describe, expect, it } from 'vitest';
import { buildFeatureMatrixFromColumns, createFeatureCodeCache, featureColumnKinds } from './feature-columns.ts';
import type { FeatureColumn } from './feature-columns.ts';
import { buildFeatureMatrix } from './feature-matrix.ts';
import type { FeatureSpec } from './manifest.ts';

const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** What a columnar connector gives for these cells: numbers (NaN missing, +Infinity not a number), or codes into texts. */
function column(kind: 'numeric' | 'categorical', cells: readonly (string | null)[]): FeatureColumn {
  const missing = (cell: string | null): boolean => cell === null || ['', 'NA'].includes(cell.trim());
  if (kind === 'numeric') {
    return { kind, values: Float64Array.from(cells, (cell) => (missing(cell) ? Number.NaN : DECIMAL.test(cell!.trim()) ? Number(cell!.trim()) : Number.POSITIVE_INFINITY)) };
  }
  const levels: string[] = [];
  const codes = Int32Array.from(cells, (cell) => {
    if (missing(cell)) return -1;
    const text = cell!.trim();
    if (!levels.includes(text)) levels.push(text);
    return levels.indexOf(text);
  });
  return { kind, codes, levels };
}

const INPUTS: FeatureSpec[] = [
  { kind: 'numeric', column: 'age', standardize: { mean: 50, sd: 10 }, missing: 'exclude' },
  { kind: 'one_hot', column: 'size', categories: ['<=20', '20-50', '>50'], missing: { impute: '>50' }, unknown: 'exclude' },
  { kind: 'numeric', column: 'nodes', transform: 'log1p', missing: { impute: 0 } },
  { kind: 'one_hot', column: 'grade', categories: ['1', '2', '3'], missing: 'zeros', unknown: 'zeros' },
  { kind: 'numeric', column: 'pgr', transform: 'log', missing: 'exclude' },
];

describe('buildFeatureMatrixFromColumns', () => {
  it('encodes exactly as buildFeatureMatrix does on the same cells: values, included rows and exclusion reasons', () => {
    const cells: Record<string, (string | null)[]> = {
      age: ['40', 'NA', '55', '61', 'abc', '1e400', ' 70 ', '30', '45', '50'],
      size: ['<=20', '>50', 'NA', '20-50', '<=20', '<=20', 'X', ' >50', '20-50', '<=20'],
      nodes: ['0', '3', '', '-2', '1', '1', '2', '4', 'x', '7'],
      grade: ['1', '2', '3', 'NA', '9', '1', '2', '3', '1', null],
      pgr: ['10', '1', '0', '5', '5', '5', '5', '5', '5', '2'],
    };
    const rows = cells['age']!.map((_, i) => Object.fromEntries(Object.entries(cells).map(([name, list]) => [name, list[i]])));
    const expected = buildFeatureMatrix(INPUTS, rows);
    const kinds = featureColumnKinds(INPUTS);
    const columns = kinds.map(({ column: name, kind }) => column(kind, cells[name]!));
    const actual = buildFeatureMatrixFromColumns(INPUTS, (j) => columns[j]!, rows.length);
    expect(actual.width).toBe(expected.width);
    expect(actual.excluded).toEqual(expected.excluded);
    // The typed reasons say the same as the per-row array: 0 included, 1 missing_features, 2 invalid_features.
    expect(Array.from(actual.reasons!, (r) => [null, 'missing_features', 'invalid_features'][r])).toEqual(expected.excluded);
    expect(Array.from(actual.rowIndex)).toEqual(Array.from(expected.rowIndex));
    expect(Array.from(actual.values)).toEqual(Array.from(expected.values));
    expect(expected.excluded.filter((r) => r === null).length).toBeGreaterThan(2);
    expect(new Set(expected.excluded)).toEqual(new Set([null, 'missing_features', 'invalid_features']));
  });

  it('keeps category lookups across batches while the dictionary grows', () => {
    const inputs: FeatureSpec[] = [{ kind: 'one_hot', column: 'size', categories: ['a', 'b'], missing: 'exclude', unknown: 'exclude' }];
    const cache = createFeatureCodeCache();
    const first = buildFeatureMatrixFromColumns(inputs, () => ({ kind: 'categorical', codes: Int32Array.from([0]), levels: ['b'] }), 1, cache);
    const second = buildFeatureMatrixFromColumns(inputs, () => ({ kind: 'categorical', codes: Int32Array.from([1, 0, 2]), levels: ['b', 'a', 'z'] }), 3, cache);
    expect(Array.from(first.values)).toEqual([0, 1]);
    expect(Array.from(second.values)).toEqual([1, 0, 0, 1]);
    expect(second.excluded).toEqual([null, null, 'invalid_features']);
  });

  it('builds in the same buffers batch after batch when the cache reuses them, with the same result as fresh ones', () => {
    const inputs: FeatureSpec[] = [
      { kind: 'one_hot', column: 'size', categories: ['a', 'b'], missing: 'exclude', unknown: 'exclude' },
      { kind: 'numeric', column: 'age', missing: 'exclude' },
    ];
    const batches = [
      [{ kind: 'categorical', codes: Int32Array.from([0, 1, 0]), levels: ['b', 'a'] }, { kind: 'numeric', values: Float64Array.from([40, 50, Number.NaN]) }],
      [{ kind: 'categorical', codes: Int32Array.from([1, 0]), levels: ['b', 'a'] }, { kind: 'numeric', values: Float64Array.from([60, 70]) }],
    ] as const;
    const reused = createFeatureCodeCache({ reuseBuffers: true });
    for (const columns of batches) {
      const fresh = buildFeatureMatrixFromColumns(inputs, (j) => columns[j]!, columns[1].values.length);
      const again = buildFeatureMatrixFromColumns(inputs, (j) => columns[j]!, columns[1].values.length, reused);
      expect(Array.from(again.values)).toEqual(Array.from(fresh.values));
      expect(Array.from(again.rowIndex)).toEqual(Array.from(fresh.rowIndex));
      expect(again.excluded).toEqual(fresh.excluded);
    }
    // The first batch's one-hot 1s do not survive into the second batch's matrix (the buffer is cleared).
    expect(reused.buffers!.values.length).toBe(9);
  });
});
