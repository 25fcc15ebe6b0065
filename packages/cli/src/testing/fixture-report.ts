// fixture-report.ts — test support: a real released report, finalized from the statistics of the committed fixture data set.
import { readFileSync } from 'node:fs';
import { createAccumulator, createStatisticsLayout, finalizeMetrics } from '@fedval/metrics';
import type { MetricsReport } from '@fedval/metrics';

const REFERENCES = new URL('../../../metrics/references/', import.meta.url);

/** A level name a hostile study could declare: the report must show it as text. */
export const HOSTILE_LEVEL = '<img src=x onerror=alert(1)>';

/** The values computed independently (scikit-learn, packages/metrics/references/make_references.py) for the pooled fixture. */
export interface FixtureExpectations {
  n: number;
  positives: number;
  prevalence: number;
  roc_auc: number;
  at_threshold: { tp: number; fp: number; tn: number; fn: number };
}

export function fixtureExpectations(): FixtureExpectations {
  return JSON.parse(readFileSync(new URL('fixture_sites_expected.json', REFERENCES), 'utf8'));
}

/**
 * finalizeMetrics of the statistics vector accumulated from references/fixture_sites.csv (three
 * sites pooled, 300 patients), grouped by menopausal status with a hostile declared level that no
 * patient has (so it is suppressed).
 */
export function fixtureReport(): MetricsReport {
  const layout = createStatisticsLayout({ groups: [{ column: 'meno', levels: ['0', '1', HOSTILE_LEVEL] }] });
  const accumulator = createAccumulator(layout);
  const [header, ...lines] = readFileSync(new URL('fixture_sites.csv', REFERENCES), 'utf8').trimEnd().split('\n');
  const columns = (header ?? '').split(',');
  const at = (name: string) => columns.indexOf(name);
  for (const line of lines) {
    const cells = line.split(',');
    const label = cells[at('label')] ?? '';
    accumulator.addBinary(Number(cells[at('score')]), label === '' ? null : Number(label), [cells[at('meno')] ?? null]);
  }
  return finalizeMetrics(layout, accumulator.vector());
}
