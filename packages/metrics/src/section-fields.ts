// section-fields.ts — the entries one section (overall, or one subgroup level) holds, per task, in vector order.
import { EXCLUSION_REASONS } from './exclusion-reasons.ts';
import type { SurvivalSpec, TaskType } from './metric-spec.ts';
import { timeGridOf } from './time-grid.ts';

export type SectionFieldName =
  | 'negative_histogram'
  | 'positive_histogram'
  | 'confusion'
  | 'class_histograms'
  | 'count'
  | 'clamped'
  | 'exclusions'
  | 'brier_sum'
  | 'calibration_score_sums'
  | 'regression_sums'
  | 'survival_counts'
  | 'survival_sums';

/** Counts live in the section's part of a count block, fixed-point sums in its part of a sum block. */
export interface SectionField {
  readonly name: SectionFieldName;
  readonly part: 'counts' | 'sums';
  readonly length: number;
}

/** Order of the regression sums, all over values normalized into [0, 1] by the regression range. */
export const REGRESSION_SUMS = Object.freeze(['y', 'yhat', 'y2', 'yhat2', 'y_yhat', 'abs_error', 'squared_error'] as const);

/**
 * Survival: `survival_counts` holds, per time bin k (overflow last) and score bin j, the censored (e = 0) and event
 * (e = 1) counts at ((k·B) + j)·2 + e; `survival_sums` holds Σ(1 − s)² of the events of each time bin up to the horizon,
 * then Σ s² of the patients followed beyond it, then Σ s per calibration group.
 */
export function sectionFields(task: TaskType, bins: number, calibrationBins: number, classCount: number, survival?: SurvivalSpec): SectionField[] {
  const exclusions: SectionField = { name: 'exclusions', part: 'counts', length: EXCLUSION_REASONS.length };
  if (task === 'survival') {
    const grid = timeGridOf(survival ?? { horizon: 1, maxTime: 1, timeBins: 1 });
    return [
      { name: 'survival_counts', part: 'counts', length: grid.bins * bins * 2 },
      exclusions,
      { name: 'survival_sums', part: 'sums', length: grid.horizonBins + 1 + calibrationBins },
    ];
  }
  if (task === 'binary') {
    return [
      { name: 'negative_histogram', part: 'counts', length: bins },
      { name: 'positive_histogram', part: 'counts', length: bins },
      exclusions,
      { name: 'brier_sum', part: 'sums', length: 1 },
      { name: 'calibration_score_sums', part: 'sums', length: calibrationBins },
    ];
  }
  if (task === 'multiclass') {
    return [
      { name: 'confusion', part: 'counts', length: classCount * classCount },
      { name: 'class_histograms', part: 'counts', length: 2 * classCount * bins },
      exclusions,
      { name: 'brier_sum', part: 'sums', length: 1 },
    ];
  }
  return [
    { name: 'count', part: 'counts', length: 1 },
    { name: 'clamped', part: 'counts', length: 1 },
    exclusions,
    { name: 'regression_sums', part: 'sums', length: REGRESSION_SUMS.length },
  ];
}
