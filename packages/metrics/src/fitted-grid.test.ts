// Metrics on a fitted score grid against direct computations on the raw scores (pairwise AUC, per-patient DeLong placements, direct counts).
import { describe, expect, it } from 'vitest';
import { createAccumulator } from './accumulator.ts';
import { finalizeMetrics } from './finalize.ts';
import type { BinaryMetricsReport, MulticlassMetricsReport } from './finalize.ts';
import { fitScoreGrid } from './score-grid-fit.ts';
import { createStatisticsLayout } from './statistics-layout.ts';
import { Z_95 } from './special-functions.ts';

let seed = 2024;
const random = (): number => (seed = (seed * 48271) % 2147483647) / 2147483647;
// 600 patients, scores with 4 decimals (at most a few hundred distinct values, many ties), label more likely at high scores.
const patients = Array.from({ length: 600 }, () => {
  const score = Math.round(random() ** 2 * 1e4) / 1e4;
  return { score, label: random() < 0.15 + 0.7 * score ? 1 : 0 };
});
const positives = patients.filter((p) => p.label === 1).map((p) => p.score);
const negatives = patients.filter((p) => p.label === 0).map((p) => p.score);
const heaviside = (d: number): number => (d > 0 ? 1 : d === 0 ? 0.5 : 0);

/** Mann–Whitney AUC over every (positive, negative) pair, ties ½, and its DeLong variance from per-patient placements (DeLong et al. 1988). */
function pairwise(): { auc: number; variance: number } {
  const v10 = positives.map((x) => negatives.reduce((s, y) => s + heaviside(x - y), 0) / negatives.length);
  const v01 = negatives.map((y) => positives.reduce((s, x) => s + heaviside(x - y), 0) / positives.length);
  const auc = v10.reduce((a, b) => a + b, 0) / v10.length;
  const sampleVariance = (v: number[]) => v.reduce((s, x) => s + (x - auc) ** 2, 0) / (v.length - 1);
  return { auc, variance: sampleVariance(v10) / v10.length + sampleVariance(v01) / v01.length };
}

describe('binary metrics on a fitted quantile grid', () => {
  const digest = `sha256:${'1'.repeat(64)}`;
  const { grid, summary } = fitScoreGrid(
    patients.map((p) => p.score),
    { bins: 1000, method: 'quantile', sourceDigest: digest },
  );
  const layout = createStatisticsLayout({ scoreGrid: grid, threshold: 0.123, decisionThresholds: [0.07, 0.33], calibrationBins: 4 });
  const accumulator = createAccumulator(layout);
  for (const p of patients) accumulator.addBinary(p.score, p.label);
  const report = finalizeMetrics(layout, accumulator.vector()) as BinaryMetricsReport;

  it('holds every distinct score in its own bin, and says which grid it used', () => {
    expect(summary.binsWithSeveralScores).toBe(0);
    expect(report.score_grid).toEqual({ kind: 'fitted', bins: layout.spec.bins, method: 'quantile', source_digest: digest });
  });

  it('gives the pairwise AUC and the per-patient DeLong interval', () => {
    const { auc, variance } = pairwise();
    expect(report.roc_auc).toBeCloseTo(auc, 12);
    const half = Z_95 * Math.sqrt(variance);
    expect(report.roc_auc_ci95![0]).toBeCloseTo(auc - half, 12);
    expect(report.roc_auc_ci95![1]).toBeCloseTo(auc + half, 12);
  });

  it('counts exactly at a threshold that is no multiple of 1/B, and on the decision curve', () => {
    const count = (scores: number[], t: number) => scores.filter((s) => s >= t).length;
    const t = report.at_threshold;
    expect(t.threshold).toBe(0.123);
    expect([t.tp, t.fp, t.fn, t.tn]).toEqual([count(positives, 0.123), count(negatives, 0.123), positives.length - count(positives, 0.123), negatives.length - count(negatives, 0.123)]);
    const n = patients.length;
    expect(report.decision_curve.map((p) => p.threshold)).toEqual([0.07, 0.33]);
    report.decision_curve.forEach((point) => {
      const pt = point.threshold;
      expect(point.net_benefit).toBeCloseTo(count(positives, pt) / n - (count(negatives, pt) / n) * (pt / (1 - pt)), 14);
    });
  });

  it('fills the equal-width reliability bins exactly', () => {
    expect(report.calibration.bins.map((b) => [b.lower, b.upper])).toEqual([[0, 0.25], [0.25, 0.5], [0.5, 0.75], [0.75, 1]]);
    report.calibration.bins.forEach((bin, j) => {
      const members = patients.filter((p) => p.score >= j / 4 && (j === 3 ? p.score <= 1 : p.score < (j + 1) / 4));
      expect(bin.n).toBe(members.length);
      expect(bin.observed_rate).toBeCloseTo(members.filter((p) => p.label === 1).length / members.length, 14);
      expect(bin.mean_predicted).toBeCloseTo(members.reduce((s, p) => s + p.score, 0) / members.length, 6);
    });
  });

  it('names the equal-width grid in a default report', () => {
    const equal = createStatisticsLayout({});
    const acc = createAccumulator(equal);
    for (const p of patients) acc.addBinary(p.score, p.label);
    expect((finalizeMetrics(equal, acc.vector()) as BinaryMetricsReport).score_grid).toEqual({ kind: 'equal_width', bins: 1000, method: null, source_digest: null });
  });
});

describe('multiclass metrics on a fitted grid', () => {
  it('bins every class score on the same fitted edges: one-vs-rest AUC equals the pairwise AUC', () => {
    const rows = patients.map((p, i) => ({ scores: [1 - p.score, p.score * 0.5, p.score * 0.5], label: i % 3 === 0 ? 0 : p.label === 1 ? 1 : 2 }));
    const values = rows.flatMap((r) => r.scores);
    const { grid } = fitScoreGrid(values, { bins: 5000, method: 'quantile' });
    const layout = createStatisticsLayout({ task: 'multiclass', classes: ['a', 'b', 'c'], scoreGrid: grid });
    const accumulator = createAccumulator(layout);
    for (const r of rows) accumulator.addMulticlass(r.scores, r.label);
    const report = finalizeMetrics(layout, accumulator.vector()) as MulticlassMetricsReport;
    expect(report.score_grid.kind).toBe('fitted');
    const inClass = rows.filter((r) => r.label === 1).map((r) => r.scores[1]!);
    const outside = rows.filter((r) => r.label !== 1).map((r) => r.scores[1]!);
    let wins = 0;
    for (const x of inClass) for (const y of outside) wins += heaviside(x - y);
    expect(report.per_class['b']!.roc_auc).toBeCloseTo(wins / (inClass.length * outside.length), 12);
  });
});
