import { describe, expect, it } from 'vitest';
import type { FeatureSpec } from './manifest.ts';
import { buildFeatureMatrix } from './feature-matrix.ts';

const f32 = (values: number[]): Float32Array => Float32Array.from(values);

describe('buildFeatureMatrix: numeric features', () => {
  const age: FeatureSpec = { kind: 'numeric', column: 'age', standardize: { mean: 50, sd: 10 }, missing: 'exclude' };

  it('standardizes as (x − mean) / sd', () => {
    const m = buildFeatureMatrix([age], [{ age: '60' }, { age: '35' }, { age: '50' }]);
    expect(m.width).toBe(1);
    expect(m.values).toEqual(f32([1, -1.5, 0]));
    expect(Array.from(m.rowIndex)).toEqual([0, 1, 2]);
    expect(m.excluded).toEqual([null, null, null]);
  });

  it('applies the transform before standardizing', () => {
    const inputs: FeatureSpec[] = [
      { kind: 'numeric', column: 'n', transform: 'log1p', standardize: { mean: 1, sd: 2 }, missing: 'exclude' },
      { kind: 'numeric', column: 'n', transform: 'sqrt', missing: 'exclude' },
      { kind: 'numeric', column: 'm', transform: 'log', missing: 'exclude' },
    ];
    // Row 0: log1p(e² − 1) = 2 → (2 − 1) / 2 = 0.5; sqrt(e² − 1); log(1) = 0. Row 1: (log 17 − 1) / 2; sqrt(16) = 4; log(e) = 1.
    const n = Math.E ** 2 - 1;
    const m = buildFeatureMatrix(inputs, [{ n: String(n), m: '1' }, { n: '16', m: String(Math.E) }]);
    expect(m.width).toBe(3);
    expect(m.values[0]).toBeCloseTo(0.5, 6);
    expect(m.values[1]).toBeCloseTo(Math.sqrt(n), 6);
    expect(m.values[2]).toBe(0);
    expect(m.values[3]).toBeCloseTo((Math.log(17) - 1) / 2, 6);
    expect(m.values[4]).toBe(4);
    expect(m.values[5]).toBeCloseTo(1, 6);
  });

  it('imputes a missing cell on the raw scale, then transforms and standardizes it', () => {
    const inputs: FeatureSpec[] = [{ kind: 'numeric', column: 'x', transform: 'sqrt', standardize: { mean: 1, sd: 4 }, missing: { impute: 81 } }];
    const m = buildFeatureMatrix(inputs, [{ x: 'NA' }, { x: '25' }]);
    expect(m.values).toEqual(f32([2, 1]));
  });

  it('treats null, undefined, an absent column, empty text and NA (spaces trimmed) as missing', () => {
    const rows = [{ age: null }, { age: undefined }, {}, { age: '' }, { age: '  ' }, { age: 'NA' }, { age: ' NA ' }, { age: '70' }];
    const m = buildFeatureMatrix([age], rows);
    expect(m.excluded).toEqual([...new Array(7).fill('missing_features'), null]);
    expect(Array.from(m.rowIndex)).toEqual([7]);
    expect(m.values).toEqual(f32([2]));
  });

  it('uses the configured missing tokens instead of the defaults', () => {
    const m = buildFeatureMatrix([age], [{ age: 'NA' }, { age: '?' }, { age: '' }], { missingTokens: ['?', ''] });
    expect(m.excluded).toEqual(['invalid_features', 'missing_features', 'missing_features']);
  });

  it('reads plain decimal numbers only', () => {
    const plain: FeatureSpec = { kind: 'numeric', column: 'x', missing: 'exclude' };
    const accepted = buildFeatureMatrix([plain], ['2.5', ' +3 ', '-.5', '1e2', '5.', '-0', '007'].map((x) => ({ x })));
    expect(accepted.values).toEqual(f32([2.5, 3, -0.5, 100, 5, -0, 7]));
    const rejected = buildFeatureMatrix([plain], ['abc', '1,5', '0x10', 'Infinity', 'NaN', '1e400', '1 2', '--1'].map((x) => ({ x })));
    expect(rejected.excluded).toEqual(new Array(8).fill('invalid_features'));
    expect(rejected.values.length).toBe(0);
  });

  it('rejects values outside the transform domain', () => {
    const m = buildFeatureMatrix(
      [
        { kind: 'numeric', column: 'a', transform: 'log', missing: 'exclude' },
        { kind: 'numeric', column: 'b', transform: 'sqrt', missing: 'exclude' },
        { kind: 'numeric', column: 'c', transform: 'log1p', missing: 'exclude' },
      ],
      [
        { a: '0', b: '1', c: '1' },
        { a: '1', b: '-1', c: '1' },
        { a: '1', b: '1', c: '-1' },
        { a: '1', b: '0', c: '-0.5' },
      ],
    );
    expect(m.excluded).toEqual(['invalid_features', 'invalid_features', 'invalid_features', null]);
    expect(m.values[2]).toBeCloseTo(Math.log1p(-0.5), 6);
  });
});

describe('buildFeatureMatrix: one-hot features', () => {
  const base = { kind: 'one_hot' as const, column: 'size', categories: ['<=20', '20-50', '>50'] };

  it('sets the column of the category and zeros elsewhere', () => {
    const m = buildFeatureMatrix([{ ...base, missing: 'exclude', unknown: 'exclude' }], [{ size: '20-50' }, { size: '>50' }, { size: ' <=20 ' }]);
    expect(m.width).toBe(3);
    expect(m.values).toEqual(f32([0, 1, 0, 0, 0, 1, 1, 0, 0]));
  });

  it('follows the missing rule: exclude, all zeros, or an imputed category', () => {
    const rows = [{ size: 'NA' }];
    expect(buildFeatureMatrix([{ ...base, missing: 'exclude', unknown: 'zeros' }], rows).excluded).toEqual(['missing_features']);
    expect(buildFeatureMatrix([{ ...base, missing: 'zeros', unknown: 'exclude' }], rows).values).toEqual(f32([0, 0, 0]));
    expect(buildFeatureMatrix([{ ...base, missing: { impute: '>50' }, unknown: 'exclude' }], rows).values).toEqual(f32([0, 0, 1]));
  });

  it('follows the unknown-category rule, matching categories exactly (case-sensitive)', () => {
    const rows = [{ size: '<20' }, { size: '>50 mm' }, { size: 'X' }];
    expect(buildFeatureMatrix([{ ...base, missing: 'exclude', unknown: 'exclude' }], rows).excluded).toEqual(new Array(3).fill('invalid_features'));
    const zeros = buildFeatureMatrix([{ ...base, missing: 'exclude', unknown: 'zeros' }], rows);
    expect(zeros.excluded).toEqual([null, null, null]);
    expect(zeros.values).toEqual(new Float32Array(9));
  });
});

describe('buildFeatureMatrix: layout of several features', () => {
  const inputs: FeatureSpec[] = [
    { kind: 'numeric', column: 'age', standardize: { mean: 50, sd: 10 }, missing: 'exclude' },
    { kind: 'one_hot', column: 'grade', categories: ['1', '2', '3'], missing: 'exclude', unknown: 'exclude' },
    { kind: 'numeric', column: 'nodes', missing: { impute: 0 } },
  ];

  it('writes included rows in order, row-major, and maps them back to their input rows', () => {
    const rows = [
      { age: '40', grade: '3', nodes: '4' },
      { age: 'NA', grade: '3', nodes: '4' },
      { age: '45', grade: '2', nodes: '' },
      { age: '55', grade: '9', nodes: 'x' },
      { age: '70', grade: '1', nodes: '12' },
    ];
    const m = buildFeatureMatrix(inputs, rows);
    expect(m.width).toBe(5);
    expect(Array.from(m.rowIndex)).toEqual([0, 2, 4]);
    expect(m.excluded).toEqual([null, 'missing_features', null, 'invalid_features', null]);
    expect(m.values).toEqual(f32([-1, 0, 0, 1, 4, -0.5, 0, 1, 0, 0, 2, 1, 0, 0, 12]));
  });

  it('gives the reason of the first failing feature in manifest order', () => {
    const m = buildFeatureMatrix(inputs, [
      { age: 'x', grade: 'NA' },
      { age: 'NA', grade: 'x' },
      { age: '50', grade: 'NA', nodes: 'bad' },
    ]);
    expect(m.excluded).toEqual(['invalid_features', 'missing_features', 'missing_features']);
  });

  it('handles an empty chunk', () => {
    const m = buildFeatureMatrix(inputs, []);
    expect(m.values.length).toBe(0);
    expect(m.rowIndex.length).toBe(0);
    expect(m.excluded).toEqual([]);
  });
});
