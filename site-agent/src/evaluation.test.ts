import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { createAccumulator, createStatisticsLayout, parseDecimal, resolveMetricSpec } from '@fedval/metrics';
import type { GroupSpec, MetricSpec } from '@fedval/metrics';
import { createCsvSource } from './data-sources/csv-source.ts';
import { AgentError } from './errors.ts';
import { evaluateDataset, labelOf } from './evaluation.ts';
import type { EvaluationSpec } from './evaluation.ts';
import { scoreColumnScorer } from './scorers.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedval-evaluation-'));

/** A small file with every kind of cell: missing and invalid labels, scores and group values, in a fixed shuffled order. */
function fixture(): string {
  const labels = ['1', '0', '', 'NA', '2', ' 1 '];
  const scores = ['0.1', '0.9', '', 'abc', '1.5', '0', '1', '0.5', '-0.2'];
  const sexes = ['F', 'M', '', 'X', ' F'];
  const ages = ['45', '55', '75', '', 'old', '50'];
  const lines = ['label,score,sex,age,p0,p1,p2,y'];
  let state = 7;
  const pick = <T>(list: readonly T[]): T => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return list[state % list.length] as T;
  };
  for (let i = 0; i < 400; i += 1) {
    const cls = pick(['a', 'b', 'c', '', 'z']);
    lines.push([pick(labels), pick(scores), pick(sexes), pick(ages), pick(scores), pick(scores), pick(scores), `${cls === '' ? '' : cls === 'z' ? 'x' : (i % 13) / 4}`].join(','));
  }
  const path = join(dir, 'cells.csv');
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

/** The reference: the row-by-row accumulator API on csv-parse's rows (the path every metric reference test covers). */
function rowByRow(path: string, spec: MetricSpec, task: 'binary' | 'multiclass' | 'regression' | 'survival'): Float64Array {
  const rows = parse(readText(path), { columns: true, trim: true }) as Record<string, string>[];
  const accumulator = createAccumulator(createStatisticsLayout(spec));
  const cell = (text: string | undefined): string | null => (text === undefined || ['', 'NA', 'N/A', 'NaN', 'null', 'NULL'].includes(text) ? null : text);
  const number = (text: string | null): number | null => (text === null ? null : Number.isNaN(parseDecimal(text)) ? Number.POSITIVE_INFINITY : parseDecimal(text));
  for (const row of rows) {
    const groups = spec.groups.map((g) => (g.cuts ? number(cell(row[g.column])) : cell(row[g.column])));
    if (task === 'binary') {
      const label = labelOf(cell(row['label']), { column: 'label', positive: '1', negative: '0' });
      accumulator.addBinary(number(cell(row['score'])), typeof label === 'string' ? (label === 'missing_label' ? null : 2) : label, groups);
    } else if (task === 'multiclass') {
      const y = cell(row['label'] === undefined ? null! : row['y']);
      const index = y === null ? null : ['0', '0.25', '0.5'].indexOf(y);
      const scores = ['p0', 'p1', 'p2'].map((c) => number(cell(row[c])));
      accumulator.addMulticlass(scores.some((s) => s === null) ? null : (scores as number[]), index === -1 ? 99 : index, groups);
    } else if (task === 'survival') {
      const event = labelOf(cell(row['label']), { column: 'label', positive: '1', negative: '0' });
      accumulator.addSurvival(number(cell(row['y'])), typeof event === 'string' ? (event === 'missing_label' ? null : 2) : event, number(cell(row['score'])), groups);
    } else {
      accumulator.addRegression(number(cell(row['y'])), number(cell(row['score'])), groups);
    }
  }
  return accumulator.vector();
}

function readText(path: string): string {
  return readFileSync(path, 'utf8');
}

const DECLARED: GroupSpec[] = [{ column: 'sex', levels: ['F', 'M', 'X'] }, { column: 'age', cuts: [50, 70] }];

describe('evaluation over column batches', () => {
  it('binary: the same vector as the row-by-row accumulator, with subgroup levels found in the same pass', async () => {
    const path = fixture();
    const spec = resolveMetricSpec({ task: 'binary', groups: DECLARED });
    const open: EvaluationSpec = { ...spec, groups: [{ column: 'sex' }, { column: 'age', cuts: [50, 70] }] };
    const outcome = await evaluateDataset({ source: createCsvSource({ path, batchRows: 64 }), spec: open, label: { column: 'label', positive: '1', negative: '0' }, scorer: scoreColumnScorer('score') });
    expect(outcome.layout.groupLevels[0]).toEqual(['F', 'M', 'X', '(other)', '(missing)']);
    expect(Array.from(outcome.vector)).toEqual(Array.from(rowByRow(path, spec, 'binary')));
    const declared = await evaluateDataset({ source: createCsvSource({ path, batchRows: 100 }), spec, label: { column: 'label', positive: '1', negative: '0' }, scorer: scoreColumnScorer('score') });
    expect(Array.from(declared.vector)).toEqual(Array.from(outcome.vector));
  });

  it('multiclass and regression: the same vectors as the row-by-row accumulator', async () => {
    const path = fixture();
    const multiclass = resolveMetricSpec({ task: 'multiclass', classes: ['0', '0.25', '0.5'], groups: DECLARED });
    const m = await evaluateDataset({ source: createCsvSource({ path, batchRows: 50 }), spec: multiclass, label: { column: 'y', positive: '1' }, scorer: scoreColumnScorer(['p0', 'p1', 'p2']) });
    expect(Array.from(m.vector)).toEqual(Array.from(rowByRow(path, multiclass, 'multiclass')));
    const regression = resolveMetricSpec({ task: 'regression', regressionRange: [0, 3], groups: DECLARED });
    const r = await evaluateDataset({ source: createCsvSource({ path, batchRows: 50 }), spec: regression, label: { column: 'y', positive: '1' }, scorer: scoreColumnScorer('score') });
    expect(Array.from(r.vector)).toEqual(Array.from(rowByRow(path, regression, 'regression')));
  });

  it('survival: the same vector as the row-by-row accumulator (event column, time column, risk), and a time column is required', async () => {
    const path = fixture();
    const spec = resolveMetricSpec({ task: 'survival', bins: 10, survival: { horizon: 2, maxTime: 3, timeBins: 8 }, groups: DECLARED });
    const label = { column: 'label', positive: '1', negative: '0', time: 'y' };
    const outcome = await evaluateDataset({ source: createCsvSource({ path, batchRows: 64 }), spec, label, scorer: scoreColumnScorer('score') });
    expect(Array.from(outcome.vector)).toEqual(Array.from(rowByRow(path, spec, 'survival')));
    expect(outcome.included).toBeGreaterThan(0);
    await expect(evaluateDataset({ source: createCsvSource({ path }), spec, label: { column: 'label', positive: '1' }, scorer: scoreColumnScorer('score') })).rejects.toMatchObject({ code: 'FEDVAL_ERR_AGENT_INVALID_TASK' });
  });

  it('refuses a subgroup column with more than 64 levels', async () => {
    const path = join(dir, 'many.csv');
    writeFileSync(path, `label,score,id\n${Array.from({ length: 70 }, (_, i) => `1,0.5,p${i}`).join('\n')}\n`);
    const spec: EvaluationSpec = { ...resolveMetricSpec({ task: 'binary' }), groups: [{ column: 'id' }] };
    await expect(evaluateDataset({ source: createCsvSource({ path, batchRows: 16 }), spec, label: { column: 'label', positive: '1' }, scorer: scoreColumnScorer('score') })).rejects.toMatchObject({ code: 'FEDVAL_ERR_AGENT_INVALID_TASK' });
    expect(AgentError).toBeDefined();
  });
});
