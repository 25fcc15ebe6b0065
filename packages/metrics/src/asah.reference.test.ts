// pROC's aSAH data (ndka scaled to [0, 1], outcome Poor): a fitted grid of at most 1000 bins gives pROC's AUC and DeLong interval.
import { describe, expect, it } from 'vitest';
import { createAccumulator } from './accumulator.ts';
import { finalizeMetrics } from './finalize.ts';
import type { BinaryMetricsReport } from './finalize.ts';
import { fitScoreGrid } from './score-grid-fit.ts';
import { createStatisticsLayout } from './statistics-layout.ts';
import { readReferenceCsv, readReferenceJson } from './testing/reference-data.ts';

interface AsahReference {
  data: { patients: number; poor: number; good: number; distinct_scores: number };
  delong: { auc: number; variance: number; ci95: [number, number] };
}

const reference = readReferenceJson<AsahReference>('r_asah.json');
const rows = readReferenceCsv('asah_ndka.csv').map((row) => ({ score: Number(row['score']), label: Number(row['label']) }));

function report(grid: Parameters<typeof createStatisticsLayout>[0]): BinaryMetricsReport {
  const layout = createStatisticsLayout(grid);
  const accumulator = createAccumulator(layout);
  for (const row of rows) accumulator.addBinary(row.score, row.label);
  return finalizeMetrics(layout, accumulator.vector()) as BinaryMetricsReport;
}

describe('aSAH ndka against pROC (references/make_asah_references.R)', () => {
  it('reads the committed data as pROC saw it', () => {
    expect(rows).toHaveLength(reference.data.patients);
    expect(rows.filter((r) => r.label === 1)).toHaveLength(reference.data.poor);
    expect(new Set(rows.map((r) => r.score)).size).toBe(reference.data.distinct_scores);
  });

  it.each([1000, 500, 109])('a quantile grid fitted with %d bins puts each of the 109 distinct scores in its own bin and matches pROC', (bins) => {
    const { grid, summary } = fitScoreGrid(
      rows.map((r) => r.score),
      { bins, method: 'quantile' },
    );
    expect(summary.binsWithSeveralScores).toBe(0);
    const result = report({ scoreGrid: grid });
    expect(result.score_grid.bins).toBeLessThanOrEqual(1000);
    // The bar is 1e-4; with one bin per distinct score the histogram holds the whole ranking, so
    // the match is exact up to pROC's 15 printed digits.
    const tolerance = 1e-12;
    expect(Math.abs(result.roc_auc! - reference.delong.auc)).toBeLessThanOrEqual(tolerance);
    expect(Math.abs(result.roc_auc_ci95![0] - reference.delong.ci95[0])).toBeLessThanOrEqual(tolerance);
    expect(Math.abs(result.roc_auc_ci95![1] - reference.delong.ci95[1])).toBeLessThanOrEqual(tolerance);
  });
});
