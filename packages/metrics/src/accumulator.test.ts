// Accumulation: what each patient adds, how unusable rows are counted, and what is refused.
import { describe, expect, it } from 'vitest';
import { createAccumulator } from './accumulator.ts';
import type { StatisticsAccumulator } from './accumulator.ts';
import { MetricsError } from './errors.ts';
import { finalizeMetrics } from './finalize.ts';
import type { BinaryMetricsReport } from './finalize.ts';
import type { ExclusionReason } from './exclusion-reasons.ts';
import { FIXED_POINT_SCALE, createStatisticsLayout, fieldSlice } from './statistics-layout.ts';
import type { StatisticsLayout } from './statistics-layout.ts';
import type { SectionFieldName } from './section-fields.ts';

const layout = createStatisticsLayout({ bins: 10, calibrationBins: 5, groups: [{ column: 'sex', levels: ['F', 'M'] }] });

function field(l: StatisticsLayout, vector: Float64Array, section: string, name: SectionFieldName): number[] {
  const s = l.sections.find((x) => x.name === section);
  if (!s) throw new Error(section);
  const slice = fieldSlice(s, name);
  return Array.from(vector.subarray(slice.offset, slice.offset + slice.length));
}

function exclusions(a: StatisticsAccumulator, section = 'overall'): number[] {
  return field(a.layout, a.vector(), section, 'exclusions');
}

function codeOf(fn: () => void): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(MetricsError);
    return (error as MetricsError).code;
  }
  return 'no error';
}

describe('binary accumulation', () => {
  it('adds one histogram bin, the Brier term and the score to the overall and the level section', () => {
    const a = createAccumulator(layout);
    a.addBinary(0.35, 1, ['M']);
    const v = a.vector();
    for (const section of ['overall', 'sex=M']) {
      expect(field(layout, v, section, 'positive_histogram')).toEqual([0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
      expect(field(layout, v, section, 'negative_histogram')).toEqual(new Array(10).fill(0));
      expect(field(layout, v, section, 'brier_sum')).toEqual([Math.round(0.65 * 0.65 * FIXED_POINT_SCALE)]);
      expect(field(layout, v, section, 'calibration_score_sums')).toEqual([0, Math.round(0.35 * FIXED_POINT_SCALE), 0, 0, 0]);
    }
    expect(v.reduce((s, x) => s + x, 0)).toBe(2 * (1 + Math.round(0.65 * 0.65 * FIXED_POINT_SCALE) + Math.round(0.35 * FIXED_POINT_SCALE)));
  });

  it('puts a score exactly at a grid threshold on the predicted-positive side, even where s·B rounds below it', () => {
    for (const threshold of [0.29, 0.57, 0.58, 0.07, 0.14]) {
      const l = createStatisticsLayout({ bins: 100, threshold, calibrationBins: 10, decisionThresholds: [] });
      const a = createAccumulator(l);
      a.addBinary(threshold, 1);
      a.addBinary(threshold, 0);
      const report = finalizeMetrics(l, a.vector()) as BinaryMetricsReport;
      expect([report.at_threshold.tp, report.at_threshold.fp], `threshold ${threshold}`).toEqual([1, 1]);
      expect(field(l, a.vector(), 'overall', 'positive_histogram').indexOf(1)).toBe(Math.round(threshold * 100));
    }
  });

  it('counts unusable rows by reason, label first, never throwing on data', () => {
    const a = createAccumulator(layout);
    const rows: [unknown, unknown, ExclusionReason][] = [
      [0.5, null, 'missing_label'],
      [0.5, undefined, 'missing_label'],
      [null, null, 'missing_label'],
      [0.5, 2, 'invalid_label'],
      [0.5, Number.NaN, 'invalid_label'],
      [0.5, '1', 'invalid_label'],
      [Number.NaN, 2, 'invalid_label'],
      [null, 1, 'missing_score'],
      [undefined, 0, 'missing_score'],
      [Number.NaN, 1, 'invalid_score'],
      [Number.POSITIVE_INFINITY, 0, 'invalid_score'],
      [-0.01, 0, 'invalid_score'],
      [1.0000001, 1, 'invalid_score'],
      ['0.5', 1, 'invalid_score'],
    ];
    for (const [score, label] of rows) a.addBinary(score as number, label as 0 | 1, ['F']);
    const expected = [3, 4, 2, 5, 0, 0];
    expect(exclusions(a)).toEqual(expected);
    expect(exclusions(a, 'sex=F')).toEqual(expected);
    expect(field(layout, a.vector(), 'overall', 'positive_histogram').every((x) => x === 0)).toBe(true);
    expect(a.vector().every((x) => Number.isSafeInteger(x))).toBe(true);
  });

  it('counts explicit exclusions in the right level', () => {
    const a = createAccumulator(layout);
    a.exclude('missing_features', ['F']);
    a.exclude('outside_cohort', [null]);
    a.exclude('outside_cohort', ['?']);
    expect(exclusions(a)).toEqual([0, 0, 0, 0, 1, 2]);
    expect(exclusions(a, 'sex=F')).toEqual([0, 0, 0, 0, 1, 0]);
    expect(exclusions(a, 'sex=(missing)')).toEqual([0, 0, 0, 0, 0, 1]);
    expect(exclusions(a, 'sex=(other)')).toEqual([0, 0, 0, 0, 0, 1]);
  });

  it('keeps the Brier sum within half a unit per patient of the exact sum', () => {
    const a = createAccumulator(createStatisticsLayout({}));
    let seed = 99;
    const random = (): number => (seed = (seed * 48271) % 2147483647) / 2147483647;
    let exact = 0;
    const n = 5000;
    for (let i = 0; i < n; i += 1) {
      const s = random();
      const y = random() < 0.4 ? 1 : 0;
      exact += (s - y) ** 2;
      a.addBinary(s, y);
    }
    const stored = field(a.layout, a.vector(), 'overall', 'brier_sum')[0] as number;
    expect(Math.abs(stored / FIXED_POINT_SCALE - exact)).toBeLessThanOrEqual(n * 0.5 / FIXED_POINT_SCALE);
    expect(Math.abs(stored / FIXED_POINT_SCALE / n - exact / n)).toBeLessThanOrEqual(1e-6);
  });

  it('refuses programming errors with coded errors', () => {
    const a = createAccumulator(layout);
    expect(codeOf(() => a.addBinary(0.5, 1, []))).toBe('FEDVAL_ERR_METRICS_GROUP_COUNT');
    expect(codeOf(() => a.addBinary(0.5, 1))).toBe('FEDVAL_ERR_METRICS_GROUP_COUNT');
    expect(codeOf(() => a.addRegression(1, 1, ['F']))).toBe('FEDVAL_ERR_METRICS_TASK_MISMATCH');
    expect(codeOf(() => a.addMulticlass([1, 0], 0, ['F']))).toBe('FEDVAL_ERR_METRICS_TASK_MISMATCH');
    expect(codeOf(() => a.exclude('bored' as ExclusionReason, ['F']))).toBe('FEDVAL_ERR_METRICS_UNKNOWN_EXCLUSION');
  });

  it('returns a copy of the vector', () => {
    const a = createAccumulator(layout);
    const v = a.vector();
    v[0] = 99;
    expect(a.vector()[0]).toBe(0);
  });
});

describe('multiclass accumulation', () => {
  const mc = createStatisticsLayout({ task: 'multiclass', classes: ['a', 'b', 'c'], bins: 4 });

  it('adds a confusion cell (arg-max, first on ties) and one bin per class histogram', () => {
    const a = createAccumulator(mc);
    a.addMulticlass([0.4, 0.4, 0.2], 2);
    const v = a.vector();
    expect(field(mc, v, 'overall', 'confusion')).toEqual([0, 0, 0, 0, 0, 0, 1, 0, 0]);
    // Per class c: [not-c histogram (4 bins)][is-c histogram (4 bins)].
    expect(field(mc, v, 'overall', 'class_histograms')).toEqual([0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
    expect(field(mc, v, 'overall', 'brier_sum')).toEqual([Math.round((0.16 + 0.16 + 0.64) * FIXED_POINT_SCALE)]);
  });

  it('counts unusable rows', () => {
    const a = createAccumulator(mc);
    a.addMulticlass([0.2, 0.3, 0.5], null);
    a.addMulticlass([0.2, 0.3, 0.5], 3);
    a.addMulticlass([0.2, 0.3, 0.5], 0.5);
    a.addMulticlass(null, 1);
    a.addMulticlass([0.5, 0.5], 1);
    a.addMulticlass([0.5, Number.NaN, 0], 1);
    a.addMulticlass([0.5, 1.5, 0], 1);
    expect(exclusions(a)).toEqual([1, 2, 1, 3, 0, 0]);
  });
});

describe('regression accumulation', () => {
  const rg = createStatisticsLayout({ task: 'regression', regressionRange: [0, 10] });

  it('clamps into the range, counts the clamp and adds normalized sums', () => {
    const a = createAccumulator(rg);
    a.addRegression(12, 5);
    const v = a.vector();
    expect(field(rg, v, 'overall', 'count')).toEqual([1]);
    expect(field(rg, v, 'overall', 'clamped')).toEqual([1]);
    const S = FIXED_POINT_SCALE;
    expect(field(rg, v, 'overall', 'regression_sums')).toEqual([S, S / 2, S, S / 4, S / 2, S / 2, S / 4]);
  });

  it('counts unusable rows', () => {
    const a = createAccumulator(rg);
    a.addRegression(null, 1);
    a.addRegression(Number.NaN, 1);
    a.addRegression(1, undefined);
    a.addRegression(1, Number.NEGATIVE_INFINITY);
    expect(exclusions(a)).toEqual([1, 1, 1, 1, 0, 0]);
    expect(field(rg, a.vector(), 'overall', 'count')).toEqual([0]);
  });
});
