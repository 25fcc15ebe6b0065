// The terminal table: values with their intervals, suppressed levels marked, every task rendered.
import { describe, expect, it } from 'vitest';
import { createAccumulator } from './accumulator.ts';
import { finalizeMetrics } from './finalize.ts';
import type { BinaryMetricsReport } from './finalize.ts';
import { formatMetricsTable } from './format-table.ts';
import { createStatisticsLayout } from './statistics-layout.ts';

describe('formatMetricsTable', () => {
  const layout = createStatisticsLayout({ groups: [{ column: 'sex', levels: ['F', 'M'] }] });
  const accumulator = createAccumulator(layout);
  for (let i = 0; i < 60; i += 1) accumulator.addBinary((i % 10) / 10 + 0.05, i % 3 === 0 ? 1 : 0, ['F']);
  for (let i = 0; i < 40; i += 1) accumulator.addBinary(((i * 7) % 10) / 10, i % 2, ['M']);
  accumulator.addBinary(0.4, 1, ['X']);
  accumulator.addBinary(0.4, null, ['F']);
  const report = finalizeMetrics(layout, accumulator.vector()) as BinaryMetricsReport;
  const text = formatMetricsTable(report);

  it('shows point values with their 95% intervals beside them', () => {
    const [low, high] = report.roc_auc_ci95 as [number, number];
    expect(text).toMatch(new RegExp(`ROC AUC\\s+${(report.roc_auc as number).toFixed(3)}\\s+${low.toFixed(3)}–${high.toFixed(3)}`));
    const f = report.by_group['sex']?.['F'];
    if (!f || f.suppressed) throw new Error('F should be released');
    const [fl, fh] = f.at_threshold.sensitivity_ci95 as [number, number];
    expect(text).toContain(`${(f.at_threshold.sensitivity as number).toFixed(3)} (${fl.toFixed(3)}–${fh.toFixed(3)})`);
    expect(text).toContain('excluded: missing_label 1');
  });

  it('names the score grid', () => {
    expect(text).toContain('score grid: 1000 equal-width bins');
    const fitted = createStatisticsLayout({ scoreGrid: { kind: 'fitted', method: 'logit', edges: [0.3] }, calibrationBins: 1 });
    expect(formatMetricsTable(finalizeMetrics(fitted, createAccumulator(fitted).vector()))).toContain('score grid: 11 bins, fitted (logit)') // 0.3 and the decision curve's 0.05 … 0.5: 10 edges;
  });

  it('marks suppressed levels "suppressed", never why, and renders fairness and the decision curve', () => {
    expect(text).toMatch(/sex\s+\(other\)\s+suppressed\s*\n/);
    expect(text).toMatch(/sex\s+\(missing\)\s+suppressed\s*\n/);
    expect(text).not.toMatch(/n<|positives<|negatives</);
    expect(text).toContain('fairness (between covered levels)');
    expect(text).toMatch(/0\.05\s+-?\d\.\d{4}/);
    expect(text).not.toContain('NaN');
    expect(text).not.toContain('null');
  });

  it('renders empty, multiclass and regression reports', () => {
    const empty = formatMetricsTable(finalizeMetrics(layout, createAccumulator(layout).vector()));
    expect(empty).toMatch(/ROC AUC\s+—/);
    const mc = createStatisticsLayout({ task: 'multiclass', classes: ['a', 'b'] });
    const mcAccumulator = createAccumulator(mc);
    mcAccumulator.addMulticlass([0.7, 0.3], 0);
    mcAccumulator.addMulticlass([0.2, 0.8], 1);
    expect(formatMetricsTable(finalizeMetrics(mc, mcAccumulator.vector()))).toMatch(/accuracy\s+1\.000/);
    const rg = createStatisticsLayout({ task: 'regression', regressionRange: [0, 10] });
    const rgAccumulator = createAccumulator(rg);
    rgAccumulator.addRegression(2, 3);
    rgAccumulator.addRegression(4, 3);
    expect(formatMetricsTable(finalizeMetrics(rg, rgAccumulator.vector()))).toMatch(/MAE\s+1\.0000/);
  });
});
