// Binary metrics against scikit-learn (references/make_references.py) on real data and edge cases.
import { describe, expect, it } from 'vitest';
import { createAccumulator } from './accumulator.ts';
import { finalizeMetrics } from './finalize.ts';
import type { BinaryMetricsBlock, BinaryMetricsReport, LevelBlock } from './finalize.ts';
import type { GroupSpec } from './metric-spec.ts';
import { createStatisticsLayout } from './statistics-layout.ts';
import { numberOrNull, readReferenceCsv, readReferenceJson } from './testing/reference-data.ts';

type Reference = Omit<BinaryMetricsBlock, 'excluded' | 'roc_auc_ci95'> & { by_group?: Record<string, Record<string, Reference>>; excluded_missing_label?: number };
interface ReferenceFile {
  spec: { bins: number; threshold: number; calibrationBins: number; decisionThresholds: number[]; groups: GroupSpec[] };
  continuous: Reference;
  grid: Reference;
}

const reference = readReferenceJson<ReferenceFile>('sklearn_binary.json');
const rows = readReferenceCsv('rotterdam_binary.csv');

function rotterdamReport(scoreColumn: 'score' | 'score_grid'): BinaryMetricsReport {
  const layout = createStatisticsLayout({ ...reference.spec });
  const accumulator = createAccumulator(layout);
  for (const row of rows) {
    accumulator.addBinary(Number(row[scoreColumn]), numberOrNull(row['label']), [row['meno'] ?? null, row['age'] ?? null, row['size'] ?? null]);
  }
  return finalizeMetrics(layout, accumulator.vector()) as BinaryMetricsReport;
}

/** Tolerances: exact up to float rounding on grid scores; the documented bounds on continuous scores. */
interface Tolerance {
  auc: number;
  ap: number;
}

function expectClose(actual: number | null, expected: number | null, tolerance: number, what: string): void {
  if (expected === null) {
    expect(actual, what).toBeNull();
    return;
  }
  expect(actual, what).not.toBeNull();
  expect(Math.abs((actual as number) - expected), `${what}: ${actual} vs ${expected}`).toBeLessThanOrEqual(tolerance);
}

function expectInterval(actual: [number, number] | null, expected: [number, number] | null, tolerance: number, what: string): void {
  if (expected === null) {
    expect(actual, what).toBeNull();
    return;
  }
  expectClose(actual?.[0] ?? null, expected[0], tolerance, `${what}[0]`);
  expectClose(actual?.[1] ?? null, expected[1], tolerance, `${what}[1]`);
}

function compareBlock(actual: BinaryMetricsBlock, expected: Reference, tolerance: Tolerance, where: string): void {
  expect(actual.n, `${where} n`).toBe(expected.n);
  expect(actual.positives, `${where} positives`).toBe(expected.positives);
  expectClose(actual.prevalence, expected.prevalence, 1e-15, `${where} prevalence`);
  expectClose(actual.roc_auc, expected.roc_auc, tolerance.auc, `${where} roc_auc`);
  expectClose(actual.average_precision, expected.average_precision, tolerance.ap, `${where} average_precision`);
  expectClose(actual.brier_score, expected.brier_score, 1e-6, `${where} brier_score`);
  const t = actual.at_threshold;
  const e = expected.at_threshold;
  expect([t.threshold, t.tp, t.fp, t.tn, t.fn], `${where} confusion`).toEqual([e.threshold, e.tp, e.fp, e.tn, e.fn]);
  for (const key of ['sensitivity', 'specificity', 'ppv', 'npv', 'accuracy', 'f1', 'balanced_accuracy', 'mcc', 'selection_rate'] as const) {
    expectClose(t[key], e[key], 1e-12, `${where} ${key}`);
  }
  for (const key of ['sensitivity_ci95', 'specificity_ci95', 'ppv_ci95', 'npv_ci95', 'accuracy_ci95'] as const) {
    expectInterval(t[key], e[key], 1e-9, `${where} ${key}`);
  }
  const c = actual.calibration;
  const ec = expected.calibration;
  c.bins.forEach((bin, j) => {
    const eb = ec.bins[j];
    expect([bin.lower, bin.upper, bin.n], `${where} calibration bin ${j}`).toEqual([eb?.lower, eb?.upper, eb?.n]);
    expectClose(bin.observed_rate, eb?.observed_rate ?? null, 1e-12, `${where} observed_rate ${j}`);
    expectClose(bin.mean_predicted, eb?.mean_predicted ?? null, 1e-6, `${where} mean_predicted ${j}`);
  });
  expectClose(c.mean_predicted, ec.mean_predicted, 1e-6, `${where} mean_predicted`);
  expectClose(c.observed_rate, ec.observed_rate, 1e-12, `${where} observed_rate`);
  expectClose(c.calibration_in_the_large, ec.calibration_in_the_large, 1e-6, `${where} calibration_in_the_large`);
  expectClose(c.observed_expected_ratio, ec.observed_expected_ratio, 1e-5, `${where} observed_expected_ratio`);
  expectClose(c.ece, ec.ece, 1e-6, `${where} ece`);
  expectClose(c.mce, ec.mce, 1e-6, `${where} mce`);
  if (ec.hosmer_lemeshow === null) {
    expect(c.hosmer_lemeshow, `${where} hosmer_lemeshow`).toBeNull();
  } else {
    const hl = c.hosmer_lemeshow;
    expect([hl?.df, hl?.groups], `${where} HL df`).toEqual([ec.hosmer_lemeshow.df, ec.hosmer_lemeshow.groups]);
    expectClose(hl?.statistic ?? null, ec.hosmer_lemeshow.statistic, 1e-4 * Math.max(1, ec.hosmer_lemeshow.statistic), `${where} HL statistic`);
    expectClose(hl?.p_value ?? null, ec.hosmer_lemeshow.p_value, 1e-5, `${where} HL p`);
  }
  expect(actual.decision_curve.length, `${where} decision curve`).toBe(expected.decision_curve.length);
  actual.decision_curve.forEach((point, i) => {
    const ep = expected.decision_curve[i];
    expect(point.threshold).toBe(ep?.threshold);
    expectClose(point.net_benefit, ep?.net_benefit ?? null, 1e-12, `${where} net_benefit ${point.threshold}`);
    expectClose(point.treat_all, ep?.treat_all ?? null, 1e-12, `${where} treat_all ${point.threshold}`);
    expect(point.treat_none).toBe(0);
  });
}

function released(block: LevelBlock<BinaryMetricsBlock> | undefined): BinaryMetricsBlock {
  if (!block || block.suppressed) throw new Error('expected a released block');
  return block;
}

describe.each([
  { scores: 'score' as const, key: 'continuous' as const, tolerance: { auc: 1e-3, ap: 2e-3 } },
  { scores: 'score_grid' as const, key: 'grid' as const, tolerance: { auc: 1e-12, ap: 1e-12 } },
])('Rotterdam 5-year recurrence, $key scores, against scikit-learn', ({ scores, key, tolerance }) => {
  const report = rotterdamReport(scores);
  const expected = reference[key];

  it('matches overall', () => {
    expect(report.task).toBe('binary');
    expect(report.excluded.missing_label).toBe(expected.excluded_missing_label);
    expect(report.excluded.invalid_score).toBe(0);
    compareBlock(report, expected, tolerance, 'overall');
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });

  it('matches every subgroup level', () => {
    for (const [column, levels] of Object.entries(expected.by_group ?? {})) {
      for (const [level, block] of Object.entries(levels)) {
        compareBlock(released(report.by_group[column]?.[level]), block, tolerance, `${column}=${level}`);
      }
    }
    expect(Object.keys(report.by_group['age'] ?? {})).toEqual(['<50', '50-70', '>=70', '(other)', '(missing)']);
    expect(report.by_group['size']?.['(missing)']).toEqual({ suppressed: true });
  });
});

interface EdgeCase {
  labels: number[];
  scores: number[];
  expected: Reference;
}

describe('edge cases against scikit-learn', () => {
  const cases = readReferenceJson<Record<string, EdgeCase>>('sklearn_edge_cases.json');
  it.each(Object.entries(cases))('%s', (name, edge) => {
    const layout = createStatisticsLayout({});
    const accumulator = createAccumulator(layout);
    edge.labels.forEach((label, i) => accumulator.addBinary(edge.scores[i], label));
    const report = finalizeMetrics(layout, accumulator.vector()) as BinaryMetricsReport;
    // Every score of these cases lies on the grid (multiples of 1/1000, or 0.49999999999999994 which
    // the grid puts below 0.5 exactly as scikit-learn's >= does).
    compareBlock(report, edge.expected, { auc: 1e-12, ap: 1e-12 }, name);
    expect(JSON.stringify(report)).not.toContain('NaN');
  });
});
