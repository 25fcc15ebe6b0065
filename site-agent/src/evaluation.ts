// evaluation.ts — the local evaluation pipeline: stream rows, score them, reduce to the additive statistics vector.
import { createAccumulator, createStatisticsLayout } from '@fedval/metrics';
import type { MetricSpec, StatisticsLayout } from '@fedval/metrics';
import { readCsvChunks, requireColumns } from './csv-source.ts';
import type { CsvSourceOptions, DataRow } from './csv-source.ts';
import { AgentError } from './errors.ts';
import { parseDecimal } from './scorers.ts';
import type { RowScorer } from './scorers.ts';

/** How the site's label column maps to the positive class. */
export interface LabelRule {
  column: string;
  /** Cell value of the positive class. */
  positive: string;
  /** When set, only this value is negative; other values are excluded as invalid_label. */
  negative?: string | undefined;
}

export interface EvaluationOptions {
  source: CsvSourceOptions;
  spec: MetricSpec;
  label: LabelRule;
  scorer: RowScorer;
  /** Called with the share of input read, 0–100. */
  onProgress?: (percent: number) => void;
  signal?: AbortSignal;
}

export interface EvaluationOutcome {
  layout: StatisticsLayout;
  /** The additive statistics vector: the only thing derived from the data that may leave the site (protected). */
  vector: Float64Array;
  /** Patients included in the statistics. Kept at the site: used for the minimum-cohort policy only. */
  included: number;
}

/** Columns a task needs from the data: label, score inputs and subgroup columns. */
export function requiredColumns(spec: MetricSpec, label: LabelRule, scorer: RowScorer): string[] {
  return [label.column, ...scorer.requiredColumns, ...spec.groups.map((group) => group.column)];
}

/** Runs one evaluation over a CSV source and returns the statistics vector. */
export async function evaluateDataset(options: EvaluationOptions): Promise<EvaluationOutcome> {
  const { spec, label, scorer, source } = options;
  await requireColumns(source, requiredColumns(spec, label, scorer));
  const layout = createStatisticsLayout(spec);
  const accumulator = createAccumulator(layout);
  const groupColumns = spec.groups.map((group) => group.column);
  const width = spec.task === 'multiclass' ? spec.classes!.length : 1;
  const classIndex = new Map((spec.classes ?? []).map((name, i) => [name, i]));
  if (spec.task === 'multiclass' && scorer.classes !== undefined && JSON.stringify(scorer.classes) !== JSON.stringify(spec.classes)) {
    throw new AgentError('FEDVAL_ERR_AGENT_INVALID_TASK', `the task's classes ${JSON.stringify(spec.classes)} are not the model's ${JSON.stringify(scorer.classes)}, in order`);
  }
  let included = 0;
  for await (const chunk of readCsvChunks(source)) {
    options.signal?.throwIfAborted();
    const scored = await scorer.score(chunk.rows);
    if (scored.width !== width) {
      throw new AgentError('FEDVAL_ERR_AGENT_INVALID_TASK', `a ${spec.task} task needs ${width} score column(s), the scorer gives ${scored.width}`);
    }
    chunk.rows.forEach((row: DataRow, i) => {
      const groups = groupColumns.map((column) => row[column] ?? null);
      const cell = row[label.column] ?? null;
      const exclusion = scored.excluded[i];
      if (spec.task === 'binary') {
        const outcome = labelOf(cell, label);
        if (typeof outcome === 'string') return accumulator.exclude(outcome, groups);
        if (exclusion) return accumulator.exclude(exclusion, groups);
        const score = scored.scores[i] ?? Number.NaN;
        if (score >= 0 && score <= 1) included += 1;
        return accumulator.addBinary(score, outcome, groups);
      }
      if (spec.task === 'multiclass') {
        const index = cell === null ? null : (classIndex.get(cell) ?? -1);
        if (index === null) return accumulator.exclude('missing_label', groups);
        if (index < 0) return accumulator.exclude('invalid_label', groups);
        if (exclusion) return accumulator.exclude(exclusion, groups);
        const scores = scored.scores.subarray(i * width, (i + 1) * width);
        if (scores.every((s) => s >= 0 && s <= 1)) included += 1;
        return accumulator.addMulticlass(scores, index, groups);
      }
      const y = cell === null ? null : parseDecimal(cell);
      if (y === null) return accumulator.exclude('missing_label', groups);
      if (!Number.isFinite(y)) return accumulator.exclude('invalid_label', groups);
      if (exclusion) return accumulator.exclude(exclusion, groups);
      const yhat = scored.scores[i] ?? Number.NaN;
      if (Number.isFinite(yhat)) included += 1;
      return accumulator.addRegression(y, yhat, groups);
    });
    options.onProgress?.(chunk.percent);
  }
  return { layout, vector: accumulator.vector(), included };
}

/** Binary task: maps a label cell to 0/1, or to the reason the row is excluded. */
export function labelOf(cell: string | null, rule: LabelRule): 0 | 1 | 'missing_label' | 'invalid_label' {
  if (cell === null) return 'missing_label';
  if (cell === rule.positive) return 1;
  if (rule.negative === undefined || cell === rule.negative) return 0;
  return 'invalid_label';
}
