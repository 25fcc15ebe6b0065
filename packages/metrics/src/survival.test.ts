// The survival task's edge cases (issue 15), its time grid, its spec fields and its sensitivity; values here are closed forms.
import { describe, expect, it } from 'vitest';
import { createAccumulator } from './accumulator.ts';
import { finalizeMetrics } from './finalize.ts';
import type { SurvivalMetricsReport } from './finalize.ts';
import { metricSpecToInput, resolveMetricSpec, resolveMetricSpecInput } from './metric-spec.ts';
import type { MetricSpec } from './metric-spec.ts';
import { formatMetricsTable } from './format-table.ts';
import { metricsReportSchema } from './metrics-report-schema.ts';
import { createStatisticsLayout } from './statistics-layout.ts';
import { timeGridOf } from './time-grid.ts';

const SPEC: Partial<MetricSpec> = { task: 'survival', bins: 10, survival: { horizon: 10, maxTime: 20, timeBins: 10, afterBins: 10 } };

function report(rows: [number | null, number | null, number | null][], spec: Partial<MetricSpec> = SPEC): SurvivalMetricsReport {
  const layout = createStatisticsLayout(spec);
  const accumulator = createAccumulator(layout);
  for (const [time, event, risk] of rows) accumulator.addSurvival(time, event, risk);
  const result = finalizeMetrics(layout, accumulator.vector());
  expect(metricsReportSchema.parse(result)).toEqual(result);
  return result as SurvivalMetricsReport;
}

describe('time grid', () => {
  it('has the horizon as an exact right-closed edge and one overflow bin', () => {
    const grid = timeGridOf({ horizon: 1826, maxTime: 3652, timeBins: 200 });
    // Default after the horizon: a quarter of the density, ⌈200 · 1826 / 1826 / 4⌉ = 50 bins.
    expect([grid.horizonBins, grid.afterBins, grid.bins]).toEqual([200, 50, 251]);
    expect(grid.bin(0)).toBe(0);
    expect(grid.bin(1826)).toBe(199);
    expect(grid.bin(1826.000001)).toBe(200);
    expect(grid.bin(3652)).toBe(249);
    expect(grid.bin(3652.5)).toBe(250);
    expect(grid.upperEdge(199)).toBe(1826);
    expect(grid.upperEdge(249)).toBe(3652);
    expect(grid.upperEdge(250)).toBe(Infinity);
  });

  it('keeps the horizon an edge for a width that does not divide it exactly in floating point', () => {
    const grid = timeGridOf({ horizon: 0.3, maxTime: 0.3, timeBins: 3 });
    expect(grid.bin(0.3)).toBe(2);
    expect(grid.bin(0.30000000000000004)).toBe(3);
    expect(grid.bins).toBe(4);
  });
});

describe('survival metric spec', () => {
  it('fills the defaults: 100 score bins, 200 time bins to the horizon, max time twice the horizon', () => {
    const spec = resolveMetricSpec({ task: 'survival', survival: { horizon: 1826 } });
    expect(spec.bins).toBe(100);
    expect(spec.survival).toEqual({ horizon: 1826, maxTime: 3652, timeBins: 200, afterBins: 50 });
    expect(resolveMetricSpecInput(metricSpecToInput(spec))).toEqual(spec);
    expect(resolveMetricSpecInput({ task: 'survival', survival: { horizon: 5, max_time: 7, time_bins: 50, after_bins: 3 } }).survival).toEqual({ horizon: 5, maxTime: 7, timeBins: 50, afterBins: 3 });
  });

  it('refuses a survival task without a horizon, a horizon elsewhere, and bad grids, listing each problem', () => {
    const problems = (input: unknown): string => {
      try {
        resolveMetricSpec(input);
      } catch (error) {
        expect((error as { code: string }).code).toBe('FEDVAL_ERR_METRICS_INVALID_SPEC');
        return (error as Error).message;
      }
      throw new Error('accepted');
    };
    expect(problems({ task: 'survival' })).toContain('survival');
    expect(problems({ task: 'binary', survival: { horizon: 5 } })).toContain('applies only to a survival task');
    expect(problems({ task: 'survival', survival: { horizon: -1 } })).toContain('horizon');
    expect(problems({ task: 'survival', survival: { horizon: 10, maxTime: 5 } })).toContain('max time must be at least the horizon');
    expect(problems({ task: 'survival', survival: { horizon: 1, maxTime: 1000, timeBins: 100 } })).toContain('more than 10000 bins');
    expect(problems({ task: 'survival', survival: { horizon: 1, maxTime: 2, afterBins: 0 } })).toContain('after bins must be 0 exactly when max time equals the horizon');
  });
});

describe('survival statistics', () => {
  it('moves one counter by one per patient (sensitivity 1), and sums as a binary task (L1 2·S)', () => {
    const layout = createStatisticsLayout(SPEC);
    const counts = layout.blocks.find((b) => b.name === 'overall.counts')!;
    expect([counts.perPatientMaxAbs, counts.perPatientL1, counts.perPatientL2Squared]).toEqual([1, 1, 1]);
    const accumulator = createAccumulator(layout);
    accumulator.addSurvival(3.5, 1, 0.42);
    const vector = accumulator.vector();
    const touched = Array.from(vector.subarray(counts.offset, counts.offset + counts.length)).filter((v) => v !== 0);
    expect(touched).toEqual([1]);
  });

  it('counts negative, non-finite and missing times, and events other than 0/1, as exclusions with reasons', () => {
    const r = report([
      [-1, 1, 0.5],
      [Number.POSITIVE_INFINITY, 0, 0.5],
      [null, 1, 0.5],
      [Number.NaN, 1, 0.5],
      [5, null, 0.5],
      [5, 2, 0.5],
      [5, 1, null],
      [5, 1, 1.5],
      [5, 1, 0.9],
      [15, 0, 0.1],
    ]);
    expect(r.n).toBe(2);
    expect(r.excluded).toEqual({ missing_label: 2, invalid_label: 4, missing_score: 1, invalid_score: 1, missing_features: 0, outside_cohort: 0 });
  });

  it('columnar rows count exactly as row by row', () => {
    const layout = createStatisticsLayout(SPEC);
    const rows: [number, number, number][] = [[-1, 1, 0.5], [Number.NaN, 1, 0.5], [5, -1, 0.5], [5, 3, 0.5], [5, 1, Number.NaN], [2, 1, 0.7], [12, 0, 0.2], [10, 1, 0.9], [4, 0, 0.3]];
    const byRow = createAccumulator(layout);
    for (const [t, e, s] of rows) byRow.addSurvival(Number.isNaN(t) ? null : t, e === -1 ? null : e, Number.isNaN(s) ? null : s);
    const byColumn = createAccumulator(layout);
    byColumn.addSurvivalRows({ count: rows.length, times: Float64Array.from(rows, (r) => r[0]), labels: Int8Array.from(rows, (r) => r[1]), scores: Float64Array.from(rows, (r) => r[2]), levels: [] });
    expect(Array.from(byColumn.vector())).toEqual(Array.from(byRow.vector()));
  });

  it('with no event before the horizon: no td-AUC or Uno C, observed risk 0, Brier from the controls alone', () => {
    const r = report([
      [4, 0, 0.2],
      [12, 1, 0.8],
      [15, 0, 0.4],
      [18, 1, 0.6],
    ]);
    expect(r.events_by_horizon).toBe(0);
    expect(r.td_auc).toBeNull();
    expect(r.c_index_uno).toBeNull();
    expect(r.observed_risk_at_horizon).toBe(0);
    // G(h) = 1 − 1/4 (one censored of four at risk); controls 0.8, 0.4, 0.6: (0.64 + 0.16 + 0.36)/0.75/4.
    expect(r.brier_at_horizon).toBeCloseTo((0.64 + 0.16 + 0.36) / 0.75 / 4, 6);
    // Pairs: event at 12 (0.8) vs 15 (0.4) and 18 (0.6): concordant; event at 18 vs nobody later. C = 1.
    expect(r.c_index).toBe(1);
  });

  it('with everyone censored: no C index, no AUC, observed risk 0, and nothing is NaN', () => {
    const r = report([
      [3, 0, 0.2],
      [12, 0, 0.8],
      [15, 0, 0.4],
    ]);
    expect([r.events, r.c_index, r.c_index_uno, r.td_auc, r.observed_risk_at_horizon]).toEqual([0, null, null, null, 0]);
    expect(JSON.stringify(r)).not.toContain('NaN');
  });

  it('refuses a horizon beyond the last follow-up with a clear coded error', () => {
    const layout = createStatisticsLayout(SPEC);
    const accumulator = createAccumulator(layout);
    accumulator.addSurvival(3, 1, 0.5);
    accumulator.addSurvival(7, 0, 0.5);
    accumulator.addSurvival(10, 0, 0.5);
    expect(() => finalizeMetrics(layout, accumulator.vector())).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_METRICS_HORIZON_BEYOND_FOLLOW_UP' }));
  });

  it('ties in time and in risk: tied event times are not comparable, tied risks count one half', () => {
    // Events at 2 (risk 0.55) and 2 (0.35) are tied times; each is compared with the censored 2 (0.55) and with 6 (0.35).
    const r = report([
      [2, 1, 0.55],
      [2, 1, 0.35],
      [2, 0, 0.55],
      [6, 0, 0.35],
      [14, 0, 0.15],
    ]);
    // Pairs (event, comparator): (0.55; 0.55 tie ½), (0.55; 0.35 ✓), (0.55; 0.15 ✓), (0.35; 0.55 ✗), (0.35; 0.35 ½), (0.35; 0.15 ✓).
    expect(r.c_index).toBeCloseTo(4 / 6, 12);
  });

  it('finalizes a noisy vector without NaN, every proportion in [0, 1], and without the bias of clamping each cell', () => {
    const layout = createStatisticsLayout({ task: 'survival', survival: { horizon: 10, maxTime: 20, timeBins: 20, afterBins: 5 } });
    const accumulator = createAccumulator(layout);
    for (let i = 0; i < 400; i += 1) accumulator.addSurvival((i * 7.3) % 20, i % 3 === 0 ? 0 : 1, ((i * 37) % 100) / 100);
    const vector = accumulator.vector();
    const counts = layout.blocks.find((b) => b.name === 'overall.counts')!;
    let state = 11;
    for (let i = counts.offset; i < counts.offset + counts.length; i += 1) {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      vector[i] = (vector[i] as number) + ((state % 7) - 3); // integer noise in [-3, 3], mean 0
    }
    const r = finalizeMetrics(layout, vector, { noise: { blockVariances: { 'overall.counts': 4 } } }) as SurvivalMetricsReport;
    expect(JSON.stringify(r)).not.toContain('NaN');
    for (const value of [r.c_index, r.c_index_uno, r.td_auc, r.brier_at_horizon, r.observed_risk_at_horizon]) {
      expect(value).not.toBeNull();
      expect(value as number).toBeGreaterThanOrEqual(0);
      expect(value as number).toBeLessThanOrEqual(1);
    }
    // 5 000 cells of mean-zero noise: n stays near 400 (clamping each cell at 0 would add about 1.7 per cell, ~8 600).
    expect(Math.abs(r.n - 400)).toBeLessThan(400);
  });

  it('keeps the mean predicted risk of a noisy calibration group inside the risk range of that group', () => {
    const layout = createStatisticsLayout(SPEC);
    const accumulator = createAccumulator(layout);
    for (let i = 0; i < 200; i += 1) accumulator.addSurvival(1 + (i % 19), i % 2, 0.05 + (i % 10) / 10);
    const vector = accumulator.vector();
    const sums = layout.blocks.filter((b) => b.name.startsWith('overall.') && b.name !== 'overall.counts');
    // Noise that drags every group's score sum far below and far above what its patients scored.
    for (const block of sums) for (let i = block.offset; i < block.offset + block.length; i += 1) vector[i] = (vector[i] as number) * (i % 2 === 0 ? -5 : 7);
    const groups = (finalizeMetrics(layout, vector) as SurvivalMetricsReport).calibration_at_horizon;
    expect(groups.filter((g) => g.n > 0).length).toBeGreaterThan(5);
    for (const g of groups) if (g.mean_predicted_risk !== null) {
      expect(g.mean_predicted_risk).toBeGreaterThanOrEqual(g.lower);
      expect(g.mean_predicted_risk).toBeLessThanOrEqual(g.upper);
    }
  });

  it('under DP, suppresses a level whose counts do not clear the minimum by three noise standard deviations', () => {
    const spec: Partial<MetricSpec> = { ...SPEC, minCellSize: 2, groups: [{ column: 'site', levels: ['x'] }] };
    const layout = createStatisticsLayout(spec);
    const accumulator = createAccumulator(layout);
    for (let i = 0; i < 40; i += 1) accumulator.addSurvival(1 + (i % 18), i % 2, (i % 10) / 10 + 0.05, ['x']);
    const exact = finalizeMetrics(layout, accumulator.vector()) as SurvivalMetricsReport;
    expect(exact.by_group['site']!['x']!.suppressed).toBe(false);
    // Noise variance 1 per cell: n sums 2·21·10 cells, margin 3·√420 ≈ 61 > 40 patients.
    const noisy = finalizeMetrics(layout, accumulator.vector(), { noise: { blockVariances: { 'by_group.site.counts': 1 } } }) as SurvivalMetricsReport;
    expect(noisy.by_group['site']!['x']).toEqual({ suppressed: true });
  });

  it('renders as a table with every block named and no undefined or NaN', () => {
    const text = formatMetricsTable(report([[2, 1, 0.85], [4, 0, 0.25], [6, 1, 0.65], [12, 0, 0.15], [14, 1, 0.45], [16, 0, 0.35]]));
    for (const heading of ["Harrell's C", "Uno's C", 'time-dependent AUC', 'Brier score (IPCW)', 'observed risk (1 − KM)', 'calibration at the horizon', 'net benefit at the horizon']) {
      expect(text).toContain(heading);
    }
    expect(text).not.toMatch(/undefined|NaN/);
  });

  it('suppresses small subgroup levels and reports fairness gaps from the IPCW rates at the threshold', () => {
    const spec: Partial<MetricSpec> = { ...SPEC, minCellSize: 2, groups: [{ column: 'site', levels: ['x', 'y'] }] };
    const layout = createStatisticsLayout(spec);
    const accumulator = createAccumulator(layout);
    const rows: [number, number, number, string][] = [[1, 1, 0.9, 'x'], [2, 1, 0.7, 'x'], [12, 0, 0.2, 'x'], [15, 0, 0.6, 'x'], [3, 1, 0.8, 'y'], [4, 1, 0.3, 'y'], [13, 0, 0.1, 'y'], [16, 0, 0.4, 'y'], [17, 0, 0.3, 'y']];
    for (const [t, e, s, g] of rows) accumulator.addSurvival(t, e, s, [g]);
    const r = finalizeMetrics(layout, accumulator.vector()) as SurvivalMetricsReport;
    const x = r.by_group['site']!['x']!;
    expect(x.suppressed).toBe(false);
    if (!x.suppressed) expect(x.at_threshold.sensitivity).toBe(1);
    expect(r.by_group['site']!['(missing)']).toEqual({ suppressed: true });
    expect(r.fairness['site']!.levels_covered).toEqual(['x', 'y']);
    expect(r.fairness['site']!.equal_opportunity_difference).toBeCloseTo(0.5, 12);
  });
});
