// The shared integration fixture (references/fixture_sites.csv): three sites pooled give the expected values.
import { describe, expect, it } from 'vitest';
import { createAccumulator } from './accumulator.ts';
import { finalizeMetrics } from './finalize.ts';
import type { BinaryMetricsReport } from './finalize.ts';
import type { GroupSpec } from './metric-spec.ts';
import { createStatisticsLayout } from './statistics-layout.ts';
import { addStatistics } from './statistics-vector.ts';
import { numberOrNull, readReferenceCsv, readReferenceJson } from './testing/reference-data.ts';

interface Expected {
  n: number;
  positives: number;
  roc_auc: number;
  brier_score: number;
  excluded: Record<string, number>;
  at_threshold: { tp: number; fp: number; tn: number; fn: number };
  by_site: Record<string, { n: number; positives: number }>;
  by_group: Record<string, Record<string, { n: number; positives: number; at_threshold: { tp: number } }>>;
  spec: { groups: GroupSpec[] };
}

describe('fixture_sites.csv', () => {
  it('pools three sites into the expected scikit-learn values', () => {
    const expected = readReferenceJson<Expected>('fixture_sites_expected.json');
    const layout = createStatisticsLayout({ groups: expected.spec.groups });
    const sites = new Map<string, ReturnType<typeof createAccumulator>>();
    for (const row of readReferenceCsv('fixture_sites.csv')) {
      const site = row['site'] ?? '';
      const accumulator = sites.get(site) ?? createAccumulator(layout);
      sites.set(site, accumulator);
      accumulator.addBinary(Number(row['score']), numberOrNull(row['label']), [row['meno'] ?? null, row['age'] ?? null]);
    }
    expect([...sites.keys()].sort()).toEqual(Object.keys(expected.by_site).sort());
    for (const [site, accumulator] of sites) {
      const local = finalizeMetrics(layout, accumulator.vector()) as BinaryMetricsReport;
      expect([local.n, local.positives]).toEqual([expected.by_site[site]?.n, expected.by_site[site]?.positives]);
    }
    const pooled = [...sites.values()].map((a) => a.vector()).reduce((sum, v) => addStatistics(sum, v));
    const report = finalizeMetrics(layout, pooled) as BinaryMetricsReport;
    expect([report.n, report.positives]).toEqual([expected.n, expected.positives]);
    expect(report.excluded).toEqual(expected.excluded);
    const { tp, fp, tn, fn } = report.at_threshold;
    expect({ tp, fp, tn, fn }).toEqual({ tp: expected.at_threshold.tp, fp: expected.at_threshold.fp, tn: expected.at_threshold.tn, fn: expected.at_threshold.fn });
    expect(Math.abs((report.roc_auc as number) - expected.roc_auc)).toBeLessThanOrEqual(1e-3);
    expect(Math.abs((report.brier_score as number) - expected.brier_score)).toBeLessThanOrEqual(1e-6);
    for (const [column, levels] of Object.entries(expected.by_group)) {
      for (const [level, block] of Object.entries(levels)) {
        const actual = report.by_group[column]?.[level];
        if (!actual || actual.suppressed) continue; // small levels are suppressed by disclosure control
        expect([actual.n, actual.positives, actual.at_threshold.tp]).toEqual([block.n, block.positives, block.at_threshold.tp]);
      }
    }
  });
});
