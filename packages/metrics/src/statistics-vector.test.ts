// Pooling: adding site vectors gives exactly the vector of all patients in one place.
import { describe, expect, it } from 'vitest';
import { createAccumulator } from './accumulator.ts';
import { MetricsError } from './errors.ts';
import { finalizeMetrics } from './finalize.ts';
import { createStatisticsLayout } from './statistics-layout.ts';
import { addStatistics, addStatisticsInPlace } from './statistics-vector.ts';
import { numberOrNull, readReferenceCsv } from './testing/reference-data.ts';

describe('addStatistics', () => {
  it('pools three sites into exactly the single-place vector and report', () => {
    const layout = createStatisticsLayout({ groups: [{ column: 'meno', levels: ['0', '1'] }] });
    const all = createAccumulator(layout);
    const sites = [createAccumulator(layout), createAccumulator(layout), createAccumulator(layout)];
    readReferenceCsv('rotterdam_binary.csv').forEach((row, i) => {
      const args = [Number(row['score']), numberOrNull(row['label']), [row['meno'] ?? null]] as const;
      all.addBinary(...args);
      sites[i % 3]?.addBinary(...args);
    });
    const [a, b, c] = sites.map((s) => s.vector()) as [Float64Array, Float64Array, Float64Array];
    const pooled = addStatistics(addStatistics(a, b), c);
    expect(pooled).toEqual(all.vector());
    expect(finalizeMetrics(layout, pooled)).toEqual(finalizeMetrics(layout, all.vector()));
    const target = a.slice();
    expect(addStatisticsInPlace(addStatisticsInPlace(target, b), c)).toBe(target);
    expect(target).toEqual(pooled);
  });

  it('does not modify its inputs', () => {
    const a = new Float64Array([1, 2]);
    const b = new Float64Array([3, -4]);
    expect(Array.from(addStatistics(a, b))).toEqual([4, -2]);
    expect(Array.from(a)).toEqual([1, 2]);
  });

  it('refuses mismatched lengths and sums that are not safe integers, leaving the target unchanged', () => {
    const codeOf = (fn: () => void): string => {
      try {
        fn();
      } catch (error) {
        return (error as MetricsError).code;
      }
      return 'no error';
    };
    expect(codeOf(() => addStatistics(new Float64Array(2), new Float64Array(3)))).toBe('FEDVAL_ERR_METRICS_VECTOR_LENGTH');
    const target = new Float64Array([1, Number.MAX_SAFE_INTEGER]);
    expect(codeOf(() => addStatisticsInPlace(target, new Float64Array([1, 1])))).toBe('FEDVAL_ERR_METRICS_VECTOR_NOT_SAFE_INTEGER');
    expect(Array.from(target)).toEqual([1, Number.MAX_SAFE_INTEGER]);
    expect(codeOf(() => addStatistics(new Float64Array([0.5]), new Float64Array([0])))).toBe('FEDVAL_ERR_METRICS_VECTOR_NOT_SAFE_INTEGER');
    expect(codeOf(() => addStatistics(new Float64Array([Number.NaN]), new Float64Array([0])))).toBe('FEDVAL_ERR_METRICS_VECTOR_NOT_SAFE_INTEGER');
  });
});
