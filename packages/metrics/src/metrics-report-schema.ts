// metrics-report-schema.ts — the finalized metrics report as a schema: what a released result carries over the REST API.
import { z } from 'zod';
import { EXCLUSION_REASONS } from './exclusion-reasons.ts';
import type { MetricsReport } from './finalize.ts';

const value = z.number().nullable();
const count = z.number().int().nonnegative();
const interval = z.tuple([z.number(), z.number()]);
const names = <T extends z.ZodType>(schema: T) => z.record(z.string(), schema);

const exclusionCountsSchema = z.strictObject(Object.fromEntries(EXCLUSION_REASONS.map((reason) => [reason, count])) as Record<(typeof EXCLUSION_REASONS)[number], typeof count>);

const thresholdMetricsSchema = z.strictObject({
  threshold: z.number(),
  tp: count,
  fp: count,
  tn: count,
  fn: count,
  sensitivity: value,
  sensitivity_ci95: interval.nullable(),
  specificity: value,
  specificity_ci95: interval.nullable(),
  ppv: value,
  ppv_ci95: interval.nullable(),
  npv: value,
  npv_ci95: interval.nullable(),
  accuracy: value,
  accuracy_ci95: interval.nullable(),
  f1: value,
  balanced_accuracy: value,
  mcc: value,
  selection_rate: value,
});

const calibrationSchema = z.strictObject({
  bins: z.array(z.strictObject({ lower: z.number(), upper: z.number(), n: count, mean_predicted: value, observed_rate: value })),
  mean_predicted: value,
  observed_rate: value,
  calibration_in_the_large: value,
  observed_expected_ratio: value,
  ece: value,
  mce: value,
  hosmer_lemeshow: z.strictObject({ statistic: z.number(), df: z.number().int(), p_value: value, groups: count }).nullable(),
  calibration_intercept: value,
  calibration_slope: value,
});

const rocPointSchema = z.strictObject({ threshold: z.number(), fpr: z.number(), tpr: z.number(), fpr_ci95: interval.nullable(), tpr_ci95: interval.nullable() });

const binaryBlockFields = {
  n: count,
  positives: count,
  prevalence: value,
  excluded: exclusionCountsSchema,
  roc_auc: value,
  roc_auc_ci95: interval.nullable(),
  average_precision: value,
  brier_score: value,
  at_threshold: thresholdMetricsSchema,
  calibration: calibrationSchema,
  decision_curve: z.array(z.strictObject({ threshold: z.number(), net_benefit: z.number(), treat_all: z.number(), treat_none: z.number() })),
};

// No reason: a suppressed level reads the same whatever withheld it (a reason such as "positives<1" tells a label).
const suppressedSchema = z.strictObject({ suppressed: z.literal(true) });
const levelBlock = <S extends z.core.$ZodLooseShape>(fields: S) => z.union([z.strictObject({ ...fields, suppressed: z.literal(false) }), suppressedSchema]);

const fairnessSchema = z.strictObject({
  levels_covered: z.array(z.string()),
  levels_excluded: z.array(z.strictObject({ level: z.string(), reason: z.string() })),
  demographic_parity_difference: value,
  demographic_parity_ratio: value,
  equal_opportunity_difference: value,
  equalized_odds_difference: value,
  equalized_odds_ratio: value,
  selection_rate: names(value),
  true_positive_rate: names(value),
  false_positive_rate: names(value),
  worst_group: z.strictObject({ level: z.string(), balanced_accuracy: z.number() }).nullable(),
  best_group: z.strictObject({ level: z.string(), balanced_accuracy: z.number() }).nullable(),
});

const common = { min_cell_size: count, noise_in_intervals: z.boolean() };
const scoreGridSummarySchema = z.strictObject({
  kind: z.enum(['equal_width', 'fitted']),
  bins: z.number().int().min(2),
  method: z.enum(['quantile', 'logit', 'explicit']).nullable(),
  source_digest: z.string().nullable(),
});

const averagedSchema = z.strictObject({ precision: value, recall: value, f1: value, roc_auc: value });
const multiclassBlockFields = {
  n: count,
  class_counts: names(count),
  accuracy: value,
  accuracy_ci95: interval.nullable(),
  balanced_accuracy: value,
  cohen_kappa: value,
  brier_score: value,
  confusion_matrix: z.array(z.array(count)),
  per_class: names(z.strictObject({ support: count, precision: value, recall: value, f1: value, roc_auc: value })),
  macro: averagedSchema,
  weighted: averagedSchema,
};

const regressionBlockFields = {
  n: count,
  clamped: count,
  mean_observed: value,
  mean_predicted: value,
  mae: value,
  mse: value,
  rmse: value,
  r2: value,
  mean_error: value,
  calibration_in_the_large: value,
  calibration_slope: value,
  calibration_intercept: value,
};

const quantity = z.number().nonnegative();
const survivalBlockFields = {
  n: quantity,
  events: quantity,
  events_by_horizon: quantity,
  censored_before_horizon: quantity,
  c_index: value,
  c_index_ci95: interval.nullable(),
  c_index_uno: value,
  td_auc: value,
  brier_at_horizon: value,
  observed_risk_at_horizon: value,
  observed_risk_at_horizon_ci95: interval.nullable(),
  expected_risk_at_horizon: value,
  oe_ratio_at_horizon: value,
  calibration_at_horizon: z.array(
    z.strictObject({ lower: z.number(), upper: z.number(), n: quantity, mean_predicted_risk: value, observed_risk: value, observed_risk_ci95: interval.nullable() }),
  ),
  net_benefit_at_horizon: z.array(z.strictObject({ threshold: z.number(), net_benefit: value })),
  at_threshold: z.strictObject({ threshold: z.number(), selection_rate: value, sensitivity: value, specificity: value, balanced_accuracy: value }),
  excluded: exclusionCountsSchema,
};
const timeGridSummarySchema = z.strictObject({ horizon: z.number().positive(), max_time: z.number().positive(), horizon_bins: z.number().int().min(1), bins: z.number().int().min(2), width: z.number().positive() });

/**
 * The report of {@link finalizeMetrics} as it crosses a process boundary (the key holder releases it,
 * the coordinator stores it, the sponsor reads it): discriminated by `task`, field names as in the
 * JSON report (snake_case). Its output type is exactly {@link MetricsReport}.
 */
export const metricsReportSchema = z.discriminatedUnion('task', [
  z.strictObject({
    task: z.literal('binary'),
    score_grid: scoreGridSummarySchema,
    ...binaryBlockFields,
    roc_curve: z.array(rocPointSchema).optional(),
    ...common,
    by_group: names(names(levelBlock(binaryBlockFields))),
    fairness: names(fairnessSchema),
  }),
  z.strictObject({
    task: z.literal('multiclass'),
    score_grid: scoreGridSummarySchema,
    ...multiclassBlockFields,
    ...common,
    classes: z.array(z.string()),
    excluded: exclusionCountsSchema,
    by_group: names(names(levelBlock({ ...multiclassBlockFields, excluded: exclusionCountsSchema }))),
  }),
  z.strictObject({
    task: z.literal('regression'),
    ...regressionBlockFields,
    ...common,
    excluded: exclusionCountsSchema,
    by_group: names(names(levelBlock({ ...regressionBlockFields, excluded: exclusionCountsSchema }))),
  }),
  z.strictObject({
    task: z.literal('survival'),
    score_grid: scoreGridSummarySchema,
    time_grid: timeGridSummarySchema,
    ...survivalBlockFields,
    ...common,
    by_group: names(names(levelBlock(survivalBlockFields))),
    fairness: names(fairnessSchema),
  }),
]);

/** Compile-time proof that the schema and the report types of finalize.ts describe the same documents. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaMatchesReport: Same<z.output<typeof metricsReportSchema>, MetricsReport> = true;
void schemaMatchesReport;
