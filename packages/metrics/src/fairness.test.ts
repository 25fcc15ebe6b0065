// Fairness gaps against Fairlearn's definitions computed by hand from scikit-learn's per-group confusion counts.
import { describe, expect, it } from 'vitest';
import { createAccumulator } from './accumulator.ts';
import { finalizeMetrics } from './finalize.ts';
import type { BinaryMetricsReport } from './finalize.ts';
import type { GroupSpec } from './metric-spec.ts';
import { createStatisticsLayout } from './statistics-layout.ts';
import { numberOrNull, readReferenceCsv, readReferenceJson } from './testing/reference-data.ts';

interface Counts {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}
interface ReferenceFile {
  spec: { groups: GroupSpec[] };
  continuous: { by_group: Record<string, Record<string, { at_threshold: Counts }>> };
}

/**
 * Fairlearn (fairlearn.org, metrics API): selection_rate = (TP + FP)/n; true_positive_rate = TP/(TP + FN);
 * false_positive_rate = FP/(FP + TN). demographic_parity_difference/ratio = max − min / min ÷ max of the
 * selection rate over groups; equal_opportunity_difference = max − min TPR; equalized_odds_difference =
 * max(TPR difference, FPR difference); equalized_odds_ratio = min(TPR ratio, FPR ratio).
 */
function fairlearnByHand(groups: Counts[]) {
  const sr = groups.map((g) => (g.tp + g.fp) / (g.tp + g.fp + g.tn + g.fn));
  const tpr = groups.map((g) => g.tp / (g.tp + g.fn));
  const fpr = groups.map((g) => g.fp / (g.fp + g.tn));
  const diff = (xs: number[]): number => Math.max(...xs) - Math.min(...xs);
  const ratio = (xs: number[]): number => Math.min(...xs) / Math.max(...xs);
  return {
    demographic_parity_difference: diff(sr),
    demographic_parity_ratio: ratio(sr),
    equal_opportunity_difference: diff(tpr),
    equalized_odds_difference: Math.max(diff(tpr), diff(fpr)),
    equalized_odds_ratio: Math.min(ratio(tpr), ratio(fpr)),
  };
}

describe('fairness on Rotterdam subgroups', () => {
  const reference = readReferenceJson<ReferenceFile>('sklearn_binary.json');
  const layout = createStatisticsLayout({ groups: reference.spec.groups });
  const accumulator = createAccumulator(layout);
  for (const row of readReferenceCsv('rotterdam_binary.csv')) {
    accumulator.addBinary(Number(row['score']), numberOrNull(row['label']), [row['meno'] ?? null, row['age'] ?? null, row['size'] ?? null]);
  }
  const report = finalizeMetrics(layout, accumulator.vector()) as BinaryMetricsReport;

  it.each(['meno', 'age', 'size'])('matches Fairlearn definitions for %s', (column) => {
    const levels = reference.continuous.by_group[column] ?? {};
    const expected = fairlearnByHand(Object.values(levels).map((l) => l.at_threshold));
    const fairness = report.fairness[column];
    for (const [key, value] of Object.entries(expected)) {
      expect(Math.abs((fairness?.[key as keyof typeof expected] as number) - value), key).toBeLessThan(1e-12);
    }
    expect([...(fairness?.levels_covered ?? [])].sort()).toEqual(Object.keys(levels).sort());
    expect(fairness?.levels_excluded).toEqual([
      { level: '(other)', reason: 'suppressed' },
      { level: '(missing)', reason: 'suppressed' },
    ]);
  });

  it('names the worst and best level by balanced accuracy', () => {
    const age = report.by_group['age'] ?? {};
    const released = Object.entries(age).flatMap(([level, block]) => (block.suppressed ? [] : [[level, block.at_threshold.balanced_accuracy as number] as const]));
    released.sort((a, b) => a[1] - b[1]);
    expect(report.fairness['age']?.worst_group).toEqual({ level: released[0]?.[0], balanced_accuracy: released[0]?.[1] });
    expect(report.fairness['age']?.best_group).toEqual({ level: released.at(-1)?.[0], balanced_accuracy: released.at(-1)?.[1] });
  });
});

describe('disclosure control', () => {

  function reportFor(perLevel: Record<string, [number, number][]>, minCellSize = 5): BinaryMetricsReport {
    const layout = createStatisticsLayout({ minCellSize, groups: [{ column: 'site', levels: ['a', 'b', 'c', 'd'] }] });
    const accumulator = createAccumulator(layout);
    for (const [level, patients] of Object.entries(perLevel)) {
      for (const [score, label] of patients) accumulator.addBinary(score, label, [level]);
    }
    return finalizeMetrics(layout, accumulator.vector()) as BinaryMetricsReport;
  }
  const patients = (n: number, positives: number): [number, number][] =>
    Array.from({ length: n }, (_, i) => [i < positives ? 0.8 - i / 1000 : 0.3 + i / 1000, i < positives ? 1 : 0]);

  it('suppresses small levels without numbers, keeps them out of fairness, and says which levels are covered', () => {
    const report = reportFor({ a: patients(20, 8), b: patients(30, 12), c: patients(40, 15), d: patients(4, 2) });
    expect(report.by_group['site']?.['d']).toEqual({ suppressed: true });
    // d alone would be recoverable as overall minus a, b, c: the smallest released level goes too.
    expect(report.by_group['site']?.['a']).toEqual({ suppressed: true });
    expect(report.by_group['site']?.['b']?.suppressed).toBe(false);
    expect(report.fairness['site']?.levels_covered).toEqual(['b', 'c']);
    expect(report.fairness['site']?.levels_excluded.map((l) => l.level)).toEqual(['a', 'd', '(other)', '(missing)']);
    expect(report.n).toBe(94);
  });

  it('suppresses a level with too few of either class', () => {
    const report = reportFor({ a: patients(20, 3), b: patients(20, 17), c: patients(20, 10), d: patients(20, 10) });
    expect(report.by_group['site']?.['a']).toEqual({ suppressed: true });
    expect(report.by_group['site']?.['b']).toEqual({ suppressed: true });
    expect(report.by_group['site']?.['c']?.suppressed).toBe(false);
  });

  it('reads the same for every suppressed level, whatever withheld it: one-patient levels do not reveal their label', () => {
    // Identifier-like levels of one patient each, minimum cell 1: a positive and a negative patient.
    const report = reportFor({ a: patients(1, 1), b: patients(1, 0), c: patients(20, 10), d: patients(20, 10) }, 1);
    expect(report.by_group['site']?.['a']).toEqual({ suppressed: true });
    expect(report.by_group['site']?.['b']).toEqual({ suppressed: true });
    expect(JSON.stringify(report)).not.toMatch(/positives<|negatives<|n</);
    expect(report.fairness['site']?.levels_excluded).toEqual([
      { level: 'a', reason: 'suppressed' },
      { level: 'b', reason: 'suppressed' },
      { level: '(other)', reason: 'suppressed' },
      { level: '(missing)', reason: 'suppressed' },
    ]);
  });

  it('gives null gaps with fewer than two covered levels', () => {
    const report = reportFor({ a: patients(20, 8), d: patients(2, 1) });
    expect(report.fairness['site']?.levels_covered).toEqual([]);
    expect(report.fairness['site']?.demographic_parity_difference).toBeNull();
    expect(report.fairness['site']?.worst_group).toBeNull();
  });
});
