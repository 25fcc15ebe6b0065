// ROC AUC DeLong intervals against R pROC (references/make_r_references.R).
import { describe, expect, it } from 'vitest';
import { createAccumulator } from './accumulator.ts';
import { aucInterval, delongVariance, rocAuc } from './binary-metrics.ts';
import { finalizeMetrics } from './finalize.ts';
import type { BinaryMetricsBlock, BinaryMetricsReport } from './finalize.ts';
import { createStatisticsLayout } from './statistics-layout.ts';
import { numberOrNull, readReferenceCsv, readReferenceJson } from './testing/reference-data.ts';

interface DelongReference {
  auc: number;
  variance: number;
  ci95: [number, number];
}
interface DelongBlock {
  overall: DelongReference;
  by_group: Record<string, Record<string, DelongReference | Record<string, never>>>;
}
interface RReferences {
  delong: { continuous: DelongBlock; grid: DelongBlock; edge_cases: Record<string, DelongReference> };
}

const r = readReferenceJson<RReferences>('r_references.json');
const spec = readReferenceJson<{ spec: object }>('sklearn_binary.json').spec;
const rows = readReferenceCsv('rotterdam_binary.csv');

function report(scoreColumn: string): BinaryMetricsReport {
  const layout = createStatisticsLayout(spec);
  const accumulator = createAccumulator(layout);
  for (const row of rows) accumulator.addBinary(Number(row[scoreColumn]), numberOrNull(row['label']), [row['meno'] ?? null, row['age'] ?? null, row['size'] ?? null]);
  return finalizeMetrics(layout, accumulator.vector()) as BinaryMetricsReport;
}

describe.each([
  { column: 'score', key: 'continuous' as const, tolerance: 2e-3 },
  // pROC's JSON carries 15 significant digits.
  { column: 'score_grid', key: 'grid' as const, tolerance: 1e-12 },
])('DeLong 95% interval, $key scores, against pROC ci.auc(method = "delong")', ({ column, key, tolerance }) => {
  const result = report(column);
  const check = (block: BinaryMetricsBlock, expected: DelongReference, where: string): void => {
    expect(block.roc_auc_ci95, where).not.toBeNull();
    const [low, high] = block.roc_auc_ci95 as [number, number];
    expect(Math.abs(low - expected.ci95[0]), `${where} low ${low} vs ${expected.ci95[0]}`).toBeLessThanOrEqual(tolerance);
    expect(Math.abs(high - expected.ci95[1]), `${where} high ${high} vs ${expected.ci95[1]}`).toBeLessThanOrEqual(tolerance);
    expect(Math.abs((block.roc_auc as number) - expected.auc), `${where} auc`).toBeLessThanOrEqual(tolerance);
  };

  it('matches overall and in every subgroup level', () => {
    check(result, r.delong[key].overall, 'overall');
    let levels = 0;
    for (const [groupColumn, byLevel] of Object.entries(r.delong[key].by_group)) {
      for (const [level, expected] of Object.entries(byLevel)) {
        const block = result.by_group[groupColumn]?.[level];
        if (!block || block.suppressed) throw new Error(`${groupColumn}=${level} should be released`);
        check(block, expected as DelongReference, `${groupColumn}=${level}`);
        levels += 1;
      }
    }
    expect(levels).toBe(8);
  });
});

describe('DeLong on the edge cases against pROC', () => {
  const cases = readReferenceJson<Record<string, { labels: number[]; scores: number[] }>>('sklearn_edge_cases.json');
  it.each(Object.entries(r.delong.edge_cases))('%s', (name, expected) => {
    const edge = cases[name];
    if (!edge) throw new Error(`missing input for ${name}`);
    const layout = createStatisticsLayout({});
    const accumulator = createAccumulator(layout);
    edge.labels.forEach((label, i) => accumulator.addBinary(edge.scores[i], label));
    const block = finalizeMetrics(layout, accumulator.vector()) as BinaryMetricsReport;
    expect(block.roc_auc as number).toBeCloseTo(expected.auc, 12);
    expect((block.roc_auc_ci95 as [number, number])[0]).toBeCloseTo(expected.ci95[0], 12);
    expect((block.roc_auc_ci95 as [number, number])[1]).toBeCloseTo(expected.ci95[1], 12);
  });

  it('gives the variance pROC gives, and none with fewer than two patients in a class', () => {
    const h = { negative: [0, 2, 1, 0], positive: [1, 0, 1, 2] };
    const auc = rocAuc(h) as number;
    // By hand: positives at bins 0, 2, 3, 3; negatives at 1, 1, 2. Placements V10 = (0, 2.5/3, 1, 1),
    // V01 = (3/4, 3/4, 2.5/4); AUC = mean V10 = (0 + 2.5/3 + 1 + 1)/4 = 17/24.
    expect(auc).toBeCloseTo(17 / 24, 15);
    const v10 = [0, 2.5 / 3, 1, 1];
    const v01 = [0.75, 0.75, 0.625];
    const sampleVariance = (xs: number[]): number => xs.reduce((s, x) => s + (x - auc) ** 2, 0) / (xs.length - 1);
    expect(delongVariance(h, auc)?.sampling).toBeCloseTo(sampleVariance(v10) / 4 + sampleVariance(v01) / 3, 15);
    expect(delongVariance({ negative: [1, 0], positive: [0, 5] }, 1)).toBeNull();
    expect(aucInterval(0.99, 0.01)).toEqual([0.99 - 1.959963984540054 * 0.1, 1]);
  });
});
