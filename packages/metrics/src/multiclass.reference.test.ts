// Multiclass metrics against scikit-learn (references/make_references.py).
import { describe, expect, it } from 'vitest';
import { createAccumulator } from './accumulator.ts';
import { finalizeMetrics } from './finalize.ts';
import type { MulticlassMetricsReport } from './finalize.ts';
import type { MulticlassMetricsBlock } from './multiclass-metrics.ts';
import { createStatisticsLayout } from './statistics-layout.ts';
import { readReferenceCsv, readReferenceJson } from './testing/reference-data.ts';

type Expected = Omit<MulticlassMetricsBlock, 'class_counts'>;
interface ReferenceFile {
  classes: string[];
  continuous: Expected & { by_group: { meno: Record<string, Expected> } };
  grid: Expected & { by_group: { meno: Record<string, Expected> } };
}

const reference = readReferenceJson<ReferenceFile>('sklearn_multiclass.json');
const rows = readReferenceCsv('rotterdam_multiclass.csv');

/**
 * Binning can only change pairs (one of the class, one not) whose scores share a bin, each by at most
 * ½, so |AUC(bins) − AUC(scores)| <= ½ Σ_k P_k N_k / (n₊ n₋). This computes that bound from the raw scores.
 */
function binningBound(scores: number[], isClass: boolean[], bins = 1000): number {
  const positive = new Float64Array(bins);
  const negative = new Float64Array(bins);
  scores.forEach((s, i) => {
    const k = Math.min(Math.floor(s * bins), bins - 1);
    if (isClass[i]) positive[k] = (positive[k] as number) + 1;
    else negative[k] = (negative[k] as number) + 1;
  });
  let ties = 0;
  for (let k = 0; k < bins; k += 1) ties += (positive[k] as number) * (negative[k] as number);
  const nPos = positive.reduce((a, b) => a + b, 0);
  return (0.5 * ties) / (nPos * (scores.length - nPos));
}

function compare(actual: MulticlassMetricsBlock, expected: Expected, aucTolerance: number | ((className: string) => number), where: string): void {
  expect(actual.n, where).toBe(expected.n);
  expect(actual.confusion_matrix, where).toEqual(expected.confusion_matrix);
  const close = (a: number | null, e: number | null, tolerance: number, what: string): void => {
    expect(a, `${where} ${what}`).not.toBeNull();
    expect(Math.abs((a as number) - (e as number)), `${where} ${what}: ${a} vs ${e}`).toBeLessThanOrEqual(tolerance);
  };
  close(actual.accuracy, expected.accuracy, 1e-12, 'accuracy');
  close(actual.accuracy_ci95?.[0] ?? null, expected.accuracy_ci95?.[0] ?? null, 1e-9, 'accuracy_ci95 low');
  close(actual.accuracy_ci95?.[1] ?? null, expected.accuracy_ci95?.[1] ?? null, 1e-9, 'accuracy_ci95 high');
  close(actual.balanced_accuracy, expected.balanced_accuracy, 1e-12, 'balanced_accuracy');
  close(actual.cohen_kappa, expected.cohen_kappa, 1e-12, 'cohen_kappa');
  close(actual.brier_score, expected.brier_score, 1e-6, 'brier_score');
  for (const [name, cls] of Object.entries(expected.per_class)) {
    const a = actual.per_class[name];
    expect(a?.support, `${where} ${name} support`).toBe(cls.support);
    close(a?.precision ?? null, cls.precision, 1e-12, `${name} precision`);
    close(a?.recall ?? null, cls.recall, 1e-12, `${name} recall`);
    close(a?.f1 ?? null, cls.f1, 1e-12, `${name} f1`);
    close(a?.roc_auc ?? null, cls.roc_auc, typeof aucTolerance === 'number' ? aucTolerance : aucTolerance(name), `${name} roc_auc`);
  }
  for (const average of ['macro', 'weighted'] as const) {
    close(actual[average].precision, expected[average].precision, 1e-12, `${average} precision`);
    close(actual[average].recall, expected[average].recall, 1e-12, `${average} recall`);
    close(actual[average].f1, expected[average].f1, 1e-12, `${average} f1`);
    const averageTolerance = typeof aucTolerance === 'number' ? aucTolerance : Math.max(...Object.keys(expected.per_class).map(aucTolerance));
    close(actual[average].roc_auc, expected[average].roc_auc, averageTolerance, `${average} roc_auc`);
  }
}

describe.each([
  { key: 'continuous' as const, columns: ['score_le20', 'score_20_50', 'score_gt50'], exact: false },
  { key: 'grid' as const, columns: ['grid_le20', 'grid_20_50', 'grid_gt50'], exact: true },
])('Rotterdam tumour size class, $key scores, against scikit-learn', ({ key, columns, exact }) => {
  const layout = createStatisticsLayout({ task: 'multiclass', classes: reference.classes, groups: [{ column: 'meno', levels: ['0', '1'] }] });
  const accumulator = createAccumulator(layout);
  for (const row of rows) {
    accumulator.addMulticlass(columns.map((c) => Number(row[c])), reference.classes.indexOf(row['label'] ?? ''), [row['meno'] ?? null]);
  }
  const report = finalizeMetrics(layout, accumulator.vector()) as MulticlassMetricsReport;
  // Continuous scores: one-vs-rest AUC within the binning bound of each class (about 1e-3 here);
  // grid scores: equal.
  const tolerance = (members: Record<string, string>[]) => (className: string): number => {
    if (exact) return 1e-12;
    const c = reference.classes.indexOf(className);
    return binningBound(members.map((row) => Number(row[columns[c] ?? ''])), members.map((row) => row['label'] === className));
  };

  it('matches overall and by menopausal status', () => {
    expect(report.task).toBe('multiclass');
    expect(report.classes).toEqual(reference.classes);
    compare(report, reference[key], tolerance(rows), 'overall');
    for (const [level, expected] of Object.entries(reference[key].by_group.meno)) {
      const block = report.by_group['meno']?.[level];
      if (!block || block.suppressed) throw new Error(`meno=${level} should be released`);
      compare(block, expected, tolerance(rows.filter((row) => row['meno'] === level)), `meno=${level}`);
    }
  });
});

describe('multiclass edge cases', () => {
  it('gives null where scikit-learn would divide by zero, and suppresses levels with a small class', () => {
    const layout = createStatisticsLayout({ task: 'multiclass', classes: ['a', 'b', 'c'], minCellSize: 2, groups: [{ column: 'g', levels: ['x'] }] });
    const accumulator = createAccumulator(layout);
    // Class c never predicted: its precision is undefined.
    for (const [scores, label] of [[[0.9, 0.05, 0.05], 0], [[0.6, 0.3, 0.1], 0], [[0.2, 0.7, 0.1], 1], [[0.1, 0.8, 0.1], 1], [[0.4, 0.5, 0.1], 2]] as const) {
      accumulator.addMulticlass(scores, label, ['x']);
    }
    const report = finalizeMetrics(layout, accumulator.vector()) as MulticlassMetricsReport;
    expect(report.per_class['c']?.precision).toBeNull();
    expect(report.per_class['c']?.recall).toBe(0);
    expect(report.macro.precision).toBeNull();
    expect(report.accuracy).toBe(0.8);
    expect(report.by_group['g']?.['x']).toEqual({ suppressed: true });
    const empty = finalizeMetrics(layout, createAccumulator(layout).vector()) as MulticlassMetricsReport;
    expect([empty.n, empty.accuracy, empty.cohen_kappa, empty.accuracy_ci95, empty.macro.roc_auc]).toEqual([0, null, null, null, null]);
  });
});
