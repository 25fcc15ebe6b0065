// Survival metrics against R on the raw, unbinned data (references/make_survival_references.R): survival::concordance,
// riskRegression::Score and survfit. Every data set is split over three sites whose vectors are summed, as a federated round.
import { describe, expect, it } from 'vitest';
import { createAccumulator } from './accumulator.ts';
import { finalizeMetrics } from './finalize.ts';
import type { SurvivalMetricsReport } from './finalize.ts';
import type { MetricSpec } from './metric-spec.ts';
import { createStatisticsLayout } from './statistics-layout.ts';
import { addStatistics } from './statistics-vector.ts';
import { readReferenceCsv, readReferenceJson } from './testing/reference-data.ts';

interface RGroup {
  lower: number;
  upper: number;
  n: number;
  mean_predicted_risk: number | null;
  observed_risk: number | null;
  observed_risk_ci95: [number, number] | null;
}
interface RReference {
  horizon: number;
  n: number;
  events: number;
  events_by_horizon: number;
  censored_before_horizon: number;
  c_index: number;
  c_index_variance: number;
  c_index_uno: number;
  td_auc: number;
  brier_at_horizon: number;
  observed_risk_at_horizon: number;
  observed_risk_at_horizon_ci95: [number, number];
  expected_risk_at_horizon: number;
  calibration_at_horizon: RGroup[];
  net_benefit_at_horizon: { threshold: number; net_benefit: number }[];
}

const references = readReferenceJson<Record<'gbsg' | 'pbc' | 'ties', RReference>>('r_survival.json');
const Z95 = 1.959963984540054;

/** Three sites (the CSV's `site` column), each its own accumulator; the pooled vector is their sum. */
function federated(file: string, spec: Partial<MetricSpec>): { report: SurvivalMetricsReport; pooled: Float64Array; single: Float64Array } {
  const layout = createStatisticsLayout(spec);
  const sites = new Map(['a', 'b', 'c'].map((site) => [site, createAccumulator(layout)]));
  const single = createAccumulator(layout);
  for (const row of readReferenceCsv(file)) {
    const args = [Number(row['time']), Number(row['event']), Number(row['risk'])] as const;
    sites.get(row['site'] as string)!.addSurvival(...args);
    single.addSurvival(...args);
  }
  const pooled = [...sites.values()].map((a) => a.vector()).reduce((a, b) => addStatistics(a, b));
  return { report: finalizeMetrics(layout, pooled) as SurvivalMetricsReport, pooled, single: single.vector() };
}

function expectClose(actual: number | null | undefined, expected: number, tolerance: number, what: string): void {
  expect(actual, what).not.toBeNull();
  expect(Math.abs((actual as number) - expected), `${what}: fedval ${actual} vs R ${expected}`).toBeLessThanOrEqual(tolerance);
}

/** The correctness bar of issue 15, on the default grid (100 score bins, 200 time bins to the horizon, max time 2 × horizon). */
const BAR = { c_index: 2e-3, c_index_uno: 5e-3, td_auc: 3e-3, brier_at_horizon: 2e-3, observed_risk_at_horizon: 2e-3, net_benefit: 3e-3 };

describe.each(['gbsg', 'pbc'] as const)('%s over three sites against R (default grid)', (name) => {
  const reference = references[name];
  const { report, pooled, single } = federated(`survival_${name}.csv`, { task: 'survival', survival: { horizon: reference.horizon, maxTime: 2 * reference.horizon, timeBins: 200, afterBins: 50 } });

  it('sums three sites to exactly the statistics of one site holding everyone', () => {
    expect(Array.from(pooled)).toEqual(Array.from(single));
  });

  it('counts patients, events and censorings exactly', () => {
    expect([report.n, report.events, report.events_by_horizon, report.censored_before_horizon]).toEqual([
      reference.n,
      reference.events,
      reference.events_by_horizon,
      reference.censored_before_horizon,
    ]);
  });

  it('meets the bar for the C indexes, td-AUC, Brier score, observed risk and net benefit', () => {
    for (const key of ['c_index', 'c_index_uno', 'td_auc', 'brier_at_horizon', 'observed_risk_at_horizon'] as const) {
      expectClose(report[key], reference[key], BAR[key], key);
    }
    report.net_benefit_at_horizon.forEach((point, i) => {
      const expected = reference.net_benefit_at_horizon[i]!;
      expect(point.threshold).toBe(expected.threshold);
      expectClose(point.net_benefit, expected.net_benefit, BAR.net_benefit, `net benefit at ${point.threshold}`);
    });
  });

  it('gives the mean predicted risk to fixed-point precision and intervals close to R', () => {
    expectClose(report.expected_risk_at_horizon, reference.expected_risk_at_horizon, 1e-6, 'expected risk');
    const ci = report.c_index_ci95!;
    expectClose((ci[1] - ci[0]) / (2 * Z95), Math.sqrt(reference.c_index_variance), 1e-4, 'C-index standard error');
    expectClose(report.observed_risk_at_horizon_ci95![0], reference.observed_risk_at_horizon_ci95[0], 3e-3, 'observed risk lower');
    expectClose(report.observed_risk_at_horizon_ci95![1], reference.observed_risk_at_horizon_ci95[1], 3e-3, 'observed risk upper');
    report.calibration_at_horizon.forEach((group, i) => {
      const expected = reference.calibration_at_horizon[i]!;
      expect(group.n, `group ${i}`).toBe(expected.n);
      if (expected.n > 0) expectClose(group.mean_predicted_risk, expected.mean_predicted_risk!, 1e-6, `group ${i} predicted`);
      if (expected.observed_risk !== null) expectClose(group.observed_risk, expected.observed_risk, 1e-2, `group ${i} observed`);
    });
  });
});

describe('tied times and tied risks: on a grid that separates every distinct value, fedval equals R to rounding', () => {
  const reference = references.ties;
  const { report } = federated('survival_ties.csv', {
    task: 'survival',
    bins: 10,
    survival: { horizon: 36, maxTime: 60, timeBins: 36, afterBins: 24 },
    decisionThresholds: [0.1, 0.2, 0.3, 0.4, 0.5],
  });
  const exact = 1e-9;

  it('equals survival::concordance, riskRegression::Score and survfit', () => {
    for (const key of ['c_index', 'c_index_uno', 'td_auc', 'observed_risk_at_horizon'] as const) expectClose(report[key], reference[key], exact, key);
    // The Brier sums are fixed-point (2^-20): each patient's term is within 2^-21 of its value.
    expectClose(report.brier_at_horizon, reference.brier_at_horizon, 1e-6, 'brier_at_horizon');
    const ci = report.c_index_ci95!;
    expectClose(((ci[1] - ci[0]) / (2 * Z95)) ** 2, reference.c_index_variance, exact, 'C-index variance');
    expectClose(report.observed_risk_at_horizon_ci95![0], reference.observed_risk_at_horizon_ci95[0], exact, 'observed risk lower');
    expectClose(report.observed_risk_at_horizon_ci95![1], reference.observed_risk_at_horizon_ci95[1], exact, 'observed risk upper');
    report.net_benefit_at_horizon.forEach((point, i) => expectClose(point.net_benefit, reference.net_benefit_at_horizon[i]!.net_benefit, exact, `net benefit at ${point.threshold}`));
    report.calibration_at_horizon.forEach((group, i) => {
      const expected = reference.calibration_at_horizon[i]!;
      expect(group.n).toBe(expected.n);
      if (expected.observed_risk !== null) expectClose(group.observed_risk, expected.observed_risk, exact, `group ${i} observed`);
      if (expected.observed_risk_ci95 !== null) expectClose(group.observed_risk_ci95![0], expected.observed_risk_ci95[0], exact, `group ${i} lower`);
    });
  });
});
