// Regression metrics against scikit-learn and numpy (references/make_references.py).
import { describe, expect, it } from 'vitest';
import { createAccumulator } from './accumulator.ts';
import { finalizeMetrics } from './finalize.ts';
import type { RegressionMetricsReport } from './finalize.ts';
import type { RegressionMetricsBlock } from './regression-metrics.ts';
import { createStatisticsLayout } from './statistics-layout.ts';
import { readReferenceCsv, readReferenceJson } from './testing/reference-data.ts';

interface ReferenceFile {
  regressionRange: [number, number];
  overall: RegressionMetricsBlock;
  by_group: { meno: Record<string, RegressionMetricsBlock> };
}

/**
 * Fixed-point sums store each normalized value with error <= 2^-21, so a mean is within
 * 2^-21·(high − low) ≈ 3.8e-5 here (range 80) and a mean of squares within 2^-21·(high − low)².
 */
const RANGE = 80;
const MEAN_TOLERANCE = RANGE * 2 ** -21;
const SQUARE_TOLERANCE = RANGE * RANGE * 2 ** -21;

function compare(actual: RegressionMetricsBlock, expected: RegressionMetricsBlock, where: string): void {
  expect([actual.n, actual.clamped], where).toEqual([expected.n, expected.clamped]);
  const tolerances: Partial<Record<keyof RegressionMetricsBlock, number>> = {
    mean_observed: MEAN_TOLERANCE,
    mean_predicted: MEAN_TOLERANCE,
    mae: MEAN_TOLERANCE,
    mse: SQUARE_TOLERANCE,
    rmse: 1e-4,
    r2: 1e-4,
    mean_error: 2 * MEAN_TOLERANCE,
    calibration_in_the_large: 2 * MEAN_TOLERANCE,
    calibration_slope: 1e-4,
    calibration_intercept: 1e-3,
  };
  for (const [key, tolerance] of Object.entries(tolerances)) {
    const a = actual[key as keyof RegressionMetricsBlock] as number;
    const e = expected[key as keyof RegressionMetricsBlock] as number;
    expect(Math.abs(a - e), `${where} ${key}: ${a} vs ${e}`).toBeLessThanOrEqual(tolerance as number);
  }
}

describe('GBSG tumour size regression against scikit-learn', () => {
  const reference = readReferenceJson<ReferenceFile>('sklearn_regression.json');
  const layout = createStatisticsLayout({ task: 'regression', regressionRange: reference.regressionRange, groups: [{ column: 'meno', levels: ['0', '1'] }] });
  const accumulator = createAccumulator(layout);
  for (const row of readReferenceCsv('gbsg_regression.csv')) accumulator.addRegression(Number(row['y']), Number(row['yhat']), [row['meno'] ?? null]);
  const report = finalizeMetrics(layout, accumulator.vector()) as RegressionMetricsReport;

  it('matches overall, with values outside the range clamped and counted', () => {
    expect(report.task).toBe('regression');
    expect(report.clamped).toBeGreaterThan(0);
    compare(report, reference.overall, 'overall');
  });

  it('matches by menopausal status', () => {
    for (const [level, expected] of Object.entries(reference.by_group.meno)) {
      const block = report.by_group['meno']?.[level];
      if (!block || block.suppressed) throw new Error(`meno=${level} should be released`);
      compare(block, expected, `meno=${level}`);
    }
  });

  it('reports nulls for an empty or constant input', () => {
    const empty = finalizeMetrics(layout, createAccumulator(layout).vector()) as RegressionMetricsReport;
    expect([empty.n, empty.mae, empty.r2, empty.calibration_slope]).toEqual([0, null, null, null]);
    const constant = createAccumulator(layout);
    for (let i = 0; i < 20; i += 1) constant.addRegression(10, 12, ['0']);
    const flat = finalizeMetrics(layout, constant.vector()) as RegressionMetricsReport;
    expect(flat.r2).toBeNull();
    expect(flat.calibration_slope).toBeNull();
    expect(flat.mae).toBeCloseTo(2, 4);
  });
});
