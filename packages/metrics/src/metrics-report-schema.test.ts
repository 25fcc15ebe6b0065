// The released report's schema accepts what finalizeMetrics produces (after JSON, as it crosses the REST API) and names what it refuses.
import { describe, expect, it } from 'vitest';
import { createAccumulator } from './accumulator.ts';
import { finalizeMetrics } from './finalize.ts';
import type { MetricsReport } from './finalize.ts';
import { metricsReportSchema } from './metrics-report-schema.ts';
import { createStatisticsLayout } from './statistics-layout.ts';
import { numberOrNull, readReferenceCsv, readReferenceJson } from './testing/reference-data.ts';

const overJson = (report: MetricsReport): unknown => JSON.parse(JSON.stringify(report));

function binaryReport(): MetricsReport {
  const layout = createStatisticsLayout({ bins: 100, minCellSize: 5, groups: [{ column: 'meno', levels: ['0', '1'] }, { column: 'age', cuts: [50, 70] }] });
  const accumulator = createAccumulator(layout);
  for (const row of readReferenceCsv('fixture_sites.csv')) accumulator.addBinary(Number(row['score']), numberOrNull(row['label']), [row['meno'] ?? null, row['age'] ?? null]);
  return finalizeMetrics(layout, accumulator.vector());
}

describe('metricsReportSchema', () => {
  it('parses real binary, multiclass and regression reports after JSON, unchanged', () => {
    const binary = binaryReport();
    expect(metricsReportSchema.parse(overJson(binary))).toEqual(overJson(binary));

    const { classes } = readReferenceJson<{ classes: string[] }>('sklearn_multiclass.json');
    const multiclass = createStatisticsLayout({ task: 'multiclass', classes, groups: [{ column: 'meno', levels: ['0', '1'] }] });
    const m = createAccumulator(multiclass);
    for (const row of readReferenceCsv('rotterdam_multiclass.csv')) {
      m.addMulticlass([Number(row['score_le20']), Number(row['score_20_50']), Number(row['score_gt50'])], classes.indexOf(row['label'] ?? ''), [row['meno'] ?? null]);
    }
    const multiclassReport = finalizeMetrics(multiclass, m.vector());
    expect(metricsReportSchema.parse(overJson(multiclassReport))).toEqual(overJson(multiclassReport));

    const { regressionRange } = readReferenceJson<{ regressionRange: [number, number] }>('sklearn_regression.json');
    const regression = createStatisticsLayout({ task: 'regression', regressionRange, groups: [{ column: 'meno', levels: ['0', '1'] }] });
    const r = createAccumulator(regression);
    for (const row of readReferenceCsv('gbsg_regression.csv')) r.addRegression(Number(row['y']), Number(row['yhat']), [row['meno'] ?? null]);
    const regressionReport = finalizeMetrics(regression, r.vector());
    expect(metricsReportSchema.parse(overJson(regressionReport))).toEqual(overJson(regressionReport));
  });

  it('refuses a renamed, missing or extra field, naming each', () => {
    const report = overJson(binaryReport()) as { [key: string]: unknown };
    const { roc_auc, ...renamed } = report;
    const result = metricsReportSchema.safeParse({ ...renamed, auc: roc_auc, at_threshold: { ...(report['at_threshold'] as object), sensitivity: 'high' } });
    expect(result.success).toBe(false);
    const paths = result.error?.issues.flatMap((issue) => (issue.code === 'unrecognized_keys' ? issue.keys : [issue.path.join('.')]));
    expect(paths).toEqual(expect.arrayContaining(['roc_auc', 'auc', 'at_threshold.sensitivity']));
  });
});
